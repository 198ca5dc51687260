"""The loader options open_sequence adds for a URL source (a network share) and not for a path."""

from __future__ import annotations

import socket

import pytest

from prefetcher import open_sequence

pytest.importorskip("fsspec", reason="the remote extra: pip install '.[remote]'")
pytest.importorskip("aiohttp", reason="fsspec's HTTP back end needs aiohttp")

TIMEOUT = 20.0


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens: every connection is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_url_source_retries_a_refused_connection(closed_port: int) -> None:
    with open_sequence(f"http://127.0.0.1:{closed_port}/{{}}.png", ahead=0) as loader:
        with pytest.raises(ConnectionError, match=f"127.0.0.1:{closed_port}"):
            loader.get(0, timeout=TIMEOUT)
        assert loader.stats().retries == 3


def test_the_callers_options_win_over_the_network_defaults(closed_port: int) -> None:
    url = f"http://127.0.0.1:{closed_port}/{{}}.png"
    with open_sequence(url, ahead=0, retries=0) as loader:
        with pytest.raises(ConnectionError):
            loader.get(0, timeout=TIMEOUT)
        assert loader.stats().retries == 0
