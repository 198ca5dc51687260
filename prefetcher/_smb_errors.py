"""What an error of smbprotocol or smbclient means to the caller: the exception to raise.

Each message names the file and the server's ``host:port``, and never shows the password.
"""

from __future__ import annotations

import errno

from prefetcher._credentials import mask
from prefetcher._smb_url import Credentials

__all__ = ["is_smb_error", "translate_error"]

_STATUS_LOGON_FAILURE = 0xC000006D
_STATUS_ACCESS_DENIED = 0xC0000022
_STATUS_ACCOUNT_RESTRICTION = 0xC000006E


def translate_error(exc: Exception, name: str, credentials: Credentials) -> OSError:
    """The exception to raise for a back end's ``exc`` while reading ``name`` with
    ``credentials``."""
    from smbprotocol.exceptions import (  # type: ignore[import-untyped,unused-ignore]
        LogonFailure,
        SMBAuthenticationError,
        SMBConnectionClosed,
        SMBOSError,
        SMBResponseException,
    )

    secrets = [credentials.password or ""]
    detail = mask(f"{type(exc).__name__}: {exc}", secrets)
    where = credentials.address
    status = getattr(exc, "ntstatus", None) if isinstance(exc, SMBOSError) else None
    if isinstance(exc, SMBResponseException):
        status = exc.status
    if isinstance(exc, LogonFailure) or status in (
        _STATUS_LOGON_FAILURE,
        _STATUS_ACCOUNT_RESTRICTION,
    ):
        user = credentials.username
        return PermissionError(
            errno.EACCES,
            f"logon as {user!r} to SMB server {where} failed: wrong user name or password",
            name,
        )
    if status == _STATUS_ACCESS_DENIED:
        return PermissionError(errno.EACCES, f"access denied by SMB server {where}", name)
    if isinstance(exc, SMBOSError) and exc.errno:
        # OSError(errno, ...) is the subclass for the errno: FileNotFoundError for ENOENT, ...
        strerror = exc.strerror if exc.errno != errno.ENOENT else "No such file"
        return OSError(exc.errno, strerror, name)
    if isinstance(exc, SMBAuthenticationError) and credentials.username is None:
        return PermissionError(
            errno.EACCES, f"SMB server {where} needs a user name and password ({detail})", name
        )
    connection_lost = (
        # The server is down or refuses: smbprotocol raises ValueError("Failed to connect ...").
        (isinstance(exc, ValueError) and "Failed to connect" in str(exc))
        or isinstance(exc, (SMBConnectionClosed, SMBAuthenticationError, TimeoutError, EOFError))
        or (isinstance(exc, OSError) and not isinstance(exc, SMBOSError))
    )
    if connection_lost:
        return ConnectionError(
            f"cannot read {name}: connection to SMB server {where} failed ({detail})"
        )
    return OSError(errno.EIO, f"SMB server {where}: {detail}", name)


def is_smb_error(exc: Exception) -> bool:
    from smbprotocol.exceptions import SMBException

    return isinstance(exc, SMBException)
