"""An image sequence in tiers: raw bytes (memory, optionally local disk) behind decoded frames."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar, overload

from ._diskcache import DiskTier
from ._errors import LoaderClosedError
from ._fetch import Fetched, FetchFile, Signature, fetched_size, file_signature
from ._follow import POLL_INTERVAL, follow
from ._images import decode_image
from ._loader import PrefetchingLoader
from ._remote import is_url
from ._tiers import TieredLoader, TieredStats

__all__ = [
    "DEFAULT_DISK_CACHE_BYTES",
    "DEFAULT_RAW_AHEAD",
    "DEFAULT_RAW_BYTES",
    "ImageSequence",
    "open_tiered",
]

T = TypeVar("T")

#: Default byte budget of the raw-bytes tier (``open_sequence(raw_bytes=...)``).
DEFAULT_RAW_BYTES = 256 * 2**20
#: Default read-ahead of the raw-bytes tier, beyond the front of the decoded window: chosen with
#: ``python benchmarks/tiers.py`` (docs/tiers.rst).
DEFAULT_RAW_AHEAD = 8
#: Default bound of the local-disk tier (``open_sequence(disk_cache_bytes=...)``).
DEFAULT_DISK_CACHE_BYTES = 4 * 2**30
# The raw tier is bounded by bytes; its count bound only has to stay out of the way.
_RAW_CACHE_ITEMS = 4096
# Threads of the fetch stage when the caller sets no max_workers: as many as the decode stage's
# default window (16) plus one can ask for at once. Each decode load waits for one fetch, so
# fewer would make the decode stage's read-ahead wait in line for a read.
_FETCH_WORKERS = 17
# Reads in flight at once from a URL source when the caller sets no max_workers. One SMB session
# serves every thread, and smbprotocol fails a request when the session has run out of credits
# (smbprotocol#312): 17 reads of 800 kB frames at once did, on a loopback smbd
# (benchmarks/tiers.py --smb); 4 did not.
_FETCH_WORKERS_REMOTE = 4


class _Keys(Sequence[str]):
    """The paths of a directory or glob source, which :meth:`ImageSequence.refresh` may extend.

    Replaced as a whole tuple, so a reader in another thread sees the old paths or the new ones.
    """

    def __init__(self, paths: tuple[str, ...]) -> None:
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return self.paths[index]


class _Records:
    """The signature each file had when its bytes were read, by key; for :meth:`refresh`.

    Pickles as an empty record: a worker process keeps its own, which nobody reads.
    """

    def __init__(self) -> None:
        # Guards _signatures; held only to read or write the dict.
        self._lock = threading.Lock()
        self._signatures: dict[Any, Signature | None] = {}

    def __reduce__(self) -> tuple[type[_Records], tuple[()]]:
        return (_Records, ())

    def note(self, key: Any, signature: Signature | None) -> None:
        with self._lock:
            self._signatures[key] = signature

    def get(self, key: Any) -> Signature | None:
        with self._lock:
            return self._signatures.get(key)

    def forget(self, key: Any) -> None:
        with self._lock:
            self._signatures.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._signatures.clear()

    def snapshot(self) -> list[tuple[Any, Signature | None]]:
        with self._lock:
            return list(self._signatures.items())


@dataclasses.dataclass(frozen=True)
class _RecordingFetch:
    """The fetch stage's ``load``: :class:`FetchFile`, noting each file's signature."""

    fetch: FetchFile
    records: _Records

    def __call__(self, key: Any) -> Fetched:
        fetched = self.fetch(key)
        self.records.note(key, fetched.signature)
        return fetched


@dataclasses.dataclass(frozen=True)
class _DecodeImage:
    """The decode stage's ``decode(fetched, key)``: decode_image, naming the file."""

    fetch: FetchFile
    records: _Records
    mode: str | None
    as_array: bool

    def __call__(self, fetched: Fetched, key: Any) -> Any:
        # Noted again here, in this process: the fetch may have run in a worker process.
        self.records.note(key, fetched.signature)
        return decode_image(
            fetched.data, self.fetch.path(key), mode=self.mode, as_array=self.as_array
        )


