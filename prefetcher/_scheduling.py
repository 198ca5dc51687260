"""What the loader decides under its lock and carries out after releasing it; how it words waits."""

from __future__ import annotations

import time
from collections.abc import Iterable
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ._entries import NO_KEY, Entry, EntryState
from ._notes import set_loader_note
from ._pool import PoolCall

__all__ = [
    "NOTHING_TO_DO",
    "Outcome",
    "Request",
    "Start",
    "describe_wait",
    "earliest",
    "loader_note",
    "running_since",
    "shared_future",
    "take_futures",
]


class Start(NamedTuple):
    """A load to hand to the executor: attempt number ``attempt`` of ``entry``."""

    entry: Entry
    attempt: int
    #: For the loader's own pool, the attempt's call, made with the start (and already the
    #: entry's ``submission``), to submit as it is; its ``context`` is this start. ``None``
    #: for a caller's executor, whose future is attached once it is submitted.
    call: PoolCall | None = None


class Request(NamedTuple):
    """What a request comes to, as decided under the lock."""

    entry: Entry
    #: The future to wait on; ``None`` when the item was ready and no future was asked for.
    future: Future[Any] | None
    #: The item, if it was ready (read under the lock: another thread may evict it after).
    value: Any
    #: The loads to start, the requested one first.
    starts: list[Start]
    #: When to call the scheduler back to start the prefetches held for a head start.
    wake_at: float | None


@dataclass
class Outcome:
    """The end of an attempt, as decided under the lock: whom to tell, what to start next."""

    #: The future of the item's waiters, to resolve (``None``: nobody waits, or a retry follows).
    future: Future[Any] | None = None
    value: Any = None
    error: BaseException | None = None
    #: The loader's note for ``error``, naming the index and the key.
    note: str | None = None
    starts: list[Start] = field(default_factory=list)
    #: When to call the scheduler back (``time.perf_counter()`` seconds): a retry is due, or
    #: prefetches held for a head start may go.
    wake_at: float | None = None
    #: The attempt had been given up as stuck; its worker may go.
    release_worker: bool = False

    def resolve(self) -> None:
        """Hand the value or the error to the waiters; runs their done-callbacks."""
        if self.error is not None and self.note is not None:
            set_loader_note(self.error, self.note)
        if self.future is None:
            return
        try:
            if self.error is None:
                self.future.set_result(self.value)
            else:
                self.future.set_exception(self.error)
        except InvalidStateError:
            pass  # already failed by close() or given up as stuck: the late result is dropped


#: The outcome that asks for nothing (nobody to tell, nothing to start): shared, never changed.
NOTHING_TO_DO = Outcome()


def running_since(entry: Entry) -> float | None:
    """When the entry's current attempt started running; ``None`` while it waits for a worker.

    The loader's own pool says when a worker took the call; for another executor the clock
    starts at submission.
    """
    submission = entry.submission
    if isinstance(submission, PoolCall):
        return submission.started_at
    return entry.started_at


def describe_wait(entry: Entry, running: Iterable[Entry], timeout: float | None) -> str:
    """Why item ``entry`` was not ready within ``timeout`` seconds: loading, queued, or retrying."""
    now = time.perf_counter()
    head = f"item {entry.index} was not ready within {timeout} seconds"
    if entry.state is EntryState.RETRY_WAIT:
        return f"{head}; it failed {entry.attempt} times and waits to be tried again"
    since = running_since(entry) if entry.state is EntryState.RUNNING else None
    if since is not None:
        return f"{head}; it is still loading (for {now - since:.1f} s)"
    busy = sorted(
        (e.index, started)
        for e in running
        if e is not entry and (started := running_since(e)) is not None
    )
    if not busy:
        return f"{head}; it is queued for a worker"
    indices = ", ".join(str(index) for index, _ in busy)
    longest = now - min(started for _, started in busy)
    return (
        f"{head}; it is queued: all {len(busy)} workers busy with items {indices} "
        f"for up to {longest:.0f} s"
    )


def loader_note(entry: Entry) -> str:
    """The loader's note for an error of ``entry``'s load: the index, the key, the attempts."""
    attempts = f", after {entry.attempt} attempts" if entry.attempt > 1 else ""
    key = f"keys[{entry.index}] did not return" if entry.key is NO_KEY else f"key {entry.key!r}"
    return f"prefetcher: while loading index {entry.index} ({key}){attempts}"


def shared_future() -> Future[Any]:
    """A future for the waiters of one item, which no caller can cancel."""
    future: Future[Any] = Future()
    # The future is shared by every caller asking for the same item: moving it to RUNNING
    # makes cancel() refuse, so one caller cannot cancel another's item. The loader cancels
    # prefetches itself.
    future.set_running_or_notify_cancel()
    return future


def take_futures(entries: Iterable[Entry]) -> list[Future[Any]]:
    """Detach the waiters' futures from ``entries``; return those not resolved yet."""
    futures = []
    for entry in entries:
        if entry.future is not None and not entry.future.done():
            futures.append(entry.future)
        entry.future = None
    return futures


def earliest(first: float | None, second: float | None) -> float | None:
    """The earlier of two optional times (``None``: no time).

    Example:
        >>> earliest(None, 2.0), earliest(3.0, 2.0), earliest(None, None)
        (2.0, 2.0, None)
    """
    if first is None:
        return second
    return first if second is None else min(first, second)
