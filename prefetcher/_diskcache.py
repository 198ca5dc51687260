"""The local-disk tier: fetched bytes kept in a bounded local directory, through diskcache."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import sqlite3
import threading
import warnings
from collections.abc import Hashable
from typing import Any

__all__ = ["DiskStats", "DiskTier"]

_logger = logging.getLogger("prefetcher")

# Each value is stored as header + data. The header carries the data's length and digest, so a
# value cut short (a writer killed mid-write, a disk that filled up) or damaged is never returned.
_MAGIC = b"PFD1"
_DIGEST_SIZE = 16
_HEADER = len(_MAGIC) + 8 + _DIGEST_SIZE


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=_DIGEST_SIZE).digest()


def pack(data: bytes) -> bytes:
    """``data`` with the header that :func:`unpack` checks."""
    return _MAGIC + len(data).to_bytes(8, "little") + _digest(data) + data


def unpack(stored: object) -> bytes | None:
    """The data of a stored value, or ``None`` when it is not whole and intact."""
    if not isinstance(stored, bytes) or len(stored) < _HEADER or not stored.startswith(_MAGIC):
        return None
    length = int.from_bytes(stored[len(_MAGIC) : len(_MAGIC) + 8], "little")
    digest = stored[len(_MAGIC) + 8 : _HEADER]
    data = stored[_HEADER:]
    if len(data) != length or _digest(data) != digest:
        return None
    return data


@dataclasses.dataclass(frozen=True)
class DiskStats:
    """A snapshot of the local-disk tier's counters (of this process).

    Example:
        >>> DiskStats().hits
        0
    """

    #: Reads answered from the local disk.
    hits: int = 0
    #: Reads the local disk did not have (they went to the share).
    misses: int = 0
    #: Values written to the local disk.
    writes: int = 0
    #: Entries found cut short or damaged: dropped, and read from the share again.
    corrupt: int = 0
    #: Errors of the local disk (the first one disables the tier).
    errors: int = 0
    #: Whether the tier is still in use.
    enabled: bool = True
    #: The directory of the cache.
    directory: str = ""


class DiskTier:
    """Bytes by key in a local directory: bounded in bytes, least recently used evicted.

    A thin layer over :class:`diskcache.Cache` (safe for several threads and processes at once,
    and it survives a restart) that adds what a cache of a share's files needs: every value is
    checked against its stored length and digest, and dropped when it does not match; an error
    of the local disk (full, read only, over a quota) disables the tier with one warning instead
    of failing the load.

    Pickles as its settings: a process that unpickles it opens the same directory.
    """

    def __init__(self, directory: str, size_limit: int) -> None:
        if isinstance(size_limit, bool) or not isinstance(size_limit, int):
            raise TypeError(f"disk_cache_bytes must be an int, got {size_limit!r}")
        if size_limit < 1:
            raise ValueError(f"disk_cache_bytes must be >= 1, got {size_limit}")
        self._directory = directory
        self._size_limit = size_limit
        self._setup()
        self._open()  # at once: a directory that cannot be created is an error of the caller

    def _setup(self) -> None:
        # Guards _cache, _enabled and the counters; never held while reading or writing.
        self._lock = threading.Lock()
        self._cache: Any = None
        self._enabled = True
        self._counts = dict.fromkeys(("hits", "misses", "writes", "corrupt", "errors"), 0)

    def _open(self) -> Any:
        with self._lock:
            if self._cache is None:
                try:
                    import diskcache  # type: ignore[import-untyped,unused-ignore]
                except ImportError as exc:  # pragma: no cover - depends on the installation
                    raise ImportError(
                        "disk_cache needs diskcache: pip install 'prefetcher[disk]'"
                    ) from exc
                self._cache = diskcache.Cache(
                    self._directory,
                    size_limit=self._size_limit,
                    eviction_policy="least-recently-used",
                    cull_limit=1,
                )
            return self._cache

    def __getstate__(self) -> dict[str, Any]:
        return {"directory": self._directory, "size_limit": self._size_limit}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._directory = state["directory"]
        self._size_limit = state["size_limit"]
        self._setup()

    @property
    def directory(self) -> str:
        """The cache's directory."""
        return self._directory

    def get(self, key: Hashable) -> bytes | None:
        """The bytes stored under ``key``, or ``None`` (absent, damaged, or the tier is off)."""
        if not self._enabled:
            return None
        cache = self._open()
        try:
            stored = cache.get(key, default=None)
        except (OSError, sqlite3.Error) as exc:
            # A read writes too (least-recently-used keeps access times): a full disk shows here.
            self._disable(exc)
            return None
        if stored is None:
            self._count("misses")
            return None
        data = unpack(stored)
        if data is None:
            self._count("corrupt")
            self._count("misses")
            try:
                cache.delete(key)
            except (OSError, sqlite3.Error) as exc:  # it will be overwritten by the next put
                _logger.debug("dropping a damaged disk cache entry failed", exc_info=exc)
            return None
        self._count("hits")
        return data

    def put(self, key: Hashable, data: bytes) -> None:
        """Store ``data`` under ``key``; on an error of the local disk, disable the tier."""
        if not self._enabled:
            return
        cache = self._open()
        try:
            cache.set(key, pack(data))
            # set() evicts one entry (cull_limit=1, least recently used first), which keeps the
            # bound while files are about the same size; a larger file may need more.
            if cache.volume() > self._size_limit:
                cache.cull()
        except (OSError, sqlite3.Error) as exc:
            self._disable(exc)
            return
        self._count("writes")

    def _disable(self, error: BaseException) -> None:
        with self._lock:
            self._counts["errors"] += 1
            first, self._enabled = self._enabled, False
        if first:
            # Outside the lock: warnings.warn runs user code (filters, showwarning).
            warnings.warn(
                f"prefetcher: the disk cache {self._directory!r} failed "
                f"({type(error).__name__}: {error}); it is disabled for this loader, files are "
                "read from the share",
                RuntimeWarning,
                stacklevel=3,
            )
        else:
            _logger.debug("the disk cache %s failed again", self._directory, exc_info=error)

    def stats(self) -> DiskStats:
        """A snapshot of the counters."""
        with self._lock:
            return DiskStats(**self._counts, enabled=self._enabled, directory=self._directory)

    def close(self) -> None:
        """Close the cache's database connections (the files stay)."""
        with self._lock:
            cache, self._cache = self._cache, None
        if cache is not None:
            cache.close()

    def _count(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1
