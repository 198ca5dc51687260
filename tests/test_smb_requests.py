"""The SMB request counter of the benchmarks (tests/smb_requests.py): by hand-made messages, and
on the wire of a real smbd behind the faulty link."""

from __future__ import annotations

import pytest
from conftest import WriteImage
from faulty_link import FaultyLink
from servers import SambaServer
from smb_requests import CLOSE, CREATE, READ, SmbRequests

from prefetcher import load_image

TIMEOUT = 20.0


def _header(command: int, following: int = 0) -> bytes:
    """A 64-byte SMB2 request header: the command and the offset of the next in the chain."""
    header = bytearray(64)
    header[0:4] = b"\xfeSMB"
    header[4:6] = (64).to_bytes(2, "little")
    header[12:14] = command.to_bytes(2, "little")
    header[20:24] = following.to_bytes(4, "little")
    return bytes(header)


def _create(name: str, following: int = 0) -> bytes:
    encoded = name.encode("utf-16-le")
    body = bytearray(56)
    body[0:2] = (57).to_bytes(2, "little")
    body[44:46] = (64 + 56).to_bytes(2, "little")  # the name follows the fixed part
    body[46:48] = len(encoded).to_bytes(2, "little")
    return _header(CREATE, following) + bytes(body) + encoded


def _padded(message: bytes) -> bytes:
    return message + bytes(-len(message) % 8)  # compound members start 8-byte aligned


def _framed(message: bytes) -> bytes:
    return len(message).to_bytes(4, "big") + message


def _compound_read(name: str) -> bytes:
    """CREATE + READ + CLOSE of ``name`` as one related compound message."""
    create_length = len(_padded(_create(name)))
    create = _padded(_create(name, following=create_length))
    read_length = len(_padded(_header(READ) + bytes(49)))
    read = _padded(_header(READ, following=read_length) + bytes(49))
    return create + read + _header(CLOSE) + bytes(24)


def test_counts_each_request_of_a_compound_and_the_file_it_opens() -> None:
    requests = SmbRequests()
    feed = requests.stream()

    feed(_framed(_compound_read("run\\7.png")))

    counts = requests.counts()
    assert counts.commands == {CREATE: 1, READ: 1, CLOSE: 1}
    assert counts.opened == {"run\\7.png": 1}


def test_reassembles_messages_split_across_chunks_anywhere() -> None:
    stream = b"".join(_framed(_compound_read(f"run\\{n}.png")) for n in range(3))
    requests = SmbRequests()
    feed = requests.stream()

    for start in range(0, len(stream), 5):  # cuts through lengths, headers and names
        feed(stream[start : start + 5])

    assert requests.opens({"run\\0.png", "run\\1.png", "run\\2.png"}) == 3
    assert requests.counts().commands[READ] == 3


def test_connections_are_read_apart() -> None:
    requests = SmbRequests()
    first, second = requests.stream(), requests.stream()
    one, two = _framed(_create("a.png")), _framed(_create("b.png"))

    # Interleaved halves: each connection's reader keeps its own partial message.
    first(one[:30])
    second(two[:30])
    first(one[30:])
    second(two[30:])

    assert requests.counts().connections == 2
    assert requests.counts().opened == {"a.png": 1, "b.png": 1}


@pytest.mark.slow
def test_counts_one_open_per_file_load_image_reads_from_a_real_smbd(
    samba_server: SambaServer, write_image: WriteImage
) -> None:
    pytest.importorskip("smbprotocol", reason="the remote extra: pip install 'prefetcher[remote]'")
    for n in range(3):
        write_image(samba_server.share_dir / "counted" / f"{n}.png", n)
    requests = SmbRequests()
    with FaultyLink(("127.0.0.1", samba_server.port), tap=requests.stream) as link:
        url = samba_server.url.replace(f":{samba_server.port}/", f":{link.port}/")
        for n in range(3):
            load_image(f"{url}/counted/{n}.png")

    counts = requests.counts()
    assert counts.encrypted == 0  # plain text: what the benchmarks count can be read
    assert {n: counts.opened.get(f"counted\\{n}.png") for n in range(3)} == {0: 1, 1: 1, 2: 1}
