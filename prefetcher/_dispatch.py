"""Acting on the scheduler's decisions, outside the lock: loads in, outcomes out.

The :class:`Dispatcher` hands loads to the executor, settles each attempt when its future is
done (sizes it, records it under the lock, then resolves the waiters), calls the scheduler at
its deadlines, and shuts everything down at close. Every call into user code (``load``,
``keys[n]``, ``sizeof``), the executor and futures is made here, never with the lock held.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError, Executor, Future
from functools import partial
from typing import Any

from ._deadlines import DeadlineThread
from ._errors import LoaderClosedError
from ._pool import DaemonThreadPool, PoolCall
from ._scheduler import Scheduler
from ._scheduling import NOTHING_TO_DO, Outcome, Start
from ._sizeof import checked_size
from ._waiting import wait_one

__all__ = ["Dispatcher", "fail_closed"]

_logger = logging.getLogger("prefetcher")


class Dispatcher:
    """Runs the loads one loader's :class:`Scheduler` decided on.

    ``lock`` guards ``scheduler``; it is taken here only around the scheduler's calls. Without
    a caller's ``executor``, loads run on a pool of the dispatcher's own: only then may workers
    be added in place of stuck ones, and only then is the executor shut down here.
    """

    def __init__(
        self,
        *,
        load: Callable[[Any], Any],
        keys: Sequence[Any] | None,
        lock: threading.Lock | threading.RLock,
        scheduler: Scheduler,
        executor: Executor | None,
        workers: int,
        sizeof: Callable[[Any], int] | None,
        load_timeout: float | None,
    ) -> None:
        self._load = load
        self._keys = keys
        self._lock = lock
        self._scheduler = scheduler
        # One thread more than loads in flight: prefetches never take the last one, so a
        # requested item starts at once even while prefetches keep every other thread busy.
        self._pool = DaemonThreadPool(workers + 1) if executor is None else None
        self._executor: Executor = executor if executor is not None else self._pool  # type: ignore[assignment]
        self._sizeof = sizeof  # None: sizes are not needed (no max_bytes)
        self._load_timeout = load_timeout
        #: Its thread starts at the first deadline: a stuck load, a retry, or a head start.
        self.deadlines = DeadlineThread(self._on_deadline)
        # Done once the loader is closed and no load is running: what close(wait=True) waits
        # for with a caller's executor. Loads, not the executor's futures: a load decided before
        # close may reach the executor only after close took its futures, and a future is done
        # before its load is settled.
        self._drained: Future[None] = Future()

    def start(self, starts: list[Start], then_wake_at: float | None = None) -> None:
        """Hand loads to the executor.

        With ``then_wake_at``, the scheduler is called back then, once the loads are on their
        way (the prefetches held back for a demand load's head start).
        """
        pool = self._pool
        for start in starts:
            entry, call = start.entry, start.call
            try:
                key: Any = entry.index if self._keys is None else self._keys[entry.index]
                entry.key = key
                if pool is not None and call is not None:
                    # The loader's own pool: the call is the entry's already (nothing to attach),
                    # and is settled in the worker.
                    pool.submit_call(call, self._on_call_done, self._load, key)
                else:
                    call = None
                    future = self._executor.submit(self._load, key)
            except Exception as exc:  # shut down, broken pool, or a failing keys[n]
                if isinstance(exc, RuntimeError) and self._scheduler.closed:
                    exc = LoaderClosedError("the loader closed before the load started")
                self._not_started(start, exc)
                continue
            except BaseException as exc:
                # Ctrl-C in keys[n] or in the executor: these loads never reach it, and must not
                # stay "running" for ever, or a request for one of them would wait for it.
                for left in starts[starts.index(start) :]:
                    self._not_started(left, exc)
                raise
            if call is None:
                self._attach(start, future)
            if self._load_timeout is not None:
                self.deadlines.wake_at(time.perf_counter() + self._load_timeout)
        if then_wake_at is not None:
            self.deadlines.wake_at(then_wake_at)

    def _attach(self, start: Start, future: Future[Any]) -> None:
        """Keep the future a caller's executor gave for ``start``; settle the load once done."""
        with self._lock:
            self._scheduler.attach(start, future)
            closed = self._scheduler.closed
        if closed:
            future.cancel()  # close() ran while this was being submitted
        future.add_done_callback(partial(self._on_future_done, start))

    def _not_started(self, start: Start, error: BaseException) -> None:
        """Settle a load that could not be handed to the executor, as failed with ``error``."""
        if start.call is not None:
            start.call.context = None  # never to run: break its cycle
        self._settle(start, None, None, error)

    def shut(self, wait: bool, timeout: float | None) -> None:
        """Close; with ``wait``, one warning names the loads abandoned while still running."""
        with self._lock:
            already_closed, unstarted, submissions = self._scheduler.close()
            released = self._scheduler.take_released()
            drained = self._scheduler.drained()
        del released  # every item held, let go without the lock
        if drained:
            self._drained.set_result(None)
        fail_closed(unstarted)
        self.deadlines.stop()
        # The loader's own pool settles its calls itself (cancelled ones too) and its threads
        # end with their calls; a caller's executor has futures, to cancel and to wait on.
        futures = [s for s in submissions if isinstance(s, Future)]
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        elif not already_closed:
            for future in futures:
                future.cancel()  # outside the lock: cancel() runs the done-callbacks
        waited = 0.0
        if wait:
            began = time.monotonic()
            if self._pool is not None:
                # Its threads end once their calls are settled, and a load on its way to the
                # pool fails to reach it now that it is shut down.
                self._pool.join(timeout)
            else:
                wait_one(self._drained, timeout)
            self.deadlines.join(_left(timeout, began))
            waited = time.monotonic() - began
        with self._lock:
            abandoned, waiting = self._scheduler.abandon_running()
        fail_closed(waiting)
        if abandoned and wait:
            _logger.warning(
                "prefetcher: closed after waiting %.2f s with loads still running for items %s; "
                "they were abandoned",
                waited,
                ", ".join(map(str, abandoned)),
            )

    def release(self) -> None:
        """Let the threads go, for a loader dropped without close (it holds no strong ref)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self.deadlines.stop()

    # A Future runs its done-callbacks, and the loader's own pool the completion of a call,
    # catching Exception only: whatever the item's load or sizeof raised, KeyboardInterrupt
    # included, is caught in these two and goes to its waiters.

    def _on_call_done(self, call: PoolCall) -> None:
        start: Start = call.context
        call.context = None  # break the cycle (start, call), which would keep the item alive
        if call.finished:
            self._settle(start, call, call.value, call.error)
        else:
            self._settle(
                start, call, None, LoaderClosedError("the loader closed before the load ran")
            )

    def _on_future_done(self, start: Start, future: Future[Any]) -> None:
        value: Any = None
        error: BaseException | None
        try:
            error = future.exception(0)
        except CancelledError:
            error = LoaderClosedError("the loader closed before the load ran")
        else:
            value = None if error is not None else future.result()
        self._settle(start, future, value, error)

    def _settle(
        self,
        start: Start,
        submission: Future[Any] | PoolCall | None,
        value: Any,
        error: BaseException | None,
    ) -> None:
        """Size the item of a load that ran (unless it failed); record the end of the attempt
        and act on what that leads to."""
        if error is None and self._sizeof is not None:
            size = checked_size(self._sizeof, value, start.entry.index)
            if isinstance(size, BaseException):
                error = size
            else:
                start.entry.size = size
        with self._lock:
            outcome = self._scheduler.record(start, submission, value, error)
            released = self._scheduler.take_released()
            drained = self._scheduler.closed and self._scheduler.drained()
        del released  # the items its end evicted (max_bytes), let go without the lock
        try:
            if outcome is not NOTHING_TO_DO:
                self._act(outcome)
        finally:
            if drained:  # after its waiters are told: close() returns once they have the items
                self._drained.set_result(None)

    def _act(self, outcome: Outcome) -> None:
        if outcome.release_worker and self._pool is not None:
            self._pool.remove_worker()
        if outcome.starts:
            # Before the waiters wake: a get that returns has its read-ahead on the way, even
            # the prefetches this load held back for its head start.
            self.start(outcome.starts)
        error = outcome.error
        if outcome.future is not None or error is not None:  # else nobody to tell, nothing to note
            outcome.resolve()
        if (
            outcome.future is None
            and error is not None
            and not isinstance(error, LoaderClosedError)
        ):
            # Nobody waits for it (a prefetch): the only place this error is ever seen.
            _logger.debug("%s failed", outcome.note, exc_info=error)
        if outcome.wake_at is not None:
            self.deadlines.wake_at(outcome.wake_at)

    def _on_deadline(self, now: float) -> float | None:
        """Give up stuck loads, start due retries and held-back prefetches (deadline thread)."""
        with self._lock:
            stuck, starts, upcoming = self._scheduler.deadline(now)
            released = self._scheduler.take_released()
        del released  # what a deadline let go (a stuck load has no item yet), without the lock
        for outcome, busy in stuck:
            if self._pool is not None and busy:
                self._pool.add_worker()  # a worker in place of the stuck one
            self._act(outcome)
        self.start(starts)
        return upcoming


def _left(timeout: float | None, began: float) -> float | None:
    """What is left of ``timeout`` seconds counted from ``began`` (``time.monotonic()``)."""
    return None if timeout is None else max(0.0, timeout - (time.monotonic() - began))


def fail_closed(futures: list[Future[Any]]) -> None:
    """Fail the waiters of items that will never be ready because the loader closed."""
    for future in futures:
        if not future.done():
            future.set_exception(LoaderClosedError("the loader closed before the item was ready"))
