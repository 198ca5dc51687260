"""prefetcher scan in chunks: on a real Dask LocalCluster, and on local processes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import WriteImage
from dask_support import local_cluster

from prefetcher._cli import main

FRAMES = 12


@pytest.fixture
def frames(tmp_path: Path, write_image: WriteImage) -> Path:
    """Frames 1..12, with 5.png corrupt."""
    directory = tmp_path / "run"
    for n in range(1, FRAMES + 1):
        write_image(directory / f"{n}.png", n)
    (directory / "5.png").write_bytes(b"not a png")
    return directory


def scan_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    status = main(["scan", *args, "--json", "--quiet"])
    return status, json.loads(capsys.readouterr().out)


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_scan_on_a_cluster_reads_every_frame_and_names_the_broken_one(
    frames: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with local_cluster() as client:
        status, result = scan_json(capsys, str(frames), "--scheduler", client.scheduler.address)
    assert status == 1
    assert (result["frames"], result["read"], result["error_count"]) == (FRAMES, FRAMES - 1, 1)
    (error,) = result["errors"]
    assert (error["number"], error["path"]) == (5, str(frames / "5.png"))
    assert error["error"].startswith("UnidentifiedImageError")
    assert result["stats"]["requests"] == FRAMES  # gathered from the chunks' loaders


@pytest.mark.timeout(120)
def test_scan_on_local_processes_finds_the_gaps_of_a_template(
    frames: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (frames / "5.png").unlink()
    (frames / "9.png").unlink()
    status, result = scan_json(capsys, str(frames / "{}.png"), "--processes", "2")
    assert status == 1
    assert result["missing_count"] == 2
    assert result["error_count"] == 0
    assert result["read"] == FRAMES - 2


def test_scan_refuses_a_scheduler_and_processes_together(frames: Path) -> None:
    assert main(["scan", str(frames), "--scheduler", "tcp://127.0.0.1:1", "--processes", "2"]) == 2
