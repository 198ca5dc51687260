"""prefetcher.napari: the layer, its reads, the reader plugin; with napari's ViewerModel (no
display) here, and a real napari window on an Xvfb display of the tests' own (napari_session.py).

Skipped, with the reason, without napari (``pip install 'prefetcher[napari]'``); the window tests
also without Xvfb and Mesa (``apt-get install xvfb libgl1-mesa-dri``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import _write_image

pytest.importorskip("napari", reason="the napari extra: pip install 'prefetcher[napari]'")

from napari.components import ViewerModel
from napari.utils.notifications import notification_manager

import prefetcher.napari
from prefetcher import FrameStack, PrefetchingLoader, open_sequence

TIMEOUT = 30
FRAMES = 100
HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """100 PNG frames, 64x48, every pixel of frame n holding n."""
    directory = tmp_path_factory.mktemp("frames")
    for n in range(FRAMES):
        _write_image(directory / f"{n}.png", value=n, size=(48, 64))
    return directory


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10 frames of which 5.png is not an image."""
    directory = tmp_path_factory.mktemp("broken")
    for n in range(10):
        _write_image(directory / f"{n}.png", value=n, size=(48, 64))
    (directory / "5.png").write_bytes(b"not a png")
    return directory


# -- the layer, through napari's ViewerModel (no Qt, no display) -------------------------------


@pytest.fixture
def viewer() -> Iterator[ViewerModel]:
    model = ViewerModel()
    yield model
    for layer in list(model.layers):
        model.layers.remove(layer)


def test_view_adds_an_image_layer_over_a_frame_stack(viewer: ViewerModel, frames: Path) -> None:
    layer = prefetcher.napari.view(frames, viewer)

    assert layer in viewer.layers
    assert isinstance(layer.data, FrameStack)
    assert layer.data.shape == (FRAMES, 64, 48)
    assert layer.name == frames.name


def test_adding_a_layer_reads_a_handful_of_frames(viewer: ViewerModel, frames: Path) -> None:
    layer = prefetcher.napari.view(frames, viewer)

    assert layer.data.loader.stats().loads_started <= 6


def test_stepping_forward_ten_times_serves_the_later_steps_from_memory(
    viewer: ViewerModel, frames: Path
) -> None:
    layer = prefetcher.napari.view(frames, viewer)
    loader = layer.data.loader
    viewer.dims.set_current_step(0, 10)
    hits = []
    for step in range(11, 21):
        _wait_idle(loader)
        before = loader.stats().hits
        viewer.dims.set_current_step(0, step)
        hits.append(loader.stats().hits > before)

    assert all(hits[2:]), hits
    assert layer.get_value((20, 0, 0), world=True) == 20


def test_the_layer_shows_the_frame_of_the_current_step(viewer: ViewerModel, frames: Path) -> None:
    layer = prefetcher.napari.view(frames, viewer)

    viewer.dims.set_current_step(0, 73)

    assert layer.get_value((73, 0, 0), world=True) == 73


def test_contrast_limits_of_uint16_frames_come_from_the_first_frame(
    viewer: ViewerModel, tmp_path: Path
) -> None:
    tifffile = pytest.importorskip("tifffile")
    pages = np.zeros((20, 8, 8), np.uint16)
    pages[0, 0, 0], pages[0, 0, 1], pages[7, 0, 0] = 100, 4000, 60000
    tifffile.imwrite(tmp_path / "run.tif", pages)

    layer = prefetcher.napari.view(tmp_path / "run.tif", viewer)

    assert tuple(layer.contrast_limits) == (0.0, 4000.0)
    assert layer.data.loader.stats().loads_started <= 6  # not every frame read for them


def test_contrast_limits_given_are_kept(viewer: ViewerModel, frames: Path) -> None:
    layer = prefetcher.napari.view(frames, viewer, contrast_limits=(10, 20))

    assert tuple(layer.contrast_limits) == (10, 20)


