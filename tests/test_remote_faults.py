"""A real smbd behind the faulty link (tests/faulty_link.py): stalls, cut connections, refused
connections, a server killed and started again, a wrong password.

The loader is built without retries of its own wherever it has them: recovering from a lost
connection is the remote layer's job (one fresh connection in place of a dead one).
"""

from __future__ import annotations

import inspect
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import servers
from conftest import WriteImage
from faulty_link import FaultyLink
from PIL import Image
from servers import SambaServer

from prefetcher import PrefetchingLoader
from prefetcher._sequence import open_sequence

pytest.importorskip("fsspec", reason="the remote extra: pip install 'prefetcher[remote]'")
pytest.importorskip("smbprotocol", reason="fsspec's SMB back end needs smbprotocol")

pytestmark = pytest.mark.slow

TIMEOUT = 20.0
# No retries in the loader (where it has the option), so that what recovers is the remote layer.
NO_RETRIES: dict[str, Any] = (
    {"retries": 0} if "retries" in inspect.signature(PrefetchingLoader).parameters else {}
)


def _value(item: object) -> int:
    return int(np.asarray(item).flat[0])


def _wait_until(condition: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    """Wait, bounded, for ``condition`` (polled: what it watches has no event to wait on)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.01)


@pytest.fixture
def frames(
    samba_server: SambaServer, request: pytest.FixtureRequest, write_image: WriteImage
) -> str:
    """Frames 0..7 in a directory of this test's own on the session's share; its name."""
    name: str = request.node.name
    for n in range(8):
        write_image(samba_server.share_dir / name / f"{n}.png", n)
    return name


@pytest.fixture
def link(samba_server: SambaServer) -> Iterator[FaultyLink]:
    with FaultyLink(("127.0.0.1", samba_server.port)) as link:
        yield link


def _through(link: FaultyLink, server: SambaServer, directory: str) -> str:
    """The template URL of ``directory``'s frames, through ``link``."""
    return (
        f"smb://{server.user}:{server.password}@127.0.0.1:{link.port}/{server.share}/"
        f"{directory}/{{}}.png"
    )


@pytest.fixture
def own_server(tmp_path: Path, write_image: WriteImage) -> Iterator[SambaServer]:
    """An smbd of this test's own (to kill and start again), sharing frames 0..7 in ``run/``."""
    reason = servers.smbd_missing_reason()
    if reason is not None:
        pytest.skip(reason)
    share, work = tmp_path / "share", tmp_path / "work"
    work.mkdir()
    for n in range(8):
        write_image(share / "run" / f"{n}.png", n)
    with servers.samba_server(share, work) as server:
        yield server


def test_stalled_link_makes_get_time_out_and_serves_again_once_it_flows(
    link: FaultyLink, samba_server: SambaServer, frames: str
) -> None:
    with open_sequence(_through(link, samba_server, frames), ahead=0, **NO_RETRIES) as loader:
        assert _value(loader.get(0, timeout=TIMEOUT)) == 0
        link.stall()
        with pytest.raises(TimeoutError):
            loader.get(1, timeout=0.5)
        link.flow()

        assert _value(loader.get(1, timeout=TIMEOUT)) == 1
        assert _value(loader.get(2, timeout=TIMEOUT)) == 2


def test_stalled_link_gives_the_timeout_error_of_load_timeout(
    link: FaultyLink, samba_server: SambaServer, frames: str
) -> None:
    url = _through(link, samba_server, frames)
    with open_sequence(url, ahead=0, load_timeout=0.5, **NO_RETRIES) as loader:
        assert _value(loader.get(0, timeout=TIMEOUT)) == 0
        with link.stalled(), pytest.raises(TimeoutError):
            loader.get(1, timeout=TIMEOUT)

        assert _value(loader.get(2, timeout=TIMEOUT)) == 2


def test_idle_connection_cut_is_replaced_at_the_next_get(
    link: FaultyLink, samba_server: SambaServer, frames: str
) -> None:
    with open_sequence(_through(link, samba_server, frames), ahead=0, **NO_RETRIES) as loader:
        assert _value(loader.get(0, timeout=TIMEOUT)) == 0
        assert link.cut() == 1

        assert _value(loader.get(1, timeout=TIMEOUT)) == 1
    assert link.counts().connections == 2


def test_read_in_flight_when_the_connection_is_cut_is_sent_again_on_a_new_one(
    link: FaultyLink, samba_server: SambaServer, frames: str
) -> None:
    with open_sequence(_through(link, samba_server, frames), ahead=0, **NO_RETRIES) as loader:
        assert _value(loader.get(0, timeout=TIMEOUT)) == 0
        link.stall()
        sent = link.counts().chunks_up
        future = loader.request(1)
        _wait_until(lambda: link.counts().chunks_up > sent)  # the read is in the link
        link.cut()
        link.flow()

        assert _value(future.result(timeout=TIMEOUT)) == 1


def test_cut_with_new_connections_refused_raises_connection_error_naming_file_and_server(
    link: FaultyLink, samba_server: SambaServer, frames: str
) -> None:
    with open_sequence(_through(link, samba_server, frames), ahead=0, **NO_RETRIES) as loader:
        loader.get(0, timeout=TIMEOUT)
        link.refuse(True)
        link.cut()

        with pytest.raises(ConnectionError) as caught:
            loader.get(1, timeout=TIMEOUT)

    message = str(caught.value)
    assert f"{frames}/1.png" in message
    assert f"127.0.0.1:{link.port}" in message


def test_reads_again_once_refused_connections_are_accepted_again(
    link: FaultyLink, samba_server: SambaServer, frames: str
) -> None:
    with open_sequence(_through(link, samba_server, frames), ahead=0, **NO_RETRIES) as loader:
        link.refuse(True)
        with pytest.raises(ConnectionError):
            loader.get(0, timeout=TIMEOUT)
        link.refuse(False)

        assert _value(loader.get(0, timeout=TIMEOUT)) == 0


def test_server_down_raises_connection_error_naming_file_and_server(
    own_server: SambaServer,
) -> None:
    with open_sequence(own_server.url + "/run/{}.png", ahead=0, **NO_RETRIES) as loader:
        own_server.kill()

        with pytest.raises(ConnectionError) as caught:
            loader.get(3, timeout=TIMEOUT)

    assert isinstance(caught.value, OSError)
    assert "run/3.png" in str(caught.value)
    assert f"127.0.0.1:{own_server.port}" in str(caught.value)


def test_same_loader_reads_again_after_the_server_restarts_on_the_same_port(
    own_server: SambaServer,
) -> None:
    with open_sequence(own_server.url + "/run/{}.png", ahead=0, **NO_RETRIES) as loader:
        assert _value(loader.get(0, timeout=TIMEOUT)) == 0
        own_server.kill()
        with pytest.raises(ConnectionError):
            loader.get(1, timeout=TIMEOUT)
        own_server.start_again()

        assert _value(loader.get(1, timeout=TIMEOUT)) == 1


def test_restart_between_two_gets_is_not_seen_at_all(own_server: SambaServer) -> None:
    with open_sequence(own_server.url + "/run/{}.png", ahead=0, **NO_RETRIES) as loader:
        assert _value(loader.get(0, timeout=TIMEOUT)) == 0
        own_server.kill()
        own_server.start_again()

        assert _value(loader.get(1, timeout=TIMEOUT)) == 1


def test_prefetches_failing_while_the_server_is_down_are_loaded_when_asked_for(
    own_server: SambaServer,
) -> None:
    with open_sequence(own_server.url + "/run/{}.png", ahead=4, **NO_RETRIES) as loader:
        own_server.kill()
        with pytest.raises(ConnectionError, match=r"run/0\.png") as caught:
            loader.get(0, timeout=TIMEOUT)
        assert "1.png" not in str(caught.value)
        _wait_until(lambda: loader.stats().loads_failed >= 5)  # 0 and its four prefetches
        own_server.start_again()

        assert [_value(loader.get(n, timeout=TIMEOUT)) for n in range(1, 5)] == [1, 2, 3, 4]


def test_wrong_password_raises_permission_error_after_the_right_one_logged_on(
    samba_server: SambaServer, frames: str
) -> None:
    right = f"{samba_server.url}/{frames}/{{}}.png"
    wrong = f"{samba_server.url_for(password='not-the-password')}/{frames}/{{}}.png"
    with open_sequence(right, ahead=0) as loader:
        assert _value(loader.get(0, timeout=TIMEOUT)) == 0

    with open_sequence(wrong, ahead=0) as loader, pytest.raises(PermissionError) as caught:
        loader.get(0, timeout=TIMEOUT)

    assert f"127.0.0.1:{samba_server.port}" in str(caught.value)


def test_wrong_password_on_a_directory_raises_permission_error_at_open(
    samba_server: SambaServer, frames: str
) -> None:
    with pytest.raises(PermissionError, match="logon"):
        open_sequence(f"{samba_server.url_for(password='not-the-password')}/{frames}")


def test_missing_file_raises_file_not_found_through_the_link(
    link: FaultyLink, samba_server: SambaServer, frames: str
) -> None:
    with (
        open_sequence(_through(link, samba_server, frames), ahead=0, **NO_RETRIES) as loader,
        pytest.raises(FileNotFoundError, match=r"/99\.png"),
    ):
        loader.get(99, timeout=TIMEOUT)


def test_storage_options_carry_the_password_instead_of_the_url(
    samba_server: SambaServer, frames: str
) -> None:
    url = f"{samba_server.public_url}/{frames}/{{}}.png"

    with open_sequence(url, storage_options={"password": samba_server.password}) as loader:
        assert _value(loader.get(2, timeout=TIMEOUT)) == 2


def test_a_whole_file_read_is_one_round_trip(
    link: FaultyLink, samba_server: SambaServer, frames: str
) -> None:
    with open_sequence(_through(link, samba_server, frames), ahead=0, **NO_RETRIES) as loader:
        loader.get(0, timeout=TIMEOUT)  # logs on: not part of a file's reads
        turns = []
        for n in range(1, 4):
            before = link.counts().turns
            loader.get(n, timeout=TIMEOUT)
            turns.append(link.counts().turns - before)

    assert turns == [1, 1, 1]


@pytest.mark.parametrize("size", [0, 1, 9 * 1024 * 1024 + 7])
def test_read_url_returns_the_whole_file_whatever_its_size(
    samba_server: SambaServer, request: pytest.FixtureRequest, size: int
) -> None:
    # 9 MiB is more than one READ may ask for (8 MiB on Samba): read in several.
    from prefetcher._remote import read_url

    directory = samba_server.share_dir / request.node.name.replace("[", "_").replace("]", "")
    directory.mkdir()
    content = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
    (directory / "blob.bin").write_bytes(content)

    assert read_url(f"{samba_server.url}/{directory.name}/blob.bin") == content


def test_http_server_down_raises_connection_error_naming_file_and_server() -> None:
    pytest.importorskip("aiohttp", reason="fsspec's HTTP back end needs aiohttp")
    # A port nobody listens on: the server is down.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    with (
        open_sequence(f"http://127.0.0.1:{port}/run/{{}}.png", ahead=0, **NO_RETRIES) as loader,
        pytest.raises(ConnectionError) as caught,
    ):
        loader.get(1, timeout=TIMEOUT)

    assert "run/1.png" in str(caught.value)
    assert f"127.0.0.1:{port}" in str(caught.value)


def test_many_reads_at_once_on_a_fresh_connection_all_succeed(tmp_path: Path) -> None:
    # A fresh SMB connection has 64 credits; 17 reads at once need more than that. smbprotocol
    # fails a request at once when credits run out, so a read waits for others to finish.
    reason = servers.smbd_missing_reason()
    if reason is not None:
        pytest.skip(reason)
    share, work = tmp_path / "share", tmp_path / "work"
    work.mkdir()
    (share / "run").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for n in range(40):
        # Noise: about 360 kB a file, six credits a read.
        pixels = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
        pixels[0, 0] = n
        Image.fromarray(pixels).save(share / "run" / f"{n}.png")
    with (
        servers.samba_server(share, work) as server,
        open_sequence(server.url + "/run/{}.png", ahead=16, max_workers=17) as loader,
    ):
        futures = [loader.request(n) for n in range(40)]

        assert [_value(f.result(timeout=TIMEOUT)) for f in futures] == list(range(40))
