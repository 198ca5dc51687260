"""open_sequence of one multi-page TIFF file: item n is page n, read by its own byte ranges."""

from __future__ import annotations

import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from servers import SambaServer

from prefetcher import FrameStack, open_sequence

tifffile = pytest.importorskip("tifffile", reason="the tiff extra: pip install 'prefetcher[tiff]'")

TIMEOUT = 30
PAGES = 12
PAGE_SHAPE = (64, 48)


def _pages(count: int = PAGES) -> npt.NDArray[np.uint16]:
    """Pages that differ everywhere: page n holds n * 1000 plus each pixel's position."""
    positions = np.arange(PAGE_SHAPE[0] * PAGE_SHAPE[1], dtype=np.uint16).reshape(PAGE_SHAPE)
    return np.stack([positions + n * 1000 for n in range(count)])


def _write(path: Path, pages: npt.NDArray[Any], **options: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, pages, **options)
    return path


def _process_bytes_read() -> int:
    """Bytes this process has read through read(2) and friends so far (Linux's rchar)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("/proc/self/io has no rchar line")  # pragma: no cover


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({}, id="strips"),
        pytest.param({"compression": "zlib", "tile": (16, 16)}, id="zlib-tiles"),
        pytest.param({"photometric": "minisblack", "rowsperstrip": 5}, id="many-strips"),
    ],
)
def test_item_n_is_page_n(tmp_path: Path, options: dict[str, Any]) -> None:
    pages = _pages()
    path = _write(tmp_path / "run7.tif", pages, **options)

    with open_sequence(path, as_array=True) as loader:
        got = [loader.get(n, timeout=TIMEOUT) for n in (7, 0, 11, 3)]

    for page, n in zip(got, (7, 0, 11, 3), strict=True):
        np.testing.assert_array_equal(page, pages[n])


def test_length_is_the_number_of_pages(tmp_path: Path) -> None:
    path = _write(tmp_path / "run7.tif", _pages())

    with open_sequence(str(path), as_array=True) as loader:
        assert len(loader) == PAGES


def test_keys_name_the_file_and_the_page(tmp_path: Path) -> None:
    path = _write(tmp_path / "run7.tif", _pages())

    with open_sequence(path, as_array=True) as loader:
        assert loader.keys is not None
        key = loader.keys[4]
    assert (key.path, key.page, str(key)) == (str(path), 4, f"page 4 of {str(path)!r}")


def test_a_page_is_read_by_its_own_byte_range_not_the_whole_file(tmp_path: Path) -> None:
    if not Path("/proc/self/io").exists():
        pytest.skip("needs Linux's /proc/self/io to count the bytes read")
    pages = _pages(40)
    path = _write(tmp_path / "run7.tif", pages)
    page_bytes = pages[0].nbytes
    with open_sequence(path, as_array=True, ahead=0, max_workers=1) as loader:
        loader.get(1, timeout=TIMEOUT)  # the worker opens its handle and reads the layout once
        before = _process_bytes_read()
        page = loader.get(30, timeout=TIMEOUT)
        read = _process_bytes_read() - before

    np.testing.assert_array_equal(page, pages[30])
    assert page_bytes <= read < 2 * page_bytes, (read, page_bytes, path.stat().st_size)


def test_pages_are_read_only_arrays_with_as_array(tmp_path: Path) -> None:
    path = _write(tmp_path / "run7.tif", _pages())

    with open_sequence(path, as_array=True) as loader:
        page = loader.get(2, timeout=TIMEOUT)
    assert isinstance(page, np.ndarray) and not page.flags.writeable


def test_pages_are_pillow_images_without_as_array(tmp_path: Path) -> None:
    pages = _pages().astype(np.uint8)
    path = _write(tmp_path / "run7.tif", pages)

    with open_sequence(path, mode="L") as loader:
        image = loader.get(3, timeout=TIMEOUT)
    assert (image.mode, image.size) == ("L", (48, 64))
    np.testing.assert_array_equal(np.asarray(image), pages[3])


def test_a_page_pillow_cannot_hold_raises_value_error_naming_file_and_page(
    tmp_path: Path,
) -> None:
    path = _write(tmp_path / "rgb16.tif", np.zeros((3, 8, 8, 3), np.uint16), photometric="rgb")

    with open_sequence(path) as loader, pytest.raises(ValueError) as caught:
        loader.get(1, timeout=TIMEOUT)
    assert f"page 1 of {str(path)!r}" in str(caught.value)
    assert "as_array=True" in str(caught.value)


def test_a_broken_page_raises_naming_the_file_and_the_page(tmp_path: Path) -> None:
    pages = _pages()
    path = _write(tmp_path / "run7.tif", pages, compression="zlib")
    with open_sequence(path, as_array=True, ahead=0) as loader:
        # Overwrite page 5's compressed data in place: its index is still valid, its pixels not.
        page5 = tifffile.TiffFile(path)
        with page5:
            offset, count = page5.pages[5].dataoffsets[0], page5.pages[5].databytecounts[0]
        with open(path, "r+b") as file:
            file.seek(offset)
            file.write(b"\xff" * count)

        with pytest.raises(Exception) as caught:  # zlib's own error class, renamed
            loader.get(5, timeout=TIMEOUT)
        np.testing.assert_array_equal(loader.get(6, timeout=TIMEOUT), pages[6])
    assert f"page 5 of {str(path)!r}" in str(caught.value)


def test_a_file_that_is_not_a_tiff_raises_value_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "fake.tif"
    path.write_bytes(b"not a tiff at all")

    with pytest.raises(ValueError, match=r"fake\.tif"):
        open_sequence(path, as_array=True)


def test_a_glob_of_tiff_files_is_still_a_sequence_of_files(tmp_path: Path) -> None:
    pages = _pages(3)
    for n in range(3):
        _write(tmp_path / f"{n}.tif", pages[n])

    with open_sequence(str(tmp_path / "*.tif"), as_array=True) as loader:
        assert len(loader) == 3
        np.testing.assert_array_equal(loader.get(2, timeout=TIMEOUT), pages[2])


def test_a_tiff_loader_is_a_frame_stack(tmp_path: Path) -> None:
    pages = _pages()
    path = _write(tmp_path / "run7.tif", pages)

    with open_sequence(path, as_array=True) as loader:
        stack = FrameStack(loader)
        np.testing.assert_array_equal(stack[2:9:3], pages[2:9:3])
        np.testing.assert_array_equal(np.asarray(stack), pages)


def test_pages_load_in_a_process_pool(tmp_path: Path) -> None:
    pages = _pages()
    path = _write(tmp_path / "run7.tif", pages)
    context = multiprocessing.get_context("spawn")

    with (
        ProcessPoolExecutor(max_workers=1, mp_context=context) as pool,
        open_sequence(path, as_array=True, executor=pool) as loader,
    ):
        np.testing.assert_array_equal(loader.get(4, timeout=TIMEOUT), pages[4])


# -- over a real SMB share ---------------------------------------------------------------------


@pytest.fixture
def share(samba_server: SambaServer, request: pytest.FixtureRequest) -> tuple[Path, str]:
    pytest.importorskip("fsspec", reason="the remote extra: pip install 'prefetcher[remote]'")
    pytest.importorskip("smbprotocol", reason="fsspec's SMB back end needs smbprotocol")
    name = request.node.name.replace("[", "-").replace("]", "")
    directory = samba_server.share_dir / name
    directory.mkdir()
    return directory, f"{samba_server.url}/{name}"


@pytest.mark.slow
def test_pages_over_smb_are_the_pages(share: tuple[Path, str]) -> None:
    directory, url = share
    pages = _pages()
    _write(directory / "run7.tif", pages, compression="zlib")

    with open_sequence(url + "/run7.tif", as_array=True) as loader:
        got = [loader.get(n, timeout=TIMEOUT) for n in range(PAGES)]
        assert len(loader) == PAGES
    np.testing.assert_array_equal(np.stack(got), pages)


@pytest.mark.slow
def test_a_missing_tiff_over_smb_raises_file_not_found_without_the_password(
    share: tuple[Path, str], samba_server: SambaServer
) -> None:
    _, url = share

    with pytest.raises(FileNotFoundError, match=r"\*\*\*@.*run8\.tif") as caught:
        open_sequence(url + "/run8.tif", as_array=True)
    assert samba_server.password not in str(caught.value)


def _smbd_bytes_read(samba_server: SambaServer) -> int:
    """Bytes smbd and its children (its session: smbd starts a session of its own) have read."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) != samba_server.process.pid:  # field 6 of stat: the session id
                continue
            io = (stat.parent / "io").read_text()
        except (OSError, IndexError, ValueError):  # a process that just exited
            continue
        total += int(io.split("rchar:")[1].split()[0])
    return total


@pytest.mark.slow
def test_a_page_over_smb_is_read_by_its_own_byte_range(
    share: tuple[Path, str], samba_server: SambaServer
) -> None:
    directory, url = share
    # Pages larger than smbclient's 64 kB read buffer, so a page's read is its own.
    pages = np.stack([np.full((256, 256), n, np.uint16) for n in range(30)])
    path = _write(directory / "run7.tif", pages)
    page_bytes = pages[0].nbytes

    with open_sequence(url + "/run7.tif", as_array=True, ahead=0, max_workers=1) as loader:
        loader.get(1, timeout=TIMEOUT)  # the worker opens its handle and reads the layout once
        before = _smbd_bytes_read(samba_server)
        page = loader.get(20, timeout=TIMEOUT)
        read = _smbd_bytes_read(samba_server) - before

    np.testing.assert_array_equal(page, pages[20])
    assert page_bytes <= read < 2 * page_bytes, (read, page_bytes, path.stat().st_size)


def test_scan_of_a_multi_page_tiff_reads_every_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from prefetcher._cli import main

    path = _write(tmp_path / "run7.tif", _pages(5))
    assert main(["scan", str(path), "--quiet", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["frames"], result["read"], result["error_count"]) == (5, 5, 0)
