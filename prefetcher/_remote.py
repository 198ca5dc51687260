"""Reading fsspec URLs (``http://``, ``smb://``, ``s3://`` ...): the optional ``remote`` extra.

Every error leaves here as an ``OSError`` whose message names the file (its URL masked) and says
what happened: ``FileNotFoundError``, ``PermissionError`` (wrong password, access denied), or
``ConnectionError`` naming the server's ``host:port``. The back end's own exception is not chained
(its message may hold the password); its type and masked message are in the new one's message.
"""

from __future__ import annotations

import errno
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from prefetcher._credentials import mask, mask_logs_of, secrets_of
from prefetcher._smb import smb_server
from prefetcher._smb_url import is_smb_url

__all__ = [
    "display_name",
    "glob_url",
    "is_url",
    "list_url",
    "read_url",
    "stat_url",
    "url_filesystem",
]

T = TypeVar("T")

# Guards the creation of fsspec file systems other than SMB (fsspec caches them per thread and
# arguments; two threads creating the first one for a server at once would both connect).
_connect_lock = threading.Lock()

_CONNECTION_ERRNOS = {
    errno.ECONNREFUSED,
    errno.ECONNRESET,
    errno.ECONNABORTED,
    errno.EPIPE,
    errno.ETIMEDOUT,
    errno.EHOSTUNREACH,
    errno.ENETUNREACH,
}


def is_url(path: str) -> bool:
    """Whether ``path`` is a URL for fsspec rather than a local path."""
    return "://" in path


def display_name(path: str, secrets: Iterable[str] = ()) -> str:
    """``path`` as messages show it: passwords and secret query values replaced by ``***``."""
    return mask(path, secrets)


def url_filesystem(url: str, storage_options: Mapping[str, Any] | None = None) -> tuple[Any, str]:
    """The fsspec file system for ``url`` and the path within it.

    A plain ``smb://`` URL gets a file system that passes its credentials on every call (see
    :mod:`prefetcher._smb`); errors are the back end's own here: :func:`read_url`,
    :func:`list_url` and :func:`glob_url` translate them.
    """
    if is_smb_url(url):
        _require_fsspec(url)
        server, path = smb_server(url, storage_options)
        return server.fs, path
    fsspec_core = _require_fsspec(url)
    # The back ends that log the URLs they fetch (with the password and token) at DEBUG.
    mask_logs_of("fsspec", "fsspec.http", "fsspec.cached", "fsspec.reference")
    # fsspec caches file system instances by their arguments, so this is cheap after the first call.
    with _connect_lock:
        fs, path = fsspec_core.url_to_fs(url, **dict(storage_options or {}))
    return fs, path


def read_url(
    url: str, storage_options: Mapping[str, Any] | None = None, *, name: str | None = None
) -> bytes:
    """Read a whole file through fsspec in one call (one GET over HTTP, one open + read over SMB).

    ``name`` is what messages call the file (default: ``url`` masked).

    Raises:
        FileNotFoundError: The file does not exist, whatever the back end called it.
        PermissionError: Wrong user name or password, or access denied.
        ConnectionError: The server cannot be reached, or the connection broke.
        OSError: Another error of the share.
    """

    def cat(fs: Any, path: str) -> bytes:
        data = fs.cat_file(path)
        return data if isinstance(data, bytes) else bytes(data)

    return _call(url, storage_options, cat, name=name)


def stat_url(
    url: str, storage_options: Mapping[str, Any] | None = None, *, name: str | None = None
) -> dict[str, Any]:
    """The back end's information on a file (``size``, a modification time ...): one stat.

    Raises:
        FileNotFoundError, PermissionError, ConnectionError, OSError: as :func:`read_url`.
    """

    def info(fs: Any, path: str) -> dict[str, Any]:
        try:
            return dict(fs.info(path))
        except FileNotFoundError as exc:
            # fsspec's HTTP back end turns any failure of its HEAD and GET (a refused
            # connection too) into FileNotFoundError, with the real error as the cause.
            cause = exc.__cause__
            if (
                isinstance(cause, Exception)
                and not isinstance(cause, FileNotFoundError)
                and getattr(cause, "status", None) not in (404, 410)
            ):
                raise cause from None
            raise

    return _call(url, storage_options, info, name=name)


def list_url(
    directory: str, storage_options: Mapping[str, Any] | None = None, *, name: str | None = None
) -> list[str]:
    """The names in a directory (one listing, no stat per file).

    Raises:
        FileNotFoundError: No such directory.
        NotADirectoryError: ``directory`` is a file.
        PermissionError, ConnectionError, OSError: as :func:`read_url`.
    """

    def ls(fs: Any, path: str) -> list[str]:
        # detail=False: one listing; asking for details would cost a stat per file on SMB.
        listed = fs.ls(path, detail=False)
        return [str(entry).rstrip("/").rsplit("/", 1)[-1] for entry in listed]

    return _call(directory, storage_options, ls, missing="No such directory", name=name)


