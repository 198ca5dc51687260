"""The loader's own executor: daemon worker threads, and room for a worker in place of a stuck one.

The stdlib ``ThreadPoolExecutor`` joins its threads at interpreter exit, so one load hung on a
network share keeps the whole process alive. A loader that reads from shares that hang needs
threads that do not: these are daemon threads, and a program ends when its main thread does.
The price is that a load still running at exit is cut off, which for a read is harmless.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

from ._waiting import join_all

__all__ = ["DaemonThreadPool", "PoolCall"]

_logger = logging.getLogger("prefetcher")


class PoolCall:
    """A call handed to the pool by :meth:`DaemonThreadPool.submit_call`, and how it ended.

    Lighter than a :class:`~concurrent.futures.Future`: it has no lock and nobody waits on it.
    Its ``then`` is called once, in the worker, after the call returned or raised, or once
    :meth:`DaemonThreadPool.shutdown` cancelled it (``finished`` is then still ``False``).
    It may be made before it is submitted, so that its owner can keep it with the state it
    belongs to; ``context`` is whatever the owner wants to find in it again.
    """

    __slots__ = ("_args", "_fn", "_then", "context", "error", "finished", "started_at", "value")

    def __init__(self, context: Any = None) -> None:
        self.context = context
        # Set by submit_call().
        self._then: Callable[[PoolCall], object] = _unsubmitted
        self._fn: Callable[..., Any] = _unsubmitted
        self._args: tuple[Any, ...] = ()
        #: ``time.perf_counter()`` when a worker took the call; ``None`` while it waits.
        self.started_at: float | None = None
        #: Whether the call ran to its end; a cancelled call never ran.
        self.finished = False
        #: What the call returned (``None`` until it has).
        self.value: Any = None
        #: What the call raised, or ``None``.
        self.error: BaseException | None = None

    def run(self) -> None:
        self.started_at = time.perf_counter()
        try:
            self.value = self._fn(*self._args)
        except BaseException as exc:  # as concurrent.futures does: then gets it, the worker lives
            self.error = exc
            del exc  # the traceback refers to this frame
        self.finished = True
        self._end()

    def cancel(self) -> None:
        self._end()

    def _end(self) -> None:
        try:
            self._then(self)
        except Exception:  # as a future's done-callbacks: logged, and the worker lives on
            _logger.exception("exception in the completion of %r", self._fn)


def _unsubmitted(*args: Any) -> None:
    raise RuntimeError("a PoolCall runs only once submitted")


class _FutureCall:
    """A call handed to the pool by :meth:`DaemonThreadPool.submit`, run into its future."""

    __slots__ = ("_args", "_fn", "_kwargs", "future")

    def __init__(self, fn: Callable[..., Any], args: Any, kwargs: dict[str, Any]) -> None:
        self.future: Future[Any] = Future()
        self._fn = fn
        self._args = args
        self._kwargs = kwargs

    def run(self) -> None:
        future = self.future
        if not future.set_running_or_notify_cancel():
            return  # cancelled through its future while it waited in the queue
        try:
            result = self._fn(*self._args, **self._kwargs)
        except BaseException as exc:  # as concurrent.futures does: the caller gets it
            future.set_exception(exc)
            del exc
        else:
            future.set_result(result)

    def cancel(self) -> None:
        self.future.cancel()
        # Tell wait() and as_completed() too: a cancelled future only wakes them once this is
        # called.
        self.future.set_running_or_notify_cancel()


class DaemonThreadPool(Executor):
    """A thread pool of daemon threads, started as work arrives.

    ``max_workers`` threads run calls; :meth:`add_worker` raises that number by one for a call
    the owner has given up waiting for (a stuck load), and :meth:`remove_worker` lowers it again
    once that call returns, so stuck calls never starve the others.

    Example:
        >>> with DaemonThreadPool(2) as pool:
        ...     pool.submit(sum, [1, 2]).result(timeout=5)
        3
    """

    def __init__(self, max_workers: int, thread_name_prefix: str = "prefetcher") -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers must be >= 1, got {max_workers}")
        self._prefix = thread_name_prefix
        # Idle threads block in get() of this queue, which is cheaper to wake than a Condition
        # (one C lock, no waiter list). Besides calls it carries None: a nudge to the thread
        # that takes it to look whether it should end. remove_worker() puts one, so there are
        # never more threads beyond the limit than Nones in the queue; shutdown() one a thread.
        self._queue: queue.SimpleQueue[PoolCall | _FutureCall | None] = queue.SimpleQueue()
        # Guards every attribute below; held only for bookkeeping, never while a call runs or a
        # thread waits for one.
        self._lock = threading.Lock()
        self._threads: set[threading.Thread] = set()
        self._limit = max_workers  # threads allowed: max_workers plus those stuck
        self._queued = 0  # calls in the queue, not yet taken by a thread
        self._idle = 0  # threads waiting in get(), or about to
        self._started = 0
        self._shutdown = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Schedule ``fn(*args, **kwargs)``; return its future."""
        call = _FutureCall(fn, args, kwargs)
        self._put(call)
        return call.future

    def submit_call(
        self,
        call: PoolCall,
        then: Callable[[PoolCall], object],
        fn: Callable[..., Any],
        /,
        *args: Any,
    ) -> None:
        """Schedule ``fn(*args)`` as ``call``, made beforehand; call ``then(call)`` in the
        worker once it has ended.

        ``then`` is called exactly once: after the call returned or raised, or once it was
        cancelled (by :meth:`shutdown`, say), and never in the thread that submits. It costs
        less than :meth:`submit` and a done-callback: no future, no lock of its own. A call is
        submitted once.
        """
        call._then = then
        call._fn = fn
        call._args = args
        self._put(call)

    def _put(self, call: PoolCall | _FutureCall) -> None:
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            # Put under the lock, so that no call can follow the None of shutdown() in the queue.
            self._queue.put(call)
            self._queued += 1
            if self._idle < self._queued:  # else an idle thread takes it: the common case
                self._spawn_if_needed()

    def add_worker(self) -> None:
        """Allow one more thread, in place of one that is stuck in a call."""
        with self._lock:
            self._limit += 1
            self._spawn_if_needed()

    def remove_worker(self) -> None:
        """Undo :meth:`add_worker` once the stuck call returned; a spare thread then ends."""
        with self._lock:
            self._limit -= 1
        self._queue.put(None)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop taking calls; with ``cancel_futures``, cancel those not started yet.

        With ``wait``, wait for the threads to end (never for the calling thread itself).
        """
        cancelled: list[PoolCall | _FutureCall] = []
        with self._lock:
            self._shutdown = True
            while cancel_futures:
                try:
                    call = self._queue.get_nowait()
                except queue.Empty:
                    break
                if call is not None:
                    cancelled.append(call)
                    self._queued -= 1
            threads = list(self._threads)
        for _ in threads:
            self._queue.put(None)
        for call in cancelled:
            call.cancel()
        if wait:
            join_all(threads, None)

    def join(self, timeout: float | None) -> bool:
        """Wait up to ``timeout`` seconds for every thread to end; return whether they did."""
        with self._lock:
            threads = list(self._threads)
        return join_all(threads, timeout)

    def _spawn_if_needed(self) -> None:
        """Start a thread if a call waits, no thread is idle, and the limit allows one.

        Started under the lock, so that shutdown() never sees a thread it cannot join yet; the
        new thread needs the lock only once it looks for work, after start() has returned.
        """
        if self._idle >= self._queued or len(self._threads) >= self._limit:
            return
        self._started += 1
        thread = threading.Thread(
            target=self._work, name=f"{self._prefix}_{self._started}", daemon=True
        )
        thread.start()
        # Idle from the start: the call that made it counts on it, and so does the next submit.
        # (It cannot take a call before this: that needs the lock, held here.)
        self._idle += 1
        self._threads.add(thread)
        if self._shutdown:
            self._queue.put(None)  # its own, after the calls it is to serve

    def _work(self) -> None:
        me = threading.current_thread()
        while True:
            call = self._queue.get()
            with self._lock:
                if call is not None:
                    self._queued -= 1
                    self._idle -= 1
                elif self._shutdown or len(self._threads) > self._limit:
                    # After shutdown() a None follows every call in the queue: none is left
                    # for this thread. A thread too many ends; the others serve what is queued.
                    self._idle -= 1
                    self._threads.discard(me)
                    return
            if call is not None:
                call.run()
                del call  # drop the result before waiting for the next call
                with self._lock:
                    self._idle += 1
