"""The fetch stage of an image sequence: a file's bytes (from the local disk tier or the share)."""

from __future__ import annotations

import dataclasses
import errno
import os
import re
from typing import Any, NamedTuple

from ._diskcache import DiskTier
from ._images import read_file
from ._remote import is_url, url_filesystem

__all__ = ["FetchFile", "Fetched", "Signature", "fetched_size", "file_signature"]

#: (size in bytes, modification time) of a file on the share.
Signature = tuple[int, Any]

# Any "user:password@" after a scheme, anywhere in the string: chained fsspec URLs
# ("simplecache::smb://user:pw@host/...") have theirs in the middle.
_PASSWORD = re.compile(r"(://[^/@:]*):[^/@]*@")


def _without_password(path: str) -> str:
    """``path`` with every URL password replaced by ``***`` (display_name only masks a leading
    one)."""
    return _PASSWORD.sub(r"\1:***@", path)


def file_signature(path: str) -> Signature:
    """The size and modification time of a local file or fsspec URL: one stat.

    Raises:
        FileNotFoundError: The file does not exist (naming it, without a URL's password).
    """
    if not is_url(path):
        status = os.stat(path)
        return (status.st_size, status.st_mtime_ns)
    fs, fs_path = url_filesystem(path)
    try:
        info = fs.info(fs_path)
    except OSError as exc:
        # smbprotocol raises its own SMBOSError, with the errno but not the subclass.
        if isinstance(exc, FileNotFoundError) or exc.errno == errno.ENOENT:
            raise FileNotFoundError(errno.ENOENT, "No such file", _without_password(path)) from exc
        raise
    size = info.get("size")
    mtime = next(
        (
            info[name]
            for name in ("mtime", "LastModified", "last_modified", "modified")
            if name in info
        ),
        None,
    )
    # A float (SMB, local) stays a float; a datetime (S3) or an HTTP date becomes its text, so
    # the signature pickles and compares the same everywhere.
    if mtime is not None and not isinstance(mtime, (int, float)):
        mtime = str(mtime)
    return (-1 if size is None else int(size), mtime)


class Fetched(NamedTuple):
    """A file's bytes and the signature the file had when they were read."""

    data: bytes
    signature: Signature | None


def fetched_size(item: Fetched) -> int:
    """The bytes a :class:`Fetched` holds, for the fetch stage's ``max_bytes``."""
    return len(item.data)


@dataclasses.dataclass(frozen=True)
class FetchFile:
    """The fetch stage's ``load``: a file's bytes, through the local-disk tier if there is one.

    A module-level class so it pickles (for a process pool).

    Attributes:
        template: For an open-ended sequence, the template the key (a number) fills in.
        disk: The local-disk tier, or ``None``.
        check_files: Stat the file before each read (one round trip): the disk tier's entries
            are then keyed by size and modification time as well, and :meth:`refresh` of the
            sequence can tell which files changed since they were read.
    """

    template: str | None
    disk: DiskTier | None
    check_files: bool

    def path(self, key: Any) -> str:
        """The path or URL of item ``key``."""
        return self.template.format(key) if self.template is not None else str(key)

    def __call__(self, key: Any) -> Fetched:
        path = self.path(key)
        signature = file_signature(path) if self.check_files else None
        if self.disk is None:
            return Fetched(read_file(path), signature)
        # The URL without its password: the key is stored on the local disk.
        disk_key = (
            (_without_password(path),)
            if signature is None
            else (
                _without_password(path),
                *signature,
            )
        )
        data = self.disk.get(disk_key)
        if data is None:
            data = read_file(path)
            # A file still being written (its size changed since the stat) is not kept.
            if signature is None or signature[0] == len(data):
                self.disk.put(disk_key, data)
        return Fetched(data, signature)
