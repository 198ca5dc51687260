"""map_frames over local threads, local processes, and a real Dask LocalCluster (local frames and
the real SMB share)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy.typing as npt
import pytest
from conftest import WriteImage
from dask_support import local_cluster
from servers import SambaServer

from prefetcher import (
    MapFramesError,
    map_frames,
    map_frames_report,
    open_sequence,
)

ROOT = Path(__file__).resolve().parent.parent
FRAMES = 23  # not a multiple of the chunk size: the last chunk is short
CHUNK = 5
BROKEN = 7  # the frame whose file is not an image
CORRUPT = b"not an image"


def pixel(frame: npt.NDArray[Any]) -> int:
    """The value every pixel of a test frame has: its number, so order mistakes show."""
    return int(frame[0, 0])


def pixel_unless_13(frame: npt.NDArray[Any]) -> int:
    if int(frame[0, 0]) == 13:
        raise ArithmeticError("frame 13 is unlucky")
    return int(frame[0, 0])


def lock_in_chunk_2(frame: npt.NDArray[Any]) -> Any:
    """A result that cannot be pickled for the frames of the third chunk (10..14)."""
    return threading.Lock() if 2 * CHUNK <= int(frame[0, 0]) < 3 * CHUNK else int(frame[0, 0])


class LockedError(Exception):
    """An exception that cannot be pickled: it holds a lock."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.lock = threading.Lock()


def raise_locked_error(frame: npt.NDArray[Any]) -> int:
    raise LockedError(f"bad pixel at {int(frame[0, 0])}")


@pytest.fixture
def frames(tmp_path: Path, write_image: WriteImage) -> Path:
    """A directory of FRAMES grey PNGs, frame n every pixel n."""
    for n in range(FRAMES):
        write_image(tmp_path / "run" / f"{n}.png", n)
    return tmp_path / "run"


@pytest.fixture
def frames_with_broken_file(frames: Path) -> Path:
    (frames / f"{BROKEN}.png").write_bytes(CORRUPT)
    return frames


def plain_loop(source: str | list[str], fn: Any) -> list[Any]:
    with open_sequence(source, as_array=True) as loader:
        return [fn(frame) for frame in loader]


# -- local threads and processes --------------------------------------------------------------


def test_results_equal_the_plain_loop_in_frame_order(frames: Path) -> None:
    results = map_frames(pixel, str(frames), chunk_size=CHUNK, as_array=True, progress=False)

    assert results == plain_loop(str(frames), pixel) == list(range(FRAMES))


def test_processes_give_the_plain_loop_results(frames: Path) -> None:
    results = map_frames(
        pixel,
        str(frames),
        chunk_size=CHUNK,
        processes=True,
        workers=2,
        as_array=True,
        progress=False,
    )

    assert results == list(range(FRAMES))


def test_a_list_of_paths_is_a_source(frames: Path) -> None:
    paths = [str(frames / f"{n}.png") for n in (3, 1, 2)]

    assert map_frames(pixel, paths, chunk_size=2, as_array=True, progress=False) == [3, 1, 2]


def test_load_maps_over_any_keys() -> None:
    results = map_frames(len, ["a", "bb", "ccc"] * 3, chunk_size=2, load=str.upper, progress=False)

    assert results == [1, 2, 3] * 3


def test_failed_frames_are_reported_with_index_file_and_error_and_the_rest_processed(
    frames_with_broken_file: Path,
) -> None:
    with pytest.raises(MapFramesError) as caught:
        map_frames(
            pixel_unless_13,
            str(frames_with_broken_file),
            chunk_size=CHUNK,
            as_array=True,
            progress=False,
        )

    failures = caught.value.failures
    assert [(f.index, f.file) for f in failures] == [
        (BROKEN, str(frames_with_broken_file / f"{BROKEN}.png")),
        (13, str(frames_with_broken_file / "13.png")),
    ]
    assert type(failures[0].error).__name__ == "UnidentifiedImageError"
    assert isinstance(failures[1].error, ArithmeticError)
    assert "frame 13 is unlucky" in failures[1].traceback
    expected = [None if n in (BROKEN, 13) else n for n in range(FRAMES)]
    assert caught.value.results == expected


def test_error_message_counts_the_failures_and_names_their_files(
    frames_with_broken_file: Path,
) -> None:
    with pytest.raises(MapFramesError, match=rf"^2 of {FRAMES} frames failed: #{BROKEN} .*7\.png"):
        map_frames(
            pixel_unless_13,
            str(frames_with_broken_file),
            chunk_size=CHUNK,
            as_array=True,
            progress=False,
        )


def test_a_failure_keeps_a_note_with_its_index_in_the_whole_sequence(
    frames_with_broken_file: Path,
) -> None:
    report = map_frames_report(
        pixel, str(frames_with_broken_file), chunk_size=CHUNK, as_array=True, progress=False
    )

    (failure,) = report.failures
    assert f"prefetcher: map_frames frame {BROKEN} ({failure.file})" in getattr(
        failure.error, "__notes__", []
    )