@pytest.mark.parametrize(
    ("frame", "limits"),
    [
        (np.array([[3, 200]], np.uint8), (0.0, 255.0)),
        (np.array([[3, 200]], np.uint16), (3.0, 200.0)),
        (np.array([[7, 7]], np.uint16), (0.0, 65535.0)),
        (np.array([[0.5, 0.5]], np.float32), (0.5, 1.5)),
        (np.array([[-1.0, 2.0]], np.float64), (-1.0, 2.0)),
    ],
)
def test_contrast_limits_of_one_frame(
    frame: np.ndarray[Any, Any], limits: tuple[float, float]
) -> None:
    assert prefetcher.napari.contrast_limits(frame) == limits


def test_a_frame_that_fails_is_a_notification_naming_the_file(
    viewer: ViewerModel, broken: Path
) -> None:
    layer = prefetcher.napari.view(broken, viewer)
    notification_manager.records.clear()

    viewer.dims.set_current_step(0, 5)
    viewer.dims.set_current_step(0, 6)

    [record] = notification_manager.records
    assert "frame 5" in str(record.message) and "5.png" in str(record.message)
    assert layer.get_value((6, 0, 0), world=True) == 6


def test_removing_the_layer_closes_a_loader_view_opened(viewer: ViewerModel, frames: Path) -> None:
    layer = prefetcher.napari.view(frames, viewer)

    viewer.layers.remove(layer)

    assert layer.data.loader.closed


def test_a_loader_passed_in_stays_open_when_the_layer_goes(
    viewer: ViewerModel, frames: Path
) -> None:
    with open_sequence(frames, as_array=True) as loader:
        layer = prefetcher.napari.view(loader, viewer)
        viewer.layers.remove(layer)

        assert not loader.closed


def test_an_open_ended_loader_cannot_be_viewed(viewer: ViewerModel, frames: Path) -> None:
    with (
        PrefetchingLoader(str) as loader,
        pytest.raises(ValueError, match="needs a loader with keys"),
    ):
        prefetcher.napari.view(loader, viewer)


def test_the_reader_hook_takes_a_folder(frames: Path) -> None:
    reader = prefetcher.napari.napari_get_reader(str(frames))

    assert reader is not None
    [(data, options, kind)] = reader(str(frames))
    try:
        assert (kind, isinstance(data, FrameStack), len(data)) == ("image", True, FRAMES)
        assert options["contrast_limits"] == (0.0, 255.0)
    finally:
        data.loader.close()


def test_the_reader_hook_declines_a_single_png(frames: Path) -> None:
    assert prefetcher.napari.napari_get_reader(str(frames / "1.png")) is None


def test_the_manifest_is_valid_and_registered() -> None:
    npe2 = pytest.importorskip("npe2")
    manifest = npe2.PluginManifest.from_distribution("prefetcher")

    assert manifest.name == "prefetcher"
    [reader] = manifest.contributions.readers
    assert reader.accepts_directories


def _wait_idle(loader: PrefetchingLoader[Any, Any]) -> None:
    """Wait until no load is queued or running (polled, with a bound)."""
    deadline = time.monotonic() + TIMEOUT
    while loader.stats().pending:
        if time.monotonic() > deadline:
            raise AssertionError(f"the loader never became idle: {loader!r}")
        time.sleep(0.002)  # a poll interval; the condition decides


# -- a real napari window under Xvfb -----------------------------------------------------------


