"""An image sequence in tiers: raw bytes (memory, optionally local disk) behind decoded frames.

:class:`ImageSequence` knows its files (their numbering) and follows them as they change or
arrive; :mod:`prefetcher._image_open` builds one, :mod:`prefetcher._image_stages` holds what its
stages call.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Generic, TypeVar

from ._diskcache import DiskTier
from ._errors import LoaderClosedError
from ._fetch import Signature
from ._follow import POLL_INTERVAL, follow
from ._image_stages import Files
from ._loader import PrefetchingLoader
from ._numbering import Numbering, template_numbering
from ._template import Template
from ._tiers import TieredLoader, TieredStats

__all__ = ["ImageSequence"]

K = TypeVar("K")
T = TypeVar("T")


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
        files: Files | None = None,
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
            numbering = template_numbering(self._template, real, storage_options)
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
