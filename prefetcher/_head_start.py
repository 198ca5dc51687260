"""A demand load's head start: prefetches planned with it wait until its read is on its way.

Started together, the requested read and its prefetches finish their latency together and
queue for the link in whatever order their threads wake, the requested one often last. Handed
to the executor a little later, the prefetches queue behind it instead. The delay is hidden as
long as it is shorter than the consumer's work on the item.
"""

from __future__ import annotations

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
    """Whether prefetches must still wait for a demand load. Times are ``perf_counter()``.

    Example:
        >>> from prefetcher._entries import Entry
        >>> head_start = HeadStart()
        >>> head_start.give(Entry(7, requested=True), now=100.0, typical_load=0.05)
        100.005
        >>> head_start.holds(now=100.001)  # the entry never started: nothing to wait for
        False
    """

    def __init__(self) -> None:
        # (until when, the demand load's entry) while a head start runs; prefetches wait until
        # then, or until that entry's load is no longer running.
        self._current: tuple[float, Entry] | None = None

    def give(self, demand: Entry, now: float, typical_load: float | None) -> float | None:
        """Give ``demand`` a head start from ``now``; return when it ends (``None``: none)."""
        if typical_load is None or typical_load < MIN_HEAD_START_LOAD:
            return None
        until = now + min(HEAD_START_SHARE * typical_load, MAX_HEAD_START)
        self._current = (until, demand)
        return until

    def holds(self, now: float) -> bool:
        """Whether prefetches must still wait at ``now``."""
        if self._current is None:
            return False
        until, demand = self._current
        if now < until and demand.state is EntryState.RUNNING:
            return True
        self._current = None
        return False