def glob_url(
    pattern: str,
    storage_options: Mapping[str, Any] | None = None,
    *,
    magic_at: int,
    name: str | None = None,
) -> list[str]:
    """URLs matching ``pattern``, written on the pattern's own prefix (user, host, share).

    ``magic_at`` is where the first wildcard is in ``pattern``.
    """
    # fsspec returns paths without the URL's scheme, user and host: graft each match onto the
    # URL's own prefix (everything before the first directory with a wildcard).
    url_dir = pattern[: pattern.rfind("/", 0, magic_at)]

    def glob(fs: Any, fs_pattern: str) -> list[str]:
        fs_dir = fs._strip_protocol(url_dir).rstrip("/")
        matches = []
        for match in fs.glob(fs_pattern):
            match = str(match)
            if not match.startswith(fs_dir):  # pragma: no cover - a back end we do not know
                raise ValueError(f"cannot map a glob match back onto {mask(url_dir)!r}")
            matches.append(url_dir + match[len(fs_dir) :])
        return matches

    return _call(pattern, storage_options, glob, name=name)


def _require_fsspec(url: str) -> Any:
    try:
        import fsspec.core  # type: ignore[import-untyped,unused-ignore]
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError(f"reading {mask(url)!r} needs fsspec: pip install '.[remote]'") from exc
    return fsspec.core


def _call(
    url: str,
    storage_options: Mapping[str, Any] | None,
    operation: Callable[[Any, str], T],
    *,
    missing: str = "No such file",
    name: str | None = None,
) -> T:
    secrets = secrets_of(url, storage_options)
    name = mask(url if name is None else name, secrets)
    if is_smb_url(url):
        _require_fsspec(url)
        server, path = smb_server(url, storage_options)
        try:
            return server.call(lambda fs: operation(fs, path), name)
        except FileNotFoundError as exc:
            if exc.strerror == missing:
                raise
            error: Exception = FileNotFoundError(errno.ENOENT, missing, name)
        raise error
    try:
        # Inside: fsspec may connect while it builds the file system (chained SMB URLs do).
        fs, path = url_filesystem(url, storage_options)
        return operation(fs, path)
    except ImportError:
        raise
    except Exception as exc:
        error = _translate(exc, name, url, secrets, missing)
    # Raised outside the except clause: the back end's exception may hold the password.
    raise error


def _server_address(url: str) -> str:
    """``host:port`` of the (innermost) link of ``url`` that names a server."""
    link = next((part for part in reversed(url.split("::")) if "://" in part), url)
    try:
        parts = urllib.parse.urlsplit(link)
        port = parts.port
    except ValueError:
        return "the server"
    default = {"http": 80, "https": 443, "ftp": 21, "sftp": 22, "smb": 445}.get(parts.scheme)
    port = port or default
    return f"{parts.hostname}:{port}" if port else str(parts.hostname)


def _translate(
    exc: Exception, name: str, url: str, secrets: Iterable[str], missing: str
) -> Exception:
    detail = mask(f"{type(exc).__name__}: {exc}", secrets)
    where = _server_address(url)
    status = getattr(exc, "status", None) or getattr(exc, "code", None)
    number = exc.errno if isinstance(exc, OSError) else None
    if isinstance(exc, FileNotFoundError) or number == errno.ENOENT or status in (404, 410):
        return FileNotFoundError(errno.ENOENT, missing, name)
    if isinstance(exc, (NotADirectoryError, IsADirectoryError)) or number in (
        errno.ENOTDIR,
        errno.EISDIR,
    ):
        return OSError(number, exc.strerror if isinstance(exc, OSError) else detail, name)
    if isinstance(exc, PermissionError) or status in (401, 403):
        return PermissionError(errno.EACCES, f"access denied by {where} ({detail})", name)
    if (
        isinstance(exc, (ConnectionError, TimeoutError))
        or number in _CONNECTION_ERRNOS
        or (
            # aiohttp's connection errors are OSErrors without an errno of their own.
            type(exc).__module__.startswith("aiohttp") and "Connect" in type(exc).__name__
        )
    ):
        return ConnectionError(f"cannot read {name}: connection to {where} failed ({detail})")
    if isinstance(exc, (OSError, ValueError)) or type(exc).__module__.startswith(
        ("aiohttp", "fsspec", "botocore", "smbprotocol")
    ):
        return OSError(errno.EIO, f"{where}: {detail}", name)
    return exc  # not the back end's: a bug, raised as it is
