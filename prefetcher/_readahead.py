"""How far to read ahead: a fixed window, or one that adapts to the consumer."""

from __future__ import annotations

import bisect
import math
from typing import Protocol

__all__ = ["AdaptiveReadAhead", "FixedReadAhead", "LoadTimes", "ReadAheadPolicy", "policy_for"]


class LoadTimes:
    """The time one load typically takes: a low quantile of the recent loads.

    Not their average: loads in flight together slow each other down (they share the link and
    the CPU), so the deeper the window, the longer each load takes; an average would feed on
    itself and grow the window far deeper than the latency needs. The least contended loads
    measure the latency itself.

    Example:
        >>> times = LoadTimes()
        >>> for seconds in (0.05, 0.04, 0.09, 0.2):
        ...     times.add(seconds)
        >>> times.typical
        0.05
    """

    # The typical time is this quantile of the newest _SAMPLES load times.
    _SAMPLES = 16
    _QUANTILE = 0.25
    _FULL_AT = int(_SAMPLES * _QUANTILE)  # the quantile's place once the ring is full

    def __init__(self) -> None:
        # The newest samples in a ring (_next is where the next one goes), and the same samples
        # sorted: every load adds one, so they are kept sorted rather than sorted again.
        self._ring: list[float] = []
        self._next = 0
        self._ordered: list[float] = []
        #: ``None`` until a load has finished.
        self.typical: float | None = None

    def add(self, seconds: float) -> None:
        """Account for a load that took ``seconds`` from submission to completion."""
        ring, ordered = self._ring, self._ordered
        if len(ring) < self._SAMPLES:
            ring.append(seconds)
            bisect.insort(ordered, seconds)
            self.typical = ordered[int(len(ordered) * self._QUANTILE)]
            return
        at = self._next
        del ordered[bisect.bisect_left(ordered, ring[at])]
        bisect.insort(ordered, seconds)
        ring[at] = seconds
        self._next = (at + 1) % self._SAMPLES
        self.typical = ordered[self._FULL_AT]


class ReadAheadPolicy(Protocol):
    """Decides the read-ahead window; called under the loader's lock, so it must be cheap."""

    @property
    def window(self) -> int:
        """The window now in force, in the direction of travel."""

    #: How many items to load on the other side of the request too (read on every request:
    #: an attribute, not a property).
    behind: int

    def on_request(
        self, step: int | None, was_ready: bool, now: float, one_way: bool = False
    ) -> int:
        """Account for a request ``step`` items from the previous one; return the new window.

        ``step`` is ``None`` for the first request; ``was_ready`` says whether the item was in
        memory; ``now`` is a monotonic time in seconds; ``one_way`` says that only one way is
        open from a first request (it is for the first item or the last). A repeated request
        (``step`` 0) keeps the window and reads nothing behind it.
        """

    def on_load_finished(self, typical: float) -> None:
        """Account for a finished load; ``typical`` is what a load takes now (see LoadTimes)."""

    def on_wait_finished(self, now: float) -> None:
        """Account for a caller that waited for its item until ``now``."""


class FixedReadAhead:
    """Always the same window."""

    def __init__(self, ahead: int) -> None:
        self._ahead = ahead
        self.behind = 0

    @property
    def window(self) -> int:
        return self._ahead

    def on_request(
        self, step: int | None, was_ready: bool, now: float, one_way: bool = False
    ) -> int:
        return self._ahead

    def on_load_finished(self, typical: float) -> None:
        pass

    def on_wait_finished(self, now: float) -> None:
        pass


