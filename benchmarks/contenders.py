"""The contenders: each one a small function that serves a request order the way a user would.

Every contender has the same signature, ``contender(run, order)``: it must hand every requested
item to ``run.consume(n, item)`` in the order given (``consume`` checks that the item is the right
one, then stands for the consumer's own work), call ``run.finish()`` as soon as the last item has
been consumed (that stops the clock), and only then clean up: join its threads, shut down its
pool, close its loader, so that every read it started is counted.

The approaches from the seed question (``shared/seed.txt``) are re-implemented here in our own
words; none of their code is copied.
"""

from __future__ import annotations

import functools
import os
import threading
import time
import zlib
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from prefetcher import SimulatedShare

__all__ = [
    "CONTENDERS",
    "KNOWS_THE_ORDER",
    "LABELS",
    "NotAvailable",
    "Run",
    "Settings",
    "Share",
    "SimulatedShare",
    "Workload",
    "WrongItem",
    "files_workload",
    "simulated_workload",
]


class NotAvailable(Exception):
    """This contender cannot run here (a missing package, an option the core does not accept)."""


class WrongItem(AssertionError):
    """A contender handed the consumer an item that is not the one requested."""


@dataclass(frozen=True)
class Settings:
    """Knobs of the contenders themselves (the same for every pattern)."""

    cache_size: int = 10
    fixed_ahead: int = 4
    max_ahead: int | None = None
    torch_workers: int = 4
    torch_prefetch_factor: int = 2
    get_timeout: float = 120.0


class Share(Protocol):
    """Where the items come from, as far as the harness looks: how many reads it has served."""

    @property
    def reads(self) -> int: ...


@dataclass
class Workload:
    """What is being loaded: ``load(keys[n])`` is item n, and ``check(n, item)`` tells if it is."""

    keys: Sequence[Any]
    load: Callable[[Any], Any]
    check: Callable[[int, Any], bool]
    share: Share
    item_size: float  # bytes, the mean over the items
    transfer: float  # seconds one item takes on the shared link
    work: float  # seconds of consumer work per item (time.sleep stands for it)
    # Builds the prefetcher contenders' loader from their options (cache_size, ahead, ...) where
    # a user would not write PrefetchingLoader(load, keys): open_sequence over a share, say.
    open_loader: Callable[..., Any] | None = None


def simulated_workload(
    n_items: int, item_size: int, latency: float, bandwidth: float | None, work: float
) -> Workload:
    """Items that exist only on a SimulatedShare: ``item_size`` bytes each, tagged with their index.

    Each load pays ``share.delay(item_size)`` and returns a fresh ``bytes`` object whose first eight
    bytes are the index, so that a wrong item (an off-by-one, a stale cache entry) is caught.
    """
    if item_size < 8:
        raise ValueError(f"item_size must be >= 8 bytes to hold the index tag, got {item_size}")
    share = SimulatedShare(latency=latency, bandwidth=bandwidth)
    filler = bytes(item_size - 8)

    def load(key: int) -> bytes:
        share.delay(item_size)
        return key.to_bytes(8, "little") + filler

    def check(n: int, item: Any) -> bool:
        return (
            isinstance(item, bytes)
            and len(item) == item_size
            and item[:8] == n.to_bytes(8, "little")
        )

    transfer = 0.0 if bandwidth is None else item_size / bandwidth
    return Workload(range(n_items), load, check, share, item_size, transfer, work)


def list_files(directory: str | os.PathLike[str], limit: int) -> list[Path]:
    """The first ``limit`` regular files in ``directory``, natural order (2.png before 10.png)."""

    def natural(path: Path) -> list[Any]:
        parts: list[Any] = []
        digits = ""
        for char in path.name + "\0":
            if char.isdigit():
                digits += char
                continue
            if digits:
                parts.append((0, int(digits), ""))
                digits = ""
            parts.append((1, 0, char))
        return parts

    files = sorted((p for p in Path(directory).iterdir() if p.is_file()), key=natural)
    if not files:
        raise ValueError(f"no files in {directory}")
    return files[:limit]


def files_workload(
    files: Sequence[Path], latency: float, bandwidth: float | None, work: float
) -> Workload:
    """Real files: each load reads a file's bytes through ``share.read_bytes`` (real read + delay).

    The CRC-32 of every file is taken once up front (which also warms the OS page cache), and each
    item a contender returns is checked against it.
    """
    crcs = [zlib.crc32(p.read_bytes()) for p in files]
    sizes = [p.stat().st_size for p in files]
    share = SimulatedShare(latency=latency, bandwidth=bandwidth)
    item_size = sum(sizes) / len(sizes)

    def check(n: int, item: Any) -> bool:
        return isinstance(item, bytes) and zlib.crc32(item) == crcs[n]

    transfer = 0.0 if bandwidth is None else item_size / bandwidth
    return Workload(list(files), share.read_bytes, check, share, item_size, transfer, work)


