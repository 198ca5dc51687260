"""A faulty network link for tests and benchmarks: a TCP proxy on 127.0.0.1 in front of a server.

Every connection a client opens to ``link.port`` is forwarded to the target, and the link can be
made worse while it runs:

- ``set_delay(up, down)``: every chunk waits that long before it is passed on (``up``: client to
  server, ``down``: server to client), as on a long line: chunks are delayed, not queued one
  behind another, so the link keeps its bandwidth;
- ``stall()`` / ``flow()``: nothing passes in either direction (a hang: connections stay open,
  bytes wait in the proxy) until ``flow()``;
- ``cut()``: every open connection is reset at once, as when a server or a router drops them;
- ``refuse(True)``: new connections are reset as soon as they are accepted, until ``refuse(False)``.

It also counts what passes: connections, chunks per direction, and *turns* (a chunk sent
upstream after the last one went downstream: one request/response round trip of a protocol
that waits for each answer). ``FaultyLink(target, tap=...)`` shows every connection's upstream
bytes to a reader of the protocol (``tests/smb_requests.py`` counts SMB requests that way).

Threads only, all joined by :meth:`FaultyLink.close`; nothing outlives the ``with`` block::

    with FaultyLink(("127.0.0.1", smbd_port)) as link:
        link.set_delay(0.010, 0.010)
        ...  # read through ("127.0.0.1", link.port)
"""

from __future__ import annotations

import contextlib
import dataclasses
import heapq
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from types import TracebackType

__all__ = ["FaultyLink", "LinkCounts", "Tap"]

#: Called once for each connection the link forwards; the function it returns is given every
#: chunk the client sends on that connection, in order, on that connection's reader thread (so
#: it must be quick and must not raise).
Tap = Callable[[], Callable[[bytes], None]]

_CHUNK = 256 * 1024
_JOIN_TIMEOUT = 10.0


@dataclasses.dataclass(frozen=True)
class LinkCounts:
    """What has passed the link so far."""

    connections: int  # connections accepted and forwarded (refused ones not counted)
    refused: int  # connections reset at once by refuse(True)
    chunks_up: int  # client to server
    chunks_down: int  # server to client
    turns: int  # upstream chunks that followed a downstream one (or opened a connection)


