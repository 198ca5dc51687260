"""An image sequence in tiers: raw bytes (memory, optionally local disk) behind decoded frames."""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Generic, TypeVar, overload

from ._credentials import Secrets
from ._diskcache import DiskTier
from ._errors import LoaderClosedError
from ._fetch import Fetched, FetchFile, Signature, fetched_size
from ._follow import POLL_INTERVAL, follow
from ._images import decode_image
from ._loader import PrefetchingLoader
from ._numbering import Numbering, list_template_numbers
from ._remote import is_url, url_filesystem
from ._template import Template
from ._tiers import TieredLoader, TieredStats

__all__ = [
    "DEFAULT_DISK_CACHE_BYTES",
    "DEFAULT_RAW_AHEAD",
    "DEFAULT_RAW_BYTES",
    "ImageSequence",
    "open_files",
    "open_pages",
]

K = TypeVar("K")
T = TypeVar("T")

#: Default byte budget of the raw-bytes tier (``open_sequence(raw_bytes=...)``).
DEFAULT_RAW_BYTES = 256 * 2**20
#: Default read-ahead of the raw-bytes tier, beyond the front of the decoded window: chosen with
#: ``python benchmarks/tiers.py`` (docs/tiers.rst). With ``ahead=0`` it defaults to 0 instead.
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
# The options of the tiers, which the decode stage's PrefetchingLoader does not take.
_TIER_OPTIONS = ("raw_bytes", "raw_ahead", "disk_cache", "disk_cache_bytes", "check_files")


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


@dataclasses.dataclass(frozen=True)
class _ReadImage:
    """``load(key)``: read the file and decode it in one call (:attr:`ImageSequence.reader`)."""

    fetch: FetchFile
    mode: str | None
    as_array: bool

    def __call__(self, key: Any) -> Any:
        data = self.fetch(key).data
        return decode_image(data, self.fetch.path(key), mode=self.mode, as_array=self.as_array)


@dataclasses.dataclass(frozen=True)
class _Files:
    """What following the files of a sequence needs: how to read and stat them, what was read."""

    fetch: FetchFile
    records: _Records
    #: The paths of a directory, glob or list source (``None`` for a template).
    paths: _Keys | None
    #: Lists a directory or glob source again (``None`` for a template or a list).
    relist: Callable[[], tuple[str, ...]] | None


@dataclasses.dataclass(frozen=True)
class _AsIs:
    """The decode stage's ``decode`` of a source whose fetch stage decodes (TIFF pages)."""

    def __call__(self, item: Any, key: Any) -> Any:
        return item