def test_report_returns_failures_instead_of_raising(frames_with_broken_file: Path) -> None:
    report = map_frames_report(
        pixel, str(frames_with_broken_file), chunk_size=CHUNK, as_array=True, progress=False
    )

    assert [f.index for f in report.failures] == [BROKEN]
    assert report.results[BROKEN] is None
    assert report.results[BROKEN + 1] == BROKEN + 1


def test_a_chunk_whose_task_fails_reports_every_frame_of_it(frames: Path) -> None:
    # With processes, a result that cannot be pickled fails the chunk's whole task.
    with pytest.raises(MapFramesError) as caught:
        map_frames(
            lock_in_chunk_2,
            str(frames),
            chunk_size=CHUNK,
            processes=True,
            workers=2,
            as_array=True,
            progress=False,
        )

    failures = caught.value.failures
    assert [f.index for f in failures] == list(range(2 * CHUNK, 3 * CHUNK))
    assert [f.file for f in failures] == [str(frames / f"{n}.png") for n in range(10, 15)]
    results = caught.value.results
    assert results[: 2 * CHUNK] == list(range(2 * CHUNK))
    assert results[3 * CHUNK :] == list(range(3 * CHUNK, FRAMES))


def test_an_exception_that_cannot_travel_back_comes_as_runtime_error_naming_it(
    frames: Path,
) -> None:
    report = map_frames_report(
        raise_locked_error,
        [str(frames / "4.png")],
        processes=True,
        workers=1,
        as_array=True,
        progress=False,
    )

    (failure,) = report.failures
    assert isinstance(failure.error, RuntimeError)
    assert "LockedError: bad pixel at 4" in str(failure.error)
    assert "LockedError" in failure.traceback


def test_each_chunk_reads_ahead_in_a_loader_of_its_own(frames: Path) -> None:
    report = map_frames_report(
        pixel, str(frames), chunk_size=CHUNK, workers=2, as_array=True, progress=False
    )

    assert [(c.start, c.stop) for c in report.chunks] == [
        (start, min(start + CHUNK, FRAMES)) for start in range(0, FRAMES, CHUNK)
    ]
    for chunk in report.chunks:
        frames_in_chunk = chunk.stop - chunk.start
        assert chunk.stats.requests == frames_in_chunk
        # Only the first frame of a chunk was not already loading: every other one was read
        # ahead while fn worked on the one before.
        assert chunk.stats.misses == 1
        assert chunk.stats.hits + chunk.stats.waits == frames_in_chunk - 1
        # Nothing was read past the chunk's end.
        assert chunk.stats.loads_started == frames_in_chunk
    assert report.loader_stats().requests == FRAMES


def test_unpicklable_fn_for_processes_raises_type_error_before_anything_runs(
    frames: Path,
) -> None:
    with pytest.raises(TypeError, match=r"fn .* cannot be pickled.*processes=True"):
        map_frames(lambda frame: 0, str(frames), processes=True, progress=False)


def test_numbered_template_raises_value_error_asking_for_the_list(frames: Path) -> None:
    with pytest.raises(ValueError, match=r"numbered template.*range\(first, last \+ 1\)"):
        map_frames(pixel, str(frames / "{}.png"), progress=False)


@pytest.mark.parametrize("chunk_size", [0, -1, 2.5, True])
def test_bad_chunk_size_raises_value_error(frames: Path, chunk_size: Any) -> None:
    with pytest.raises(ValueError, match="chunk_size must be an integer >= 1"):
        map_frames(pixel, str(frames), chunk_size=chunk_size, progress=False)


def test_bad_loader_option_raises_before_anything_runs(frames: Path) -> None:
    with pytest.raises(ValueError, match="cache_size must be >= 1"):
        map_frames(pixel, str(frames), cache_size=0, progress=False)


