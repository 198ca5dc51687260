"""What every ``prefetcher`` command shares: its errors, its exit statuses, its progress bars.

A leaf module: the commands (``_demo``, ``_scan``, ``viewer``) import it; it imports none of them.
"""

from __future__ import annotations

import dataclasses
import sys
from types import TracebackType
from typing import Any, Literal

__all__ = [
    "EXIT_INTERRUPTED",
    "CLIError",
    "LoaderOptions",
    "OutputOptions",
    "describe_missing",
    "progress",
]

#: Exit status of a command interrupted by Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130


class CLIError(Exception):
    """An error the user can fix: shown as one line on stderr, with no traceback.

    Args:
        message: What went wrong, naming the option or path.
        status: The exit status: 2 for a bad command line, 1 for a problem met while running.
    """

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


@dataclasses.dataclass(frozen=True)
class LoaderOptions:
    """``--ahead`` and ``--workers``: the loader's own settings, the same for every command."""

    ahead: int | Literal["auto"] = "auto"
    workers: int | None = None


@dataclasses.dataclass(frozen=True)
class OutputOptions:
    """``--json`` and ``--quiet``."""

    json: bool = False
    quiet: bool = False


def describe_missing(exc: FileNotFoundError) -> str:
    """A FileNotFoundError as one line without the "[Errno 2]" prefix."""
    if exc.strerror and exc.filename:
        return f"{exc.strerror}: {exc.filename!r}"
    return str(exc)


class _NoBar:
    """What :func:`progress` gives without tqdm: a bar that draws nothing."""

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None

    def update(self, n: int = 1) -> None:
        """Count ``n`` more done (and draw nothing)."""


def progress(desc: str, total: int | None, *, quiet: bool) -> Any:
    """A progress bar on stderr, used as a context manager with ``update()``.

    Drawn by tqdm when it is installed (the ``cli`` extra); without tqdm, or with ``quiet``,
    nothing is drawn and the command works the same.
    """
    if quiet:
        return _NoBar()
    try:
        from tqdm import tqdm  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        return _NoBar()
    return tqdm(total=total, desc=desc, unit="frame", file=sys.stderr)
