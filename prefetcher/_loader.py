"""PrefetchingLoader: items by index, loaded ahead in the direction of travel, bounded in memory."""

from __future__ import annotations

import concurrent.futures
import logging
import operator
import sys
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from functools import partial
from typing import Any, Generic, Literal, TypeVar, cast

from ._errors import LoaderClosedError
from ._readahead import AdaptiveReadAhead, FixedReadAhead, ReadAheadPolicy
from ._sizeof import default_sizeof
from ._stats import LoaderStats

__all__ = ["PrefetchingLoader"]

K = TypeVar("K")
T = TypeVar("T")

_logger = logging.getLogger("prefetcher")

# The life of an entry: QUEUED (a prefetch waiting in the loader's own queue for a free worker),
# RUNNING (handed to the executor), DONE (value ready). A failed load leaves no entry behind.
_QUEUED, _RUNNING, _DONE = 0, 1, 2

# With ahead="auto" and no max_ahead: deep enough to hide a 100 ms share behind 10 ms of work per
# item (8 reached only 1.34x the lower bound there, 16 reached 1.11x; benchmarks/run.py
# --latency 0.1). The window only grows as deep as the measured latency needs.
_DEFAULT_MAX_AHEAD = 16


class _Entry:
    """One index the loader holds: loading, queued, or ready."""

    __slots__ = (
        "future",
        "index",
        "key",
        "requested",
        "size",
        "started_at",
        "state",
        "submission",
        "value",
    )

    def __init__(self, index: int, state: int, requested: bool) -> None:
        self.index = index
        self.state = state
        self.requested = requested
        self.key: Any = None
        self.value: Any = None
        self.size = 0
        self.started_at = 0.0
        self.submission: Future[Any] | None = None  # the executor's future, once submitted
        # Created only when a caller needs to wait or asked for a Future; a prefetch that is
        # never waited for costs no Future (and no Condition).
        self.future: Future[Any] | None = None


def _add_note(exc: BaseException, note: str) -> None:
    if sys.version_info >= (3, 11):
        exc.add_note(note)
    else:  # pragma: no cover - Python 3.10 has no add_note; keep the note where 3.11 puts it.
        setattr(exc, "__notes__", [*getattr(exc, "__notes__", []), note])  # noqa: B010


def _new_waitable_future() -> Future[Any]:
    future: Future[Any] = Future()
    # The future is shared by every caller asking for the same item: moving it to RUNNING
    # makes cancel() refuse, so one caller cannot cancel another's item. The loader cancels
    # prefetches itself.
    future.set_running_or_notify_cancel()
    return future


