"""Images read through fsspec from a real Samba server (smbd on a high port of 127.0.0.1).

Skipped where smbd is not installed (``apt-get install samba``); .ci/run installs it.
"""

from __future__ import annotations

import getpass
from pathlib import Path

import numpy as np
import pytest
from conftest import WriteImage
from servers import SambaServer

from prefetcher._images import load_image
from prefetcher._sequence import open_sequence

pytest.importorskip("fsspec", reason="the remote extra: pip install 'prefetcher[remote]'")
pytest.importorskip("smbprotocol", reason="fsspec's SMB back end needs smbprotocol")

TIMEOUT = 30


def _value(item: object) -> int:
    return int(np.asarray(item).flat[0])


@pytest.fixture
def run(samba_server: SambaServer, request: pytest.FixtureRequest) -> tuple[Path, str]:
    """A directory of this test's own on the share: (local path, its smb:// URL)."""
    name = request.node.name
    directory = samba_server.share_dir / name
    directory.mkdir()
    return directory, f"{samba_server.url}/{name}"


def test_template_url_gives_file_n_for_get_n(
    run: tuple[Path, str], write_image: WriteImage
) -> None:
    directory, url = run
    for n in (1, 2, 10):
        write_image(directory / f"{n}.png", n)

    with open_sequence(url + "/{}.png", as_array=True) as loader:
        assert [_value(loader.get(n, timeout=TIMEOUT)) for n in (1, 2, 10)] == [1, 2, 10]


def test_zero_padded_tiff_template_url(run: tuple[Path, str], write_image: WriteImage) -> None:
    directory, url = run
    write_image(directory / "frame_00003.tif", 3)

    with open_sequence(url + "/frame_{:05d}.tif") as loader:
        assert _value(loader.get(3, timeout=TIMEOUT)) == 3


def test_directory_url_gives_its_images_in_natural_order(
    run: tuple[Path, str], write_image: WriteImage
) -> None:
    directory, url = run
    for n in (10, 2, 1):
        write_image(directory / f"{n}.png", n)
    (directory / "notes.txt").write_text("not an image")

    with open_sequence(url) as loader:
        assert loader.keys == (f"{url}/1.png", f"{url}/2.png", f"{url}/10.png")
        assert _value(loader.get(2, timeout=TIMEOUT)) == 10


def test_glob_url_gives_the_matches_in_natural_order(
    run: tuple[Path, str], write_image: WriteImage
) -> None:
    directory, url = run
    for n in (10, 9):
        write_image(directory / f"frame_{n}.png", n)
    write_image(directory / "dark_1.png", 0)

    with open_sequence(url + "/frame_*.png") as loader:
        assert loader.keys == (f"{url}/frame_9.png", f"{url}/frame_10.png")
        assert _value(loader.get(0, timeout=TIMEOUT)) == 9


def test_list_of_urls_keeps_the_given_order(run: tuple[Path, str], write_image: WriteImage) -> None:
    directory, url = run
    for n in (1, 2, 3):
        write_image(directory / f"{n}.png", n)
    urls = [f"{url}/{n}.png" for n in (3, 1, 2)]

    with open_sequence(urls, mode="RGB") as loader:
        assert [_value(item) for item in loader] == [3, 1, 2]


def test_reads_ahead_in_several_threads_over_one_session(
    run: tuple[Path, str], write_image: WriteImage
) -> None:
    directory, url = run
    for n in range(12):
        write_image(directory / f"{n}.png", n)

    with open_sequence(url + "/{}.png", ahead=4, max_workers=4) as loader:
        assert [_value(loader.get(n, timeout=TIMEOUT)) for n in range(12)] == list(range(12))


def test_missing_file_raises_file_not_found_naming_the_url_without_password(
    run: tuple[Path, str], samba_server: SambaServer
) -> None:
    _, url = run

    with (
        open_sequence(url + "/{}.png", ahead=0) as loader,
        pytest.raises(FileNotFoundError, match=r"smb://[^ ]*:\*\*\*@.*/4\.png") as caught,
    ):
        loader.get(4, timeout=TIMEOUT)

    assert samba_server.password not in str(caught.value)


def test_file_that_arrives_after_a_failed_get_loads_on_the_next_get(
    run: tuple[Path, str], write_image: WriteImage
) -> None:
    directory, url = run

    with open_sequence(url + "/{}.png") as loader:
        with pytest.raises(FileNotFoundError):
            loader.get(5, timeout=TIMEOUT)
        write_image(directory / "5.png", 5)

        assert _value(loader.get(5, timeout=TIMEOUT)) == 5


def test_missing_directory_url_raises_file_not_found(samba_server: SambaServer) -> None:
    with pytest.raises(FileNotFoundError, match="No such directory"):
        open_sequence(f"{samba_server.url}/no_such_run")


def test_file_url_given_as_directory_raises_value_error(
    run: tuple[Path, str], write_image: WriteImage
) -> None:
    directory, url = run
    write_image(directory / "1.png", 1)

    with pytest.raises(ValueError, match="is a file"):
        open_sequence(url + "/1.png")


def test_load_image_reads_a_share_file(run: tuple[Path, str], write_image: WriteImage) -> None:
    directory, url = run
    write_image(directory / "1.png", 7, size=(8, 6))

    array = load_image(url + "/1.png", as_array=True)

    assert array.shape == (6, 8)
    assert (array == 7).all()


def test_share_user_is_the_current_unix_user(samba_server: SambaServer) -> None:
    # The server adds the current user to its own password database: no account is created.
    assert samba_server.user == getpass.getuser()


def test_without_smbd_the_skip_reason_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import servers

    monkeypatch.setattr(servers.shutil, "which", lambda *args, **kwargs: None)

    assert "apt-get install samba" in (servers.smbd_missing_reason() or "")
