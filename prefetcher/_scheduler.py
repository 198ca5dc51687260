"""The loader's decisions: what a request, a finished load, a deadline or close() leads to.

A :class:`Scheduler` holds the state of one loader and is called with that loader's lock held.
It never calls user code, an executor or a future's callbacks, and never waits: each method
returns what the loader must do once the lock is released (loads to start, futures to resolve).
What a request leads to is decided here; what becomes of a load once started, and the state
both share, in :class:`~prefetcher._bookkeeping.LoadBookkeeping`.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

from ._bookkeeping import LoadBookkeeping
from ._entries import Entry, EntryState
from ._head_start import HeadStart
from ._planning import next_travel
from ._scheduling import Request, Start, describe_wait, earliest, shared_future
from ._stats import LoaderStats

__all__ = ["NOT_REPEATED", "Scheduler"]

#: What :meth:`Scheduler.repeat` returns for a request it cannot serve.
NOT_REPEATED: Any = object()


class Scheduler(LoadBookkeeping):
    """The decisions of one loader under its lock: the bookkeeping of its loads, and what each
    request leads to (the entry it is served from, the window planned around it, evictions)."""

    # The entry of the last request, while :meth:`repeat` may serve it again; the table still
    # holding it is checked there (it may be evicted or invalidated since). Set on every request.
    _repeatable: Entry | None = None
    #: Its index, or ``None``: a hint a caller may read without the lock to skip :meth:`repeat`
    #: for other indices (which decides under the lock).
    repeatable_index: int | None = None

    # -- requests ----------------------------------------------------------------------------------

    def request(self, position: int, length: int | None, want_future: bool, now: float) -> Request:
        """Account for a request for ``position``, plan the read-ahead; say what to do next."""
        counters = self.counters
        counters.requests += 1
        self._travel = travel = next_travel(self._travel, position, length)
        entry = self._table.get(position)
        if entry is not None and entry.state is EntryState.DONE:  # a hit: nothing to start
            counters.hits += 1
            self._table.touch(entry)
            starts: list[Start] = []
            wake_at = None
        else:
            # A miss is a landing: the item was not in the read-ahead window.
            entry, starts, missed = self._entry_for(entry, position, now)
            wake_at = (
                self._head_start.give([entry], now, self._load_times.typical, landing=missed)
                if starts
                else None
            )
        ready = entry.state is EntryState.DONE
        value = entry.value if ready else None
        future = self._future_of(entry) if want_future or not ready else None
        # Only one way is open from a first request for the first item or the last.
        one_way = travel.step is None and (position == 0 or position + 1 == length)
        window = self._policy.on_request(travel.step, ready, now, one_way)
        behind = self._policy.behind
        if travel.step != 0 or starts or not self._window.has_shape(window, behind):
            dropped = self._window.plan(position, travel.direction, window, behind, length, now)
            self.counters.prefetches_cancelled += len(dropped)
        # else: the same request again (a GUI repainting, say); the window is as planned and
        # whatever left it since was evicted on purpose, so planning again would only reload it.
        self._evict(protect=entry)
        prefetches, held_until = self._startable(now)
        starts.extend(prefetches)
        # Asked for again, a ready item with nothing read behind it needs no planning: the
        # window is as planned (a window read behind would lose that side).
        repeatable = ready and behind == 0
        self._repeatable = entry if repeatable else None
        self.repeatable_index = position if repeatable else None
        return Request(entry, future, value, starts, earliest(wake_at, held_until))

    def repeat(self, index: int, now: float) -> Any:
        """The item of a request for the index asked for last, if that needs no planning.

        That is a ready item, asked for again with nothing read behind it since (a GUI
        repainting, say): nothing to plan, start or evict. Returns :data:`NOT_REPEATED` for any
        other request, which then goes through :meth:`request`.
        """
        entry = self._repeatable
        if entry is None or index != entry.index or self.closed or not self._table.holds(entry):
            return NOT_REPEATED
        self.counters.requests += 1
        self.counters.hits += 1
        self._policy.on_request(0, True, now)
        return entry.value

    def hold_prefetches_for_landings(self, until_released: bool) -> None:
        """From now on, prefetches wait for a landing's whole load (a demand load of an item not
        in the window), or its :meth:`stage_done` (with ``until_released``, for that only).

        For a loader whose loads compete for the link and the CPU: see :class:`HeadStart`.
        """
        self._head_start = HeadStart(hold_landings=True, until_released=until_released)

    def stage_done(self, position: int, now: float) -> tuple[list[Start], float | None]:
        """The part of the load of ``position`` that had to go first is done.

        If that load held the prefetches (a demand load's head start), they may start now:
        returns the starts and when to call back, as :meth:`deadline` does.
        """
        if self.closed or not self._head_start.release(position):
            return [], None
        return self._startable(now)

    def waited(self, seconds: float, ended: float) -> None:
        """Account for a caller that waited ``seconds`` for its item, until ``ended``."""
        self.counters.wait_seconds += seconds
        self._policy.on_wait_finished(ended)

    def invalidate(self, position: int | None) -> None:
        """Forget ``position`` (every index for ``None``), loads in flight included."""
        table = self._table
        if position is None:
            dropped = table.clear()
            table.running.clear()
            table.retrying.clear()
        else:
            found = table.get(position)
            dropped = [] if found is None else [found]
            for entry in dropped:
                table.remove(entry)
            table.running.pop(position, None)
            table.retrying.pop(position, None)
        self.counters.prefetches_cancelled += sum(
            1 for e in dropped if e.state is EntryState.QUEUED
        )
        self._window.forget(position)  # the next request plans its whole window again

    # -- what callers see --------------------------------------------------------------------------

    def snapshot(self) -> LoaderStats:
        ready = self._table.ready_count()
        return self.counters.snapshot(
            ahead=self._policy.window, cached=ready, pending=len(self._table) - ready
        )

    def describe_wait(self, entry: Entry, timeout: float | None) -> str:
        return describe_wait(entry, self._table.running.values(), timeout)

    # -- the decisions behind requests -------------------------------------------------------------

    def _entry_for(
        self, entry: Entry | None, position: int, now: float
    ) -> tuple[Entry, list[Start], bool]:
        """The entry a request for ``position`` is served from, the load it must start, and
        whether it is a miss (a new entry), for a request that is not a hit; ``entry`` is the
        table's entry for ``position``, if any."""
        table = self._table
        if entry is None:
            entry = table.running.get(position) or table.retrying.get(position)
            if entry is not None:
                # Evicted while it loads: join that load rather than start the item again.
                entry.requested = True
                table.add(entry)
        if entry is None:
            self.counters.misses += 1
            self._stuck.refuse_if_full(position)
            entry = Entry(position, requested=True)
            start = self._begin(entry, now)  # a demand load goes to the executor first
            table.add(entry)
            return entry, [start], True
        self.counters.waits += 1  # not a hit: the request found its item loading, or to load
        table.touch(entry)
        if entry.state is EntryState.QUEUED or entry.state is EntryState.RETRY_WAIT:
            # A requested item never waits behind prefetches, nor for a retry's backoff.
            self._stuck.refuse_if_full(position)
            if entry.state is EntryState.QUEUED:
                table.dequeue(entry)
            return entry, [self._begin(entry, now)], False
        return entry, [], False

    def _future_of(self, entry: Entry) -> Future[Any]:
        if entry.future is None:
            entry.future = shared_future()
            if entry.state is EntryState.DONE:
                entry.future.set_result(entry.value)  # a new future: no callback runs here
        return entry.future
