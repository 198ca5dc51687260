"""Files that change or arrive: refresh() and iter_follow(), on a local folder and on SMB."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import WriteImage

from prefetcher import open_sequence

TIMEOUT = 30
POLL = 0.01


def _value(item: object) -> int:
    return int(np.asarray(item).flat[0])


def _bump_mtime(path: Path) -> None:
    # A rewrite within the file system's timestamp granularity could keep the old mtime.
    status = path.stat()
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns + 10**9))


def test_refresh_drops_an_item_whose_file_was_rewritten(
    tmp_path: Path, write_image: WriteImage
) -> None:
    for n in range(3):
        write_image(tmp_path / f"{n}.png", n)
    with open_sequence(tmp_path, ahead=0) as loader:
        assert _value(loader.get(1, timeout=TIMEOUT)) == 1
        write_image(tmp_path / "1.png", 77)
        _bump_mtime(tmp_path / "1.png")
        assert _value(loader.get(1, timeout=TIMEOUT)) == 1  # still the cached item

        loader.refresh()

        assert _value(loader.get(1, timeout=TIMEOUT)) == 77


def test_refresh_keeps_items_whose_file_did_not_change(
    tmp_path: Path, write_image: WriteImage
) -> None:
    for n in range(3):
        write_image(tmp_path / f"{n}.png", n)
    with open_sequence(tmp_path, ahead=0) as loader:
        loader.get(0, timeout=TIMEOUT)
        loader.refresh()
        loader.get(0, timeout=TIMEOUT)
        assert loader.stats().hits == 1


def test_refresh_adds_files_that_arrived_in_natural_order(
    tmp_path: Path, write_image: WriteImage
) -> None:
    for n in (1, 2, 10):
        write_image(tmp_path / f"{n}.png", n)
    with open_sequence(tmp_path, ahead=0) as loader:
        assert len(loader) == 3
        write_image(tmp_path / "20.png", 20)
        write_image(tmp_path / "11.png", 11)

        loader.refresh()

        assert len(loader) == 5
        assert [Path(key).name for key in loader.keys or ()] == [
            "1.png",
            "2.png",
            "10.png",
            "11.png",
            "20.png",
        ]
        assert [_value(item) for item in loader] == [1, 2, 10, 11, 20]


def test_refresh_with_a_file_sorting_in_between_reindexes_every_item(
    tmp_path: Path, write_image: WriteImage
) -> None:
    for n in (1, 10):
        write_image(tmp_path / f"{n}.png", n)
    with open_sequence(tmp_path, ahead=0) as loader:
        assert _value(loader.get(1, timeout=TIMEOUT)) == 10
        write_image(tmp_path / "5.png", 5)

        loader.refresh()

        assert [_value(item) for item in loader] == [1, 5, 10]


def test_refresh_of_a_glob_adds_new_matches(tmp_path: Path, write_image: WriteImage) -> None:
    write_image(tmp_path / "frame_1.tif", 1)
    with open_sequence(str(tmp_path / "frame_*.tif"), ahead=0) as loader:
        write_image(tmp_path / "frame_2.tif", 2)
        loader.refresh()
        assert [_value(item) for item in loader] == [1, 2]


def _writer(
    directory: Path, write_image: WriteImage, count: int, got: list[threading.Event]
) -> threading.Thread:
    """Write frames 1 .. count - 1, each once the reader got the one before (frame 0 is there)."""

    def write() -> None:
        for n in range(1, count):
            if not got[n - 1].wait(TIMEOUT):
                return
            # Written under another name and renamed, as acquisition software does, so this test
            # is about arriving frames; partial files have a test of their own.
            hidden = write_image(directory / f".{n}.tmp.png", n)  # a dot file: not listed
            os.replace(hidden, directory / f"{n}.png")

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def _follow_while_writing(
    source: str, directory: Path, write_image: WriteImage, **options: Any
) -> list[int]:
    count = 6
    got = [threading.Event() for _ in range(count)]
    write_image(directory / "0.png", 0)
    values: list[int] = []
    with open_sequence(source, ahead=2, **options) as loader:
        writer = _writer(directory, write_image, count, got)
        for frame in loader.iter_follow(poll=POLL, idle=TIMEOUT):
            values.append(_value(frame))
            got[len(values) - 1].set()
            if len(values) == count:
                break
        writer.join(TIMEOUT)
    return values


def test_follow_yields_frames_as_a_writer_adds_them_to_a_folder(
    tmp_path: Path, write_image: WriteImage
) -> None:
    assert _follow_while_writing(str(tmp_path), tmp_path, write_image) == list(range(6))


def test_follow_a_template_yields_frames_as_they_arrive(
    tmp_path: Path, write_image: WriteImage
) -> None:
    source = str(tmp_path / "{}.png")
    assert _follow_while_writing(source, tmp_path, write_image) == list(range(6))


@pytest.mark.slow
def test_follow_yields_frames_as_a_writer_adds_them_to_the_smb_share(
    samba_server: object, write_image: WriteImage, request: pytest.FixtureRequest
) -> None:
    pytest.importorskip("smbprotocol", reason="fsspec's SMB back end needs smbprotocol")
    directory = samba_server.share_dir / request.node.name  # type: ignore[attr-defined]
    directory.mkdir()
    url = f"{samba_server.url}/{request.node.name}"  # type: ignore[attr-defined]

    # A URL source stats each file only when asked to: following needs it.
    follow = {"check_files": True}
    assert _follow_while_writing(url, directory, write_image, **follow) == list(range(6))
    assert _follow_while_writing(url + "/{}.png", directory, write_image, **follow) == list(
        range(6)
    )


def test_follow_reads_ahead_frames_already_written(tmp_path: Path, write_image: WriteImage) -> None:
    for n in range(8):
        write_image(tmp_path / f"{n}.png", n)
    with open_sequence(tmp_path, ahead=3) as loader:
        values = []
        for frame in loader.iter_follow(poll=POLL, idle=TIMEOUT):
            values.append(_value(frame))
            if len(values) == 8:
                break
        stats = loader.stats()

    assert values == list(range(8))
    assert stats.hits + stats.waits >= 4  # were being read ahead when asked for


def test_follow_does_not_yield_a_partially_written_file(
    tmp_path: Path, write_image: WriteImage
) -> None:
    write_image(tmp_path / "0.png", 0)
    whole = write_image(tmp_path / "whole" / "1.png", 1, size=(64, 64)).read_bytes()
    (tmp_path / "1.png").write_bytes(whole[: len(whole) // 2])  # the writer paused half way
    with open_sequence(tmp_path, ahead=2) as loader:
        # idle: a few dozen polls, each of which sees frame 1 of a size that does not change.
        assert [_value(frame) for frame in loader.iter_follow(poll=POLL, idle=0.5)] == [0]

        (tmp_path / "1.png").write_bytes(whole)
        _bump_mtime(tmp_path / "1.png")

        # Read by the read-ahead while partial: read again once complete.
        assert [_value(f) for f in loader.iter_follow(1, poll=POLL, idle=0.2)] == [1]


def test_follow_ends_when_stop_is_set(tmp_path: Path, write_image: WriteImage) -> None:
    write_image(tmp_path / "0.png", 0)
    stop = threading.Event()
    with open_sequence(tmp_path, ahead=0) as loader:
        frames = loader.iter_follow(poll=POLL, idle=None, stop=stop)
        assert _value(next(frames)) == 0
        stop.set()
        assert list(frames) == []


def test_follow_ends_after_idle_seconds_without_a_frame(
    tmp_path: Path, write_image: WriteImage
) -> None:
    write_image(tmp_path / "0.png", 0)
    with open_sequence(tmp_path, ahead=0) as loader:
        assert [_value(frame) for frame in loader.iter_follow(poll=POLL, idle=0.05)] == [0]


def test_follow_needs_check_files(tmp_path: Path, write_image: WriteImage) -> None:
    write_image(tmp_path / "0.png", 0)
    with (
        open_sequence(tmp_path, check_files=False) as loader,
        pytest.raises(ValueError, match="check_files=True"),
    ):
        loader.iter_follow()
