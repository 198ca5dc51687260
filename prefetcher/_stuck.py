"""Loads given up as stuck: which are overdue, how many may be, and when to look again."""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import Future
from typing import Any

from ._entries import Entry
from ._pool import PoolCall
from ._scheduling import running_since

__all__ = ["MIN_STUCK_CAP", "StuckLoads"]

#: The least number of stuck loads a loader allows at once (``max_workers`` if that is more).
MIN_STUCK_CAP = 4


class StuckLoads:
    """The executor's handles on loads given up as stuck whose threads have not returned yet.

    A load is stuck once it has run longer than ``load_timeout`` seconds (``None``: never).
    At most ``max(MIN_STUCK_CAP, max_workers)`` may be at once: enough for a small pool to go on
    past a few hung reads, bounded so that a share that hangs for good cannot pile up threads.
    """

    def __init__(self, load_timeout: float | None, max_workers: int) -> None:
        self.load_timeout = load_timeout
        self._cap = max(MIN_STUCK_CAP, max_workers)
        self._submissions: set[Future[Any] | PoolCall] = set()
        #: Whether no further load may start: as many are stuck as are allowed. Kept as an
        #: attribute, as every start of a prefetch reads it.
        self.full = False

    def __len__(self) -> int:
        return len(self._submissions)

    def refuse_if_full(self, position: int) -> None:
        """Raise the error a request for ``position`` gets when no load may start."""
        if self.full:
            raise TimeoutError(
                f"cannot start a load for item {position}: {len(self._submissions)} loads are "
                f"stuck (running longer than load_timeout={self.load_timeout} s), the most "
                "allowed"
            )

    def give_up(self, submission: Future[Any] | PoolCall | None) -> None:
        """Count ``submission``'s load as stuck until its thread returns."""
        if submission is not None:
            self._submissions.add(submission)
            self.full = len(self._submissions) >= self._cap

    def returned(self, submission: Future[Any] | PoolCall | None) -> bool:
        """Whether ``submission`` was a stuck load (its worker is free again); forget it."""
        if submission is None or submission not in self._submissions:
            return False
        self._submissions.discard(submission)
        self.full = len(self._submissions) >= self._cap
        return True

    def error(self, entry: Entry, ran: float) -> TimeoutError:
        """The error the waiters of ``entry``, stuck after ``ran`` seconds, get."""
        return TimeoutError(
            f"item {entry.index} (key {entry.key!r}) is stuck: its load ran for {ran:.1f} s, "
            f"longer than load_timeout={self.load_timeout:g} s; the next request loads it again"
        )

    def overdue(self, running: Iterable[Entry], now: float) -> list[tuple[Entry, float]]:
        """The loads among ``running`` that ran longer than ``load_timeout``, with how long."""
        if self.load_timeout is None:
            return []
        found = []
        for entry in running:
            since = running_since(entry)
            if since is not None and now - since >= self.load_timeout:
                found.append((entry, now - since))
        return found

    def next_check(self, running: Iterable[Entry], now: float) -> float | None:
        """When the first of ``running`` becomes overdue (``None`` without ``load_timeout``)."""
        if self.load_timeout is None:
            return None
        timeout = self.load_timeout
        # Not started by a worker yet: look again a full timeout from now.
        starts = ((now if (since := running_since(e)) is None else since) for e in running)
        return min((start + timeout for start in starts), default=None)