@dataclass
class Run:
    """One timed run of one contender over one request order."""

    workload: Workload
    settings: Settings
    requests: int = 0
    end: float | None = None
    external_reads: int = 0  # reads made where the share's own counter cannot see them
    extra: dict[str, Any] = field(default_factory=dict)
    # Seconds each request waited for its item: from the end of the previous item's work (or the
    # start of the run) to the moment the item was handed over.
    waits: list[float] = field(default_factory=list)
    started: float | None = None
    _ready_since: float | None = None

    @property
    def keys(self) -> Sequence[Any]:
        return self.workload.keys

    def load_index(self, n: int) -> Any:
        """Load item n directly from the share (no cache, no prefetch)."""
        return self.workload.load(self.workload.keys[n])

    def consume(self, n: int, item: Any) -> None:
        """Check that ``item`` is item n, then do the consumer's work (step1/step2 of the seed)."""
        handed_over = time.perf_counter()
        since = self._ready_since if self._ready_since is not None else self.started
        if since is not None:
            self.waits.append(handed_over - since)
        if not self.workload.check(n, item):
            raise WrongItem(f"request {self.requests}: got a wrong item for index {n}")
        self.requests += 1
        if self.workload.work > 0:
            # Stands for the consumer's own processing. Sleeping releases the GIL, as image
            # decoding in C or numpy work mostly does; CPU-bound Python work would not.
            time.sleep(self.workload.work)
        self._ready_since = time.perf_counter()

    def finish(self) -> None:
        """The last item has been consumed: stop the clock (clean-up after this is not timed)."""
        self.end = time.perf_counter()


Contender = Callable[[Run, Sequence[int]], None]


# --- the plain loop ---------------------------------------------------------------------------


def plain_loop(run: Run, order: Sequence[int]) -> None:
    """What everyone writes first: load, work, load, work. No cache, no prefetch."""
    for n in order:
        run.consume(n, run.load_index(n))
    run.finish()


# --- seed answer 1: a daemon thread per prefetch, the lock held around the load ---------------


class _LockedCache:
    """Seed answer 1: look up or load item n under one lock; keeps the ``size`` newest items."""

    def __init__(self, run: Run, size: int) -> None:
        self._run = run
        self._size = size
        self._items: OrderedDict[int, Any] = OrderedDict()
        # Guards _items, and is held for the whole load: that is the design being measured.
        self._lock = threading.Lock()

    def load(self, n: int) -> Any:
        with self._lock:
            if n in self._items:
                return self._items[n]
            item = self._run.load_index(n)
            self._items[n] = item
            if len(self._items) > self._size:
                self._items.popitem(last=False)
            return item


def seed_thread_lock(run: Run, order: Sequence[int]) -> None:
    """Seed answer 1: get n (cached or loaded under the lock), start a daemon thread to load n+1."""
    cache = _LockedCache(run, run.settings.cache_size)
    threads = []
    for n in order:
        item = cache.load(n)
        if n + 1 < len(run.keys):  # the seed's code would also try n+1 past the last file
            thread = threading.Thread(target=cache.load, args=(n + 1,), daemon=True)
            thread.start()
            threads.append(thread)
        run.consume(n, item)
    run.finish()
    for thread in threads:
        thread.join()


# --- seed answer 2: lock-free preload that allows duplicate loads -----------------------------


class _PreloadCache:
    """Seed answer 2: the lock guards only the dict; loads run outside it and may be duplicated."""

    def __init__(self, run: Run, size: int) -> None:
        self._run = run
        self._size = size
        self._items: OrderedDict[int, Any] = OrderedDict()
        # Guards _items only; never held while loading.
        self._lock = threading.Lock()

    def cached(self, n: int) -> Any | None:
        with self._lock:
            return self._items.get(n)

    def preload(self, n: int) -> Any:
        item = self._run.load_index(n)
        with self._lock:
            self._items[n] = item
            if len(self._items) > self._size:
                self._items.popitem(last=False)
        return item


