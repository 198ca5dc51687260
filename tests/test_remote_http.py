"""What only HTTP has (python -m http.server on 127.0.0.1); the shared behaviour: test_remote.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import WriteImage
from servers import HttpServer

from prefetcher._images import load_image

pytest.importorskip("fsspec", reason="the remote extra: pip install 'prefetcher[remote]'")
pytest.importorskip("aiohttp", reason="fsspec's HTTP back end needs aiohttp")

TIMEOUT = 30


def _value(item: object) -> int:
    return int(np.asarray(item).flat[0])


@pytest.fixture
def run(http_server: HttpServer, request: pytest.FixtureRequest) -> tuple[Path, str]:
    """A directory of this test's own on the server: (local path, its URL)."""
    name = request.node.name
    directory = http_server.root / name
    directory.mkdir()
    return directory, f"{http_server.url}/{name}"


def test_load_image_makes_one_get_request(
    run: tuple[Path, str], write_image: WriteImage, http_server: HttpServer
) -> None:
    directory, url = run
    write_image(directory / "1.png", 1)

    image = load_image(url + "/1.png")

    assert _value(image) == 1
    assert http_server.requests(f"/{directory.name}/1.png") == ["GET"]
