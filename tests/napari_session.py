"""A real napari window, run by tests/test_napari.py in a child process on its own Xvfb display.

``python napari_session.py FRAMES BROKEN`` runs every scenario below in a fresh ``napari.Viewer``
and prints one JSON object on the last line of stdout: scenario name -> what it measured, or
``{"error": traceback}``. The parent asserts on it, one test per behaviour. A child of its own
because a process has one QApplication: the other Qt tests use Qt's offscreen platform, which
has no OpenGL for napari's canvas.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import traceback
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import napari
import numpy as np
from napari.utils.notifications import notification_manager
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QApplication

import prefetcher.napari
from prefetcher import FrameStack, PrefetchingLoader, open_sequence

TIMEOUT = 20.0


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Run Qt's event loop until ``condition()`` holds; fail after TIMEOUT seconds."""
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        QApplication.processEvents()
        time.sleep(0.005)  # a poll interval, not a guess: the condition decides


def shown(layer: Any, viewer: Any) -> int:
    """The value napari displays at the top-left pixel of the current frame."""
    step = viewer.dims.current_step[0]
    return int(layer.get_value((step, 0, 0), world=True))


def is_shown(layer: Any, viewer: Any, step: int) -> bool:
    return shown(layer, viewer) == step


def add_layer(frames: str, broken: str) -> dict[str, Any]:
    viewer = napari.Viewer(show=True)
    try:
        layer = prefetcher.napari.view(frames, viewer)
        loader = layer.data.loader
        wait_until(lambda: loader.stats().pending == 0, "the first frames")
        wait_until(lambda: shown(layer, viewer) == viewer.dims.current_step[0], "the frame")
        return {
            "loads": loader.stats().loads_started,
            "frames": len(layer.data),
            "is_frame_stack": isinstance(layer.data, FrameStack),
            "contrast_limits": list(layer.contrast_limits),
        }
    finally:
        viewer.close()


def step_forward(frames: str, broken: str) -> dict[str, Any]:
    viewer = napari.Viewer(show=True)
    try:
        layer = prefetcher.napari.view(frames, viewer)
        loader = layer.data.loader
        viewer.dims.set_current_step(0, 10)
        hits = []
        for step in range(11, 21):
            # Let the loads under way finish (as a person looking at a frame would), then step.
            wait_until(lambda: loader.stats().pending == 0, "the read-ahead")
            before = loader.stats().hits
            viewer.dims.set_current_step(0, step)
            hits.append(loader.stats().hits > before)
            wait_until(partial(is_shown, layer, viewer, step), f"frame {step}")
        return {"hits": hits, "shown": shown(layer, viewer)}
    finally:
        viewer.close()


def never_blocks(frames: str, broken: str) -> dict[str, Any]:
    paths = sorted(Path(frames).glob("*.png"), key=lambda path: int(path.stem))
    release = threading.Event()

    def load(path: Path) -> Any:
        if path.stem == "30":
            release.wait(TIMEOUT)
        return np.asarray(prefetcher.load_image(path))

    viewer = napari.Viewer(show=True)
    with PrefetchingLoader(load, paths, ahead=0) as loader:
        try:
            layer = prefetcher.napari.view(loader, viewer)
            viewer.dims.set_current_step(0, 29)
            wait_until(lambda: shown(layer, viewer) == 29, "frame 29")
            # If napari's slice waited for frame 30, this would return only when its load gave
            # up waiting for `release`, and the load would be done by then.
            viewer.dims.set_current_step(0, 30)
            loading_after_step = not loader.request(30).done()
            showing_while_loading = shown(layer, viewer)
            release.set()
            wait_until(lambda: shown(layer, viewer) == 30, "frame 30 after it arrives")
            return {
                "loading_after_step": loading_after_step,
                "shown_while_loading": showing_while_loading,
                "shown_after": shown(layer, viewer),
            }
        finally:
            release.set()
            viewer.close()


def failing_frame(frames: str, broken: str) -> dict[str, Any]:
    viewer = napari.Viewer(show=True)
    try:
        layer = prefetcher.napari.view(broken, viewer)
        notification_manager.records.clear()
        viewer.dims.set_current_step(0, 5)
        wait_until(lambda: bool(notification_manager.records), "a notification")
        message = str(notification_manager.records[-1].message)
        viewer.dims.set_current_step(0, 6)
        wait_until(lambda: shown(layer, viewer) == 6, "frame 6 after the failure")
        return {"message": message, "shown_after": shown(layer, viewer)}
    finally:
        viewer.close()


def reader_plugin(frames: str, broken: str) -> dict[str, Any]:
    viewer = napari.Viewer(show=True)
    try:
        [layer] = viewer.open(frames, plugin="prefetcher")
        viewer.dims.set_current_step(0, 3)
        wait_until(lambda: shown(layer, viewer) == 3, "frame 3")
        return {"is_frame_stack": isinstance(layer.data, FrameStack), "frames": len(layer.data)}
    finally:
        viewer.close()


def tiff_pages(frames: str, broken: str) -> dict[str, Any]:
    viewer = napari.Viewer(show=True)
    try:
        path = str(Path(frames).parent / "stack.tif")
        with open_sequence(path, as_array=True) as loader:
            layer = prefetcher.napari.view(loader, viewer)
            viewer.dims.set_current_step(0, 4)
            wait_until(lambda: shown(layer, viewer) == 4 * 100, "page 4")
            return {"frames": len(layer.data), "shown": shown(layer, viewer)}
    finally:
        viewer.close()


def run_until_closed(frames: str, broken: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    deadline = time.monotonic() + TIMEOUT

    def check() -> None:
        viewer = napari.current_viewer()
        if viewer is not None and viewer.layers:
            seen["shown"] = shown(viewer.layers[0], viewer)
            if seen["shown"] == 7 or time.monotonic() > deadline:
                viewer.close()
                return
        QTimer.singleShot(10, check)

    QTimer.singleShot(0, check)
    status = prefetcher.napari.run(frames, start=7)
    return {"status": status, **seen}


def command_line(frames: str, broken: str) -> dict[str, Any]:
    """``prefetcher view FRAMES --napari --start 5``, in this process, until its window closes."""
    from prefetcher._cli import main as prefetcher_main

    seen: dict[str, Any] = {}
    deadline = time.monotonic() + TIMEOUT

    def check() -> None:
        viewer = napari.current_viewer()
        if viewer is not None and viewer.layers:
            seen["shown"] = shown(viewer.layers[0], viewer)
            if seen["shown"] == 5 or time.monotonic() > deadline:
                viewer.close()
                return
        QTimer.singleShot(10, check)

    QTimer.singleShot(0, check)
    status = prefetcher_main(["view", frames, "--napari", "--start", "5"])
    return {"status": status, **seen}


SCENARIOS = [
    run_until_closed,
    command_line,
    add_layer,
    step_forward,
    never_blocks,
    failing_frame,
    reader_plugin,
    tiff_pages,
]


def main() -> None:
    frames, broken = sys.argv[1], sys.argv[2]
    results: dict[str, Any] = {}
    for scenario in SCENARIOS:
        try:
            results[scenario.__name__] = scenario(frames, broken)
        except Exception:
            results[scenario.__name__] = {"error": traceback.format_exc()}
    print(json.dumps(results), flush=True)


if __name__ == "__main__":
    main()
