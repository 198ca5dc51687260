"""The bookkeeping of one loader's loads: starting them, settling them, giving up, closing.

A :class:`LoadBookkeeping` holds the state of one loader; the
:class:`~prefetcher._scheduler.Scheduler` adds to it what a request leads to. Both are called
with the loader's lock held. They never call user code, an executor or a future's callbacks,
and never wait: each method returns what the loader must do once the lock is released (loads
to start, futures to resolve).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from ._entries import Entry, EntryState, EntryTable
from ._errors import LoaderClosedError
from ._head_start import HeadStart
from ._planning import Travel
from ._pool import PoolCall
from ._readahead import LoadTimes, ReadAheadPolicy
from ._retry import RetryPolicy
from ._scheduling import NOTHING_TO_DO, Outcome, Start, earliest, loader_note, take_futures
from ._stats import Counters
from ._stuck import StuckLoads
from ._window import ReadAheadWindow

__all__ = ["LoadBookkeeping"]


class LoadBookkeeping:
    """Entries, the read-ahead window, stuck loads and counters, and what becomes of a load once
    it is started: its end, its deadline, a retry, close."""

    def __init__(
        self,
        *,
        cache_size: int,
        max_entries: int,
        max_workers: int,
        max_bytes: int | None,
        policy: ReadAheadPolicy,
        retry: RetryPolicy,
        load_timeout: float | None,
        pool_calls: bool = False,
    ) -> None:
        self._cache_size = cache_size
        # Whether loads run on the loader's own pool: each attempt then gets its PoolCall as it
        # starts, so that nothing is attached to it after it is submitted.
        self._pool_calls = pool_calls
        self._max_entries = max_entries
        # Loads in flight at once.
        self._max_workers = max_workers
        self._max_bytes = max_bytes
        self._policy = policy
        self._retry = retry
        self._rng = random.Random()
        self._table = EntryTable()
        self._window = ReadAheadWindow(self._table)
        self._travel = Travel(position=None, direction=1, step=None)
        self._load_times = LoadTimes()
        self._head_start = HeadStart()
        self._stuck = StuckLoads(load_timeout, max_workers)
        self.counters = Counters()
        #: ``take_released()``: the items let go since the last call (evicted, invalidated, or
        #: dropped at close), with their futures. The caller drops the list once the lock is
        #: released, so that no item's finalizer runs under it. The table's own method, as it is
        #: called after every request and every finished load.
        self.take_released: Callable[[], list[Any]] = self._table.take_released
        #: Set once by :meth:`close`; no load starts and nothing is kept afterwards.
        self.closed = False
        # Whether drained() has said yes: it does so once.
        self._drained = False

    # -- loads handed to the executor, and their ends ----------------------------------------------

    def attach(self, start: Start, submission: Future[Any] | PoolCall) -> None:
        """Remember the executor's future of an attempt that was just submitted to a caller's
        executor (an attempt on the loader's own pool has its call from the start).

        Unless the attempt is no longer awaited: a settled attempt keeps no future (see
        :meth:`record`).
        """
        entry = start.entry
        if entry.attempt == start.attempt and self._table.running.get(entry.index) is entry:
            entry.submission = submission

    def record(
        self,
        start: Start,
        submission: Future[Any] | PoolCall | None,
        value: Any,
        error: BaseException | None,
    ) -> Outcome:
        """Account for the end of an attempt; decide whom to tell and what to start next.

        ``submission`` is the executor's future of the attempt (``None`` if it never got one).
        """
        entry, now = start.entry, time.perf_counter()
        if self._stuck.returned(submission):  # given up long ago; its worker is free again
            self.counters.wasted_loads += error is None  # its late result is dropped
            starts, held_until = self._startable(now)
            return Outcome(release_worker=True, starts=starts, wake_at=held_until)
        if entry.attempt != start.attempt or entry.state is not EntryState.RUNNING:
            return NOTHING_TO_DO  # an attempt already settled (abandoned at close)
        # The executor's future holds the item too, and refers back to this entry through its
        # done-callback: break the cycle so an evicted item is freed at once, not when the
        # cycle collector runs.
        entry.submission = None
        if self._table.running.get(entry.index) is entry:
            del self._table.running[entry.index]
        if error is None:
            return self._record_success(entry, value, now)
        return self._record_failure(entry, error, now)

    def _record_success(self, entry: Entry, value: Any, now: float) -> Outcome:
        # Its waiters' future, before an eviction below (of this entry too) takes it.
        future = entry.future
        self.counters.loads_completed += 1
        if self._window.missing:
            self._window.missing.discard(entry.index)
        self._load_times.add(now - entry.started_at)
        assert self._load_times.typical is not None
        self._policy.on_load_finished(self._load_times.typical)
        size = entry.size
        if self._table.holds(entry) and not self.closed:
            self._table.set_ready(entry, value, size)
            if self._max_bytes is not None:
                if size > self._max_bytes:
                    self._table.remove(entry)  # returned to its waiters, but not kept
                    self.counters.evictions += 1
                else:
                    self._evict(protect=None)
            # Without max_bytes a completed load changes nothing the bounds count: no eviction.
        else:
            entry.move_to(EntryState.DONE)
            # Dropped while it ran (evicted or invalidated) and never asked for.
            self.counters.wasted_loads += not entry.requested
        starts, held_until = self._startable(now)
        if future is None and not starts and held_until is None:
            return NOTHING_TO_DO  # a prefetch nobody waits for yet, and nothing to follow it
        return Outcome(future=future, value=value, starts=starts, wake_at=held_until)

    def _record_failure(self, entry: Entry, error: BaseException, now: float) -> Outcome:
        table = self._table
        # Retried if still wanted: held, or evicted while it ran but waited for.
        wanted = table.holds(entry) or (entry.future is not None and table.get(entry.index) is None)
        if not self.closed and wanted and self._retry.should_retry(error, entry.attempt):
            entry.move_to(EntryState.RETRY_WAIT)
            entry.retry_at = now + self._retry.delay(entry.attempt, self._rng)
            table.retrying[entry.index] = entry
            starts, held_until = self._startable(now)
            return Outcome(wake_at=earliest(entry.retry_at, held_until), starts=starts)
        if table.holds(entry):
            table.remove(entry)  # a failure is not kept: the next request loads again
        if isinstance(error, FileNotFoundError):
            self._window.missing.add(entry.index, now)
        if isinstance(error, FileNotFoundError) and not entry.requested:
            # Read-ahead past the last file of an open-ended sequence: not a failure of anything
            # the program asked for.
            self.counters.prefetches_missing += 1
        elif not isinstance(error, LoaderClosedError):
            self.counters.loads_failed += 1
        future, entry.future = entry.future, None
        starts, held_until = self._startable(now)
        return Outcome(
            future=future, error=error, note=loader_note(entry), starts=starts, wake_at=held_until
        )

    # -- deadlines and close -----------------------------------------------------------------------

    def deadline(self, now: float) -> tuple[list[tuple[Outcome, bool]], list[Start], float | None]:
        """Give up stuck loads; start due retries and prefetches held for a head start.

        Returns the outcomes of the loads given up, each with whether its worker is still busy
        (then the loader's own pool needs one in its place); the loads to start; and when to
        look again.
        """
        if self.closed:
            return [], [], None
        stuck = self._give_up_stuck(now)
        retries = self._due_retries(now)
        prefetches, held_until = self._startable(now)
        return stuck, retries + prefetches, earliest(self._next_deadline(now), held_until)

    def close(self) -> tuple[bool, list[Future[Any]], list[Future[Any] | PoolCall]]:
        """Close: drop every entry.

        Returns whether it was closed already; the waiters' futures of items that are not
        loading (to fail now); and the executor's handles on the loads still running.
        """
        already_closed, self.closed = self.closed, True
        dropped = self._table.clear()
        self.counters.prefetches_cancelled += sum(
            1 for e in dropped if e.state is EntryState.QUEUED
        )
        unstarted = take_futures(e for e in dropped if e.state is not EntryState.RUNNING)
        unstarted += take_futures(self._table.retrying.values())
        self._table.retrying.clear()
        running = self._table.running.values()
        submissions = [e.submission for e in running if e.submission is not None]
        return already_closed, unstarted, submissions

    def drained(self) -> bool:
        """Whether the loader is closed and every load that ran or was being handed to the
        executor at close has ended; true once only, for its caller to tell close().

        A load decided before close and submitted after it counts (it is in ``running`` from
        the moment it is decided), so close() waits for it as for any other.
        """
        if not self.closed or self._table.running or self._drained:
            return False
        self._drained = True
        return True

    def abandon_running(self) -> tuple[list[int], list[Future[Any]]]:
        """After close: give up the loads still running; return their indices and waiters."""
        abandoned = list(self._table.running.values())
        self._table.running.clear()
        return sorted(e.index for e in abandoned), take_futures(abandoned)

    def _give_up_stuck(self, now: float) -> list[tuple[Outcome, bool]]:
        """Settle every load running longer than ``load_timeout`` as failed by a timeout."""
        settled = []
        for entry, ran in self._stuck.overdue(list(self._table.running.values()), now):
            del self._table.running[entry.index]
            self.counters.loads_stuck += 1
            self._stuck.give_up(entry.submission)
            error = self._stuck.error(entry, ran)
            busy = entry.submission is not None
            settled.append((self._record_failure(entry, error, now), busy))
        return settled

    def _due_retries(self, now: float) -> list[Start]:
        starts = []
        for entry in list(self._table.retrying.values()):
            if entry.retry_at > now:
                continue
            if entry.requested and not self._stuck.full:
                starts.append(self._begin(entry, now))
            elif self._table.holds(entry):
                # A prefetch's retry waits in the queue like any prefetch: it never delays
                # a demand load.
                del self._table.retrying[entry.index]
                entry.move_to(EntryState.QUEUED)
                self._table.queue_first(entry)
            else:
                del self._table.retrying[entry.index]  # an evicted prefetch: not worth it
        return starts

    def _next_deadline(self, now: float) -> float | None:
        retries = (entry.retry_at for entry in self._table.retrying.values())
        overdue = self._stuck.next_check(self._table.running.values(), now)
        return min([*retries, *([] if overdue is None else [overdue])], default=None)

    # -- starting and evicting ---------------------------------------------------------------------

    def _begin(self, entry: Entry, now: float) -> Start:
        if entry.attempt:  # only an entry tried before can be waiting to retry
            self.counters.retries += 1
            self._table.retrying.pop(entry.index, None)
        else:
            self.counters.loads_started += 1
        attempt = entry.start_attempt(now)
        self._table.running[entry.index] = entry
        if not self._pool_calls:
            return Start(entry, attempt)
        call = PoolCall()
        start = Start(entry, attempt, call)
        # A cycle (start, call), which the dispatcher breaks once the call has ended.
        call.context = start
        entry.submission = call
        return start

    def _startable(self, now: float) -> tuple[list[Start], float | None]:
        """Start queued prefetches while workers are free (stuck loads count for none); none once
        closed.

        Of several, the nearest may start first, the others after a head start (see
        :meth:`HeadStart.split`); returns the starts and when to call back (``None``: no need).
        """
        table = self._table
        if self.closed or not table.queue or self._head_start.holds(now):
            return [], None
        free = 0 if self._stuck.full else self._max_workers - len(table.running)
        queued = table.first_queued(free)
        count, held_until = self._head_start.split(
            queued, self._travel.position, now, self._load_times.typical
        )
        starts = []
        for entry in queued[:count]:
            table.dequeue(entry)
            starts.append(self._begin(entry, now))
        return starts, held_until

    def _evict(self, protect: Entry | None) -> None:
        victims = self._table.victims(
            cache_size=self._cache_size,
            max_entries=self._max_entries,
            max_bytes=self._max_bytes,
            window=self._window.indices,
            protect=protect,
        )
        if not victims:
            return
        self.counters.evictions += len(victims)
        for victim in victims:
            self.counters.wasted_loads += victim.state is EntryState.DONE and not victim.requested
