"""Two loaders in a chain: a fetch stage (raw bytes, say) in front of a decode stage."""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar, cast, overload

from ._diskcache import DiskStats
from ._loader import PrefetchingLoader
from ._stats import LoaderStats

__all__ = ["TieredLoader", "TieredStats", "chain"]

K = TypeVar("K")
B = TypeVar("B")
T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class TieredStats(LoaderStats):
    """The counters of a :class:`TieredLoader`: the decode stage's, plus each tier's own.

    The inherited fields are the decode stage's (what callers of ``get`` see), so code written
    for :class:`LoaderStats` reads a tiered loader's figures unchanged. ``raw`` holds the fetch
    stage's counters: its ``requests`` are the decode stage's loads, and its ``hits`` the items
    decoded from bytes already in memory, without a read. ``disk`` is the local-disk tier's,
    when there is one.

    Example:
        >>> from prefetcher import PrefetchingLoader, chain
        >>> fetch = PrefetchingLoader(lambda n: str(n).encode(), ahead=0)
        >>> with chain(fetch, lambda data, key: int(data), ahead=0, cache_size=1) as loader:
        ...     _ = loader.get(1), loader.get(2), loader.get(1)
        ...     stats = loader.stats()
        >>> (stats.misses, stats.raw.requests, stats.raw.hits)
        (3, 3, 1)
    """

    #: The fetch stage's counters.
    raw: LoaderStats = dataclasses.field(default_factory=LoaderStats)
    #: The local-disk tier's counters, or ``None`` without one.
    disk: DiskStats | None = None

    @classmethod
    def of(
        cls, decoded: LoaderStats, raw: LoaderStats, disk: DiskStats | None = None
    ) -> TieredStats:
        """Combine a decode stage's and a fetch stage's snapshots."""
        return cls(**dataclasses.asdict(decoded), raw=raw, disk=disk)


@dataclasses.dataclass(frozen=True)
class _Item:
    """What the decode stage's ``load`` is called with: a position and the fetch stage's key.

    Its ``repr`` is the key's, so the loader's note on an error names the file, not the position
    twice.
    """

    index: int
    key: Any

    def __repr__(self) -> str:
        return repr(self.key)


@dataclasses.dataclass(frozen=True)
class _Decode(Generic[B, T]):
    """The decode stage's ``load``: the fetch stage's item ``n``, decoded."""

    fetch: PrefetchingLoader[Any, B]
    decode: Callable[[B, Any], T]
    #: The decode stage's ``_stage_done``, told once item ``n``'s bytes are in (weakly: the
    #: stage holds this load); the fetch stage's is told once they are decoded. ``None`` to tell
    #: neither.
    fetched: weakref.WeakMethod[Callable[[int], None]] | None

    def __call__(self, item: _Item | int) -> T:
        # An open-ended loader calls load(n): the key is the position.
        index, key = (item.index, item.key) if isinstance(item, _Item) else (item, item)
        # get(), not a private peek: the fetch stage sees the front of the decode stage's window
        # move one item per step, so its own read-ahead runs that much further ahead.
        data = self.fetch.get(index)
        if self.fetched is None:
            return self.decode(data, key)
        decode_stage_done = self.fetched()
        if decode_stage_done is not None:
            decode_stage_done(index)  # the decode stage's neighbours of item n may be read now
        try:
            return self.decode(data, key)
        finally:
            self.fetch._stage_done(index)  # and the fetch stage's read-ahead


class _Items(Sequence[_Item]):
    """``_Item(n, keys[n])`` for every position of ``keys``, following ``keys`` as it grows."""

    def __init__(self, keys: Sequence[Any]) -> None:
        self._keys = keys

    def __len__(self) -> int:
        return len(self._keys)

    @overload
    def __getitem__(self, index: int) -> _Item: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[_Item]: ...
    def __getitem__(self, index: int | slice) -> _Item | Sequence[_Item]:
        if isinstance(index, slice):
            return [_Item(n, self._keys[n]) for n in range(len(self._keys))[index]]
        position = range(len(self._keys))[index]
        return _Item(position, self._keys[position])


