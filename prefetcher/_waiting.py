"""Waits on futures and threads that Ctrl-C always ends.

Python runs a signal handler only when the main thread next executes Python code. A thread
blocked on a lock without a timeout wakes for a signal only when the kernel delivers it to that
very thread, as it interrupts the wait; when the signal lands on another thread, or just before
the main thread blocks, the handler waits as long as the lock does. For a load hung on a share
that is for ever (measured: about one Ctrl-C in 400 sent to a program blocked in ``get``). Every
wait here is cut into slices of at most ``SLICE`` seconds, so Ctrl-C is seen within one slice.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Collection, Iterator
from concurrent.futures import Future
from typing import Any, TypeVar

__all__ = ["SLICE", "as_completed", "join_all", "wait_all", "wait_one"]

#: The longest a wait blocks before it lets Python run the handlers of signals that arrived.
SLICE = 0.1

T = TypeVar("T")


def _remaining(deadline: float | None) -> float:
    """The length of the next slice; 0 or less once ``deadline`` has passed."""
    return SLICE if deadline is None else min(SLICE, deadline - time.monotonic())


def wait_all(futures: Collection[Future[Any]], timeout: float | None) -> bool:
    """Wait until every one of ``futures`` is done, or ``timeout`` seconds ran out.

    Returns whether all are done. ``timeout=None`` waits as long as it takes.

    Example:
        >>> from concurrent.futures import Future
        >>> done = Future()
        >>> done.set_result(1)
        >>> wait_all([done], timeout=1)
        True
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    pending = [future for future in futures if not future.done()]
    if len(pending) == 1:
        return _wait_one(pending[0], deadline)
    while pending:
        length = _remaining(deadline)
        if length <= 0:
            return False
        pending = list(concurrent.futures.wait(pending, length).not_done)
    return True


def wait_one(future: Future[Any], timeout: float | None) -> bool:
    """:func:`wait_all` of one future.

    Example:
        >>> from concurrent.futures import Future
        >>> wait_one(Future(), timeout=0.01)
        False
    """
    return _wait_one(future, None if timeout is None else time.monotonic() + timeout)


def _wait_one(future: Future[Any], deadline: float | None) -> bool:
    """``wait_all`` of one future: its own condition, without ``wait``'s waiter per call."""
    while True:
        length = _remaining(deadline)
        if length <= 0:
            return future.done()
        try:
            future.exception(length)  # returns as soon as the future is done (at once if it is)
        except concurrent.futures.TimeoutError:
            continue  # a slice ran out: let signal handlers run, then wait on
        except concurrent.futures.CancelledError:
            pass
        return True


def as_completed(futures: Collection[Future[T]]) -> Iterator[Future[T]]:
    """Yield each of ``futures`` as it finishes, as :func:`concurrent.futures.as_completed`."""
    pending = set(futures)
    while pending:
        done, pending = concurrent.futures.wait(
            pending, SLICE, return_when=concurrent.futures.FIRST_COMPLETED
        )
        yield from done


def join_all(threads: Collection[threading.Thread], timeout: float | None) -> bool:
    """Wait until every one of ``threads`` ended, or ``timeout`` seconds ran out.

    Returns whether all ended; the calling thread itself is not waited for.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    me = threading.current_thread()
    for thread in threads:
        while thread is not me and thread.is_alive():
            length = _remaining(deadline)
            if length <= 0:
                return False
            thread.join(length)
    return True