def seed_preload(run: Run, order: Sequence[int]) -> None:
    """Seed answer 2: use n if cached, else load it; start a daemon thread that preloads n+1."""
    cache = _PreloadCache(run, run.settings.cache_size)
    threads = []
    for n in order:
        item = cache.cached(n)
        if item is None:
            # n+1 may be half-way through its preload: this load is then a duplicate read.
            item = cache.preload(n)
        if n + 1 < len(run.keys):
            thread = threading.Thread(target=cache.preload, args=(n + 1,), daemon=True)
            thread.start()
            threads.append(thread)
        run.consume(n, item)
    run.finish()
    for thread in threads:
        thread.join()


# --- seed answer 3: a plain ThreadPoolExecutor ------------------------------------------------


def seed_pool(run: Run, order: Sequence[int]) -> None:
    """Seed answer 3: futures in a small dict; every get submits n (if new) and n+1 to one pool.

    This is the "use a ThreadPoolExecutor" suggestion written the obvious way: a request waits on
    the pending future instead of loading a duplicate, and the newest ``cache_size`` futures are
    kept. Always n+1, whatever the direction; the pool has its default number of workers.
    """
    futures: OrderedDict[int, Future[Any]] = OrderedDict()
    size = run.settings.cache_size

    with ThreadPoolExecutor() as pool:

        def submit(n: int) -> Future[Any]:
            future = futures.get(n)
            if future is None:
                future = futures[n] = pool.submit(run.load_index, n)
                if len(futures) > size:
                    futures.popitem(last=False)
            return future

        for n in order:
            future = submit(n)
            if n + 1 < len(run.keys):
                submit(n + 1)
            run.consume(n, future.result())
        run.finish()
        # Leaving the with-block waits for the loads still running, so all reads are counted.


# --- seqtools, as the seed uses it ------------------------------------------------------------


def seqtools_prefetch(run: Run, order: Sequence[int]) -> None:
    """seqtools ``smap`` + ``prefetch(max_buffered=10, method='thread')`` + ``add_cache(10)``.

    The seed calls ``prefetch`` with the default ``nworkers=0``, which seqtools documents as "spare
    no core" but which (in seqtools 1.4) returns the sequence unchanged, i.e. no prefetching at
    all. We pass the number of usable cores explicitly, which is what the documentation promises.
    """
    try:
        import seqtools  # type: ignore[import-untyped]
    except ImportError as exc:
        raise NotAvailable(f"seqtools is not installed ({exc})") from None
    import gc

    nworkers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    images = seqtools.smap(run.workload.load, run.keys)
    prefetched = seqtools.prefetch(images, nworkers=nworkers or 1, max_buffered=10, method="thread")
    cached = seqtools.add_cache(prefetched, cache_size=10)
    workers = list(getattr(getattr(prefetched, "backend", None), "workers", []))
    for n in order:
        run.consume(n, cached[n])
    run.finish()
    # seqtools stops its workers when the prefetch object is collected; they finish the jobs
    # already queued first, and we wait for that so that those reads are counted.
    del cached, prefetched, images
    gc.collect()
    for worker in workers:
        worker.join(timeout=60)
        if worker.is_alive():
            raise RuntimeError("a seqtools worker did not stop")


# --- torch DataLoader ---------------------------------------------------------------------------


def torch_dataloader(run: Run, order: Sequence[int]) -> None:
    """torch ``DataLoader`` with worker processes and ``prefetch_factor``, the order as its sampler.

    A DataLoader cannot be asked for "item n, now": it walks a sampler. So it gets the whole
    request order up front (``sampler=order``, ``batch_size=None``), which an interactive viewer
    cannot give; for viewer and random orders this is knowledge no other contender has. Workers are
    processes, so reads are counted through a shared counter, and each worker has its own copy of
    the simulated link (their transfers are not serialized against each other).
    """
    try:
        import torch.multiprocessing as tmp
        from torch.utils.data import DataLoader, Dataset
    except ImportError as exc:
        raise NotAvailable(f"torch is not installed ({exc})") from None

    import warnings

    counter = tmp.Value("q", 0)
    load, keys = run.workload.load, run.keys

    class Items(Dataset):  # type: ignore[type-arg]
        def __len__(self) -> int:
            return len(keys)

        def __getitem__(self, n: int) -> Any:
            item = load(keys[n])
            with counter.get_lock():
                counter.value += 1
            return item

    with warnings.catch_warnings():
        # It warns when there are more workers than cores; these workers mostly wait on I/O.
        warnings.filterwarnings("ignore", message="This DataLoader will create")
        loader = DataLoader(
            Items(),
            batch_size=None,
            sampler=list(order),
            num_workers=run.settings.torch_workers,
            prefetch_factor=run.settings.torch_prefetch_factor,
        )
        batches = iter(loader)
    for n in order:
        run.consume(n, next(batches))
    run.finish()
    del batches  # shuts the workers down (and joins them)
    run.external_reads += counter.value


