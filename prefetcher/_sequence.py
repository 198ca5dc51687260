"""A numbered sequence of image files (directory, glob, template or list) as a PrefetchingLoader."""

from __future__ import annotations

import dataclasses
import errno
import glob
import inspect
import os
import re
import string
from collections.abc import Mapping, Sequence
from typing import Any, Literal, overload

import numpy.typing as npt
from PIL import Image

from prefetcher._credentials import Secrets
from prefetcher._images import decode_image, load_image
from prefetcher._loader import PrefetchingLoader
from prefetcher._remote import display_name, glob_url, is_url, list_url, read_url
from prefetcher._tiff import is_tiff_file, open_tiff

__all__ = ["natural_sort_key", "open_sequence"]

_DIGITS = re.compile(r"(\d+)")

# What open_sequence sets for a URL source unless the caller does: a network share has transient
# failures (a dropped connection, a server restart) worth a few tries, and loads that can hang.
# Only connection errors and hangs are retried: a corrupt image is not transient (Pillow's
# UnidentifiedImageError is an OSError), nor is a missing file or a wrong password.
_NETWORK_DEFAULTS: Mapping[str, Any] = {
    "retries": 3,
    "backoff": 0.2,
    "retry_on": (ConnectionError, TimeoutError),
    "load_timeout": 30.0,
}
_GLOB_MAGIC = re.compile(r"[*?[]")


def natural_sort_key(path: str) -> tuple[tuple[str | int, ...], str]:
    """Sort key that orders numbers by value: ``2.png`` before ``10.png``, ``img9`` first.

    Text compares case-insensitively; the path itself breaks ties (``1.png`` before ``01.png``).
    """
    # re.split with a group alternates text and digits, so position i always holds the same kind
    # of value in every key, and tuples compare str with str and int with int only.
    parts = _DIGITS.split(path)
    return (
        tuple(int(part) if i % 2 else part.casefold() for i, part in enumerate(parts)),
        path,
    )


def _load(path: str, real: str, secrets: Secrets, mode: str | None, as_array: bool) -> Any:
    if not is_url(path):
        return load_image(path, mode=mode, as_array=as_array)
    # ``path`` is the public URL (no password): read the URL as given, name the public one.
    data = read_url(real, secrets.storage_options, name=path)
    return decode_image(data, path, mode=mode, as_array=as_array)


@dataclasses.dataclass(frozen=True)
class _LoadImage:
    """``load(path)`` for a loader over known paths; a module-level class so it pickles."""

    mode: str | None
    as_array: bool
    secrets: Secrets = dataclasses.field(default_factory=Secrets)

    def __call__(self, path: str) -> Any:
        return _load(path, self.secrets.url(path), self.secrets, self.mode, self.as_array)


@dataclasses.dataclass(frozen=True)
class _LoadNumbered:
    """``load(n)`` for a numbered template: file ``template.format(n)``; pickles too."""

    template: str  # the public template (no password)
    mode: str | None
    as_array: bool
    secrets: Secrets = dataclasses.field(default_factory=Secrets)

    def __call__(self, n: int) -> Any:
        path = self.template.format(n)
        real = self.secrets.url(self.template).format(n)
        return _load(path, real, self.secrets, self.mode, self.as_array)


_Source = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