class AdaptiveReadAhead:
    """A window that grows on a sequential run and collapses on random access.

    The depth that hides a load's latency is ``load time / time between requests`` items, plus
    half an item of margin, rounded up: the item that far ahead, started when the consumer asks
    for this one, is ready about half a request before the consumer comes to it, and so is
    every item nearer. The policy measures both itself -- the time between requests without the
    time the consumer spent waiting for the loader, which is what the window is there to remove
    -- and, during a sequential run (steps of +1 or -1), moves the window to that depth.

    The load time is the typical one of :class:`LoadTimes`, which does not feed on the depth.

    When the consumer still arrives at an item that is not ready although the window was as
    deep as the estimate, the estimate is behind: the window grows by one more item, and gives
    that item back after a stretch of requests that all found their item ready. On the first
    steps from a landing (as many as the window is deep) the consumer comes to items that were
    started fewer requests ahead than that, so a miss there does not grow the window.

    A single step of +1 or -1 may be chance among random requests, so after a jump that follows
    a jump the window grows only from the second step of a run on; the first keeps at least
    ``minimum``.

    A jump ends the run. A jump out of a sequential run is what an image viewer does: it jumps
    and then reads on from there, but which way is anybody's guess, so the depth the run had
    reached, less one, is read on both sides of the jump (a few reads that will be wasted,
    against a wait on each of the first steps); the first step from there, which shows the way,
    grows the window at once. The first request is treated the same way, with ``minimum`` items
    on each side; for the first item or the last, where only one way is open, it reads a few
    items that way instead (four, or ``maximum`` if that is less). A jump that follows a jump
    (or the first request) is random access, where any prefetch is wasted work, so the window
    drops to 0 until a sequential step is seen.
    """

    # Weight of the newest sample in the running averages: reacts within a few items yet
    # smooths the jitter of a shared network.
    _SMOOTHING = 0.3
    # Sequential steps in a row that make a run rather than chance.
    _RUN = 2
    # Ready requests in a row after which one extra item of the window is given back.
    _RELAX = 8
    # The window of a first request where only one way is open: until the first step measures
    # the load time and the interval, it hides a load up to about three times the consumer's
    # work on an item (the wait of the fourth item otherwise, whose load the first step starts).
    _FIRST_ONE_WAY = 4
    # Requests of margin in the depth: the far end is due to be ready this long before it is
    # asked for.
    _MARGIN = 0.5

    def __init__(self, minimum: int, maximum: int) -> None:
        self._minimum = minimum
        self._maximum = maximum
        self._window = minimum
        self.behind = 0
        self._streak = 0  # sequential steps in a row
        # When the consumer last got an item: the request time for an item that was ready,
        # later for one it had to wait for. Requests come this long after it.
        self._last_served_at: float | None = None
        self._interval: float | None = None
        self._load_time: float | None = None
        self._extra = 0  # items on top of the estimate, for misses the estimate did not foresee
        self._ready_streak = 0
        # Steps of a run from a landing (a jump out of a run) that still come to items started
        # fewer requests ahead than the window is deep: on both sides of the landing, or by the
        # first step, which grew the window at once. A miss there says nothing of the estimate.
        self._short_lead = 0

    @property
    def window(self) -> int:
        return self._window

    def on_request(
        self, step: int | None, was_ready: bool, now: float, one_way: bool = False
    ) -> int:
        previous_at, self._last_served_at = self._last_served_at, now
        self.behind = 0
        if step is None:
            self._streak = self._RUN - 1
            if one_way:
                # The first item (or the last): the way is known, the depth not yet, and the
                # first step that measures it comes one load later.
                self._window = min(self._maximum, max(self._minimum, self._FIRST_ONE_WAY))
            else:
                # Which way the consumer goes is unknown: the minimum each side, and the first
                # step shows the way.
                self._window = self._minimum
                self.behind = self._minimum
        elif step in (1, -1):
            if previous_at is not None:
                self._interval = self._average(self._interval, max(0.0, now - previous_at))
            self._streak += 1
            if self._streak >= self._RUN:
                self._window = self._depth_for_run(was_ready)
            else:
                self._window = max(self._window, self._minimum)
            if self._short_lead:
                self._short_lead -= 1
        elif step != 0:
            self._jumped()
        return self._window

    def _depth_for_run(self, was_ready: bool) -> int:
        """The window on a sequential run: the estimate, plus items for misses it missed."""
        base = max(self._minimum, self._estimate())
        if was_ready:
            self._ready_streak += 1
            if self._ready_streak >= self._RELAX and self._extra:
                self._extra -= 1
                self._ready_streak = 0
        else:
            self._ready_streak = 0
            if self._window >= base + self._extra and not self._short_lead:
                self._extra += 1  # deep enough by the estimate, and still too late
        self._extra = min(self._extra, self._maximum)
        return min(self._maximum, base + self._extra)

    def _jumped(self) -> None:
        if self._streak >= self._RUN:
            # Where the viewer goes on from here is unknown, and the step that shows it
            # comes one load later: by then, whichever way it goes, the items that step
            # cannot start in time must be loading already, on both sides.
            side = max(self._minimum, min(self._window - 1, self._maximum // 2))
            self._short_lead = self._window
            self._window = side
            self.behind = min(side, self._maximum - side)
            # The first step from here shows the way the viewer goes on: grow at once.
            self._streak = self._RUN - 1
        else:
            self._window = 0
            self._streak = 0
            self._short_lead = 0

    def on_load_finished(self, typical: float) -> None:
        self._load_time = typical

    def on_wait_finished(self, now: float) -> None:
        self._last_served_at = now

    def _estimate(self) -> int:
        if self._interval is None or self._load_time is None:
            return 0
        # Half a request of margin, for the jitter of the loads, not a whole item more: a
        # deeper window reads more past every run's end and on the wrong side of every jump,
        # and loads in flight together slow each other. A consumer that still arrives too
        # early grows the window by the misses instead (_depth_for_run).
        return math.ceil(self._load_time / max(self._interval, 1e-6) + self._MARGIN)

    @classmethod
    def _average(cls, average: float | None, sample: float) -> float:
        if average is None:
            return sample
        return average + cls._SMOOTHING * (sample - average)


def policy_for(ahead: int | str, cap: int, workers: int) -> ReadAheadPolicy:
    """The policy for the loader's ``ahead`` (``"auto"`` or a number, ``cap`` the deepest)."""
    if ahead == "auto":
        # More prefetches than workers would only wait in the queue.
        return AdaptiveReadAhead(minimum=1, maximum=min(cap, workers))
    return FixedReadAhead(cap)
