"""How far to read ahead: a fixed window, or one that adapts to the consumer."""

from __future__ import annotations

import math
from typing import Protocol

__all__ = ["AdaptiveReadAhead", "FixedReadAhead", "ReadAheadPolicy"]


class ReadAheadPolicy(Protocol):
    """Decides the read-ahead window; called under the loader's lock, so it must be cheap."""

    @property
    def cap(self) -> int:
        """The largest window this policy will ever return."""

    @property
    def window(self) -> int:
        """The window now in force."""

    def on_request(self, step: int | None, was_ready: bool, now: float) -> int:
        """Account for a request ``step`` items from the previous one; return the new window.

        ``step`` is ``None`` for the first request; ``was_ready`` says whether the item was in
        memory; ``now`` is a monotonic time in seconds.
        """

    def on_load_finished(self, seconds: float) -> None:
        """Account for a load that took ``seconds`` from submission to completion."""


class FixedReadAhead:
    """Always the same window."""

    def __init__(self, ahead: int) -> None:
        self._ahead = ahead

    @property
    def cap(self) -> int:
        return self._ahead

    @property
    def window(self) -> int:
        return self._ahead

    def on_request(self, step: int | None, was_ready: bool, now: float) -> int:
        return self._ahead

    def on_load_finished(self, seconds: float) -> None:
        pass


class AdaptiveReadAhead:
    """A window that grows on a sequential run and collapses on random access.

    The depth that hides a load's latency is about ``load time / time between requests + 1``
    items: that many loads must be in flight so one finishes every time the consumer asks. The
    policy measures both averages itself and, during a sequential run (steps of +1 or -1), moves
    the window to that depth; when the consumer still arrives at an item that is not ready, the
    estimate is behind, so the window also grows by one.

    A jump resets the run. A jump that ends a sequential run keeps a window of ``minimum``: an
    image viewer jumps and then reads on from there. A jump that follows a jump is random access,
    where any prefetch is wasted work, so the window drops to 0 until a sequential step is seen.
    """

    # Weight of the newest sample in the running averages: reacts within a few items yet
    # smooths the jitter of a shared network.
    _SMOOTHING = 0.3

    def __init__(self, minimum: int, maximum: int) -> None:
        self._minimum = minimum
        self._maximum = maximum
        self._window = minimum
        self._in_run = False
        self._last_request_at: float | None = None
        self._interval: float | None = None
        self._load_time: float | None = None

    @property
    def cap(self) -> int:
        return self._maximum

    @property
    def window(self) -> int:
        return self._window

    def on_request(self, step: int | None, was_ready: bool, now: float) -> int:
        previous_at, self._last_request_at = self._last_request_at, now
        if step is None:
            self._window = self._minimum
        elif step in (1, -1):
            if previous_at is not None:
                self._interval = self._average(self._interval, now - previous_at)
            grown = self._window + (0 if was_ready else 1)
            self._window = min(self._maximum, max(self._minimum, grown, self._estimate()))
            self._in_run = True
        elif step != 0:
            self._window = self._minimum if self._in_run else 0
            self._in_run = False
        return self._window

    def on_load_finished(self, seconds: float) -> None:
        self._load_time = self._average(self._load_time, seconds)

    def _estimate(self) -> int:
        if self._interval is None or self._load_time is None:
            return 0
        return math.ceil(self._load_time / max(self._interval, 1e-6)) + 1

    @classmethod
    def _average(cls, average: float | None, sample: float) -> float:
        if average is None:
            return sample
        return average + cls._SMOOTHING * (sample - average)
