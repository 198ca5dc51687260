"""Which failed loads are tried again, and how long to wait before the next attempt."""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["NEVER_RETRIED", "RetryPolicy"]

#: Failures that another attempt cannot fix, whatever ``retry_on`` says: the file is not there,
#: is not a file, or may not be read.
NEVER_RETRIED: tuple[type[BaseException], ...] = (
    FileNotFoundError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
)

# The longest wait between attempts, however many there were: a share that is back should be
# read again within seconds.
_MAX_DELAY = 5.0


@dataclass(frozen=True)
class RetryPolicy:
    """``retries`` attempts after the first, for errors in ``retry_on``, with backoff.

    Example:
        >>> policy = RetryPolicy(retries=2, retry_on=(OSError,), backoff=0.1)
        >>> policy.should_retry(ConnectionResetError(), attempts=1)
        True
        >>> policy.should_retry(FileNotFoundError(), attempts=1)
        False
        >>> policy.should_retry(ConnectionResetError(), attempts=3)
        False
    """

    retries: int = 0
    retry_on: tuple[type[BaseException], ...] = (OSError, TimeoutError)
    backoff: float = 0.1

    def should_retry(self, error: BaseException, attempts: int) -> bool:
        """Whether to try again after ``attempts`` attempts, the last of which raised ``error``."""
        return (
            attempts <= self.retries
            and isinstance(error, self.retry_on)
            and not isinstance(error, NEVER_RETRIED)
            and not _is_decode_error(error)
        )

    def delay(self, attempts: int, rng: random.Random) -> float:
        """Seconds to wait after ``attempts`` failed attempts: exponential with full jitter."""
        ceiling = min(_MAX_DELAY, self.backoff * 2 ** (attempts - 1))
        return rng.uniform(0.0, ceiling)


def _is_decode_error(error: BaseException) -> bool:
    # Pillow's UnidentifiedImageError is an OSError, but a file that does not decode will not
    # decode on the next read either. Checked by name: the generic loader imports no Pillow.
    return any(cls.__name__ == "UnidentifiedImageError" for cls in type(error).__mro__)
