"""What an image sequence's two stages call, and what they keep of the files they read.

The fetch stage's load reads a file and notes its signature (:class:`RecordingFetch`), the decode
stage decodes those bytes (:class:`DecodeImage`), :class:`ReadImage` does both in one call for a
loader without tiers, and :class:`Files` holds what following the files needs. Each callable is a
module-level class, so that it pickles for worker processes and clusters.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Sequence
from typing import Any, overload

from ._fetch import Fetched, FetchFile, Signature
from ._images import decode_image

__all__ = ["AsIs", "DecodeImage", "Files", "Paths", "ReadImage", "RecordingFetch", "Records"]


class Paths(Sequence[str]):
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


class Records:
    """The signature each file had when its bytes were read, by key; for :meth:`refresh`.

    Pickles as an empty record: a worker process keeps its own, which nobody reads.
    """

    def __init__(self) -> None:
        # Guards _signatures; held only to read or write the dict.
        self._lock = threading.Lock()
        self._signatures: dict[Any, Signature | None] = {}

    def __reduce__(self) -> tuple[type[Records], tuple[()]]:
        return (Records, ())

    def note(self, key: Any, signature: Signature | None) -> None:
        """Record ``signature`` as the one the file of ``key`` had when it was read."""
        with self._lock:
            self._signatures[key] = signature

    def get(self, key: Any) -> Signature | None:
        """The signature recorded for ``key``, or ``None``."""
        with self._lock:
            return self._signatures.get(key)

    def forget(self, key: Any) -> None:
        """Drop the record of ``key``, if there is one."""
        with self._lock:
            self._signatures.pop(key, None)

    def clear(self) -> None:
        """Drop every record."""
        with self._lock:
            self._signatures.clear()

    def snapshot(self) -> list[tuple[Any, Signature | None]]:
        """Every ``(key, signature)`` recorded now."""
        with self._lock:
            return list(self._signatures.items())


@dataclasses.dataclass(frozen=True)
class RecordingFetch:
    """The fetch stage's ``load``: :class:`FetchFile`, noting each file's signature."""

    fetch: FetchFile
    records: Records

    def __call__(self, key: Any) -> Fetched:
        fetched = self.fetch(key)
        self.records.note(key, fetched.signature)
        return fetched


@dataclasses.dataclass(frozen=True)
class DecodeImage:
    """The decode stage's ``decode(fetched, key)``: decode_image, naming the file."""

    fetch: FetchFile
    records: Records
    mode: str | None
    as_array: bool

    def __call__(self, fetched: Fetched, key: Any) -> Any:
        # Noted again here, in this process: the fetch may have run in a worker process.
        self.records.note(key, fetched.signature)
        return decode_image(
            fetched.data, self.fetch.path(key), mode=self.mode, as_array=self.as_array
        )


@dataclasses.dataclass(frozen=True)
class ReadImage:
    """``load(key)``: read the file and decode it in one call (:attr:`ImageSequence.reader`)."""

    fetch: FetchFile
    mode: str | None
    as_array: bool

    def __call__(self, key: Any) -> Any:
        data = self.fetch(key).data
        return decode_image(data, self.fetch.path(key), mode=self.mode, as_array=self.as_array)


@dataclasses.dataclass(frozen=True)
class Files:
    """What following the files of a sequence needs: how to read and stat them, what was read."""

    fetch: FetchFile
    records: Records
    #: The paths of a directory, glob or list source (``None`` for a template).
    paths: Paths | None
    #: Lists a directory or glob source again (``None`` for a template or a list).
    relist: Callable[[], tuple[str, ...]] | None


@dataclasses.dataclass(frozen=True)
class AsIs:
    """The decode stage's ``decode`` of a source whose fetch stage decodes (TIFF pages)."""

    def __call__(self, item: Any, key: Any) -> Any:
        return item
