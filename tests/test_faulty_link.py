"""The faulty link of the network tests, against a small echo server on 127.0.0.1."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from faulty_link import FaultyLink

TIMEOUT = 10.0


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


@pytest.fixture
def echo() -> Iterator[tuple[str, int]]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server.server_address  # type: ignore[misc]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(TIMEOUT)


@pytest.fixture
def link(echo: tuple[str, int]) -> Iterator[FaultyLink]:
    with FaultyLink(echo) as link:
        yield link


def _connect(link: FaultyLink) -> socket.socket:
    sock = socket.create_connection(link.address, timeout=TIMEOUT)
    return sock


def _round_trip(sock: socket.socket, data: bytes = b"ping") -> bytes:
    sock.sendall(data)
    received = b""
    while len(received) < len(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        received += chunk
    return received


def test_passes_bytes_both_ways(link: FaultyLink) -> None:
    with _connect(link) as sock:
        assert _round_trip(sock, b"hello") == b"hello"


def test_delay_holds_each_direction_back(link: FaultyLink) -> None:
    link.set_delay(up=0.05, down=0.05)
    with _connect(link) as sock:
        started = time.monotonic()
        _round_trip(sock)
        # A lower bound only: the link never delivers early.
        assert time.monotonic() - started >= 0.1


def test_stall_holds_bytes_until_flow(link: FaultyLink) -> None:
    with _connect(link) as sock:
        link.stall()
        sock.sendall(b"held")
        sock.settimeout(0.2)
        with pytest.raises(socket.timeout):
            sock.recv(16)
        link.flow()
        sock.settimeout(TIMEOUT)
        assert sock.recv(16) == b"held"


def test_cut_resets_every_open_connection(link: FaultyLink) -> None:
    with _connect(link) as first, _connect(link) as second:
        _round_trip(first)
        _round_trip(second)

        assert link.cut() == 2

        for sock in (first, second):
            with pytest.raises(ConnectionError):
                _round_trip(sock)
                _round_trip(sock)  # the first send may still be buffered before the reset


def test_refuse_resets_new_connections_until_allowed_again(link: FaultyLink) -> None:
    link.refuse(True)
    # The reset may come as soon as connect() or only at the first send or receive.
    with pytest.raises(ConnectionError), _connect(link) as sock:
        _round_trip(sock)
        _round_trip(sock)
    link.refuse(False)
    with _connect(link) as sock:
        assert _round_trip(sock) == b"ping"
    assert link.counts().refused == 1


def test_counts_a_turn_per_request_and_response(link: FaultyLink) -> None:
    with _connect(link) as sock:
        for _ in range(3):
            _round_trip(sock)

    counts = link.counts()
    assert counts.connections == 1
    assert counts.turns == 3


def test_tap_sees_each_connections_upstream_bytes_in_order(echo: tuple[str, int]) -> None:
    seen: list[list[bytes]] = []

    def tap() -> Callable[[bytes], None]:
        chunks: list[bytes] = []
        seen.append(chunks)
        return chunks.append

    with FaultyLink(echo, tap=tap) as link:
        for word in (b"one", b"two"):
            with _connect(link) as sock:
                # The tap is given a chunk before the link passes it on: the echo proves it ran.
                assert _round_trip(sock, word + b"-a") == word + b"-a"
                assert _round_trip(sock, word + b"-b") == word + b"-b"

    assert [b"".join(chunks) for chunks in seen] == [b"one-aone-b", b"two-atwo-b"]


def test_close_leaves_no_thread_behind(echo: tuple[str, int]) -> None:
    before = set(threading.enumerate())
    link = FaultyLink(echo)
    with _connect(link) as sock:
        _round_trip(sock)
        link.stall()
        sock.sendall(b"stuck in the link")
        link.close()

    # Only the link's own threads: the echo server's handler may still be seeing the reset.
    left = [t for t in threading.enumerate() if t not in before and t.name.startswith("faulty")]
    assert left == []
