"""PrefetchingLoader: items by index, loaded ahead in the direction of travel, bounded in memory."""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import Executor, Future
from typing import Any, ClassVar, Generic, Literal, TypeVar, cast

from ._arguments import (
    check_callable,
    check_exceptions,
    check_executor,
    check_int,
    check_keys,
    check_seconds,
    normalize_index,
    window_cap,
)
from ._dispatch import Dispatcher
from ._errors import LoaderClosedError
from ._notes import set_loader_note
from ._readahead import policy_for
from ._retry import RetryPolicy
from ._scheduler import NOT_REPEATED, Scheduler
from ._scheduling import Request, loader_note
from ._sizeof import default_sizeof
from ._stats import LoaderStats
from ._waiting import wait_one

__all__ = ["PrefetchingLoader"]

K = TypeVar("K")
T = TypeVar("T")


# How long leaving a `with` block normally waits for loads still running before it abandons
# them: long enough for a read that is nearly done, short enough that a hung share does not
# hold the program.
EXIT_WAIT = 2.0


class PrefetchingLoader(Generic[K, T]):
    """Load items by index in worker threads, reading ahead in the direction of travel.

    ``get(n)`` returns item ``n`` at once when it is in memory and otherwise loads it; either
    way, before it returns, the loads of the next items in the direction of travel have been
    scheduled, so that by the time the program asks for them they are ready. The loader keeps
    the ``cache_size`` most recently requested items and evicts the rest.

    Args:
        load: Called in a worker as ``load(keys[n])``, or ``load(n)`` without keys, to produce
            item ``n``. With a :class:`~concurrent.futures.ProcessPoolExecutor` it must be
            picklable.
        keys: Any sequence (file paths, say), but not a ``str``. Without keys the loader is
            open-ended: any ``n >= 0`` is valid, as for numbered files that may still arrive.
        cache_size: How many requested items to keep, least recently requested evicted first.
        ahead: ``"auto"`` (the default) for a window that grows on a sequential run as deep as
            the measured load time needs, up to ``max_ahead``, and drops to nothing on random
            access; or a fixed number of items to read ahead of each request in the direction
            of the last step (0 disables prefetching).
        max_ahead: The largest window of ``ahead="auto"`` (default 16). Only with ``"auto"``.
        max_workers: How many loads the loader keeps in flight: a prefetch goes to the executor
            only while fewer are running, a requested item at once. Defaults to the largest
            read-ahead window plus one, for the loader's own pool and a caller's executor alike.
            The loader's own pool has one thread more, for a requested item to start at once.
        executor: A :class:`concurrent.futures.Executor` to run loads on. The caller owns it:
            :meth:`close` never shuts it down. By default the loader owns a pool of
            ``max_workers + 1`` daemon threads, which never keep the program alive.
        max_bytes: If given, completed items are also evicted until their total size fits;
            an item larger than this is returned but not kept.
        sizeof: Measures an item in bytes for ``max_bytes``; must return an ``int >= 0``.
            Defaults to a function that knows numpy arrays, Pillow images and bytes-like
            objects and falls back to :func:`sys.getsizeof`. Called in the worker that loaded
            the item.
        load_timeout: Seconds a load may run before it counts as stuck: its waiters get a
            :class:`TimeoutError`, the next request starts a fresh load, a late result is
            dropped, and the loader's own pool starts a worker in its place. At most
            ``max(4, max_workers)`` loads may be stuck at once; past that, a request that needs
            a new load fails at once. ``None`` (the default): loads may run for ever.
        retries: Attempts after the first for a load that fails with an error in ``retry_on``.
            ``FileNotFoundError``, ``IsADirectoryError``, ``NotADirectoryError``,
            ``PermissionError`` and undecodable images are never retried.
        retry_on: The exception classes worth another attempt.
        backoff: Seconds before the first retry; each retry waits up to twice as long as the
            one before (exponential, with full jitter, at most 5 s). No worker is held while a
            retry waits, and a request for the item starts it at once.

    Memory is bounded: the loader never holds more than ``cache_size + max_ahead`` entries with
    ``"auto"`` (``cache_size + ahead`` with a fixed window), loads in flight included.

    Every method may be called from any thread at the same time. ``load``, ``sizeof`` and the
    done-callbacks of futures from :meth:`request` run in the worker that finished the load
    (or, for a callback added to a future that is already done, in the thread that adds it).

    Example:
        >>> from prefetcher import PrefetchingLoader
        >>> def load(path):
        ...     return path.upper()
        >>> with PrefetchingLoader(load, ["1.png", "2.png", "3.png"]) as loader:
        ...     loader.get(0)  # "2.png" is now loading in the background
        ...     loader[1]
        '1.PNG'
        '2.PNG'
    """

    #: The lock that guards the loader's state. A subclass may replace it (a test lock that
    #: records its owner, say) to check that no user code ever runs while it is held.
    lock_type: ClassVar[Callable[[], Any]] = threading.Lock

    def __init__(
        self,
        load: Callable[[K], T],
        keys: Sequence[K] | None = None,
        *,
        cache_size: int = 10,
        ahead: int | Literal["auto"] = "auto",
        max_ahead: int | None = None,
        max_workers: int | None = None,
        executor: Executor | None = None,
        max_bytes: int | None = None,
        sizeof: Callable[[T], int] | None = None,
        load_timeout: float | None = None,
        retries: int = 0,
        retry_on: tuple[type[BaseException], ...] = (OSError, TimeoutError),
        backoff: float = 0.1,
    ) -> None:
        check_callable("load", load)
        check_callable("sizeof", sizeof, optional=True)
        check_keys(keys)
        check_int("cache_size", cache_size, minimum=1)
        cap = window_cap(ahead, max_ahead)
        workers = cap + 1 if max_workers is None else check_int("max_workers", max_workers, 1)
        check_executor(executor)
        if max_bytes is not None:
            check_int("max_bytes", max_bytes, minimum=1)
        load_timeout_seconds = check_seconds("load_timeout", load_timeout)
        retry = RetryPolicy(
            retries=check_int("retries", retries, minimum=0),
            retry_on=check_exceptions("retry_on", retry_on),
            backoff=check_seconds("backoff", backoff) or 0.0,
        )

        self._keys = keys
        # Guards the scheduler (all the loader's changing state); never held while calling load,
        # sizeof, keys, the executor or a future's callbacks, nor while waiting.
        self._lock = type(self).lock_type()
        self._scheduler = Scheduler(
            cache_size=cache_size,
            max_entries=cache_size + cap,
            max_workers=workers,
            max_bytes=max_bytes,
            policy=policy_for(ahead, cap, workers),
            retry=retry,
            load_timeout=load_timeout_seconds,
            pool_calls=executor is None,
        )
        self._dispatcher = Dispatcher(
            load=load,
            keys=keys,
            lock=self._lock,
            scheduler=self._scheduler,
            executor=executor,
            workers=workers,
            sizeof=None if max_bytes is None else (sizeof or default_sizeof),
            load_timeout=load_timeout_seconds,
        )
        # A loader dropped without close() still lets its threads go.
        self._finalizer = weakref.finalize(self, self._dispatcher.release)

    # -- public API -------------------------------------------------------------------------

    @property
    def keys(self) -> Sequence[K] | None:
        """The keys given to the constructor, or ``None`` for an open-ended loader."""
        return self._keys

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._scheduler.closed

    def get(self, index: int, timeout: float | None = None) -> T:
        """Return item ``index``, loading it if needed; read ahead either way.

        Waits only for item ``index``, never for a prefetch. Ctrl-C while waiting raises
        :class:`KeyboardInterrupt` at once; the load goes on.

        Args:
            index: The item's position; negative values count from the end when there are keys.
            timeout: Seconds to wait at most. The load goes on after a timeout, and a later
                ``get`` returns its result.

        Raises:
            IndexError: ``index`` is outside the keys, or below 0 without keys.
            TypeError: ``index`` is not an integer.
            TimeoutError: The item was not ready within ``timeout`` seconds (the message says
                whether it is loading, queued behind busy workers, or waiting to retry), or
                its load ran longer than ``load_timeout``.
            LoaderClosedError: The loader is closed, or closed while waiting.
            Exception: Whatever ``load`` raised for this item (after its last attempt), with
                one note naming the index and the key. The failure is not kept: the next
                ``get`` loads again.
        """
        if timeout is not None:
            check_seconds("timeout", timeout)
        scheduler = self._scheduler
        if type(index) is int and index == scheduler.repeatable_index:  # the same item again
            now = time.perf_counter()
            with self._lock:
                again = scheduler.repeat(index, now)
            if again is not NOT_REPEATED:
                repeated: T = again
                return repeated
        entry, future, value, starts, wake_at = self._request(index, want_future=False)
        if starts:
            self._dispatcher.start(starts, then_wake_at=wake_at)
        if future is None:
            item: T = value  # the hit path: no call that is not needed
            return item
        began = time.perf_counter()
        try:
            if not wait_one(future, timeout):
                # On Python 3.11 a get timeout and a load's own TimeoutError are one class:
                # only a future that is not done means the wait ran out.
                with self._lock:
                    message = self._scheduler.describe_wait(entry, timeout)
                raise TimeoutError(message)
            error = future.exception(0)
            if error is not None:
                if not isinstance(error, LoaderClosedError):
                    set_loader_note(error, loader_note(entry))  # this index, whoever else raised it
                raise error
            loaded: T = future.result(0)
            return loaded
        finally:
            ended = time.perf_counter()
            with self._lock:
                self._scheduler.waited(ended - began, ended)

    __getitem__ = get

    def request(self, index: int) -> Future[T]:
        """Ask for item ``index`` without waiting, and read ahead from it.

        Returns a :class:`concurrent.futures.Future` for the item, shared by everybody who
        asks for it; it cannot be cancelled. Its done-callbacks run in the worker that finished
        the load, or at once if it is already done.

        Raises:
            IndexError, TypeError, LoaderClosedError: As for :meth:`get`.
        """
        _, future, _, starts, wake_at = self._request(index, want_future=True)
        if starts:
            self._dispatcher.start(starts, then_wake_at=wake_at)
        assert future is not None  # asked for with want_future=True
        return cast("Future[T]", future)

    def invalidate(self, index: int | None = None) -> None:
        """Forget item ``index``, or every item: the next request loads it again.

        Use it when files were rewritten. A load already running for the item finishes and its
        waiters get its result, but it is not kept.
        """
        self._raise_if_closed()
        position = None if index is None else normalize_index(index, self._length())
        with self._lock:
            self._raise_if_closed()
            self._scheduler.invalidate(position)
            released = self._scheduler.take_released()
        del released  # the items forgotten, let go without the lock

    def stats(self) -> LoaderStats:
        """Return a snapshot of the counters (allowed after :meth:`close` too)."""
        with self._lock:
            return self._scheduler.snapshot()

    def close(self, wait: bool = True, timeout: float | None = None) -> None:
        """Cancel queued prefetches, end waits, and shut down the loader's own pool.

        Idempotent. Afterwards ``get``, ``request``, ``invalidate``, ``len`` and iteration
        raise :class:`LoaderClosedError`; :meth:`stats` and ``repr`` still work. When it
        returns, every thread that waits for an item that did not finish has got
        :class:`LoaderClosedError`. An executor passed in by the caller is never shut down.

        Args:
            wait: Wait for loads already running (or on their way to a caller's executor) to
                finish, so their waiters get the items.
            timeout: With ``wait``, wait at most this many seconds; loads still running then
                are abandoned (their results dropped) and one warning names them.
        """
        check_seconds("timeout", timeout)
        self._dispatcher.shut(wait, timeout)

    def __enter__(self) -> PrefetchingLoader[K, T]:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        # Leaving by an exception (Ctrl-C among them) must not wait for a share that hangs.
        if exc_type is None:
            self.close(timeout=EXIT_WAIT)
        else:
            self.close(wait=False)

    def __len__(self) -> int:
        self._raise_if_closed()
        if self._keys is None:
            raise TypeError("an open-ended loader (no keys) has no length")
        return len(self._keys)

    def __iter__(self) -> Iterator[T]:
        """Yield the items in order, reading ahead; only with keys."""
        length = len(self)  # raises at once, not at the first next()
        return (self.get(index) for index in range(length))

    async def aget(self, index: int, timeout: float | None = None) -> T:
        """Return item ``index`` without blocking the event loop; read ahead either way.

        The asyncio counterpart of :meth:`get`, with the same errors. Cancelling the awaiting
        task, or a timeout, stops this caller's wait only: the load goes on for everybody else.

        Example:
            >>> import asyncio
            >>> async def main():
            ...     with PrefetchingLoader(str.upper, ["a", "b"]) as loader:
            ...         return [await loader.aget(1), [item async for item in loader]]
            >>> asyncio.run(main())
            ['B', ['A', 'B']]
        """
        from ._aio import aget  # asyncio only for the programs that use it

        return await aget(self, index, timeout)

    def __aiter__(self) -> AsyncIterator[T]:
        """Yield the items in order without blocking the event loop (``async for``)."""
        from ._aio import aiterate

        return aiterate(self)

    def __repr__(self) -> str:
        with self._lock:
            stats = self._scheduler.snapshot()
        return (
            f"<PrefetchingLoader cached={stats.cached} pending={stats.pending} "
            f"ahead={stats.ahead} closed={self.closed}>"
        )

    # -- under the lock: the scheduler decides -------------------------------------------------

    def _hold_prefetches_for_landings(self, until_released: bool = False) -> None:
        """Hold prefetches for a landing's whole load (a requested item not in the window), or
        until :meth:`_stage_done` (with ``until_released``, until then only).

        For a stage of a tiered loader, whose loads are reads that compete for the link.
        """
        with self._lock:
            self._scheduler.hold_prefetches_for_landings(until_released)

    def _stage_done(self, index: int) -> None:
        """The part of the load of ``index`` that had to go first is done (the decode stage's
        read), or a later stage is done with item ``index`` (the fetch stage's bytes, decoded):
        the prefetches it held back may start. Called by the tiered loader, in a worker."""
        now = time.perf_counter()
        with self._lock:
            starts, wake_at = self._scheduler.stage_done(index, now)
        if starts or wake_at is not None:
            self._dispatcher.start(starts, then_wake_at=wake_at)

    def _length(self) -> int | None:
        # len() of a caller's sequence is caller code: called without the lock.
        return None if self._keys is None else len(self._keys)

    def _raise_if_closed(self) -> None:
        if self._scheduler.closed:
            raise LoaderClosedError("the loader is closed")

    def _request(self, index: int, want_future: bool) -> Request:
        scheduler = self._scheduler
        if scheduler.closed:
            raise LoaderClosedError("the loader is closed")
        length = None if self._keys is None else len(self._keys)  # caller code: not locked
        if type(index) is int and index >= 0 and (length is None or index < length):
            position = index  # the common case, checked without a call
        else:
            position = normalize_index(index, length)
        now = time.perf_counter()
        with self._lock:
            if scheduler.closed:
                raise LoaderClosedError("the loader is closed")
            request = scheduler.request(position, length, want_future, now)
            released = scheduler.take_released()
        del released  # the items this request evicted, let go without the lock
        return request
