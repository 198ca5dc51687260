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
This module keeps the servers, their pools and the reconnection; the URLs are parsed in
:mod:`prefetcher._smb_url`, the compound read is :mod:`prefetcher._smb_compound`, and the back
end's errors are translated in :mod:`prefetcher._smb_errors`.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from prefetcher._smb_compound import ShortOfCredits, read_in_one_round_trip
from prefetcher._smb_errors import is_smb_error, translate_error
from prefetcher._smb_url import Credentials, parse_smb_url

__all__ = ["SmbServer", "forget_servers", "smb_server"]

T = TypeVar("T")

_CONNECT_TIMEOUT = 10.0
# Credits asked for when a connection is new (Samba grants up to 8192 by default).
_CREDITS_WANTED = 2048
# How often, and how long each time, a call short of credits waits for another to finish.
_CREDIT_WAITS = 40
_CREDIT_WAIT = 0.25


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
                data = read_in_one_round_trip(self, path)
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


class SmbServer:
    """One SMB server reached with one set of credentials: its pool, its fsspec file system, and
    :meth:`call`, which runs an operation with reconnection and clear errors."""

    def __init__(self, credentials: Credentials) -> None:
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
        return self.credentials.address

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
                error = translate_error(exc, name, self.credentials)
            except ShortOfCredits:
                short_of_credits = True
                error = OSError(errno.EAGAIN, f"SMB server {self.address}: too few credits", name)
            except Exception as exc:
                if not is_smb_error(exc):
                    raise  # a bug, not the share: as it is
                short_of_credits = "credits" in str(exc)
                error = translate_error(exc, name, self.credentials)
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
_servers: dict[Credentials, SmbServer] = {}


def smb_server(url: str, storage_options: Mapping[str, Any] | None = None) -> tuple[SmbServer, str]:
    """The :class:`SmbServer` for ``url`` (one per server and credentials) and the path on it."""
    credentials, path = parse_smb_url(url, storage_options or {})
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
