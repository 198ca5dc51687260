"""A multi-page TIFF file as a loader of its pages, each read by its own byte ranges (tifffile)."""

from __future__ import annotations

import dataclasses
import errno
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from prefetcher._loader import PrefetchingLoader
from prefetcher._remote import display_name, is_url, url_filesystem

L = TypeVar("L", bound=PrefetchingLoader[Any, Any])

if TYPE_CHECKING:
    import tifffile  # type: ignore[import-not-found,unused-ignore]

__all__ = ["TIFF_EXTENSIONS", "TiffPageKey", "is_tiff_file", "open_tiff"]

TIFF_EXTENSIONS = (".tif", ".tiff", ".btf", ".tf8", ".tf2")

# What reading or decoding a page may raise: tifffile.TiffFileError (a ValueError), OSError, and
# whatever a codec raises (zlib.error, imagecodecs' errors ...). Each is raised again as the same
# class with a message that names the file and the page, the original chained as __cause__.
_READ_ERRORS = (Exception,)


class TiffPageKey(NamedTuple):
    """A key of a TIFF loader: page ``page`` of the file ``path``."""

    path: str
    page: int

    def __str__(self) -> str:
        return f"page {self.page} of {display_name(self.path)!r}"

    def __repr__(self) -> str:
        # The loader's error notes show keys by repr: never a URL's password.
        return f"TiffPageKey(path={display_name(self.path)!r}, page={self.page})"


@dataclasses.dataclass(frozen=True)
class _Page:
    """Where a page's pixels are: what the page index says, read once when the file is opened."""

    ifd_offset: int
    dataoffsets: tuple[int, ...]
    databytecounts: tuple[int, ...]
    jpegtables: bytes | None
    # The first page with the same layout (shape, dtype, compression ...): its IFD is read once
    # per thread and decodes every page of that layout.
    keyframe: int


def is_tiff_file(path: str) -> bool:
    """Whether ``path`` names one TIFF file (by extension; a local path must be a file)."""
    if not path.lower().endswith(TIFF_EXTENSIONS):
        return False
    return is_url(path) or os.path.isfile(path)


def open_tiff(
    path: str,
    *,
    mode: str | None = None,
    as_array: bool = False,
    loader_type: Callable[..., L] = PrefetchingLoader,  # type: ignore[assignment]
    **loader_options: Any,
) -> L:
    """A loader whose item ``n`` is page ``n`` of the TIFF file ``path`` (local or fsspec URL).

    The page index (every IFD) is read once, here; afterwards each load reads only its page's
    strips or tiles, on a file handle of its own worker thread, so loads on a share overlap.

    Raises:
        ImportError: tifffile is not installed.
        FileNotFoundError: There is no such file.
        ValueError: The file is not a TIFF file (tifffile's ``TiffFileError``) or has no pages.
    """
    pages = _read_index(path)
    keys = tuple(TiffPageKey(path, n) for n in range(len(pages)))
    load = _LoadTiffPage(path, pages, mode, as_array)
    return loader_type(load, keys, **loader_options)


def _tifffile() -> Any:
    try:
        import tifffile
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError(
            "reading a multi-page TIFF file needs tifffile: pip install '.[tiff]'"
        ) from exc
    return tifffile


def _open_binary(path: str) -> Any:
    """The file open for reading: an fsspec file for a URL (ranged reads), else a local one."""
    try:
        if is_url(path):
            fs, fs_path = url_filesystem(path)
            protocols = (fs.protocol,) if isinstance(fs.protocol, str) else fs.protocol
            # Every worker opens the file: SMB's default share mode would refuse the second open.
            shared = {"share_access": "r"} if "smb" in protocols else {}
            return fs.open(fs_path, "rb", **shared)
        return open(path, "rb")
    except OSError as exc:
        if isinstance(exc, FileNotFoundError) or exc.errno == errno.ENOENT:
            raise FileNotFoundError(errno.ENOENT, "No such file", display_name(path)) from exc
        raise