class PrefetchingLoader(Generic[K, T]):
    """Load items by index in worker threads, reading ahead in the direction of travel.

    ``get(n)`` returns item ``n`` at once when it is in memory and otherwise loads it; either
    way, before it returns, the loads of the next ``ahead`` items in the direction of travel
    have been scheduled, so that by the time the program asks for them they are ready. The
    loader keeps the ``cache_size`` most recently requested items and evicts the rest.

    Args:
        load: Called in a worker as ``load(keys[n])``, or ``load(n)`` without keys, to produce
            item ``n``. With a :class:`~concurrent.futures.ProcessPoolExecutor` it must be
            picklable.
        keys: Any sequence (file paths, say). Without keys the loader is open-ended: any
            ``n >= 0`` is valid, as for numbered files that may still be arriving.
        cache_size: How many requested items to keep, least recently requested evicted first.
        ahead: ``"auto"`` (the default) for a window that grows on a sequential run as deep as
            the measured load time needs, up to ``max_ahead``, and drops to nothing on random
            access; or a fixed number of items to read ahead of each request in the direction
            of the last step (0 disables prefetching).
        max_ahead: The largest window of ``ahead="auto"`` (default 16). Only with ``"auto"``.
        max_workers: How many loads the loader keeps in flight: a prefetch goes to the executor
            only while fewer are running, a requested item at once. Defaults to the read-ahead
            window plus one, so a requested item finds a free worker while the window loads.
            Applies to a caller's executor too.
        executor: A :class:`concurrent.futures.Executor` to run loads on. The caller owns it:
            :meth:`close` never shuts it down. By default the loader owns a
            :class:`~concurrent.futures.ThreadPoolExecutor` of ``max_workers`` threads.
        max_bytes: If given, completed items are also evicted until their total size fits;
            an item larger than this is returned but not kept.
        sizeof: Measures an item in bytes for ``max_bytes``. Defaults to a function that knows
            numpy arrays, Pillow images and bytes-like objects and falls back to
            :func:`sys.getsizeof`. Called in the worker that loaded the item.

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
    ) -> None:
        if not callable(load):
            raise TypeError(f"load must be callable, got {load!r}")
        if keys is not None and not isinstance(keys, Sequence):
            raise TypeError(f"keys must be a sequence or None, got {type(keys).__name__}")
        _check_int("cache_size", cache_size, minimum=1)
        window_cap = _window_cap(ahead, max_ahead)
        if max_workers is not None:
            _check_int("max_workers", max_workers, minimum=1)
        if executor is not None and not isinstance(executor, Executor):
            raise TypeError(
                f"executor must be a concurrent.futures.Executor, got {type(executor).__name__}"
            )
        if max_bytes is not None:
            _check_int("max_bytes", max_bytes, minimum=1)
        if sizeof is not None and not callable(sizeof):
            raise TypeError(f"sizeof must be callable, got {sizeof!r}")
        if max_workers is None:
            max_workers = getattr(executor, "_max_workers", None) or window_cap + 1
        policy: ReadAheadPolicy = (
            # More prefetches than workers would only wait in the queue.
            AdaptiveReadAhead(minimum=1, maximum=min(window_cap, max_workers))
            if ahead == "auto"
            else FixedReadAhead(window_cap)
        )

        self._load = load
        self._keys = keys
        self._cache_size = cache_size
        self._policy = policy
        self._max_entries = cache_size + window_cap
        self._max_workers: int = max_workers
        self._max_bytes = max_bytes
        self._sizeof: Callable[[Any], int] = sizeof if sizeof is not None else default_sizeof
        self._owns_executor = executor is None
        # The idents of the owned executor's threads, so that close() called from one of them
        # (in a done-callback) does not wait for itself.
        self._worker_idents: set[int] = set()
        self._executor: Executor = (
            executor
            if executor is not None
            else ThreadPoolExecutor(
                max_workers=max_workers,
                thread_name_prefix="prefetcher",
                # A module-level function: a bound method here would keep the loader alive for
                # as long as its threads run.
                initializer=_note_worker,
                initargs=(self._worker_idents,),
            )
        )
        if self._owns_executor:
            # A loader dropped without close() still lets its threads go.
            self._finalizer = weakref.finalize(
                self, self._executor.shutdown, wait=False, cancel_futures=True
            )

        # Guards every attribute below; never held while calling load, sizeof, keys, the
        # executor or a future's callbacks, nor while waiting.
        self._lock = threading.Lock()
        # Index -> entry; requested entries move to the end when requested again, so the
        # first requested entry in iteration order is the least recently requested.
        self._entries: OrderedDict[int, _Entry] = OrderedDict()
        self._queue: list[_Entry] = []  # QUEUED prefetches, nearest to the consumer first
        self._window: set[int] = set()  # the indices of the current read-ahead window
        self._planned = (-1, -1)  # (ahead, behind) of the current window
        self._in_flight = 0
        self._requested_count = 0
        self._held_bytes = 0
        self._last_index: int | None = None
        self._direction = 1
        self._closed = False
        self._counts = dict.fromkeys(
            (
                "requests",
                "hits",
                "waits",
                "misses",
                "loads_started",
                "loads_completed",
                "loads_failed",
                "prefetches_cancelled",
                "evictions",
                "wasted_loads",
            ),
            0,
        )
        self._wait_seconds = 0.0

    # -- public API -------------------------------------------------------------------------

    @property
    def keys(self) -> Sequence[K] | None:
        """The keys given to the constructor, or ``None`` for an open-ended loader."""
        return self._keys

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._closed

    def get(self, index: int, timeout: float | None = None) -> T:
        """Return item ``index``, loading it if needed; read ahead either way.

        Waits only for item ``index``, never for a prefetch.

        Args:
            index: The item's position; negative values count from the end when there are keys.
            timeout: Seconds to wait at most. The load goes on after a timeout, and a later
                ``get`` returns its result.

        Raises:
            IndexError: ``index`` is outside the keys, or below 0 without keys.
            TypeError: ``index`` is not an integer.
            TimeoutError: The item was not ready within ``timeout`` seconds.
            LoaderClosedError: The loader is closed, or closed while waiting.
            Exception: Whatever ``load`` raised for this item, with a note naming the index
                and the key. The failure is not kept: the next ``get`` loads again.
        """
        entry, future, value, to_start = self._request(index, want_future=False)
        if to_start:
            self._start(to_start)
        if future is None:
            item: T = value  # the hit path: no call that is not needed
            return item
        started = time.perf_counter()
        try:
            return cast(T, future.result(timeout))
        except concurrent.futures.TimeoutError:
            # On Python 3.10 futures raise their own TimeoutError; promise the builtin one.
            raise TimeoutError(
                f"item {entry.index} was not ready within {timeout} seconds; it is still loading"
            ) from None
        finally:
            finished = time.perf_counter()
            with self._lock:
                self._wait_seconds += finished - started
                self._policy.on_wait_finished(finished)

    __getitem__ = get

    def request(self, index: int) -> Future[T]:
        """Ask for item ``index`` without waiting, and read ahead from it.

        Returns a :class:`concurrent.futures.Future` for the item, shared by everybody who
        asks for it; it cannot be cancelled. Its done-callbacks run in the worker that finished
        the load, or at once if it is already done.

        Raises:
            IndexError, TypeError, LoaderClosedError: As for :meth:`get`.
        """
        _, future, _, to_start = self._request(index, want_future=True)
        if to_start:
            self._start(to_start)
        assert future is not None  # asked for with want_future=True
        return cast("Future[T]", future)

    def invalidate(self, index: int | None = None) -> None:
        """Forget item ``index``, or every item: the next request loads it again.

        Use it when files were rewritten. A load already running for the item finishes and its
        waiters get its result, but it is not kept.
        """
        self._raise_if_closed()
        position = None if index is None else self._normalize(index, self._length())
        with self._lock:
            self._raise_if_closed()
            if position is None:
                dropped = list(self._entries.values())
            else:
                found = self._entries.get(position)
                dropped = [] if found is None else [found]
            for entry in dropped:
                if entry.state == _QUEUED:
                    self._counts["prefetches_cancelled"] += 1
                self._remove(entry)

    def stats(self) -> LoaderStats:
        """Return a snapshot of the counters (allowed after :meth:`close` too)."""
        with self._lock:
            ready = self._ready_count()
            return LoaderStats(
                **self._counts,
                wait_seconds=self._wait_seconds,
                ahead=self._policy.window,
                cached=ready,
                pending=len(self._entries) - ready,
            )

    def close(self, wait: bool = True) -> None:
        """Cancel queued prefetches and shut down the executor the loader created.

        Idempotent. Afterwards ``get``, ``request``, ``invalidate``, ``len`` and iteration
        raise :class:`LoaderClosedError`; :meth:`stats` and ``repr`` still work. A thread
        waiting for an item that never started gets :class:`LoaderClosedError`. An executor
        passed in by the caller is never shut down.

        Args:
            wait: Wait for loads already running to finish (and, for the loader's own
                executor, for its threads to exit).
        """
        with self._lock:
            already_closed, self._closed = self._closed, True
            running = [e for e in self._entries.values() if e.state == _RUNNING]
            for entry in list(self._entries.values()):
                if entry.state == _QUEUED:
                    self._counts["prefetches_cancelled"] += 1
                self._remove(entry)
        if already_closed and not wait:
            return
        if self._owns_executor:
            # A worker cannot wait for its own thread to end: from there, close without waiting.
            in_worker = threading.get_ident() in self._worker_idents
            self._executor.shutdown(wait=wait and not in_worker, cancel_futures=True)
        elif not already_closed:
            # A caller's executor stays up: cancel what it has not started, outside the lock
            # because cancel() runs the done-callbacks.
            for entry in running:
                if entry.submission is not None:
                    entry.submission.cancel()
            if wait:
                concurrent.futures.wait([e.submission for e in running if e.submission is not None])

    def __enter__(self) -> PrefetchingLoader[K, T]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __len__(self) -> int:
        self._raise_if_closed()
        if self._keys is None:
            raise TypeError("an open-ended loader (no keys) has no length")
        return len(self._keys)

    def __iter__(self) -> Iterator[T]:
        """Yield the items in order, reading ahead; only with keys."""
        length = len(self)  # raises at once, not at the first next()
        return (self.get(index) for index in range(length))

    def __repr__(self) -> str:
        with self._lock:
            ready = self._ready_count()
            loading = len(self._entries) - ready
            window = self._policy.window
        return (
            f"<PrefetchingLoader ready={ready} loading={loading} ahead={window} "
            f"closed={self._closed}>"
        )

    def _ready_count(self) -> int:
        return sum(1 for e in self._entries.values() if e.state == _DONE)

    # -- the request path -------------------------------------------------------------------

    def _length(self) -> int | None:
        # len() of a caller's sequence is caller code: call it without the lock.
        return None if self._keys is None else len(self._keys)

    @staticmethod
    def _normalize(index: int, length: int | None) -> int:
        if isinstance(index, bool):
            raise TypeError(f"index must be an integer, got bool {index!r}")
        try:
            position = operator.index(index)
        except TypeError:
            raise TypeError(
                f"index must be an integer, got {type(index).__name__} {index!r}"
            ) from None
        if length is None:
            if position < 0:
                raise IndexError(f"index {position} is below 0 (an open-ended loader has no end)")
            return position
        if position < 0:
            position += length
        if not 0 <= position < length:
            raise IndexError(f"index {index} is out of range for {length} keys")
        return position

    def _raise_if_closed(self) -> None:
        if self._closed:
            raise LoaderClosedError("the loader is closed")

    def _request(
        self, index: int, want_future: bool
    ) -> tuple[_Entry, Future[Any] | None, Any, list[_Entry]]:
        """Account for a request and plan the read-ahead.

        Returns the entry; a future to wait on (``None`` when the item is ready and no future
        was asked for); the item's value if it was ready, read under the lock because another
        thread may evict it the moment the lock is released; and the loads to start.
        """
        if self._closed:
            raise LoaderClosedError("the loader is closed")
        length = None if self._keys is None else len(self._keys)  # caller code: not under the lock
        if type(index) is int and index >= 0 and (length is None or index < length):
            position = index  # the common case, checked without a call
        else:
            position = self._normalize(index, length)
        now = time.perf_counter()
        with self._lock:
            if self._closed:
                raise LoaderClosedError("the loader is closed")
            counts = self._counts
            counts["requests"] += 1
            last = self._last_index
            step = None if last is None else position - last
            if step:
                self._direction = 1 if step > 0 else -1
            elif step is None and length is not None and position == length - 1:
                self._direction = -1  # a first request for the last item can only go back
            self._last_index = position

            entry = self._entries.get(position)
            to_start: list[_Entry] = []
            if entry is None:
                counts["misses"] += 1
                entry = _Entry(position, _QUEUED, requested=True)
                self._entries[position] = entry
                self._requested_count += 1
                self._mark_started(entry)
                to_start.append(entry)  # a demand load goes to the executor first
            else:
                if entry.state == _DONE:
                    counts["hits"] += 1
                else:
                    counts["waits"] += 1
                if not entry.requested:
                    entry.requested = True
                    self._requested_count += 1
                self._entries.move_to_end(position)
                if entry.state == _QUEUED:
                    # A requested item never waits behind prefetches: it leaves the queue and
                    # goes to the executor now.
                    self._queue.remove(entry)
                    self._mark_started(entry)
                    to_start.append(entry)
            ready = entry.state == _DONE
            value = entry.value if ready else None
            future = None
            if not ready or want_future:
                if entry.future is None:
                    entry.future = _new_waitable_future()
                    if ready:
                        entry.future.set_result(value)
                future = entry.future

            window = self._policy.on_request(step, ready, now)
            behind = self._policy.behind
            if step != 0 or to_start or (window, behind) != self._planned:
                self._plan_window(position, window, behind, length)
            # else: the same request again (a GUI repainting, say); the window is as planned
            # and whatever left it since was evicted on purpose, so planning again would only
            # reload it.
            self._evict_to_bounds(protect=entry)
            if self._queue:
                to_start.extend(self._take_startable())
            return entry, future, value, to_start

    def _plan_window(self, position: int, window: int, behind: int, length: int | None) -> None:
        """Queue the window around ``position``; cancel queued prefetches outside it.

        ``window`` items ahead in the direction of travel, ``behind`` items the other way,
        queued nearest first.
        """
        self._planned = (window, behind)
        direction = self._direction
        targets: list[int] = []
        for distance in range(1, window + 1):
            targets.append(position + direction * distance)
            if distance <= behind:
                targets.append(position - direction * distance)
        if length is None:
            targets = [t for t in targets if t >= 0]
        else:
            targets = [t for t in targets if 0 <= t < length]
        self._window = set(targets)
        wanted: list[_Entry] = []
        for target in targets:
            entry = self._entries.get(target)
            if entry is None:
                entry = _Entry(target, _QUEUED, requested=False)
                self._entries[target] = entry
            if entry.state == _QUEUED:
                wanted.append(entry)
        for stale in self._queue:
            if stale.index not in self._window:
                # Out of the new window and not started yet (a jump): drop it.
                self._counts["prefetches_cancelled"] += 1
                self._remove(stale, from_queue=False)
        self._queue = wanted

    def _evict_to_bounds(self, protect: _Entry | None) -> None:
        """Evict entries until the count (and byte) bounds hold."""
        while self._requested_count > self._cache_size:
            victim = self._oldest(lambda e: e.requested and e is not protect)
            if victim is None:
                break
            self._evict(victim)
        while len(self._entries) > self._max_entries:
            # Prefetches left over from an earlier window go first, then old requests.
            victim = self._oldest(self._is_stale_prefetch) or self._oldest(
                lambda e: e.requested and e is not protect
            )
            if victim is None:
                break
            self._evict(victim)
        if self._max_bytes is not None:
            while self._held_bytes > self._max_bytes:
                victim = (
                    self._oldest(lambda e: e.state == _DONE and self._is_stale_prefetch(e))
                    or self._oldest(lambda e: e.state == _DONE and e.requested and e is not protect)
                    or self._oldest(lambda e: e.state == _DONE and e is not protect)
                )
                if victim is None:
                    break
                self._evict(victim)

    def _is_stale_prefetch(self, entry: _Entry) -> bool:
        return not entry.requested and entry.index not in self._window

    def _oldest(self, accept: Callable[[_Entry], bool]) -> _Entry | None:
        for entry in self._entries.values():
            if accept(entry):
                return entry
        return None

    def _evict(self, entry: _Entry) -> None:
        self._counts["evictions"] += 1
        if entry.state == _DONE and not entry.requested:
            self._counts["wasted_loads"] += 1
        self._remove(entry)

    def _remove(self, entry: _Entry, from_queue: bool = True) -> None:
        del self._entries[entry.index]
        if entry.requested:
            self._requested_count -= 1
        if entry.state == _DONE:
            self._held_bytes -= entry.size
            entry.value = None  # free the item now, not when the last reference goes
        elif entry.state == _QUEUED and from_queue and entry in self._queue:
            self._queue.remove(entry)

    def _mark_started(self, entry: _Entry) -> None:
        entry.state = _RUNNING
        entry.started_at = time.perf_counter()
        self._in_flight += 1
        self._counts["loads_started"] += 1

    def _take_startable(self) -> list[_Entry]:
        """Move queued prefetches to RUNNING while workers are free."""
        startable: list[_Entry] = []
        while self._queue and self._in_flight < self._max_workers:
            entry = self._queue.pop(0)
            self._mark_started(entry)
            startable.append(entry)
        return startable

    # -- the worker side --------------------------------------------------------------------

    def _start(self, entries: list[_Entry]) -> None:
        """Hand entries to the executor (called without the lock: the executor may be anyone's)."""
        for entry in entries:
            try:
                entry.key = entry.index if self._keys is None else self._keys[entry.index]
                submission = self._executor.submit(self._load, entry.key)
            except Exception as exc:  # shut down, broken pool, or a failing keys[n]
                if isinstance(exc, RuntimeError) and self._closed:
                    exc = LoaderClosedError("the loader closed before the load started")
                self._finish(entry, None, exc)
                continue
            with self._lock:
                entry.submission = submission
                closed = self._closed
            if closed and not self._owns_executor:
                submission.cancel()  # close() ran while this was being submitted
            submission.add_done_callback(partial(self._on_submission_done, entry))

    def _on_submission_done(self, entry: _Entry, submission: Future[Any]) -> None:
        if submission.cancelled():
            self._finish(entry, None, LoaderClosedError("the loader closed before the load ran"))
            return
        error = submission.exception()
        self._finish(entry, None if error is not None else submission.result(), error)

    def _finish(self, entry: _Entry, value: Any, error: BaseException | None) -> None:
        """Record the end of a load. Runs in a worker, without the lock on entry."""
        size = 0
        if error is None and self._max_bytes is not None:
            try:
                size = self._sizeof(value)
            except Exception as exc:
                error = exc
                _add_note(exc, f"prefetcher: sizeof() failed on item {entry.index}")
        if error is not None and not isinstance(error, LoaderClosedError):
            _add_note(error, f"prefetcher: while loading index {entry.index} (key {entry.key!r})")
        finished_at = time.perf_counter()
        with self._lock:
            # The executor's future holds the item too, and it refers back to this entry through
            # its done-callback: break the cycle so an evicted item is freed at once, not when
            # the cycle collector runs.
            entry.submission = None
            self._in_flight -= 1
            held = self._entries.get(entry.index) is entry
            entry.state = _DONE
            if error is None:
                self._counts["loads_completed"] += 1
                self._policy.on_load_finished(finished_at - entry.started_at)
                if held:
                    entry.value = value
                    entry.size = size
                    self._held_bytes += size
                    if self._max_bytes is not None and size > self._max_bytes:
                        self._evict(entry)  # returned to its waiters, but not kept
                    else:
                        self._evict_to_bounds(protect=None)
                elif not entry.requested:
                    # Dropped while it ran (evicted or invalidated) and never asked for.
                    self._counts["wasted_loads"] += 1
            else:
                if not isinstance(error, LoaderClosedError):
                    self._counts["loads_failed"] += 1
                if held:
                    self._remove(entry)  # a failure is not cached: the next get loads again
                if entry.future is None and not isinstance(error, LoaderClosedError):
                    _logger.debug("prefetch of item %d failed", entry.index, exc_info=error)
            future = entry.future
            to_start = [] if self._closed else self._take_startable()
        if future is not None:
            # Outside the lock: this runs the done-callbacks of everybody's futures.
            if error is None:
                future.set_result(value)
            else:
                future.set_exception(error)
        if to_start:
            self._start(to_start)


def _note_worker(idents: set[int]) -> None:
    idents.add(threading.get_ident())


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")


def _window_cap(ahead: object, max_ahead: object) -> int:
    """Validate ``ahead``/``max_ahead``; return the largest read-ahead window they allow."""
    if ahead == "auto":
        if max_ahead is None:
            return _DEFAULT_MAX_AHEAD
        _check_int("max_ahead", max_ahead, minimum=1)
        assert isinstance(max_ahead, int)
        return max_ahead
    if isinstance(ahead, str):
        raise ValueError(f"ahead must be an int >= 0 or 'auto', got {ahead!r}")
    _check_int("ahead", ahead, minimum=0)
    assert isinstance(ahead, int)
    if max_ahead is not None:
        raise ValueError(f"max_ahead applies only to ahead='auto', got ahead={ahead!r}")
    return ahead
