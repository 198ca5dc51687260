"""Reading fsspec URLs (``http://``, ``smb://``, ``s3://`` ...): the optional ``remote`` extra."""

from __future__ import annotations

import errno
import re
import threading
from typing import Any

__all__ = ["display_name", "is_url", "read_url", "url_filesystem"]

# Guards the creation of fsspec file systems. Without it, two workers reading their first files
# from one SMB server at once race in smbclient's global session cache: one finds the connection
# the other is still setting up and opens a file on it with no credentials
# (SMBAuthenticationError "No username or password was specified"). Held only while fsspec looks up
# or creates the file system (connecting, the first time); never while reading.
_connect_lock = threading.Lock()

_PASSWORD_IN_URL = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://[^/@:]*):[^/@]*@")


def is_url(path: str) -> bool:
    """Whether ``path`` is a URL for fsspec rather than a local path."""
    return "://" in path


def display_name(path: str) -> str:
    """``path`` as error messages show it: a URL's password is replaced by ``***``."""
    return _PASSWORD_IN_URL.sub(r"\1:***@", path)


def url_filesystem(url: str) -> tuple[Any, str]:
    """The fsspec file system for ``url`` and the path within it."""
    try:
        import fsspec.core  # type: ignore[import-untyped,unused-ignore]
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError(
            f"reading {display_name(url)!r} needs fsspec: pip install 'prefetcher[remote]'"
        ) from exc
    # fsspec caches file system instances by their arguments, so this is cheap after the first call
    # and every worker thread shares one connection pool / SMB session per server. The lock makes
    # the first call for a server finish before any other thread uses that server.
    with _connect_lock:
        fs, path = fsspec.core.url_to_fs(url)
    return fs, path


def read_url(url: str) -> bytes:
    """Read a whole file through fsspec in one call (one GET over HTTP, one open + read over SMB).

    Raises:
        FileNotFoundError: The file does not exist, whatever the back end called it (smbprotocol
            raises its own ``SMBOSError`` with ``errno.ENOENT``).
    """
    fs, path = url_filesystem(url)
    try:
        data = fs.cat_file(path)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError) or exc.errno == errno.ENOENT:
            raise FileNotFoundError(errno.ENOENT, "No such file", display_name(url)) from exc
        raise
    if not isinstance(data, bytes):  # pragma: no cover - every fsspec back end returns bytes
        data = bytes(data)
    return data