@pytest.fixture(scope="module")
def xvfb_display() -> Iterator[str]:
    """An Xvfb display of our own (``:N``), stopped by its pid at the end of the module."""
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        pytest.skip("napari's window needs Xvfb: apt-get install xvfb libgl1-mesa-dri")
    read_end, write_end = os.pipe()
    process = subprocess.Popen(
        [xvfb, "-displayfd", str(write_end), "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    try:
        with os.fdopen(read_end) as announced:
            number = _read_display(announced, process)
        yield f":{number}"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:  # pragma: no cover - Xvfb ignoring SIGTERM
            process.kill()
            process.wait(timeout=TIMEOUT)


def _read_display(announced: Any, process: subprocess.Popen[bytes]) -> str:
    import select

    ready, _, _ = select.select([announced], [], [], TIMEOUT)
    if not ready:
        process.kill()
        raise TimeoutError("Xvfb did not announce its display")
    number = announced.readline().strip()
    if not number:
        raise RuntimeError(f"Xvfb exited with status {process.wait(timeout=TIMEOUT)}")
    return str(number)


@pytest.fixture(scope="module")
def session(xvfb_display: str, frames: Path, broken: Path) -> dict[str, Any]:
    """Every scenario of napari_session.py, run once in a child napari on the Xvfb display."""
    tifffile = pytest.importorskip("tifffile")
    pages = np.stack([np.full((16, 16), n * 100, np.uint16) for n in range(8)])
    tifffile.imwrite(frames.parent / "stack.tif", pages)
    env = {key: value for key, value in os.environ.items() if key != "QT_QPA_PLATFORM"}
    env.update(DISPLAY=xvfb_display, QT_QPA_PLATFORM="xcb")
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    process = subprocess.Popen(
        [sys.executable, str(HERE / "napari_session.py"), str(frames), str(broken)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
        # The child gets the default SIGINT handler, so Ctrl-C stops it too.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        out, err = process.communicate(timeout=150)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate(timeout=TIMEOUT)
        pytest.fail(f"the napari session hung; its stderr:\n{err[-3000:]}")
    lines = out.strip().splitlines()
    if process.returncode != 0 or not lines:
        pytest.fail(f"the napari session failed ({process.returncode}):\n{err[-3000:]}")
    results: dict[str, Any] = json.loads(lines[-1])
    return results


def _result(session: dict[str, Any], name: str) -> dict[str, Any]:
    result: dict[str, Any] = session[name]
    if "error" in result:
        pytest.fail(f"{name} failed in napari:\n{result['error']}")
    return result


@pytest.mark.slow
def test_in_napari_adding_a_layer_reads_a_handful_of_frames(session: dict[str, Any]) -> None:
    result = _result(session, "add_layer")

    assert result["is_frame_stack"] and result["frames"] == FRAMES
    assert result["loads"] <= 6, result


@pytest.mark.slow
def test_in_napari_stepping_forward_serves_the_later_steps_from_memory(
    session: dict[str, Any],
) -> None:
    result = _result(session, "step_forward")

    assert all(result["hits"][2:]), result
    assert result["shown"] == 20


@pytest.mark.slow
def test_in_napari_a_step_never_waits_for_a_loading_frame(session: dict[str, Any]) -> None:
    result = _result(session, "never_blocks")

    assert result["loading_after_step"], result
    assert (result["shown_while_loading"], result["shown_after"]) == (29, 30)


@pytest.mark.slow
def test_in_napari_a_failing_frame_is_a_notification_and_the_viewer_goes_on(
    session: dict[str, Any],
) -> None:
    result = _result(session, "failing_frame")

    assert "frame 5" in result["message"] and "5.png" in result["message"], result
    assert result["shown_after"] == 6


@pytest.mark.slow
def test_in_napari_open_with_the_plugin_gives_a_frame_stack(session: dict[str, Any]) -> None:
    result = _result(session, "reader_plugin")

    assert (result["is_frame_stack"], result["frames"]) == (True, FRAMES)


@pytest.mark.slow
def test_in_napari_a_multi_page_tiff_shows_its_pages(session: dict[str, Any]) -> None:
    result = _result(session, "tiff_pages")

    assert (result["frames"], result["shown"]) == (8, 400)


@pytest.mark.slow
def test_in_napari_run_shows_the_start_frame_until_the_window_closes(
    session: dict[str, Any],
) -> None:
    result = _result(session, "run_until_closed")

    assert (result["status"], result.get("shown")) == (0, 7), result


@pytest.mark.slow
def test_prefetcher_view_with_napari_opens_napari_on_the_start_frame(
    session: dict[str, Any],
) -> None:
    result = _result(session, "command_line")

    assert (result["status"], result.get("shown")) == (0, 5), result