def _reset(sock: socket.socket) -> None:
    """Close ``sock`` with a TCP reset rather than an orderly end, as a dropped link does."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        # SHUT_RD wakes a thread blocked in recv() without sending a FIN (SHUT_WR would, and
        # the peer would see an orderly end before the reset).
        sock.shutdown(socket.SHUT_RD)
    sock.close()


class _Pipe:
    """One direction of one connection: a reader thread fills a delay line, a writer empties it."""

    def __init__(
        self,
        link: FaultyLink,
        source: socket.socket,
        sink: socket.socket,
        up: bool,
        tap: Callable[[bytes], None] | None = None,
    ):
        self._link = link
        self._source = source
        self._sink = sink
        self._up = up
        self._tap = tap
        # Guards _line and _ended; the writer waits on it for the next chunk to fall due.
        self._ready = threading.Condition()
        self._line: list[tuple[float, int, bytes]] = []  # (due, sequence, data), a heap
        self._sequence = 0
        self._ended = False
        self.stopped = False
        name = "up" if up else "down"
        self.threads = [
            threading.Thread(target=self._read, name=f"faulty-link-read-{name}", daemon=True),
            threading.Thread(target=self._write, name=f"faulty-link-write-{name}", daemon=True),
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def _read(self) -> None:
        try:
            while True:
                data = self._source.recv(_CHUNK)
                if not data:
                    break
                if self._tap is not None:
                    self._tap(data)
                delay = self._link._delay(self._up)
                self._link._count(self._up)
                with self._ready:
                    heapq.heappush(self._line, (time.monotonic() + delay, self._sequence, data))
                    self._sequence += 1
                    self._ready.notify_all()
        except OSError:
            pass
        finally:
            with self._ready:
                self._ended = True
                self._ready.notify_all()

    def _write(self) -> None:
        try:
            while True:
                with self._ready:
                    while not self._line and not self._ended:
                        self._ready.wait()
                    if not self._line:
                        break
                    due, _, data = self._line[0]
                    wait = due - time.monotonic()
                    if wait > 0:
                        # A later chunk cannot fall due earlier (same delay), so wait for this one.
                        self._ready.wait(wait)
                        continue
                    heapq.heappop(self._line)
                # Outside the condition: a stalled link blocks here without blocking the reader.
                if not self._link._wait_flowing(self):
                    break
                self._sink.sendall(data)
            # The source ended in order: pass the end on, so the other side sees it too.
            with contextlib.suppress(OSError):
                self._sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def stop(self) -> None:
        with self._ready:
            self._ended = True
            self.stopped = True
            self._ready.notify_all()
        self._link._wake_writers()

    def done(self) -> bool:
        return not any(thread.is_alive() for thread in self.threads)


class FaultyLink:
    """A TCP proxy from ``127.0.0.1:port`` to ``target`` whose faults can be switched while it runs.

    Args:
        target: ``(host, port)`` of the server to forward to.
        tap: Shown each connection's bytes from the client (see :data:`Tap`), or ``None``.
    """

    def __init__(self, target: tuple[str, int], tap: Tap | None = None) -> None:
        self.target = target
        self._tap = tap
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        # Guards every attribute below; never held while sending, receiving or joining.
        self._lock = threading.Lock()
        self._up_delay = 0.0
        self._down_delay = 0.0
        self._refusing = False
        self._connections: list[tuple[socket.socket, socket.socket, list[_Pipe]]] = []
        self._counts = {"connections": 0, "refused": 0, "up": 0, "down": 0, "turns": 0}
        self._last_up = False
        # Guards _stalled; stalled writers wait on it.
        self._flow = threading.Condition()
        self._stalled = False
        self._closing = threading.Event()
        self._acceptor = threading.Thread(
            target=self._accept, name="faulty-link-accept", daemon=True
        )
        self._acceptor.start()

    @property
    def address(self) -> tuple[str, int]:
        """``("127.0.0.1", port)``: where clients connect."""
        return ("127.0.0.1", self.port)

    # -- faults --------------------------------------------------------------------------------

    def set_delay(self, up: float = 0.0, down: float = 0.0) -> None:
        """Delay every chunk by ``up`` seconds to the server and ``down`` seconds back."""
        if up < 0 or down < 0:
            raise ValueError(f"delays must be >= 0, got up={up} down={down}")
        with self._lock:
            self._up_delay, self._down_delay = up, down

    def stall(self) -> None:
        """Stop every byte in both directions (connections stay open) until :meth:`flow`."""
        with self._flow:
            self._stalled = True

    def flow(self) -> None:
        """Let bytes pass again after :meth:`stall`; what waited is delivered."""
        with self._flow:
            self._stalled = False
            self._flow.notify_all()

    @contextlib.contextmanager
    def stalled(self) -> Iterator[None]:
        """A ``with`` block during which the link is stalled."""
        self.stall()
        try:
            yield
        finally:
            self.flow()

    def cut(self) -> int:
        """Reset every open connection at once; returns how many there were."""
        with self._lock:
            connections, self._connections = self._connections, []
        for client, server, pipes in connections:
            _reset(client)
            _reset(server)
            for pipe in pipes:
                pipe.stop()
        self._join(connections)
        return len(connections)

    def refuse(self, refusing: bool = True) -> None:
        """Reset new connections as soon as they are accepted (``False``: accept them again)."""
        with self._lock:
            self._refusing = refusing

    # -- counts --------------------------------------------------------------------------------

    def counts(self) -> LinkCounts:
        """A snapshot of what has passed so far."""
        with self._lock:
            c = dict(self._counts)
        return LinkCounts(c["connections"], c["refused"], c["up"], c["down"], c["turns"])

    @property
    def open_connections(self) -> int:
        """How many connections are being forwarded now."""
        with self._lock:
            return len(self._connections)

    # -- lifecycle -----------------------------------------------------------------------------

    def close(self) -> None:
        """Stop accepting, reset every connection and join every thread of the link."""
        self._closing.set()
        # shutdown() wakes the accept() in progress; close() alone does not, on Linux.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self.cut()
        self._acceptor.join(_JOIN_TIMEOUT)
        if self._acceptor.is_alive():  # pragma: no cover - would be a bug in the link
            raise RuntimeError("the faulty link's accept thread did not stop")

    def __enter__(self) -> FaultyLink:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        with self._lock:
            state = (
                f"up={self._up_delay * 1000:g}ms down={self._down_delay * 1000:g}ms "
                f"refusing={self._refusing} connections={len(self._connections)}"
            )
        return f"<FaultyLink 127.0.0.1:{self.port} -> {self.target[0]}:{self.target[1]} {state}>"

    # -- the pipes' side -------------------------------------------------------------------------

    def _delay(self, up: bool) -> float:
        with self._lock:
            return self._up_delay if up else self._down_delay

    def _count(self, up: bool) -> None:
        with self._lock:
            if up:
                self._counts["up"] += 1
                if not self._last_up:
                    self._counts["turns"] += 1
            else:
                self._counts["down"] += 1
            self._last_up = up

    def _wait_flowing(self, pipe: _Pipe) -> bool:
        """Wait while the link is stalled; False if ``pipe`` was stopped meanwhile."""
        with self._flow:
            while self._stalled and not pipe.stopped:
                self._flow.wait()
            return not pipe.stopped

    def _wake_writers(self) -> None:
        with self._flow:
            self._flow.notify_all()

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:  # the listener was closed
                return
            with self._lock:
                refusing = self._refusing
                if refusing:
                    self._counts["refused"] += 1
            if refusing:
                _reset(client)
                continue
            try:
                server = socket.create_connection(self.target, timeout=_JOIN_TIMEOUT)
                server.settimeout(None)
            except OSError:  # the server is down: the client sees its connection reset
                _reset(client)
                continue
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            upstream = self._tap() if self._tap is not None else None
            pipes = [
                _Pipe(self, client, server, up=True, tap=upstream),
                _Pipe(self, server, client, up=False),
            ]
            ended: list[tuple[socket.socket, socket.socket, list[_Pipe]]] = []
            with self._lock:
                if self._closing.is_set():
                    closed = True
                else:
                    closed = False
                    # Forget connections that ended on their own (their threads have finished).
                    ended = [c for c in self._connections if all(p.done() for p in c[2])]
                    self._connections = [c for c in self._connections if c not in ended]
                    self._connections.append((client, server, pipes))
                    self._counts["connections"] += 1
                    self._last_up = False  # a new connection's first chunk is a turn
            for ended_client, ended_server, _ in ended:
                ended_client.close()
                ended_server.close()
            if closed:
                _reset(client)
                _reset(server)
                return
            for pipe in pipes:
                pipe.start()

    @staticmethod
    def _join(connections: list[tuple[socket.socket, socket.socket, list[_Pipe]]]) -> None:
        for _, _, pipes in connections:
            for pipe in pipes:
                for thread in pipe.threads:
                    if thread.ident is not None:
                        thread.join(_JOIN_TIMEOUT)
                        if thread.is_alive():  # pragma: no cover - would be a bug in the link
                            raise RuntimeError(f"{thread.name} did not stop")
