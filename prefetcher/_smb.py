"""SMB shares through fsspec and smbprotocol, with a connection pool per server and credentials,
reconnection after a lost connection, and errors that say what happened.

Why not fsspec's ``SMBFileSystem`` as it is: it passes the credentials to smbprotocol only in its
constructor, and smbclient keeps one global pool per ``host:port`` whose ``register_session``
reuses the first session of a user *without looking at the password*. After a lost connection
smbclient reconnects without credentials (``SMBAuthenticationError: No username or password was
specified``, which is a connection loss, not a logon failure), and a wrong password reads fine
once the right one has logged in. Here every server and credentials has a pool of its own
(``connection_cache=``), and every call passes the user name and password, so a call after a lost
connection logs on afresh. A whole-file read is one round trip (a compound CREATE + READ + CLOSE)
instead of fsspec's three.

Only plain ``smb://`` URLs come here; a chained one (``simplecache::smb://``) is fsspec's own.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import functools
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from prefetcher._credentials import mask

__all__ = ["SmbServer", "is_smb_url", "smb_server"]

T = TypeVar("T")

_STATUS_LOGON_FAILURE = 0xC000006D
_STATUS_ACCESS_DENIED = 0xC0000022
_STATUS_ACCOUNT_RESTRICTION = 0xC000006E
_DEFAULT_PORT = 445
_CONNECT_TIMEOUT = 10.0
# Credits asked for when a connection is new (Samba grants up to 8192 by default).
_CREDITS_WANTED = 2048
# How often, and how long each time, a call short of credits waits for another to finish.
_CREDIT_WAITS = 40
_CREDIT_WAIT = 0.25


def is_smb_url(url: str) -> bool:
    """Whether ``url`` is a plain ``smb://`` URL (not chained, such as ``simplecache::smb://``)."""
    return url[:6].lower() == "smb://" and "::" not in url


@dataclasses.dataclass(frozen=True)
class _Credentials:
    host: str
    port: int
    username: str | None
    password: str | None = dataclasses.field(repr=False)


def _parse(url: str, storage_options: Mapping[str, Any]) -> tuple[_Credentials, str]:
    """The server and credentials of an ``smb://`` URL, and the path fsspec uses (``/share/x``).

    ``storage_options`` (``username``, ``password``, ``port``) fill in what the URL leaves out.
    """
    rest = url[len("smb://") :]
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority, path = rest[:end], rest[end:]
    userinfo, at, hostport = authority.rpartition("@")
    username: str | None = None
    password: str | None = None
    if at:
        user, colon, secret = userinfo.partition(":")
        # A workgroup in the URL: "workgroup;user".
        username = urllib.parse.unquote(user.rpartition(";")[2]) or None
        password = urllib.parse.unquote(secret) if colon else None
    host, colon, port_text = hostport.rpartition(":")
    if not colon or "]" in port_text:
        host, port_text = hostport, ""
    host = host.strip("[]")
    port = int(port_text) if port_text else int(storage_options.get("port") or _DEFAULT_PORT)
    username = username or storage_options.get("username")
    password = password if password is not None else storage_options.get("password")
    return _Credentials(host, port, username, password), urllib.parse.unquote(path) or "/"


@functools.cache  # one class, made at the first use (fsspec is imported only then)
def _pooled_filesystem_class() -> type[Any]:
    from fsspec.implementations.smb import SMBFileSystem

    class PooledSMBFileSystem(SMBFileSystem):  # type: ignore[misc]
        """fsspec's ``SMBFileSystem`` with the credentials and the pool passed on every call."""

        # One per SmbServer, kept by smb_server(): fsspec's instance cache, which keys on the
        # arguments' text, could hand one server's file system (credentials, pool) to another.
        cachable = False

        def __init__(self, server: SmbServer) -> None:
            credentials = server.credentials
            # register_session_retries=-1: the constructor does not connect; the server does.
            super().__init__(
                credentials.host,
                port=credentials.port,
                username=credentials.username,
                password=credentials.password,
                timeout=_CONNECT_TIMEOUT,
                register_session_retries=-1,
                # Reading never locks others out: not another reader, nor a program still
                # writing the file (live acquisition).
                share_access="rwd",
            )
            self._session = server.session_options

        def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
            listed: list[Any] = super().ls(path, detail=False, **self._session, **kwargs)
            return [self.info(p) for p in listed] if detail else listed

        def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
            info: dict[str, Any] = super().info(path, **self._session, **kwargs)
            return info

        def cat_file(
            self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any
        ) -> bytes:
            if start is None and end is None and not kwargs:
                data = _read_in_one_round_trip(self, path)
                if data is not None:
                    return data
            content: bytes = super().cat_file(path, start, end, **kwargs)
            return content

        def _open(
            self,
            path: str,
            mode: str = "rb",
            block_size: int = -1,
            autocommit: bool = True,
            cache_options: Any = None,
            **kwargs: Any,
        ) -> Any:
            return super()._open(
                path, mode, block_size, autocommit, cache_options, **self._session, **kwargs
            )

    return PooledSMBFileSystem


