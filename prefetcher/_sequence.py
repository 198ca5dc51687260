"""A numbered sequence of image files (directory, glob, template or list) as a PrefetchingLoader."""

from __future__ import annotations

import errno
import glob
import os
import re
from collections.abc import Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, overload

from prefetcher._credentials import Secrets
from prefetcher._image_open import open_files, open_pages
from prefetcher._image_sequence import ImageSequence
from prefetcher._remote import display_name, glob_url, is_url, list_url
from prefetcher._template import Template, parse_template, printf_hint
from prefetcher._tiff import is_tiff_file, open_tiff

if TYPE_CHECKING:
    # Only for the annotations: importing prefetcher must not import numpy or Pillow.
    import numpy.typing as npt
    from PIL import Image

__all__ = ["ImageSequence", "natural_sort_key", "open_sequence"]

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


_Source = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


@overload
def open_sequence(
    source: _Source,
    *,
    mode: str | None = ...,
    as_array: Literal[False] = ...,
    storage_options: Mapping[str, Any] | None = ...,
    **loader_options: Any,
) -> ImageSequence[Any, Image.Image]: ...
@overload
def open_sequence(
    source: _Source,
    *,
    mode: str | None = ...,
    as_array: Literal[True],
    storage_options: Mapping[str, Any] | None = ...,
    **loader_options: Any,
) -> ImageSequence[Any, npt.NDArray[Any]]: ...
@overload
def open_sequence(
    source: _Source,
    *,
    mode: str | None = ...,
    as_array: bool = ...,
    storage_options: Mapping[str, Any] | None = ...,
    **loader_options: Any,
) -> ImageSequence[Any, Image.Image | npt.NDArray[Any]]: ...
def open_sequence(
    source: _Source,
    *,
    mode: str | None = None,
    as_array: bool = False,
    storage_options: Mapping[str, Any] | None = None,
    **loader_options: Any,
) -> ImageSequence[Any, Any]:
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

    Every item is read in one call and decoded completely in a worker, as :func:`load_image`
    does, in two tiers (docs/tiers.rst): the file's bytes, then the decoded frame. The reads
    pickle, so ``executor=ProcessPoolExecutor()`` runs them in processes; decoding stays in
    threads. ``load_timeout``, ``retries`` and the other reliability options are the decode
    stage's (each attempt reads the file again); ``load_timeout`` bounds each read too.

    Args:
        source: Directory, glob pattern, numbered template, or sequence of paths (or URLs).
        mode: Pillow mode to convert every image to, or ``None``.
        as_array: Items are read-only numpy arrays instead of Pillow images.
        storage_options: Options for the fsspec file system of a URL source (``username``,
            ``password``, ...; keyed by protocol for a chained URL, as in fsspec).
        **loader_options: Passed to :class:`PrefetchingLoader` (``cache_size``, ``ahead``, ...),
            except the tiers' own (docs/tiers.rst): ``raw_bytes`` (bytes of files kept in
            memory, default 256 MB, 0 disables), ``raw_ahead`` (their read-ahead beyond the
            decoded window; default 8, or 0 with ``ahead=0``), ``disk_cache`` /
            ``disk_cache_bytes`` (a local directory that keeps the files across runs; not for a
            multi-page TIFF), ``check_files`` (one stat per read, for ``refresh`` and
            ``iter_follow`` and to key the disk tier; default True for local files and with a
            ``disk_cache``, False for a URL source without one, whose read is one round trip).

    Returns:
        An :class:`ImageSequence`; ``loader.keys`` holds the resolved paths (``None`` for a
        template).

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
        template = parse_template(public)
        if template is not None:
            real = None if public == path else _real_template(path, public)
            return open_files(
                keys=None,
                template=template,
                relist=None,
                mode=mode,
                as_array=as_array,
                secrets=secrets,
                real=real,
                options=_options_for(is_url(public), loader_options),
            )
        keys: tuple[str, ...]
        # A local directory whose name has a "[" is a directory, not a pattern.
        is_glob = bool(_GLOB_MAGIC.search(_without_query(public))) and (
            is_url(path) or not os.path.exists(path)
        )
        if not is_glob and is_tiff_file(path):  # a multi-page TIFF: item n is page n
            options = _options_for(is_url(public), loader_options)
            return open_tiff(path, mode=mode, as_array=as_array, loader_type=open_pages, **options)
        relist = partial(_glob if is_glob else _list_directory, path, secrets)
        keys = relist()
    elif isinstance(source, Sequence):
        relist = None
        keys = tuple(_public(_as_path(item), secrets) for item in source)
        if not keys:
            raise ValueError("source is an empty sequence of paths")
    else:
        raise TypeError(
            "source must be a directory, glob pattern, numbered template or sequence of paths, "
            f"not {type(source).__name__}"
        )
    return open_files(
        keys=keys,
        template=None,
        relist=relist,
        mode=mode,
        as_array=as_array,
        secrets=secrets,
        real=None,
        options=_options_for(any(map(is_url, keys)), loader_options),
    )


def _real_template(path: str, public: str) -> Template:
    try:
        real = parse_template(path)
    except ValueError:
        real = None
    if real is None:
        # A brace in the password or a token makes a second field: the public template is fine.
        raise ValueError(
            f"the credentials in template {public!r} contain a brace; "
            "give them in storage_options instead"
        )
    return real


def _public(path: str, secrets: Secrets) -> str:
    return secrets.add(path) if is_url(path) else path


def _without_query(path: str) -> str:
    # Only web URLs have a query: in smb:// and local paths "?" is a glob wildcard.
    return path.split("?", 1)[0] if path[:4].lower() == "http" else path


def _options_for(remote: bool, loader_options: Mapping[str, Any]) -> dict[str, Any]:
    """``loader_options`` plus the network defaults for a URL source (the caller's win)."""
    if not remote:
        return dict(loader_options)
    return {**_NETWORK_DEFAULTS, **loader_options}


def _as_path(item: object) -> str:
    if isinstance(item, (str, os.PathLike)):
        path = os.fspath(item)
        if isinstance(path, str):
            return path
    raise TypeError(f"every path in source must be a str or os.PathLike, got {item!r}")


def _image_extensions() -> frozenset[str]:
    """File extensions of the formats Pillow can open (not the save-only ones, such as PDF)."""
    from PIL import Image

    Image.init()
    return frozenset(ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN)


def _is_image_name(name: str, extensions: frozenset[str]) -> bool:
    # Skip dot files: macOS leaves "._1.png" resource forks on SMB shares.
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in extensions


def _not_found(what: str, name: str) -> FileNotFoundError:
    hint = printf_hint(name)
    if hint is not None:
        what = f"{what} ({hint})"
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


def _glob_root(pattern: str) -> str:
    """The directory a glob pattern starts from: where a user should look when nothing matched."""
    magic_at = _GLOB_MAGIC.search(pattern)
    head = pattern if magic_at is None else pattern[: magic_at.start()]
    if is_url(pattern):
        return display_name(head.rsplit("/", 1)[0] + "/")
    directory = os.path.abspath(os.path.dirname(head) or ".")
    return directory if os.path.isdir(directory) else f"{directory}, which does not exist"


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
        raise _not_found(
            f"No files match the glob pattern (looked in {_glob_root(pattern)})", pattern
        )
    return tuple(sorted(matches, key=natural_sort_key))
