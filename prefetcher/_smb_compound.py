"""A whole SMB file in one round trip: CREATE, READ and CLOSE sent as one compound request."""

from __future__ import annotations

from typing import Any

__all__ = ["ShortOfCredits", "read_in_one_round_trip"]

# A READ costs one credit per 64 KiB it asks for (MS-SMB2 3.1.5.2).
_CREDIT_UNIT = 65536
_CREDIT_SHARE = 4


class ShortOfCredits(Exception):
    """The connection has too few SMB credits left for a request now (others hold them)."""


def read_in_one_round_trip(fs: Any, path: str) -> bytes | None:
    """The whole file at ``path``, read with CREATE, READ and CLOSE sent as one related compound
    request (one round trip instead of three, as Windows clients read small files), or ``None``
    when that cannot be done (the file is larger than one read, a DFS link): the caller then
    reads it the usual way.

    Raises:
        SMBOSError: The server refused the CREATE (no such file, access denied ...).
        ShortOfCredits: Too few credits for even 64 KiB now: :meth:`SmbServer.call` waits for
            other reads to end and tries again.
    """
    from fsspec.implementations.smb import _as_unc_path
    from smbclient._pool import get_smb_tree
    from smbprotocol.exceptions import (  # type: ignore[import-untyped,unused-ignore]
        PathNotCovered,
        SMBException,
        SMBOSError,
    )
    from smbprotocol.open import (
        CreateDisposition,
        CreateOptions,
        FileAttributes,
        FilePipePrinterAccessMask,
        ImpersonationLevel,
        Open,
        ShareAccess,
    )

    unc = _as_unc_path(fs.host, path)
    tree, file_path = get_smb_tree(unc, port=fs.port, **fs._session)
    connection = tree.session.connection
    window = connection.sequence_window
    # CREATE and CLOSE take a credit each, the READ one per 64 KiB it asks for. Take a quarter of
    # the credits at most, so that the other workers' reads on this connection find theirs (a
    # fresh connection has 64; the server grants more with every answer).
    credits = (window["high"] - window["low"] - 2) // _CREDIT_SHARE
    length = min(connection.max_read_size, credits * _CREDIT_UNIT)
    if tree.is_dfs_share:
        return None
    if length < _CREDIT_UNIT:
        raise ShortOfCredits
    handle = Open(tree, file_path)
    messages = [
        handle.create(
            ImpersonationLevel.Impersonation,
            FilePipePrinterAccessMask.FILE_READ_DATA
            | FilePipePrinterAccessMask.FILE_READ_ATTRIBUTES
            | FilePipePrinterAccessMask.FILE_READ_EA,
            FileAttributes.FILE_ATTRIBUTE_NORMAL,
            # Never in the way of a program still writing the file (live acquisition).
            ShareAccess.FILE_SHARE_READ
            | ShareAccess.FILE_SHARE_WRITE
            | ShareAccess.FILE_SHARE_DELETE,
            CreateDisposition.FILE_OPEN,
            CreateOptions.FILE_NON_DIRECTORY_FILE,
            send=False,
        ),
        # Related operations: the READ and the CLOSE use the file the CREATE opens.
        handle.read(0, length, send=False),
        handle.close(send=False),
    ]
    try:
        requests = connection.send_compound(
            [message for message, _ in messages],
            tree.session.session_id,
            tree.tree_connect_id,
            related=True,
        )
    except SMBException as exc:
        # smbprotocol checks the credits again as it sends: other threads may have taken them.
        if "credits" in str(exc):
            raise ShortOfCredits from None
        raise
    data, failures = _receive_all(messages, requests)
    if failures:
        if isinstance(failures[0], PathNotCovered):
            return None
        raise SMBOSError(failures[0].status, unc)
    if handle.end_of_file is None or len(data) < handle.end_of_file:
        return None  # larger than one read: the usual way reads it in several
    return data


def _receive_all(messages: list[Any], requests: list[Any]) -> tuple[bytes, list[Any]]:
    """The READ's data and the failures of a compound CREATE, READ, CLOSE.

    Every response is received, even after a failure: smbprotocol keeps each request until it
    is (see smbclient's SMBFileTransaction).
    """
    from smbprotocol.exceptions import (  # type: ignore[import-untyped,unused-ignore]
        EndOfFile,
        SMBResponseException,
    )

    data = b""
    failures: list[Any] = []  # SMBResponseException, untyped
    for index, ((_, receive), request) in enumerate(zip(messages, requests, strict=True)):
        try:
            result = receive(request)
        except EndOfFile:  # an empty file
            result = b""
        except SMBResponseException as exc:
            failures.append(exc)
            continue
        if index == 1:
            data = bytes(result)
    return data, failures