@overload
def open_sequence(
    source: _Source,
    *,
    mode: str | None = ...,
    as_array: Literal[False] = ...,
    storage_options: Mapping[str, Any] | None = ...,
    **loader_options: Any,
) -> PrefetchingLoader[Any, Image.Image]: ...
@overload
def open_sequence(
    source: _Source,
    *,
    mode: str | None = ...,
    as_array: Literal[True],
    storage_options: Mapping[str, Any] | None = ...,
    **loader_options: Any,
) -> PrefetchingLoader[Any, npt.NDArray[Any]]: ...
@overload
def open_sequence(
    source: _Source,
    *,
    mode: str | None = ...,
    as_array: bool = ...,
    storage_options: Mapping[str, Any] | None = ...,
    **loader_options: Any,
) -> PrefetchingLoader[Any, Image.Image | npt.NDArray[Any]]: ...
def open_sequence(
    source: _Source,
    *,
    mode: str | None = None,
    as_array: bool = False,
    storage_options: Mapping[str, Any] | None = None,
    **loader_options: Any,
) -> PrefetchingLoader[Any, Any]:
    """Open a numbered sequence of images as a :class:`PrefetchingLoader` of decoded images.

    ``source`` may be:

    - a directory: its image files (extensions Pillow can open; dot files skipped), in natural
      order (``2.png`` before ``10.png``); ``get(i)`` is the i-th file;
    - a glob pattern (``"share/frame_*.tif"``, ``**`` recurses): every match, in natural order;
    - a numbered template (``"share/{}.png"``, ``"share/frame_{:05d}.tif"``): open-ended,
      ``get(n)`` is file ``template.format(n)``; a file that does not exist (yet) raises
      ``FileNotFoundError`` at ``get(n)`` and is looked for again at the next ``get(n)``;
    - a sequence of paths, in the given order;
    - one TIFF file (``"run7.tif"``, needs the ``tiff`` extra): item ``n`` is page ``n``.

    A string containing ``"://"`` is an fsspec URL (``http://``, ``smb://user:pw@host:port/share``,
    ``s3://``, chained ``simplecache::smb://...``); needs the ``remote`` extra. Directories and
    globs need a back end that can list (SMB, local, S3, and HTTP servers that serve an index page);
    templates and lists work with any. The password (and any ``token``, ``sig``, ``key`` ... query
    value) is taken out of the URL at once: ``loader.keys``, messages and logs show the URL without
    it. It may be given in ``storage_options`` instead. A URL source gets defaults for a network
    share, each unless the caller passes it: ``retries=3``, ``backoff=0.2``,
    ``retry_on=(ConnectionError, TimeoutError)`` and ``load_timeout=30.0`` (see
    ``docs/reliability.rst``); a local path keeps the loader's own defaults.

    Every item is loaded by :func:`load_image` in a worker (one read, complete decode). The load
    callable pickles, so ``executor=ProcessPoolExecutor()`` works.

    Args:
        source: Directory, glob pattern, numbered template, or sequence of paths (or URLs).
        mode: Pillow mode to convert every image to, or ``None``.
        as_array: Items are read-only numpy arrays instead of Pillow images.
        storage_options: Options for the fsspec file system of a URL source (``username``,
            ``password``, ...; keyed by protocol for a chained URL, as in fsspec).
        **loader_options: Passed to :class:`PrefetchingLoader` (``cache_size``, ``ahead``, ...).

    Returns:
        The loader; ``loader.keys`` holds the resolved paths (``None`` for a template).

    Raises:
        FileNotFoundError: The directory does not exist or holds no image files, or the glob
            pattern matches nothing. The message names the directory or pattern.
        ValueError: ``source`` is an existing file rather than a directory, an empty sequence, or a
            template whose field does not take one number.
        TypeError: ``source`` is none of the above (bytes, for instance).
        PermissionError: Listing a URL directory or glob: wrong user name or password.
        ConnectionError: Listing a URL directory or glob: the server cannot be reached.

    A URL item that cannot be read raises, at ``get(n)``, ``FileNotFoundError``,
    ``PermissionError`` (wrong password; not worth a retry) or ``ConnectionError`` naming the file
    and the server's ``host:port``. After a lost connection (a server restart, a cut link) the next
    read connects afresh.

    Example:
        >>> with open_sequence("share/{}.png", mode="L") as loader:  # doctest: +SKIP
        ...     img = loader.get(1)
    """
    if isinstance(source, (bytes, bytearray)):
        raise TypeError(f"source must be a str path, not {type(source).__name__}")
    secrets = Secrets(storage_options)
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not isinstance(path, str):
            raise TypeError(f"source must be a str path, not {type(path).__name__}")
        # A URL's password and tokens stay in ``secrets``; everything else sees the public URL.
        public = secrets.add(path) if is_url(path) else path
        if _is_template(public):
            numbered = _LoadNumbered(public, mode, as_array, secrets)
            return PrefetchingLoader(numbered, None, **_options_for(is_url(public), loader_options))
        keys: tuple[str, ...]
        # A local directory whose name has a "[" is a directory, not a pattern.
        is_glob = bool(_GLOB_MAGIC.search(_without_query(public))) and (
            is_url(path) or not os.path.exists(path)
        )
        if not is_glob and is_tiff_file(path):  # a multi-page TIFF: item n is page n
            options = _options_for(is_url(public), loader_options)
            return open_tiff(path, mode=mode, as_array=as_array, **options)
        keys = _glob(path, secrets) if is_glob else _list_directory(path, secrets)
    elif isinstance(source, Sequence):
        keys = tuple(_public(_as_path(item), secrets) for item in source)
        if not keys:
            raise ValueError("source is an empty sequence of paths")
    else:
        raise TypeError(
            "source must be a directory, glob pattern, numbered template or sequence of paths, "
            f"not {type(source).__name__}"
        )
    load = _LoadImage(mode, as_array, secrets)
    return PrefetchingLoader(load, keys, **_options_for(any(map(is_url, keys)), loader_options))