def _read_index(path: str) -> tuple[_Page, ...]:
    tifffile = _tifffile()
    shown = display_name(path)
    pages: list[_Page] = []
    layouts: dict[int, int] = {}
    with _open_binary(path) as file:
        try:
            with tifffile.TiffFile(file, name=os.path.basename(path)) as tif:
                for n, page in enumerate(tif.pages):
                    if not isinstance(page, tifffile.TiffPage):  # pragma: no cover - frames off
                        raise ValueError(f"page {n} could not be read as a TIFF page")
                    pages.append(
                        _Page(
                            ifd_offset=page.offset,
                            dataoffsets=tuple(page.dataoffsets),
                            databytecounts=tuple(page.databytecounts),
                            jpegtables=page.jpegtables,
                            keyframe=layouts.setdefault(page.hash, n),
                        )
                    )
        except _READ_ERRORS as exc:
            message = f"cannot read the page index of TIFF file {shown!r}: {exc}"
            raise _renamed(exc, message) from exc
    if not pages:
        raise ValueError(f"TIFF file {shown!r} has no pages")
    return tuple(pages)


class _OpenTiff:
    """A worker thread's own handle on the file, with the keyframes it has read."""

    def __init__(self, path: str) -> None:
        tiff = _tifffile()
        self.file = _open_binary(path)
        try:
            self.tif: tifffile.TiffFile = tiff.TiffFile(self.file, name=os.path.basename(path))
        except BaseException:
            self.file.close()
            raise
        self.keyframes: dict[int, tifffile.TiffPage] = {}

    def close(self) -> None:
        self.tif.close()
        self.file.close()

    def __del__(self) -> None:
        # The thread's local storage is dropped when the worker thread ends (the loader's close()
        # shuts its executor down): close the file then rather than leave it to the collector.
        if hasattr(self, "tif"):
            self.close()


class _LoadTiffPage:
    """``load(key)``: page ``key.page``, read by its byte ranges and decoded by tifffile.

    Pickles (without its open handles), so a ``ProcessPoolExecutor`` works.
    """

    def __init__(
        self, path: str, pages: tuple[_Page, ...], mode: str | None, as_array: bool
    ) -> None:
        self._path = path
        self._pages = pages
        self._mode = mode
        self._as_array = as_array
        self._local = threading.local()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_local"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._local = threading.local()

    def __call__(self, key: TiffPageKey) -> Any:
        index = key.page
        try:
            array = self._read(index)
        except _READ_ERRORS as exc:
            # The handle may be broken (a dropped connection): the next load opens a new one.
            self._drop_handle()
            if isinstance(exc, FileNotFoundError):
                raise
            raise _renamed(exc, f"cannot read {key}: {exc}") from exc
        # Read-only: the loader's cache shares one array between every get(n) of this page.
        array.flags.writeable = False
        if self._as_array:
            return array
        return self._to_image(key, array)

    def _read(self, index: int) -> Any:
        tifffile = _tifffile()
        handle: _OpenTiff | None = getattr(self._local, "handle", None)
        if handle is None:
            handle = self._local.handle = _OpenTiff(self._path)
        page = self._pages[index]
        keyframe = handle.keyframes.get(page.keyframe)
        if keyframe is None:
            handle.tif.filehandle.seek(self._pages[page.keyframe].ifd_offset)
            keyframe = tifffile.TiffPage(handle.tif, index=page.keyframe)
            handle.keyframes[page.keyframe] = keyframe
        # A "virtual frame" from the index: tifffile reads its strips or tiles and nothing else.
        frame = tifffile.TiffFrame(
            handle.tif,
            index,
            offset=page.ifd_offset,
            keyframe=keyframe,
            dataoffsets=page.dataoffsets,
            databytecounts=page.databytecounts,
        )
        frame.jpegtables = page.jpegtables
        return frame.asarray()

    def _drop_handle(self) -> None:
        handle: _OpenTiff | None = getattr(self._local, "handle", None)
        self._local.handle = None
        if handle is not None:
            handle.close()

    def _to_image(self, key: TiffPageKey, array: Any) -> Any:
        from PIL import Image

        try:
            image = Image.fromarray(array)
            if self._mode is not None and image.mode != self._mode:
                image = image.convert(self._mode)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"{key} (shape {array.shape}, dtype {array.dtype}) cannot be a Pillow image "
                f"({exc}); open it with as_array=True"
            ) from exc
        return image


def _renamed(exc: BaseException, message: str) -> BaseException:
    if type(exc).__name__ == "TiffFileError" and not isinstance(exc, ValueError):
        # tifffile's own error is a ValueError from 2025.6 on; older releases (the last for
        # Python 3.10) derive it from Exception: promise the ValueError of the newer ones.
        return ValueError(message)
    try:
        return type(exc)(message)
    except Exception:  # an exception class with an unusual constructor: keep it as it is
        return exc
