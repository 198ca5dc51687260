"""The loader's own executor: daemon worker threads, and room for a worker in place of a stuck one.

The stdlib ``ThreadPoolExecutor`` joins its threads at interpreter exit, so one load hung on a
network share keeps the whole process alive. A loader that reads from shares that hang needs
threads that do not: these are daemon threads, and a program ends when its main thread does.
The price is that a load still running at exit is cut off, which for a read is harmless.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

from ._waiting import join_all

__all__ = ["DaemonThreadPool", "PoolFuture"]


class PoolFuture(Future[Any]):
    """A future that also records when a worker started running it."""

    def __init__(self) -> None:
        super().__init__()
        #: ``time.perf_counter()`` when a worker took the call; ``None`` while it waits.
        self.started_at: float | None = None


class _Call:
    __slots__ = ("args", "fn", "future", "kwargs")

    def __init__(
        self, future: PoolFuture, fn: Callable[..., Any], args: Any, kwargs: dict[str, Any]
    ) -> None:
        self.future = future
        self.fn = fn
        self.args = args
        self.kwargs = kwargs

    def run(self) -> None:
        if not self.future.set_running_or_notify_cancel():
            return
        self.future.started_at = time.perf_counter()
        try:
            result = self.fn(*self.args, **self.kwargs)
        except (
            BaseException
        ) as exc:  # as concurrent.futures does: the caller gets it, the worker lives
            self.future.set_exception(exc)
            del exc  # the traceback refers to this frame
        else:
            self.future.set_result(result)


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
        # Guards every attribute below; held only for bookkeeping, never while a call runs.
        self._lock = threading.Lock()
        self._work_ready = threading.Condition(self._lock)
        self._calls: deque[_Call] = deque()
        self._threads: set[threading.Thread] = set()
        self._limit = max_workers  # threads allowed: max_workers plus those stuck
        self._idle = 0  # threads waiting for a call
        self._started = 0
        self._shutdown = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> PoolFuture:
        """Schedule ``fn(*args, **kwargs)``; return its future."""
        future = PoolFuture()
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            self._calls.append(_Call(future, fn, args, kwargs))
            self._spawn_if_needed()
            self._work_ready.notify()
        return future

    def add_worker(self) -> None:
        """Allow one more thread, in place of one that is stuck in a call."""
        with self._lock:
            self._limit += 1
            self._spawn_if_needed()

    def remove_worker(self) -> None:
        """Undo :meth:`add_worker` once the stuck call returned; a spare thread then ends."""
        with self._lock:
            self._limit -= 1
            self._work_ready.notify_all()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop taking calls; with ``cancel_futures``, cancel those not started yet.

        With ``wait``, wait for the threads to end (never for the calling thread itself).
        """
        with self._lock:
            self._shutdown = True
            cancelled = list(self._calls) if cancel_futures else []
            if cancel_futures:
                self._calls.clear()
            threads = list(self._threads)
            self._work_ready.notify_all()
        for call in cancelled:
            call.future.cancel()
            # Tell wait() and as_completed() too: a cancelled future only wakes them once this
            # is called.
            call.future.set_running_or_notify_cancel()
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
        if self._idle >= len(self._calls) or len(self._threads) >= self._limit:
            return
        self._started += 1
        thread = threading.Thread(
            target=self._work, name=f"{self._prefix}_{self._started}", daemon=True
        )
        thread.start()
        self._threads.add(thread)

    def _next_call(self) -> _Call | None:
        """The next call to run, or ``None`` when this thread should end."""
        me = threading.current_thread()
        with self._lock:
            while not self._calls:
                if self._shutdown or len(self._threads) > self._limit:
                    self._threads.discard(me)
                    return None
                self._idle += 1
                self._work_ready.wait()
                self._idle -= 1
            return self._calls.popleft()

    def _work(self) -> None:
        while (call := self._next_call()) is not None:
            call.run()
            del call  # drop the result before waiting for the next call