# A READ costs one credit per 64 KiB it asks for (MS-SMB2 3.1.5.2).
_CREDIT_UNIT = 65536
_CREDIT_SHARE = 4


class _ShortOfCredits(Exception):
    """The connection has too few SMB credits left for a request now (others hold them)."""


def _read_in_one_round_trip(fs: Any, path: str) -> bytes | None:
    """The whole file at ``path``, read with CREATE, READ and CLOSE sent as one related compound
    request (one round trip instead of three, as Windows clients read small files), or ``None``
    when that cannot be done (the file is larger than one read, a DFS link): the caller then
    reads it the usual way.

    Raises:
        SMBOSError: The server refused the CREATE (no such file, access denied ...).
        _ShortOfCredits: Too few credits for even 64 KiB now: :meth:`SmbServer.call` waits for
            other reads to end and tries again.
    """
    from fsspec.implementations.smb import _as_unc_path
    from smbclient._pool import get_smb_tree
    from smbprotocol.exceptions import (  # type: ignore[import-untyped,unused-ignore]
        EndOfFile,
        PathNotCovered,
        SMBException,
        SMBOSError,
        SMBResponseException,
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
        raise _ShortOfCredits
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
            raise _ShortOfCredits from None
        raise
    data = b""
    failures = []
    # Every response is received, even after a failure: smbprotocol keeps each request until
    # it is (see smbclient's SMBFileTransaction).
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
    if failures:
        if isinstance(failures[0], PathNotCovered):
            return None
        raise SMBOSError(failures[0].status, unc)
    if handle.end_of_file is None or len(data) < handle.end_of_file:
        return None  # larger than one read: the usual way reads it in several
    return data


class SmbServer:
    """One SMB server reached with one set of credentials: its pool, its fsspec file system, and
    :meth:`call`, which runs an operation with reconnection and clear errors."""

    def __init__(self, credentials: _Credentials) -> None:
        self.credentials = credentials
        self._key = f"{credentials.host.lower()}:{credentials.port}"  # smbclient's pool key
        self._pool: dict[str, Any] = {}
        # Guards _pool's entries while a session is set up: a second thread must not find the
        # connection another is still logging on with and use it without a session. Held while
        # connecting (bounded by the connect timeout), never while reading.
        self._lock = threading.Lock()
        # Guards _finished_count (operations that ended); a call short of credits waits on it.
        self._finished = threading.Condition(threading.Lock())
        self._finished_count = 0
        # What every smbclient call gets besides the path (fsspec adds the port itself).
        self.session_options: dict[str, Any] = {
            "username": credentials.username,
            "password": credentials.password,
            "connection_cache": self._pool,
            "connection_timeout": _CONNECT_TIMEOUT,
        }
        self.fs = _pooled_filesystem_class()(self)

    @property
    def address(self) -> str:
        """``host:port``, as error messages name the server."""
        return f"{self.credentials.host}:{self.credentials.port}"

    def call(self, operation: Callable[[Any], T], name: str) -> T:
        """``operation(fs)``, after making sure a session is set up.

        A connection error drops this server's connection, so the next call connects afresh; if
        the connection was an old one from the pool (it may have died while idle: the server
        restarted, the link was cut), the operation is tried once more on a new connection at
        once, as a connection pool does with a stale connection.

        Raises:
            ConnectionError: The server cannot be reached or the connection broke; the message
                names ``name`` and the server's ``host:port``.
            PermissionError: Wrong user name or password, or access denied.
            FileNotFoundError: No such file or directory.
            OSError: Another error of the share, its message masked.
        """
        reconnected = False
        credit_waits = 0
        while True:
            before = self._pool.get(self._key)
            connection: Any = None
            with self._finished:
                seen = self._finished_count
            short_of_credits = False
            try:
                connection = self._connect()
                return operation(self.fs)
            except (OSError, ValueError, EOFError) as exc:
                error = _translate(exc, name, self)
            except _ShortOfCredits:
                short_of_credits = True
                error = OSError(errno.EAGAIN, f"SMB server {self.address}: too few credits", name)
            except Exception as exc:
                if not _is_smb_error(exc):
                    raise  # a bug, not the share: as it is
                short_of_credits = "credits" in str(exc)
                error = _translate(exc, name, self)
            finally:
                with self._finished:
                    self._finished_count += 1
                    self._finished.notify_all()
            if short_of_credits and credit_waits < _CREDIT_WAITS:
                # smbprotocol fails a request at once when the connection has too few credits
                # left (a fresh connection has 64; many reads at once take them all). Every
                # answer the server sends grants credits again: wait for another operation on
                # this server to finish, then send again.
                credit_waits += 1
                self._wait_for_another_to_finish(seen)
                continue
            if isinstance(error, ConnectionError):
                self._drop(connection if connection is not None else before)
                if not reconnected and before is not None and connection is before:
                    reconnected = True
                    continue
            # Raised here, outside the except clause, so that the back end's exception (its
            # message may hold the password) is neither the cause nor the context.
            raise error

    def _wait_for_another_to_finish(self, seen: int) -> None:
        """Wait (at most ``_CREDIT_WAIT``) until an operation other than the caller's has ended
        since ``_finished_count`` was ``seen``; the caller's own end counts one."""
        with self._finished:
            self._finished.wait_for(lambda: self._finished_count > seen + 1, _CREDIT_WAIT)

    def _connect(self) -> Any:
        import smbclient

        with self._lock:
            old = self._pool.get(self._key)
            session = smbclient.register_session(
                self.credentials.host,
                username=self.credentials.username,
                password=self.credentials.password,
                port=self.credentials.port,
                connection_cache=self._pool,
                connection_timeout=_CONNECT_TIMEOUT,
            )
            connection: Any = self._pool[self._key]  # register_session put it there
            if connection is not old:
                # A new connection starts with 64 credits, fewer than a few reads at once need
                # (one per 64 KiB): ask for more at once, with one ECHO, rather than a few more
                # with every answer.
                connection.echo(
                    sid=session.session_id,
                    timeout=_CONNECT_TIMEOUT,
                    credit_request=_CREDITS_WANTED,
                )
            return connection

    def _drop(self, connection: Any) -> None:
        """Forget ``connection`` (if the pool still holds it) and close its socket."""
        if connection is None:
            return
        with self._lock:
            if self._pool.get(self._key) is connection:
                del self._pool[self._key]
        # close=False: no log-off over a connection that is gone; outside the lock, since closing
        # joins smbprotocol's receive thread.
        with contextlib.suppress(Exception):
            connection.disconnect(close=False)

    def close(self) -> None:
        """Log off and close the connection (at exit, or when the server is forgotten)."""
        with self._lock:
            connections = list(self._pool.values())
            self._pool.clear()
        for connection in connections:
            with contextlib.suppress(Exception):
                connection.disconnect()

    def __repr__(self) -> str:
        user = self.credentials.username or ""
        return f"<SmbServer {user}@{self.address} connected={self._key in self._pool}>"


# Guards _servers.
_servers_lock = threading.Lock()
_servers: dict[_Credentials, SmbServer] = {}


def smb_server(url: str, storage_options: Mapping[str, Any] | None = None) -> tuple[SmbServer, str]:
    """The :class:`SmbServer` for ``url`` (one per server and credentials) and the path on it."""
    credentials, path = _parse(url, storage_options or {})
    with _servers_lock:
        server = _servers.get(credentials)
        if server is None:
            server = _servers[credentials] = SmbServer(credentials)
    return server, path


def forget_servers() -> None:
    """Close and forget every server's connections (at exit; tests that stop their server)."""
    with _servers_lock:
        servers = list(_servers.values())
        _servers.clear()
    for server in servers:
        server.close()


def _translate(exc: Exception, name: str, server: SmbServer) -> OSError:
    """The exception to raise for a back end's ``exc`` while reading ``name`` from ``server``."""
    from smbprotocol.exceptions import (  # type: ignore[import-untyped,unused-ignore]
        LogonFailure,
        SMBAuthenticationError,
        SMBConnectionClosed,
        SMBOSError,
        SMBResponseException,
    )

    secrets = [server.credentials.password or ""]
    detail = mask(f"{type(exc).__name__}: {exc}", secrets)
    where = server.address
    status = getattr(exc, "ntstatus", None) if isinstance(exc, SMBOSError) else None
    if isinstance(exc, SMBResponseException):
        status = exc.status
    if isinstance(exc, LogonFailure) or status in (
        _STATUS_LOGON_FAILURE,
        _STATUS_ACCOUNT_RESTRICTION,
    ):
        user = server.credentials.username
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
    if isinstance(exc, SMBAuthenticationError) and server.credentials.username is None:
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


def _is_smb_error(exc: Exception) -> bool:
    from smbprotocol.exceptions import SMBException

    return isinstance(exc, SMBException)
