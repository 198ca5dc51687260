"""The counters a loader keeps while it runs, and the immutable snapshot it hands out."""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["Counters", "LoaderStats"]


@dataclass(frozen=True)
class LoaderStats:
    """A snapshot of a loader's counters, taken by :meth:`PrefetchingLoader.stats`.

    Every request is exactly one of a hit, a wait or a miss, so ``hits + waits + misses ==
    requests``.

    Example:
        >>> from prefetcher import PrefetchingLoader
        >>> with PrefetchingLoader(str, ahead=0) as loader:
        ...     _ = loader.get(1), loader.get(1)
        ...     stats = loader.stats()
        >>> (stats.requests, stats.hits, stats.misses)
        (2, 1, 1)
    """

    #: Calls of ``get``/``request`` (and items taken by iteration).
    requests: int = 0
    #: Requests whose item was ready in memory.
    hits: int = 0
    #: Requests whose item was already loading or queued (a prefetch not finished yet).
    waits: int = 0
    #: Requests whose item was not there at all.
    misses: int = 0
    #: Calls of ``load`` handed to the executor (demand loads and prefetches).
    loads_started: int = 0
    #: Loads that returned an item.
    loads_completed: int = 0
    #: Loads that raised (after their last attempt), but for missing files read ahead.
    loads_failed: int = 0
    #: Prefetches whose file did not exist: read-ahead past the end of an open-ended sequence.
    prefetches_missing: int = 0
    #: Attempts started again after a failure that ``retry_on`` names.
    retries: int = 0
    #: Loads that ran longer than ``load_timeout`` and were given up.
    loads_stuck: int = 0
    #: Prefetches dropped before they started (out of the window after a jump, or at close).
    prefetches_cancelled: int = 0
    #: Entries removed to keep the memory bounds.
    evictions: int = 0
    #: Loads that completed but whose item was never used: evicted (or dropped) before any
    #: request, or returned only after being given up as stuck.
    wasted_loads: int = 0
    #: Total seconds callers spent blocked in ``get`` waiting for an item.
    wait_seconds: float = 0.0
    #: The read-ahead window now in force (fixed, or the current one with ``ahead="auto"``).
    ahead: int = 0
    #: Items ready in memory.
    cached: int = 0
    #: Loads queued or running.
    pending: int = 0


@dataclass
class Counters:
    """The running counters of one loader; every change happens under the loader's lock."""

    requests: int = 0
    hits: int = 0
    waits: int = 0
    misses: int = 0
    loads_started: int = 0
    loads_completed: int = 0
    loads_failed: int = 0
    prefetches_missing: int = 0
    retries: int = 0
    loads_stuck: int = 0
    prefetches_cancelled: int = 0
    evictions: int = 0
    wasted_loads: int = 0
    wait_seconds: float = 0.0

    def snapshot(self, *, ahead: int, cached: int, pending: int) -> LoaderStats:
        """Freeze the counters together with the loader's current state."""
        return LoaderStats(**asdict(self), ahead=ahead, cached=cached, pending=pending)