def _public(path: str, secrets: Secrets) -> str:
    return secrets.add(path) if is_url(path) else path


def _without_query(path: str) -> str:
    # Only web URLs have a query: in smb:// and local paths "?" is a glob wildcard.
    return path.split("?", 1)[0] if path[:4].lower() == "http" else path


def _options_for(remote: bool, loader_options: Mapping[str, Any]) -> dict[str, Any]:
    """``loader_options`` plus the network defaults for a URL source (the caller's win)."""
    if not remote:
        return dict(loader_options)
    return {**_network_defaults(), **loader_options}


def _network_defaults() -> dict[str, Any]:
    """The part of :data:`_NETWORK_DEFAULTS` this version of the loader accepts."""
    accepted = inspect.signature(PrefetchingLoader).parameters
    return {name: value for name, value in _NETWORK_DEFAULTS.items() if name in accepted}


def _as_path(item: object) -> str:
    if isinstance(item, (str, os.PathLike)):
        path = os.fspath(item)
        if isinstance(path, str):
            return path
    raise TypeError(f"every path in source must be a str or os.PathLike, got {item!r}")


def _is_template(path: str) -> bool:
    """Whether ``path`` has a ``str.format`` field; if so, check that it takes one number."""
    try:
        fields = [field for _, field, _, _ in string.Formatter().parse(path) if field is not None]
    except ValueError:  # a lone "{" or "}": a literal brace in a file name, not a template
        return False
    if not fields:
        return False
    try:
        first, second = path.format(0), path.format(1)
    except (IndexError, KeyError, ValueError) as exc:
        raise ValueError(
            f"template {display_name(path)!r} must have one field that takes the file number, "
            f"such as {{}} or {{:05d}} ({type(exc).__name__}: {exc})"
        ) from None
    if first == second:
        raise ValueError(f"template {display_name(path)!r} gives the same name for every number")
    return True


def _image_extensions() -> frozenset[str]:
    """File extensions of the formats Pillow can open (not the save-only ones, such as PDF)."""
    Image.init()
    return frozenset(ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN)


def _is_image_name(name: str, extensions: frozenset[str]) -> bool:
    # Skip dot files: macOS leaves "._1.png" resource forks on SMB shares.
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in extensions


def _not_found(what: str, name: str) -> FileNotFoundError:
    return FileNotFoundError(errno.ENOENT, what, display_name(name))


def _list_directory(directory: str, secrets: Secrets) -> tuple[str, ...]:
    extensions = _image_extensions()
    if is_url(directory):
        public = secrets.add(directory)
        error: ValueError | None = None
        try:
            names = list_url(directory, secrets.storage_options, name=public)
        except NotADirectoryError:
            error = _is_a_file(public)
        else:
            base = directory.rstrip("/")
            paths = [
                secrets.add(f"{base}/{name}") for name in names if _is_image_name(name, extensions)
            ]
        if error is not None:
            raise error
        directory = public
    else:
        try:
            with os.scandir(directory) as entries:
                # DirEntry.is_file() comes with the listing on most systems: no stat per file.
                paths = [
                    os.path.join(directory, entry.name)
                    for entry in entries
                    if _is_image_name(entry.name, extensions) and entry.is_file()
                ]
        except FileNotFoundError:
            raise _not_found("No such directory", directory) from None
        except NotADirectoryError:
            raise _is_a_file(directory) from None
    if not paths:
        raise _not_found("No image files in directory", directory)
    return tuple(sorted(paths, key=natural_sort_key))


def _is_a_file(path: str) -> ValueError:
    return ValueError(
        f"source {display_name(path)!r} is a file, not a directory, glob pattern or template; "
        "pass [path] for a sequence of one file"
    )


def _glob(pattern: str, secrets: Secrets) -> tuple[str, ...]:
    if is_url(pattern):
        public = secrets.add(pattern)
        # The first wildcard after the user info (a password may hold "*" or "?").
        authority_end = pattern.find("/", pattern.find("://") + 3)
        magic_at = _GLOB_MAGIC.search(pattern, max(authority_end, 0))
        assert magic_at is not None
        found = glob_url(pattern, secrets.storage_options, magic_at=magic_at.start(), name=public)
        matches = [secrets.add(match) for match in found]
        pattern = public
    else:
        matches = glob.glob(pattern, recursive=True)
    if not matches:
        raise _not_found("No files match the glob pattern", pattern)
    return tuple(sorted(matches, key=natural_sort_key))
