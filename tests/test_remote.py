"""Image sequences read through fsspec from real servers on 127.0.0.1: the same behaviour over
HTTP (python -m http.server) and SMB (a real smbd; skipped where it is not installed).

What only one protocol has is tested in test_remote_http.py and test_remote_smb.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from conftest import WriteImage

from prefetcher._images import load_image
from prefetcher._sequence import open_sequence

pytest.importorskip("fsspec", reason="the remote extra: pip install 'prefetcher[remote]'")

TIMEOUT = 30

# Per protocol: the server fixture, the package its fsspec back end needs, and how a directory
# URL is written for a listing (http.server lists a directory at its URL with a slash).
PROTOCOLS = {
    "http": ("http_server", "aiohttp", "/"),
    "smb": ("samba_server", "smbprotocol", ""),
}


@dataclass(frozen=True)
class Remote:
    """A directory of the test's own on a server."""

    directory: Path  # where the test writes the files the server serves
    url: str  # the directory's URL, without a trailing slash
    listing_url: str  # the URL that lists the directory
    public_url: str  # url as a loader's keys show it: without the password


def _value(item: object) -> int:
    return int(np.asarray(item).flat[0])


@pytest.fixture(params=sorted(PROTOCOLS))
def remote(request: pytest.FixtureRequest) -> Remote:
    server_fixture, package, listing_suffix = PROTOCOLS[request.param]
    pytest.importorskip(package, reason=f"fsspec's {request.param} back end needs {package}")
    server = request.getfixturevalue(server_fixture)
    root = server.root if request.param == "http" else server.share_dir
    name = request.node.name.replace("[", "_").replace("]", "")
    directory = root / name
    directory.mkdir()
    url = f"{server.url}/{name}"
    public = getattr(server, "public_url", server.url) + f"/{name}"
    return Remote(directory, url, url + listing_suffix, public)


def test_template_url_gives_file_n_for_get_n(remote: Remote, write_image: WriteImage) -> None:
    for n in (1, 2, 10):
        write_image(remote.directory / f"{n}.png", n)

    with open_sequence(remote.url + "/{}.png", as_array=True) as loader:
        assert [_value(loader.get(n, timeout=TIMEOUT)) for n in (1, 2, 10)] == [1, 2, 10]


def test_zero_padded_tiff_template_url(remote: Remote, write_image: WriteImage) -> None:
    write_image(remote.directory / "frame_00003.tif", 3)

    with open_sequence(remote.url + "/frame_{:05d}.tif") as loader:
        assert _value(loader.get(3, timeout=TIMEOUT)) == 3


def test_list_of_urls_keeps_the_given_order(remote: Remote, write_image: WriteImage) -> None:
    for n in (1, 2, 3):
        write_image(remote.directory / f"{n}.png", n)
    urls = [f"{remote.url}/{n}.png" for n in (3, 1, 2)]

    with open_sequence(urls, mode="RGB") as loader:
        assert loader.keys == tuple(f"{remote.public_url}/{n}.png" for n in (3, 1, 2))
        assert [_value(item) for item in loader] == [3, 1, 2]


def test_directory_url_gives_its_images_in_natural_order(
    remote: Remote, write_image: WriteImage
) -> None:
    for n in (10, 2, 1):
        write_image(remote.directory / f"{n}.png", n)
    (remote.directory / "notes.txt").write_text("not an image")

    with open_sequence(remote.listing_url) as loader:
        assert loader.keys is not None
        assert [key.rsplit("/", 1)[1] for key in loader.keys] == ["1.png", "2.png", "10.png"]
        assert _value(loader.get(2, timeout=TIMEOUT)) == 10


def test_glob_url_gives_the_matches_in_natural_order(
    remote: Remote, write_image: WriteImage
) -> None:
    for n in (10, 9):
        write_image(remote.directory / f"frame_{n}.png", n)
    write_image(remote.directory / "dark_1.png", 0)

    with open_sequence(remote.url + "/frame_*.png") as loader:
        assert loader.keys == (
            f"{remote.public_url}/frame_9.png",
            f"{remote.public_url}/frame_10.png",
        )
        assert _value(loader.get(0, timeout=TIMEOUT)) == 9


def test_reads_ahead_in_several_threads(remote: Remote, write_image: WriteImage) -> None:
    for n in range(12):
        write_image(remote.directory / f"{n}.png", n)

    with open_sequence(remote.url + "/{}.png", ahead=4, max_workers=4) as loader:
        assert [_value(loader.get(n, timeout=TIMEOUT)) for n in range(12)] == list(range(12))


def test_missing_file_raises_file_not_found_naming_it(remote: Remote) -> None:
    with (
        open_sequence(remote.url + "/{}.png", ahead=0) as loader,
        pytest.raises(FileNotFoundError, match=rf"{remote.directory.name}/4\.png"),
    ):
        loader.get(4, timeout=TIMEOUT)


def test_file_that_arrives_after_a_failed_get_loads_on_the_next_get(
    remote: Remote, write_image: WriteImage
) -> None:
    with open_sequence(remote.url + "/{}.png") as loader:
        with pytest.raises(FileNotFoundError):
            loader.get(5, timeout=TIMEOUT)
        write_image(remote.directory / "5.png", 5)

        assert _value(loader.get(5, timeout=TIMEOUT)) == 5


def test_missing_directory_url_raises_file_not_found(remote: Remote) -> None:
    missing = remote.listing_url.replace(remote.directory.name, "no_such_run")
    with pytest.raises(FileNotFoundError, match="No such directory"):
        open_sequence(missing)


def test_load_image_reads_a_remote_file(remote: Remote, write_image: WriteImage) -> None:
    write_image(remote.directory / "1.png", 7, size=(8, 6))

    array = load_image(remote.url + "/1.png", as_array=True)

    assert array.shape == (6, 8)
    assert (array == 7).all()
