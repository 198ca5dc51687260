"""Following a sequence that grows: wait for the next frame, yield it once it is complete."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any, Protocol, TypeVar

from ._fetch import Signature

__all__ = ["POLL_INTERVAL", "Followable", "follow"]

T = TypeVar("T", covariant=True)

_logger = logging.getLogger("prefetcher")

#: Seconds between two looks at the share while waiting for a frame (``iter_follow(poll=...)``).
POLL_INTERVAL = 0.25


class Followable(Protocol[T]):
    """What :func:`follow` needs of a sequence."""

    def _frame_state(self, index: int) -> tuple[bool, Signature | None]:
        """(whether a later frame exists, the frame's signature or ``None`` if it is missing)."""

    def relist(self) -> None:
        """Look for new files (a directory or glob source); nothing for the others."""

    def _get_checked(self, index: int, signature: Signature) -> tuple[bool, T]:
        """Item ``index``, and whether it was read from the file as ``signature`` describes."""

    def invalidate(self, index: int | None = None) -> None:
        """Forget item ``index``."""


def follow(
    sequence: Followable[Any],
    start: int,
    *,
    poll: float,
    idle: float | None,
    stop: threading.Event | None,
) -> Iterator[Any]:
    """Yield frames ``start, start + 1, ...`` as they become complete.

    A frame is complete when a later frame exists (acquisition writes frames in order), or when
    it is the newest one and its size and modification time stayed the same over two polls
    ``poll`` seconds apart, it is not empty and it decodes (a writer may pause in the middle of
    a file). A frame read before it was complete (by the read-ahead, say) is dropped and read
    again. Ends when no frame became complete for ``idle`` seconds (``None``: never; the newest
    frame's decode error, if it had one, is logged at debug level), or when ``stop`` is set; the
    caller may also just stop iterating.
    """
    waiter = stop if stop is not None else threading.Event()
    index = start
    newest: tuple[int, Signature] | None = None  # the newest frame's signature at the last poll
    retried: int | None = None  # the index read again at once after a stale or failed read
    failure: Exception | None = None  # why the newest frame could not be read, if it could not
    progress_at = time.monotonic()
    while not waiter.is_set():
        later, signature = sequence._frame_state(index)
        complete = signature is not None and (
            later or (newest == (index, signature) and signature[0] > 0)
        )
        if complete:
            assert signature is not None
            try:
                matches, item = sequence._get_checked(index, signature)
                failure = None
            except Exception as exc:
                matches, failure = False, exc
            if matches:
                yield item
                index += 1
                newest = retried = failure = None
                progress_at = time.monotonic()
                continue
            # Read (by the read-ahead, say) while it was still being written, or unreadable:
            # forget it and read it again, at once the first time.
            sequence.invalidate(index)
            if retried != index:
                retried = index
                continue
            if later and failure is not None:
                raise failure  # a later frame exists: this one is as complete as it gets
        newest = None if signature is None else (index, signature)
        if idle is not None and time.monotonic() - progress_at >= idle:
            if failure is not None:
                # The newest frame may still be on its way; get(index) shows its error.
                _logger.debug("following ended at frame %d", index, exc_info=failure)
            return
        waiter.wait(poll)
        retried = None
        sequence.relist()
