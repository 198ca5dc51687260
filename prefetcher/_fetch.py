"""The fetch stage of an image sequence: a file's bytes (from the local disk tier or the share)."""

from __future__ import annotations

import dataclasses
import os
from typing import Any, NamedTuple

from ._credentials import Secrets
from ._diskcache import DiskTier
from ._images import read_file
from ._remote import is_url, read_url, stat_url
from ._template import Template

__all__ = ["FetchFile", "Fetched", "Signature", "fetched_size", "file_signature"]

#: (size in bytes, modification time) of a file on the share.
Signature = tuple[int, Any]


def file_signature(
    path: str, real: str | None = None, storage_options: dict[str, Any] | None = None
) -> Signature:
    """The size and modification time of a local file or fsspec URL: one stat.

    Args:
        path: The path, or the public URL (without its password): what messages name.
        real: The URL to stat, password and all, when it differs from ``path``.
        storage_options: Options for the URL's file system.

    Raises:
        FileNotFoundError: The file does not exist (naming ``path``).
        PermissionError, ConnectionError, OSError: A URL's share failed (naming ``path``).
    """
    if not is_url(path):
        status = os.stat(path)
        return (status.st_size, status.st_mtime_ns)
    info = stat_url(real or path, storage_options, name=path)
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

    Keys are paths, or public URLs (without their passwords), or for an open-ended sequence the
    numbers a public template fills in; ``secrets`` maps each public URL back to the one to read.
    A module-level class so it pickles (for a process pool).

    Attributes:
        template: For an open-ended sequence, the public template the key (a number) fills in.
        disk: The local-disk tier, or ``None``.
        check_files: Stat the file before each read (one round trip): the disk tier's entries
            are then keyed by size and modification time as well, and ``refresh()`` of the
            sequence can tell which files changed since they were read.
        secrets: The URLs as given and the ``storage_options``.
        real: The template as given, password and all, when it differs from ``template``.
    """

    template: Template | None
    disk: DiskTier | None
    check_files: bool
    secrets: Secrets = dataclasses.field(default_factory=Secrets)
    real: Template | None = None

    def path(self, key: Any) -> str:
        """The path or public URL of item ``key``: what messages and the disk tier name."""
        return self.template.format(key) if self.template is not None else str(key)

    def signature(self, key: Any) -> Signature:
        """The file's signature now (one stat); see :func:`file_signature`."""
        path = self.path(key)
        if not is_url(path):
            return file_signature(path)
        return file_signature(path, self._real(key, path), self.secrets.storage_options)

    def read(self, key: Any) -> bytes:
        """The file's bytes, read from the share in one call."""
        path = self.path(key)
        if not is_url(path):
            return read_file(path)
        # Read the URL as given; name the public one.
        return read_url(self._real(key, path), self.secrets.storage_options, name=path)

    def _real(self, key: Any, path: str) -> str:
        if self.template is not None:
            return path if self.real is None else self.real.format(key)
        return self.secrets.url(path)

    def __call__(self, key: Any) -> Fetched:
        signature = self.signature(key) if self.check_files else None
        if self.disk is None:
            return Fetched(self.read(key), signature)
        # The public path: the key is stored on the local disk, and it holds no password.
        path = self.path(key)
        disk_key = (path,) if signature is None else (path, *signature)
        data = self.disk.get(disk_key)
        if data is None:
            data = self.read(key)
            # A file still being written (its size changed since the stat) is not kept.
            if signature is None or signature[0] == len(data):
                self.disk.put(disk_key, data)
        return Fetched(data, signature)