def test_progress_bar_counts_frames_on_stderr(
    frames: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    map_frames(pixel, str(frames), chunk_size=CHUNK, as_array=True)

    assert f"{FRAMES}/{FRAMES}" in capsys.readouterr().err


def test_progress_false_prints_nothing(frames: Path, capsys: pytest.CaptureFixture[str]) -> None:
    map_frames(pixel, str(frames), chunk_size=CHUNK, as_array=True, progress=False)

    assert capsys.readouterr() == ("", "")


def test_import_prefetcher_does_not_import_dask() -> None:
    code = "import sys, prefetcher; print(sorted({'dask', 'distributed'} & set(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )

    assert done.stdout.strip() == "[]"


# -- a real LocalCluster: 2 worker processes on 127.0.0.1 -------------------------------------


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    with local_cluster() as client:
        yield client


@pytest.mark.slow
def test_cluster_results_equal_the_plain_loop(frames: Path, client: Any) -> None:
    results = map_frames(
        pixel, str(frames), chunk_size=CHUNK, client=client, as_array=True, progress=False
    )

    assert results == plain_loop(str(frames), pixel)


@pytest.mark.slow
def test_cluster_failures_are_reported_with_their_files(
    frames_with_broken_file: Path, client: Any
) -> None:
    with pytest.raises(MapFramesError) as caught:
        map_frames(
            pixel_unless_13,
            str(frames_with_broken_file),
            chunk_size=CHUNK,
            client=client,
            as_array=True,
            progress=False,
        )

    assert [(f.index, f.file) for f in caught.value.failures] == [
        (BROKEN, str(frames_with_broken_file / f"{BROKEN}.png")),
        (13, str(frames_with_broken_file / "13.png")),
    ]
    assert type(caught.value.failures[0].error).__name__ == "UnidentifiedImageError"
    assert caught.value.results == [None if n in (BROKEN, 13) else n for n in range(FRAMES)]


@pytest.mark.slow
def test_cluster_chunks_read_ahead_on_the_workers(frames: Path, client: Any) -> None:
    worker_pids = set(client.run(os.getpid).values())

    report = map_frames_report(
        pixel, str(frames), chunk_size=CHUNK, client=client, as_array=True, progress=False
    )

    assert len(report.chunks) == -(-FRAMES // CHUNK)
    for chunk in report.chunks:
        assert int(chunk.worker.rsplit(":", 1)[1]) in worker_pids
        assert chunk.stats.misses == 1
        assert chunk.stats.hits + chunk.stats.waits == chunk.stop - chunk.start - 1


@pytest.mark.slow
def test_cluster_progress_bar_counts_frames(
    frames: Path, client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    map_frames(pixel, str(frames), chunk_size=CHUNK, client=client, as_array=True)

    assert f"{FRAMES}/{FRAMES}" in capsys.readouterr().err


@pytest.mark.slow
def test_cluster_takes_lambdas_by_value(frames: Path, client: Any) -> None:
    results = map_frames(
        lambda frame: int(frame[0, 0]) * 2,
        str(frames),
        client=client,
        as_array=True,
        progress=False,
    )

    assert results == [2 * n for n in range(FRAMES)]


@pytest.mark.slow
def test_cluster_unpicklable_fn_raises_type_error_naming_it(frames: Path, client: Any) -> None:
    lock = threading.Lock()

    def locked(frame: Any) -> int:
        with lock:
            return 0

    with pytest.raises(TypeError, match=r"fn .*locked.* cannot be pickled.*cluster's workers"):
        map_frames(locked, str(frames), client=client, progress=False)


@pytest.mark.slow
def test_workers_with_client_raise_value_error(frames: Path, client: Any) -> None:
    with pytest.raises(ValueError, match="workers and processes are for local runs"):
        map_frames(pixel, str(frames), client=client, workers=2, progress=False)


@pytest.fixture
def smb_run(
    samba_server: SambaServer, request: pytest.FixtureRequest, write_image: WriteImage
) -> tuple[Path, str]:
    """A directory of this test's own on the share, with FRAMES frames: (local path, its URL)."""
    pytest.importorskip("smbprotocol", reason="fsspec's SMB back end needs smbprotocol")
    name = request.node.name
    directory = samba_server.share_dir / name
    for n in range(FRAMES):
        write_image(directory / f"{n}.png", n)
    return directory, f"{samba_server.url}/{name}"


@pytest.mark.slow
def test_cluster_over_the_smb_share_equals_the_plain_loop(
    smb_run: tuple[Path, str], client: Any
) -> None:
    _, url = smb_run

    report = map_frames_report(
        pixel, url, chunk_size=CHUNK, client=client, as_array=True, progress=False
    )

    assert report.failures == ()
    assert report.results == plain_loop(url, pixel) == list(range(FRAMES))
    for chunk in report.chunks:
        assert chunk.stats.misses == 1


@pytest.mark.slow
def test_cluster_over_the_smb_share_names_a_broken_file_without_the_password(
    smb_run: tuple[Path, str], client: Any, samba_server: SambaServer
) -> None:
    directory, url = smb_run
    (directory / f"{BROKEN}.png").write_bytes(CORRUPT)

    with pytest.raises(MapFramesError) as caught:
        map_frames(pixel, url, chunk_size=CHUNK, client=client, as_array=True, progress=False)

    (failure,) = caught.value.failures
    assert failure.index == BROKEN
    assert failure.file.endswith(f"/{directory.name}/{BROKEN}.png")
    assert "root@127.0.0.1" in failure.file  # the public URL: user and host, no password
    assert samba_server.password not in str(caught.value)
    assert samba_server.password not in failure.traceback


# -- the benchmark's smoke run ----------------------------------------------------------------


@pytest.mark.slow
def test_scale_out_benchmark_quick_run_checks_every_contender(tmp_path: Path) -> None:
    output = tmp_path / "scale_out.json"
    command = [
        sys.executable,
        str(ROOT / "benchmarks" / "scale_out.py"),
        "--quick",
        f"--output={output}",
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=55)
    assert done.returncode == 0, done.stdout + done.stderr

    document = json.loads(output.read_text())
    assert {r["contender"] for r in document["results"]} == {
        "plain",
        "loader",
        "map_frames_local",
        "map_frames_cluster",
    }
    for result in document["results"]:
        assert result["status"] == "ok", result
        assert result["median_seconds"] > 0
