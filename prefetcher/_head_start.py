"""Head starts: loads that go first, and the prefetches that wait until their reads are out.

Started together, reads finish their latency together and queue for the link in whatever
order their threads wake, the one needed first often last. Two kinds of load therefore get a
head start over the prefetches started with them: a requested (demand) load, and, when several
prefetches would start at once (the window grows, or lands after a jump), the nearest of them,
which the consumer asks for first. The others are handed to the executor a little later and
queue behind. The delay is hidden as long as it is shorter than the consumer's work on an item.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._entries import Entry, EntryState

__all__ = ["HEAD_START_SHARE", "MAX_HEAD_START", "MIN_HEAD_START_LOAD", "HeadStart"]

#: The head start, as a share of the typical load time.
HEAD_START_SHARE = 0.1
#: The longest head start, in seconds.
MAX_HEAD_START = 0.010
#: Loads typically shorter than this (seconds) get no head start: waking a thread to start the
#: prefetches later would cost about as much as the head start could win.
MIN_HEAD_START_LOAD = 0.002


class HeadStart:
    """Whether prefetches must still wait for the loads given a head start.

    Times are ``perf_counter()`` seconds.

    Example:
        >>> from prefetcher._entries import Entry
        >>> head_start = HeadStart()
        >>> head_start.give([Entry(7, requested=True)], now=100.0, typical_load=0.05)
        100.005
        >>> head_start.holds(now=100.001)  # the entry never started: nothing to wait for
        False
    """

    def __init__(self) -> None:
        # Until when the head start runs, and the loads it is for; prefetches wait until then,
        # or until none of those loads is running any more. The loads are empty when none runs.
        self._until = 0.0
        self._loads: Sequence[Entry] = ()
        #: Whether the nearest of a burst of prefetches may go first: once after each demand
        #: load. Not again until the next one, or a consumer that asks faster than a head start
        #: lasts would hold the prefetches back one head start after another.
        self.may_stagger = True

    def give(self, loads: Sequence[Entry], now: float, typical_load: float | None) -> float | None:
        """Give demand ``loads`` a head start from ``now``; return when it ends (``None``: none)."""
        self.may_stagger = True
        return self._hold(loads, now, typical_load)

    def split(
        self,
        queued: Sequence[Entry],
        position: int | None,
        now: float,
        typical_load: float | None,
    ) -> tuple[int, float | None]:
        """How many of ``queued`` (nearest first) start now, and when the others may follow.

        When several would start at once, those as near to ``position`` as the first go first
        and the others wait for their head start; once after each demand load (``None``: they
        need not wait).

        Example:
            >>> from prefetcher._entries import Entry
            >>> burst = [Entry(n, requested=False) for n in (11, 9, 12, 8)]
            >>> HeadStart().split(burst, 10, now=100.0, typical_load=0.05)
            (2, 100.005)
        """
        if len(queued) < 2 or position is None or not self.may_stagger:
            return len(queued), None
        nearest = abs(queued[0].index - position)
        count = next(
            (n for n, entry in enumerate(queued) if abs(entry.index - position) > nearest),
            len(queued),
        )
        until = None if count == len(queued) else self._hold(queued[:count], now, typical_load)
        if until is None:
            return len(queued), None
        self.may_stagger = False
        return count, until

    def _hold(self, loads: Sequence[Entry], now: float, typical_load: float | None) -> float | None:
        if typical_load is None or typical_load < MIN_HEAD_START_LOAD:
            return None
        self._until = now + min(HEAD_START_SHARE * typical_load, MAX_HEAD_START)
        self._loads = loads
        return self._until

    def holds(self, now: float) -> bool:
        """Whether prefetches must still wait at ``now``."""
        if not self._loads:
            return False
        if now < self._until and any(e.state is EntryState.RUNNING for e in self._loads):
            return True
        self._loads = ()
        return False