class ImageSequence(TieredLoader[Any, T]):
    """The loader :func:`~prefetcher.open_sequence` returns: decoded frames over raw bytes.

    A :class:`TieredLoader` whose fetch stage reads each file's bytes (from the local-disk tier
    when there is one, else from the share) and keeps up to ``raw_bytes`` of them, read
    ``raw_ahead`` items beyond the decoded window; the decode stage decodes them into frames. On
    top of a tiered loader it can follow files that change or arrive: :meth:`refresh` and
    :meth:`iter_follow`.
    """

    def __init__(
        self,
        *,
        keys: tuple[str, ...] | None,
        template: str | None,
        relist: Callable[[], tuple[str, ...]] | None,
        mode: str | None,
        as_array: bool,
        raw_bytes: int = DEFAULT_RAW_BYTES,
        raw_ahead: int | str = DEFAULT_RAW_AHEAD,
        disk_cache: str | None = None,
        disk_cache_bytes: int = DEFAULT_DISK_CACHE_BYTES,
        check_files: bool = True,
        **options: Any,
    ) -> None:
        if isinstance(raw_bytes, bool) or not isinstance(raw_bytes, int):
            raise TypeError(f"raw_bytes must be an int, got {raw_bytes!r}")
        if raw_bytes < 0:
            raise ValueError(f"raw_bytes must be >= 0 (0 disables the tier), got {raw_bytes}")
        if raw_ahead != "auto" and (
            isinstance(raw_ahead, bool) or not isinstance(raw_ahead, int) or raw_ahead < 0
        ):
            raise ValueError(f"raw_ahead must be an int >= 0 or 'auto', got {raw_ahead!r}")
        self._check_files = bool(check_files)
        self._disk = None if disk_cache is None else DiskTier(str(disk_cache), disk_cache_bytes)
        self._paths = None if keys is None else _Keys(keys)
        self._relist_source = relist
        self._records = _Records()
        fetch = FetchFile(template, self._disk, self._check_files)
        self._fetch_file = fetch
        # The caller's executor runs the reads: the decode stage's loads call the fetch stage,
        # so they must run in this process's threads.
        executor = options.pop("executor", None)
        raw_options: dict[str, Any] = (
            {"ahead": raw_ahead, "cache_size": _RAW_CACHE_ITEMS, "max_bytes": raw_bytes}
            if raw_bytes
            # Off: a pass-through stage that keeps nothing ("larger than the budget").
            else {"ahead": 0, "cache_size": 1, "max_bytes": 1}
        )
        first = template if template is not None else (keys[0] if keys else "")
        raw_options["max_workers"] = options.get("max_workers") or (
            _FETCH_WORKERS_REMOTE if is_url(first) else _FETCH_WORKERS
        )
        try:
            stage: PrefetchingLoader[Any, Fetched] = PrefetchingLoader(
                _RecordingFetch(fetch, self._records),
                self._paths,
                executor=executor,
                sizeof=fetched_size,
                **raw_options,
            )
            super().__init__(stage, _DecodeImage(fetch, self._records, mode, as_array), **options)
        except BaseException:
            self._close_disk()
            raise

    @property
    def keys(self) -> tuple[str, ...] | None:
        """The resolved paths now (``None`` for a template); :meth:`refresh` may add some."""
        return None if self._paths is None else self._paths.paths

    def stats(self) -> TieredStats:
        """A snapshot of every tier's counters: decoded (top level), ``raw`` and ``disk``."""
        stats = super().stats()
        if self._disk is None:
            return stats
        return dataclasses.replace(stats, disk=self._disk.stats())

    def close(self, wait: bool = True) -> None:
        """Close both stages and the disk tier's database connections; idempotent."""
        try:
            super().close(wait)
        finally:
            self._close_disk()

    def _close_disk(self) -> None:
        if self._disk is not None:
            self._disk.close()

    # -- files that change or arrive --------------------------------------------------------

    def refresh(self) -> None:
        """Catch up with the share: drop items whose file changed, add files that arrived.

        Every file whose bytes were read is stat-ed once (its size and modification time against
        those it had when it was read); an item whose file changed or went away is forgotten in
        every tier, so the next ``get`` reads it again. With ``check_files=False`` nothing is
        known of the files as they were read: the first ``refresh`` notes them, later ones
        compare against that.

        A directory or glob source is listed again: files that sort after the known ones are
        added (``len`` grows, natural order kept). When the listing changed otherwise (a file
        removed, or one that sorts in between), the new listing replaces the old one and every
        item is forgotten, since the indices moved.

        Raises:
            LoaderClosedError: The loader is closed.
            FileNotFoundError: The directory is gone, or the glob matches nothing any more.
        """
        if self.closed:
            raise LoaderClosedError("the loader is closed")
        self.relist()
        positions = None if self._paths is None else {p: i for i, p in enumerate(self._paths.paths)}
        for key, noted in self._records.snapshot():
            index = key if positions is None else positions.get(key)
            if index is None:
                self._records.forget(key)
                continue
            try:
                now: Signature | None = file_signature(self._fetch_file.path(key))
            except FileNotFoundError:
                now = None
            if noted is None and now is not None and not self._check_files:
                self._records.note(key, now)
            elif now != noted:
                self._records.forget(key)
                self.invalidate(index)

    def relist(self) -> None:
        """List a directory or glob source again and take in new files (see :meth:`refresh`).

        Does nothing for a template or a list of paths.
        """
        if self._relist_source is None or self._paths is None:
            return
        listed = self._relist_source()
        known = self._paths.paths
        if listed == known:
            return
        self._paths.paths = listed
        if listed[: len(known)] != known:
            self._records.clear()
            self.invalidate()

    def iter_follow(
        self,
        start: int = 0,
        *,
        poll: float = POLL_INTERVAL,
        idle: float | None = 60.0,
        stop: threading.Event | None = None,
    ) -> Iterator[T]:
        """Yield frames ``start, start + 1, ...`` as they are written: live acquisition.

        Waits for the next frame to appear, looking at the share every ``poll`` seconds (a
        listing for a directory or glob source, a stat for a template), and yields it once it is
        complete: when a later frame exists (frames are written in order), or, for the newest
        frame, when its size and modification time stayed the same over two polls. A frame read
        while it was still being written (by the read-ahead, which keeps working on every frame
        already there) is read again. Ends after ``idle`` seconds without a new frame (``None``:
        never), when ``stop`` is set, or when the caller stops iterating.

        Args:
            start: The first index.
            poll: Seconds between looks at the share.
            idle: Seconds without a new complete frame after which the iteration ends.
            stop: An event another thread sets to end the iteration (within ``poll`` seconds).

        Raises:
            ValueError: The sequence was opened with ``check_files=False`` (following needs to
                know each file's size and modification time as it was read), or a bad argument.
            Exception: Whatever ``get`` raises for a frame (a frame that cannot be decoded ends
                the iteration with its error).

        Example:
            >>> with open_sequence("share/run7", ahead=4) as frames:  # doctest: +SKIP
            ...     for frame in frames.iter_follow(idle=30):
            ...         process(frame)
        """
        if not self._check_files:
            raise ValueError("iter_follow needs check_files=True: it compares file signatures")
        if poll <= 0:
            raise ValueError(f"poll must be > 0 seconds, got {poll!r}")
        if idle is not None and idle < 0:
            raise ValueError(f"idle must be >= 0 seconds or None, got {idle!r}")
        if self.closed:
            raise LoaderClosedError("the loader is closed")
        return follow(self, start, poll=poll, idle=idle, stop=stop)

    def _frame_state(self, index: int) -> tuple[bool, Signature | None]:
        """(a later frame exists, frame ``index``'s signature or ``None``): for following."""
        if self._paths is not None:
            paths = self._paths.paths
            if index >= len(paths):
                return False, None
            return index + 1 < len(paths), self._signature(paths[index])
        assert self._fetch_file.template is not None
        signature = self._signature(self._fetch_file.path(index))
        later = signature is not None and self._signature(self._fetch_file.path(index + 1))
        return bool(later), signature

    def _get_checked(self, index: int, signature: Signature) -> tuple[bool, T]:
        """Item ``index``, and whether its bytes were read from the file as ``signature``."""
        item = self.get(index)
        key = index if self._paths is None else self._paths.paths[index]
        return self._records.get(key) == signature, item

    def _signature(self, path: str) -> Signature | None:
        try:
            return file_signature(path)
        except FileNotFoundError:
            return None


def open_tiered(
    *,
    keys: tuple[str, ...] | None,
    template: str | None,
    relist: Callable[[], tuple[str, ...]] | None,
    mode: str | None,
    as_array: bool,
    options: dict[str, Any],
) -> ImageSequence[Any]:
    """The :class:`ImageSequence` for :func:`~prefetcher.open_sequence`'s resolved source."""
    return ImageSequence(
        keys=keys, template=template, relist=relist, mode=mode, as_array=as_array, **options
    )
