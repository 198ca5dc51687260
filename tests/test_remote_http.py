"""Images read through fsspec from a real HTTP server (python -m http.server on 127.0.0.1)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import WriteImage
from servers import HttpServer

from prefetcher._images import load_image
from prefetcher._sequence import open_sequence

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


def test_template_url_gives_file_n_for_get_n(
    run: tuple[Path, str], write_image: WriteImage
) -> None:
    directory, url = run
    for n in (1, 2, 10):
        write_image(directory / f"{n}.png", n)

    with open_sequence(url + "/{}.png", as_array=True, ahead=2) as loader:
        assert [_value(loader.get(n, timeout=TIMEOUT)) for n in (1, 2, 10)] == [1, 2, 10]


def test_list_of_urls_keeps_the_given_order(run: tuple[Path, str], write_image: WriteImage) -> None:
    directory, url = run
    for n in (1, 2, 3):
        write_image(directory / f"{n}.png", n)
    urls = [f"{url}/{n}.png" for n in (3, 1, 2)]

    with open_sequence(urls) as loader:
        assert loader.keys == tuple(urls)
        assert [_value(item) for item in loader] == [3, 1, 2]


def test_directory_url_lists_the_server_index_in_natural_order(
    run: tuple[Path, str], write_image: WriteImage
) -> None:
    directory, url = run
    for n in (10, 2, 1):
        write_image(directory / f"{n}.png", n)

    with open_sequence(url + "/") as loader:
        assert loader.keys == (f"{url}/1.png", f"{url}/2.png", f"{url}/10.png")


def test_glob_url_gives_the_matches_in_natural_order(
    run: tuple[Path, str], write_image: WriteImage
) -> None:
    directory, url = run
    for n in (10, 9):
        write_image(directory / f"frame_{n}.png", n)
    write_image(directory / "dark_1.png", 0)

    with open_sequence(url + "/frame_*.png") as loader:
        assert loader.keys == (f"{url}/frame_9.png", f"{url}/frame_10.png")


def test_missing_file_raises_file_not_found_naming_the_url(run: tuple[Path, str]) -> None:
    _, url = run

    with (
        open_sequence(url + "/{}.png", ahead=0) as loader,
        pytest.raises(FileNotFoundError, match=rf"{url}/4\.png"),
    ):
        loader.get(4, timeout=TIMEOUT)


def test_file_that_arrives_after_a_failed_get_loads_on_the_next_get(
    run: tuple[Path, str], write_image: WriteImage
) -> None:
    directory, url = run

    with open_sequence(url + "/{}.png") as loader:
        with pytest.raises(FileNotFoundError):
            loader.get(5, timeout=TIMEOUT)
        write_image(directory / "5.png", 5)

        assert _value(loader.get(5, timeout=TIMEOUT)) == 5


def test_missing_directory_url_raises_file_not_found(http_server: HttpServer) -> None:
    with pytest.raises(FileNotFoundError, match="No such directory"):
        open_sequence(f"{http_server.url}/no_such_run/")


def test_load_image_makes_one_get_request(
    run: tuple[Path, str], write_image: WriteImage, http_server: HttpServer
) -> None:
    directory, url = run
    write_image(directory / "1.png", 1)

    image = load_image(url + "/1.png")

    assert _value(image) == 1
    assert http_server.requests(f"/{directory.name}/1.png") == ["GET"]