class TieredLoader(PrefetchingLoader[K, T]):
    """A decode stage in front of a fetch stage: two :class:`PrefetchingLoader` s in a chain.

    The tiered loader *is* the decode stage (a :class:`PrefetchingLoader`, so it goes wherever
    one does): item ``n`` is ``decode(fetch.get(n), key)``, which it loads, reads ahead and
    keeps (``cache_size`` decoded items) as any loader does. Each stage keeps its own items
    within its own bounds -- a deep, byte-bounded cache of cheap raw bytes behind a shallow one
    of big decoded frames, say -- so going back to an item whose bytes are still held decodes
    it again without a read. The decode stage's loads are the fetch stage's requests: the fetch
    stage sees the front of the decoded window advance one item per step, and its own
    read-ahead (its ``ahead``) runs that far beyond it.

    Args:
        fetch: The first stage. The tiered loader owns it from now on and closes it.
        decode: Called in a decode worker as ``decode(item, key)`` with the fetch stage's item
            ``n`` and ``fetch.keys[n]`` (``n`` for an open-ended fetch loader).
        demand_reads_first: Whether the read of a landing goes alone (the default): a
            requested item that was not in the read-ahead window, after a jump say. While it
            runs, neither stage starts a prefetch; its nearest neighbours' reads start once its
            bytes are in, the decode stage's other prefetches and the fetch stage's own
            read-ahead once it is decoded. Then the reads around the landing do not compete
            with its own for the link and the CPU, and the next step's run while it is
            decoded. Each hold lasts at most twice as long as a load typically takes (and
            0.5 s); a requested item within the window keeps the short head start of any
            loader. ``False`` when the fetch stage's load does all the work (it decodes too),
            so that nothing is left to overlap.
        **options: Passed to :class:`PrefetchingLoader` for the decode stage (``cache_size``,
            ``ahead``, ``max_workers``, ``max_bytes``, ``load_timeout``, ``retries`` ...; its
            ``executor`` must run threads, since its loads call ``fetch.get``).

    ``keys`` are the fetch stage's; ``invalidate`` and ``close`` act on both stages (the decode
    stage first); ``stats()`` gives a :class:`TieredStats` and ``repr`` shows both stages. A
    failing fetch or decode raises from ``get(n)`` with a note naming the index and the key.

    Example:
        >>> from prefetcher import PrefetchingLoader, chain
        >>> fetch = PrefetchingLoader(lambda n: f"{n}".encode(), ahead=4, max_bytes=2**20)
        >>> with chain(fetch, lambda data, key: int(data) * 10, ahead=1) as loader:
        ...     loader.get(3)
        30
    """

    def __init__(
        self,
        fetch: PrefetchingLoader[K, Any],
        decode: Callable[[Any, K], T],
        *,
        demand_reads_first: bool = True,
        **options: Any,
    ) -> None:
        if not isinstance(fetch, PrefetchingLoader):
            raise TypeError(f"fetch must be a PrefetchingLoader, got {type(fetch).__name__}")
        if not callable(decode):
            raise TypeError(f"decode must be callable, got {decode!r}")
        keys = fetch.keys
        self._fetch = fetch
        try:
            stage_done: Callable[[int], None] = self._stage_done
            fetched = weakref.WeakMethod(stage_done) if demand_reads_first else None
            super().__init__(
                cast("Callable[[K], T]", _Decode(fetch, decode, fetched)),
                None if keys is None else cast("Sequence[K]", _Items(keys)),
                **options,
            )
        except BaseException:
            fetch.close(wait=False)
            raise
        if demand_reads_first:
            fetch._hold_prefetches_for_landings(until_released=True)
            self._hold_prefetches_for_landings()

    @property
    def fetch_stage(self) -> PrefetchingLoader[K, Any]:
        """The first stage (raw bytes, for :func:`~prefetcher.open_sequence`)."""
        return self._fetch

    @property
    def keys(self) -> Sequence[K] | None:
        """The fetch stage's keys, or ``None`` for an open-ended loader."""
        return self._fetch.keys

    def invalidate(self, index: int | None = None) -> None:
        """Forget item ``index`` (or every item) in both stages: the next request reads again."""
        # The fetch stage first: a decode that starts in between must not find the old bytes.
        self._fetch.invalidate(index)
        super().invalidate(index)

    def stats(self) -> TieredStats:
        """A snapshot of both stages' counters (allowed after :meth:`close` too)."""
        return TieredStats.of(super().stats(), self._fetch.stats())

    def close(self, wait: bool = True, timeout: float | None = None) -> None:
        """Close the decode stage, then the fetch stage; idempotent.

        The decode stage goes first: its running loads may be waiting for the fetch stage.
        ``wait`` and ``timeout`` are as for :meth:`PrefetchingLoader.close`, for each stage.
        """
        try:
            super().close(wait, timeout)
        finally:
            self._fetch.close(wait, timeout)

    def __enter__(self) -> TieredLoader[K, T]:
        return self

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} decoded={_shown(PrefetchingLoader.stats(self))} "
            f"raw={_shown(self._fetch.stats())} closed={self.closed}>"
        )


def _shown(stats: LoaderStats) -> str:
    """A stage's state for ``repr``: ``(cached=3 pending=2 ahead=4)``."""
    return f"(cached={stats.cached} pending={stats.pending} ahead={stats.ahead})"


def chain(
    fetch: PrefetchingLoader[K, Any], decode: Callable[[Any, K], T], **options: Any
) -> TieredLoader[K, T]:
    """Put ``fetch``'s ``get`` in front of a decode stage: a :class:`TieredLoader`.

    ``chain(fetch, decode, **options)`` is ``TieredLoader(fetch, decode, **options)``: item ``n``
    is ``decode(fetch.get(n), fetch.keys[n])``, decoded in a loader of its own built with
    ``options``. Give each stage its own bounds: the fetch stage a byte budget
    (``max_bytes``) and a deep ``ahead``, the decode stage a small ``cache_size``.

    Example:
        >>> from prefetcher import PrefetchingLoader, chain
        >>> raw = PrefetchingLoader(lambda n: bytes([n]) * 4, ahead=8, max_bytes=256 * 2**20)
        >>> with chain(raw, lambda data, key: sum(data), cache_size=4) as frames:
        ...     frames.get(2)
        8
    """
    return TieredLoader(fetch, decode, **options)
