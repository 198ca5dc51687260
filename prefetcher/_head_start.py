"""Head starts: loads that go first, and the prefetches that wait until their reads are out.

Started together, reads finish their latency together and queue for the link in whatever
order their threads wake, the one needed first often last. Two kinds of load therefore get a
head start over the prefetches started with them: a requested (demand) load, and, when several
prefetches would start at once (the window grows, or lands after a jump), the nearest of them,
which the consumer asks for first. The others are handed to the executor a little later and
queue behind. The delay is hidden as long as it is shorter than the consumer's work on an item.

A loader whose loads are reads that compete with each other for the link and the CPU (a stage
of a :class:`~prefetcher.TieredLoader`) may hold its prefetches longer for a landing: a demand
load of an item that was not in the read-ahead window (a jump, or random access). They then
wait until the landing is done, or until the part of it that must go first (its read) is done
and :meth:`HeadStart.release` ends the hold early; but at most twice as long as a load
typically takes, so that a load slower than usual ends its own hold, and one that hangs does
too. A demand load within the window (a consumer catching up with its read-ahead)
keeps the short head start: holding the window's prefetches there would only slow the stream.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeGuard

from ._entries import Entry, EntryState

__all__ = [
    "HEAD_START_SHARE",
    "LANDING_HOLD_SHARE",
    "MAX_HEAD_START",
    "MAX_LANDING_HOLD",
    "MIN_HEAD_START_LOAD",
    "HeadStart",
]

#: The head start, as a share of the typical load time.
HEAD_START_SHARE = 0.1
#: The longest head start, in seconds.
MAX_HEAD_START = 0.010
#: Loads typically shorter than this (seconds) get no head start: waking a thread to start the
#: prefetches later would cost about as much as the head start could win.
MIN_HEAD_START_LOAD = 0.002
#: The longest hold of the prefetches for a landing (``HeadStart(hold_landings=True)``), as a
#: share of the typical load time: more than one, since the low quantile that is the typical load
#: time is shorter than most loads.
LANDING_HOLD_SHARE = 2.0
#: Its longest, in seconds: a read that hangs holds the prefetches no longer.
MAX_LANDING_HOLD = 0.5


class HeadStart:
    """Whether prefetches must still wait for the loads given a head start.

    Times are ``perf_counter()`` seconds. Before any load has finished, a demand load gets the
    longest head start, :data:`MAX_HEAD_START` (it still ends with the load); a burst of
    prefetches then starts whole. With ``hold_landings``, a landing's hold lasts until it
    is done, or :meth:`release` ends it sooner, but at most :data:`LANDING_HOLD_SHARE`
    times a typical load (and :data:`MAX_LANDING_HOLD`); once released, the farther
    prefetches of the burst that follows wait for the landing's end (the nearest go at once).
    With ``until_released`` too, the landing's end does not end its hold, only :meth:`release`
    (or the time) does: for a stage whose item is not done with once loaded (a later stage
    decodes it).

    Example:
        >>> from prefetcher._entries import Entry
        >>> head_start = HeadStart()
        >>> head_start.give([Entry(7, requested=True)], now=100.0, typical_load=0.05)
        100.005
        >>> head_start.holds(now=100.001)  # the entry never started: nothing to wait for
        False
    """

    def __init__(self, *, hold_landings: bool = False, until_released: bool = False) -> None:
        self._hold_landings = hold_landings
        self._until_released = until_released
        # Until when the head start runs, and the loads it is for; prefetches wait until then,
        # or until none of those loads is running any more (for a landing's hold with
        # until_released, until release()). The loads are empty when none holds.
        self._until = 0.0
        self._loads: Sequence[Entry] = ()
        self._ends_with_loads = True
        # Whether the hold in force is a landing's (hold_landings only).
        self._landing = False
        # The landing release() let go while it still runs: the farther prefetches of the next
        # burst wait for it. None when there is none.
        self._released: Entry | None = None
        #: Whether the nearest of a burst of prefetches may go first: once after each demand
        #: load. Not again until the next one, or a consumer that asks faster than a head start
        #: lasts would hold the prefetches back one head start after another.
        self.may_stagger = True

    def give(
        self,
        loads: Sequence[Entry],
        now: float,
        typical_load: float | None,
        landing: bool = False,
    ) -> float | None:
        """Give demand ``loads`` a head start from ``now``; return when it ends (``None``: none,
        or a landing's hold still in force ends it).

        ``landing``: the loads are of items that were not in the read-ahead window.
        """
        self.may_stagger = True
        if self._hold_landings and landing:
            self._released = None
            until = self._hold(loads, now, typical_load, LANDING_HOLD_SHARE, MAX_LANDING_HOLD)
            if until is not None:
                self._landing = True
                self._ends_with_loads = not self._until_released
            return until
        if self._landing and self.holds(now):
            return None  # the landing's longer hold stands
        if typical_load is None:
            # No load has finished yet (the first request): the longest head start, which ends
            # as soon as the load does, so a fast one pays nothing for it.
            typical_load = MAX_HEAD_START / HEAD_START_SHARE
        return self._hold(loads, now, typical_load, HEAD_START_SHARE, MAX_HEAD_START)

    def release(self, index: int) -> bool:
        """End the head start of the load of ``index`` now (the part that had to go first is
        done, or, with ``until_released``, the item's later stage is done with it).

        Returns whether that ended a head start, so that the held prefetches may start.
        """
        load = next((entry for entry in self._loads if entry.index == index), None)
        if load is None:
            return False
        if self._landing and load.state is EntryState.RUNNING:
            self._released = load
        self._loads = ()
        self._landing = False
        return True

    def split(
        self,
        queued: Sequence[Entry],
        position: int | None,
        now: float,
        typical_load: float | None,
    ) -> tuple[int, float | None]:
        """How many of ``queued`` (nearest first) start now, and when the others may follow.

        When several would start at once, those as near to ``position`` as the first go first
        and the others wait for their head start (or, right after a :meth:`release`, for the
        released landing's end); once after each demand load (``None``: they need not wait).

        Example:
            >>> from prefetcher._entries import Entry
            >>> burst = [Entry(n, requested=False) for n in (11, 9, 12, 8)]
            >>> HeadStart().split(burst, 10, now=100.0, typical_load=0.05)
            (2, 100.005)
        """
        released, self._released = self._released, None
        if len(queued) < 2 or position is None or not self.may_stagger:
            return len(queued), None
        if not _long_enough(typical_load):
            return len(queued), None  # no head start, whatever the queue holds: look no further
        nearest = abs(queued[0].index - position)
        count = next(
            (n for n, entry in enumerate(queued) if abs(entry.index - position) > nearest),
            len(queued),
        )
        if count == len(queued):
            return len(queued), None
        if released is not None and released.state is EntryState.RUNNING:
            until = self._hold(
                [released],
                now,
                typical_load,
                LANDING_HOLD_SHARE,
                MAX_LANDING_HOLD,
            )
        else:
            until = self._hold(queued[:count], now, typical_load, HEAD_START_SHARE, MAX_HEAD_START)
        if until is None:
            return len(queued), None
        self.may_stagger = False
        return count, until

    def _hold(
        self,
        loads: Sequence[Entry],
        now: float,
        typical_load: float | None,
        share: float,
        cap: float,
    ) -> float | None:
        if not _long_enough(typical_load):
            return None
        self._until = now + min(share * typical_load, cap)
        self._loads = loads
        self._ends_with_loads = True
        self._landing = False
        return self._until

    def holds(self, now: float) -> bool:
        """Whether prefetches must still wait at ``now``."""
        if not self._loads:
            return False
        if now < self._until and (
            not self._ends_with_loads or any(e.state is EntryState.RUNNING for e in self._loads)
        ):
            return True
        self._loads = ()
        self._landing = False
        return False


def _long_enough(typical_load: float | None) -> TypeGuard[float]:
    """Whether loads that typically take ``typical_load`` seconds get a head start at all."""
    return typical_load is not None and typical_load >= MIN_HEAD_START_LOAD