class ImageSequence(TieredLoader[K, T], Generic[K, T]):
    """The loader :func:`~prefetcher.open_sequence` returns: decoded frames over raw bytes.

    A :class:`PrefetchingLoader` (the decode stage of a :class:`TieredLoader`) that knows its
    files: :attr:`numbering` says which file each position reads and which file numbers are
    missing. Its fetch stage reads each file's bytes (from the local-disk tier when there is
    one, else from the share) and keeps up to ``raw_bytes`` of them, read ``raw_ahead`` items
    beyond the decoded window; the decode stage decodes them into frames. It can follow files
    that change or arrive: :meth:`refresh`, :meth:`relist` and :meth:`iter_follow`.

    Built by :func:`~prefetcher.open_sequence`; ``stats()`` gives a :class:`TieredStats`.
    """

    def __init__(
        self,
        fetch: PrefetchingLoader[K, Any],
        decode: Callable[[Any, K], T],
        *,
        template: Template | None = None,
        files: _Files | None = None,
        disk: DiskTier | None = None,
        reader: Callable[[Any], Any] | None = None,
        opened_with: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> None:
        self._reader = reader
        self._options = dict(options if opened_with is None else opened_with)
        self._template = template
        self._files = files
        self._disk = disk
        self._numbering: Numbering | None = None
        # Guards _numbering; never held while listing (two threads may both list, once each).
        self._numbering_lock = threading.Lock()
        try:
            super().__init__(fetch, decode, **options)
        except BaseException:
            self._close_disk()
            raise

    def __enter__(self) -> ImageSequence[K, T]:
        # Typed as the subclass, so that `with open_sequence(...) as seq:` knows seq.numbering.
        return self

    @property
    def keys(self) -> Sequence[K] | None:
        """The resolved paths now (``None`` for a template); :meth:`refresh` may add some."""
        if self._files is not None and self._files.paths is not None:
            return self._files.paths.paths  # type: ignore[return-value]
        return super().keys

    @property
    def reader(self) -> Callable[[Any], Any]:
        """The picklable callable that reads and decodes one key in one call, no tiers.

        It holds what a URL key needs to be read (the password the key leaves out) and never
        shows it: with :attr:`keys` and :attr:`options`,
        ``PrefetchingLoader(seq.reader, seq.keys, **seq.options)`` opens the same frames
        elsewhere, in another process or on a cluster.
        """
        assert self._reader is not None
        return self._reader

    @property
    def options(self) -> dict[str, Any]:
        """The :class:`PrefetchingLoader` options this sequence was opened with (network
        defaults included, the tiers' own left out)."""
        return dict(self._options)

    @property
    def numbering(self) -> Numbering:
        """Positions and file numbers: :attr:`Numbering.first_position`, :meth:`Numbering.name` ...

        For a template, the directory is listed the first time this is read (one listing) to find
        the lowest and highest existing file numbers and the gaps between them. After
        :meth:`relist` found new files, the next read numbers them too.
        """
        with self._numbering_lock:
            numbering = self._numbering
        if numbering is not None:
            return numbering
        if self._template is not None:
            # Listed as given (a URL's password and all), with the storage options.
            fetch = self._files.fetch if self._files is not None else None
            real = fetch.real if fetch is not None and fetch.real is not None else self._template
            storage_options = fetch.secrets.storage_options if fetch is not None else {}
            numbering = _template_numbering(self._template, real, storage_options)
        else:
            keys = self.keys
            assert keys is not None
            numbering = Numbering.of_keys(keys)
        with self._numbering_lock:
            self._numbering = numbering
        return numbering

    def stats(self) -> TieredStats:
        """A snapshot of every tier's counters: decoded (top level), ``raw`` and ``disk``."""
        stats = super().stats()
        if self._disk is None:
            return stats
        return dataclasses.replace(stats, disk=self._disk.stats())

    def close(self, wait: bool = True, timeout: float | None = None) -> None:
        """Close both stages and the disk tier's database connections; idempotent."""
        try:
            super().close(wait, timeout)
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
        files = self._files
        if files is None:
            return
        self.relist()
        paths = files.paths
        positions = None if paths is None else {p: i for i, p in enumerate(paths.paths)}
        for key, noted in files.records.snapshot():
            index = key if positions is None else positions.get(key)
            if index is None:
                files.records.forget(key)
                continue
            now = self._signature(key)
            if noted is None and now is not None and not files.fetch.check_files:
                files.records.note(key, now)
            elif now != noted:
                files.records.forget(key)
                self.invalidate(index)

    def relist(self) -> None:
        """List a directory or glob source again and take in new files (see :meth:`refresh`).

        Does nothing for a template, a list of paths or a multi-page TIFF.
        """
        files = self._files
        if files is None or files.relist is None or files.paths is None:
            return
        listed = files.relist()
        known = files.paths.paths
        if listed == known:
            return
        files.paths.paths = listed
        with self._numbering_lock:
            self._numbering = None  # numbered again, with the new files, when next asked
        if listed[: len(known)] != known:
            files.records.clear()
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
        if self._files is None:
            raise ValueError("a multi-page TIFF does not grow: there is nothing to follow")
        if not self._files.fetch.check_files:
            raise ValueError(
                "iter_follow needs check_files=True (the default for local files and with a "
                "disk_cache; pass it for a URL source): it compares file signatures"
            )
        if poll <= 0:
            raise ValueError(f"poll must be > 0 seconds, got {poll!r}")
        if idle is not None and idle < 0:
            raise ValueError(f"idle must be >= 0 seconds or None, got {idle!r}")
        if self.closed:
            raise LoaderClosedError("the loader is closed")
        return follow(self, start, poll=poll, idle=idle, stop=stop)

    def _frame_state(self, index: int) -> tuple[bool, Signature | None]:
        """(a later frame exists, frame ``index``'s signature or ``None``): for following."""
        assert self._files is not None
        if self._files.paths is not None:
            paths = self._files.paths.paths
            if index >= len(paths):
                return False, None
            return index + 1 < len(paths), self._signature(paths[index])
        signature = self._signature(index)
        later = signature is not None and self._signature(index + 1)
        return bool(later), signature

    def _get_checked(self, index: int, signature: Signature) -> tuple[bool, T]:
        """Item ``index``, and whether its bytes were read from the file as ``signature``."""
        assert self._files is not None
        item = self.get(index)
        paths = self._files.paths
        key = index if paths is None else paths.paths[index]
        return self._files.records.get(key) == signature, item

    def _signature(self, key: Any) -> Signature | None:
        """The signature of the file of ``key`` (a path, or a template's number), or ``None``."""
        assert self._files is not None
        try:
            return self._files.fetch.signature(key)
        except FileNotFoundError:
            return None


def open_files(
    *,
    keys: tuple[str, ...] | None,
    template: Template | None,
    relist: Callable[[], tuple[str, ...]] | None,
    mode: str | None,
    as_array: bool,
    secrets: Secrets,
    real: Template | None,
    options: Mapping[str, Any],
) -> ImageSequence[Any, Any]:
    """The :class:`ImageSequence` for :func:`~prefetcher.open_sequence`'s resolved files.

    ``keys`` (public paths) or ``template`` (public) name the files; ``options`` are the
    caller's, network defaults included, tier options among them.
    """
    options = dict(options)
    opened_with = {k: v for k, v in options.items() if k not in _TIER_OPTIONS}
    raw_bytes = options.pop("raw_bytes", DEFAULT_RAW_BYTES)
    # ahead=0 means no read-ahead at all, unless raw_ahead asks for some.
    raw_ahead = options.pop("raw_ahead", 0 if options.get("ahead") == 0 else DEFAULT_RAW_AHEAD)
    disk_cache = options.pop("disk_cache", None)
    disk_cache_bytes = options.pop("disk_cache_bytes", DEFAULT_DISK_CACHE_BYTES)
    check_files = options.pop("check_files", None)
    if isinstance(raw_bytes, bool) or not isinstance(raw_bytes, int):
        raise TypeError(f"raw_bytes must be an int, got {raw_bytes!r}")
    if raw_bytes < 0:
        raise ValueError(f"raw_bytes must be >= 0 (0 disables the tier), got {raw_bytes}")
    if raw_ahead != "auto" and (
        isinstance(raw_ahead, bool) or not isinstance(raw_ahead, int) or raw_ahead < 0
    ):
        raise ValueError(f"raw_ahead must be an int >= 0 or 'auto', got {raw_ahead!r}")
    first = template.format(0) if template is not None else (keys[0] if keys else "")
    remote = is_url(first)
    disk = None if disk_cache is None else DiskTier(os.fspath(disk_cache), disk_cache_bytes)
    if check_files is None:
        # On a share a stat is a round trip of its own, and a whole-file read is otherwise one:
        # by default only where a stale copy would outlive the loader (on the local disk).
        check_files = not remote or disk is not None
    fetch = FetchFile(template, disk, bool(check_files), secrets, real)
    records = _Records()
    paths = None if keys is None else _Keys(keys)
    raw_options: dict[str, Any] = (
        {"ahead": raw_ahead, "cache_size": _RAW_CACHE_ITEMS, "max_bytes": raw_bytes}
        if raw_bytes
        # Off: a pass-through stage that keeps nothing ("larger than the budget").
        else {"ahead": 0, "cache_size": 1, "max_bytes": 1}
    )
    try:
        stage: PrefetchingLoader[Any, Fetched] = PrefetchingLoader(
            _RecordingFetch(fetch, records),
            paths,
            sizeof=fetched_size,
            **_fetch_options(options, remote=remote),
            **raw_options,
        )
        return ImageSequence(
            stage,
            _DecodeImage(fetch, records, mode, as_array),
            template=template,
            files=_Files(fetch, records, paths, relist),
            disk=disk,
            reader=_ReadImage(fetch, mode, as_array),
            opened_with=opened_with,
            **options,
        )
    except BaseException:
        if disk is not None:
            disk.close()
        raise


def open_pages(
    load: Callable[[Any], Any], keys: Sequence[Any], **options: Any
) -> ImageSequence[Any, Any]:
    """An :class:`ImageSequence` over the pages of a multi-page TIFF (``open_tiff``'s
    ``loader_type``).

    A page is read by its own byte range and decoded in one call, so there are no raw bytes to
    keep: the fetch stage loads pages and keeps none, the decode stage keeps them decoded.
    """
    options = dict(options)
    if options.pop("disk_cache", None) is not None:
        raise ValueError("disk_cache does not apply to a multi-page TIFF (pages are read by range)")
    for name in _TIER_OPTIONS:
        options.pop(name, None)
    opened_with = dict(options)
    stage: PrefetchingLoader[Any, Any] = PrefetchingLoader(
        load,
        keys,
        ahead=0,
        cache_size=1,
        max_bytes=1,
        **_fetch_options(options, remote=bool(keys) and is_url(str(keys[0].path))),
    )
    return ImageSequence(stage, _AsIs(), reader=load, opened_with=opened_with, **options)


def _fetch_options(options: dict[str, Any], *, remote: bool) -> dict[str, Any]:
    """The fetch stage's share of ``options`` (``executor`` is taken out of them).

    The caller's executor runs the reads: the decode stage's loads call the fetch stage, so
    they must run in this process's threads. The fetch stage has ``load_timeout`` too, so that
    a decode worker waiting for a read that hangs is let go; retries are the decode stage's
    alone (each of its attempts reads again), or they would multiply.
    """
    fetch: dict[str, Any] = {
        "executor": options.pop("executor", None),
        "max_workers": options.get("max_workers")
        or (_FETCH_WORKERS_REMOTE if remote else _FETCH_WORKERS),
    }
    if options.get("load_timeout") is not None:
        fetch["load_timeout"] = options["load_timeout"]
    return fetch


def _template_numbering(
    template: Template, real: Template, storage_options: Mapping[str, Any]
) -> Numbering:
    numbers = list_template_numbers(real, storage_options)
    if numbers is not None:
        return Numbering.of_template(template, numbers)
    # Not listable: numbering starts at 0, or at 1 when there is no file 0; the end is unknown.
    first = 0 if _exists(real.format(0), storage_options) else 1
    return Numbering.of_template(template, [first], listed=False)


def _exists(path: str, storage_options: Mapping[str, Any]) -> bool:
    if is_url(path):
        try:
            fs, fs_path = url_filesystem(path, storage_options)
            return bool(fs.exists(fs_path))
        except Exception:
            return False
    return os.path.exists(path)