# --- a bare sliding window, given the order -----------------------------------------------------


def bare_window(run: Run, order: Sequence[int]) -> None:
    """A ``ThreadPoolExecutor`` sliding window over the whole order, given up front.

    ``fixed_ahead`` loads are submitted ahead of the request; each request takes the result of
    the oldest, then submits the next item of the order. No cache, no index, no direction: it
    knows the order in advance, as torch's ``DataLoader`` does here, so on viewer and random
    orders it has knowledge no other contender has. On forward and backward it is the floor of a
    prefetcher built on a Python thread pool: what the threads, the futures and the GIL cost on
    this machine, with nothing decided.
    """
    depth = run.settings.fixed_ahead
    with ThreadPoolExecutor(max_workers=depth + 1) as pool:
        pending = deque(pool.submit(run.load_index, n) for n in order[: depth + 1])
        for position, n in enumerate(order):
            item = pending.popleft().result()
            following = position + depth + 1
            if following < len(order):
                pending.append(pool.submit(run.load_index, order[following]))
            run.consume(n, item)
        run.finish()
        # Leaving the with-block waits for the loads still running, so all reads are counted.


# --- prefetcher -------------------------------------------------------------------------------


def _loader_class() -> Any:
    from prefetcher import PrefetchingLoader

    return PrefetchingLoader


def _with_prefetcher(run: Run, order: Sequence[int], **options: Any) -> None:
    open_loader = run.workload.open_loader
    if open_loader is None:
        open_loader = functools.partial(_loader_class(), run.workload.load, run.keys)
    try:
        loader = open_loader(cache_size=run.settings.cache_size, **options)
    except (TypeError, ValueError) as exc:
        raise NotAvailable(f"the core does not accept {options}: {exc}") from None
    with loader:
        timeout = run.settings.get_timeout
        for n in order:
            run.consume(n, loader.get(n, timeout=timeout))
        run.finish()
        stats = loader.stats()
        run.extra["stats"] = asdict(stats) if hasattr(stats, "__dataclass_fields__") else stats
    # Leaving the with-block closes the loader with wait=True: running loads finish and count.


def prefetcher_ahead_1(run: Run, order: Sequence[int]) -> None:
    """prefetcher with its default read-ahead of one item in the direction of travel."""
    _with_prefetcher(run, order, ahead=1)


def prefetcher_ahead_fixed(run: Run, order: Sequence[int]) -> None:
    """prefetcher with a fixed, larger read-ahead (``--fixed-ahead``, default 4)."""
    _with_prefetcher(run, order, ahead=run.settings.fixed_ahead)


def prefetcher_ahead_auto(run: Run, order: Sequence[int]) -> None:
    """prefetcher with the adaptive read-ahead ``ahead="auto"`` (and ``--max-ahead`` if given)."""
    options: dict[str, Any] = {"ahead": "auto"}
    if run.settings.max_ahead is not None:
        options["max_ahead"] = run.settings.max_ahead
    _with_prefetcher(run, order, **options)


#: Short name (as given to ``--contenders``) -> contender, in the order of the tables. The plain
#: loop comes first: the others are compared with it.
CONTENDERS: dict[str, Contender] = {
    "plain": plain_loop,
    "seed1": seed_thread_lock,
    "seed2": seed_preload,
    "seed3": seed_pool,
    "seqtools": seqtools_prefetch,
    "torch": torch_dataloader,
    "window": bare_window,
    "ahead1": prefetcher_ahead_1,
    "aheadN": prefetcher_ahead_fixed,
    "auto": prefetcher_ahead_auto,
}

#: The contenders given the whole request order up front, which a reader asked for one item at a
#: time cannot know: compared with the others on forward and backward only.
KNOWS_THE_ORDER = frozenset({"torch", "window"})

#: How each contender is named in tables and charts ({N} is the fixed read-ahead).
LABELS: dict[str, str] = {
    "plain": "plain loop",
    "seed1": "seed 1: thread per prefetch, locked load",
    "seed2": "seed 2: lock-free preload",
    "seed3": "seed 3: ThreadPoolExecutor",
    "seqtools": "seqtools prefetch+add_cache",
    "torch": "torch DataLoader",
    "window": "bare window of {N} (order known)",
    "ahead1": "prefetcher ahead=1",
    "aheadN": "prefetcher ahead={N}",
    "auto": "prefetcher ahead=auto",
}
