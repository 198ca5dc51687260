"""Stepping through frames in a real napari window: dask-image's imread against prefetcher.

Run from the repository root, on a display (``xvfb-run -a`` gives one to a machine without)::

    xvfb-run -a python benchmarks/napari_stepping.py            # 200 frames, 20 steps/s, 3 rounds
    xvfb-run -a python benchmarks/napari_stepping.py --quick    # 40 frames, 1 round (seconds)
    xvfb-run -a python benchmarks/napari_stepping.py --screenshot docs/napari.png

Needs ``pip install -e '.[napari]' dask-image``. Writes ``--frames`` generated 1024x768 PNGs
(``prefetcher demo``'s frames) to a temporary directory; every read of a file first waits
``--latency`` seconds, as on a slow share (:class:`prefetcher.SimulatedShare`). Then a QTimer
steps napari's slider forward one frame every 1/``--rate`` seconds, over:

- **dask-image**: ``dask_image.imread.imread(pattern)``, the usual way to put a folder of frames
  into napari; its per-frame read (``dask_image.imread._read_frame``) is wrapped to pay the same
  latency first, since it opens files itself; napari's dask chunk cache is emptied before each
  round (it would serve every round after the first from memory: the same files);
- **all in memory**: every frame decoded into one numpy array before the run: what napari itself
  costs per step on this machine, the floor for the others;
- **prefetcher**: ``prefetcher.napari.view`` over a ``PrefetchingLoader`` whose load reads the
  file through the simulated share and decodes it (what ``open_sequence`` does).

For each it reports: steps whose frame came from memory (no read in the step for dask-image, a
hit of the loader for prefetcher); steps whose frame napari showed at once (the value on screen
right after the step is the new frame's); how long napari's GUI thread was blocked in a step
(median and longest, the slice napari does inside ``set_current_step``); the longest gap between
two timer ticks beyond the step interval (every other stall of the GUI thread too); and the wall
time. The contenders take turns every round; the table shows medians over ``--rounds``.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import itertools
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import napari
import numpy as np
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QApplication

import prefetcher.napari
from prefetcher import PrefetchingLoader, SimulatedShare
from prefetcher._demo_frames import make_frames
from prefetcher._images import decode_image


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0, help="steps per second")
    parser.add_argument("--latency", type=float, default=0.04, help="seconds per read")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="40 frames, one round")
    parser.add_argument("--screenshot", type=Path, help="save napari's window here (prefetcher)")
    args = parser.parse_args(argv)
    if args.quick:
        args.frames, args.rounds = 40, 1
    return args


def _step_through(
    viewer: Any,
    layer: Any,
    count: int,
    rate: float,
    from_memory: Callable[[Callable[[], None]], bool],
) -> dict[str, float]:
    """Step the slider from 0 to count-1 on a timer; measure what napari's GUI thread did.

    ``from_memory(step)`` runs ``step`` and says whether its frame came from memory.
    """
    interval = 1.0 / rate
    step_times: list[float] = []
    at_once: list[bool] = []
    memory: list[bool] = []
    ticks: list[float] = []
    state = {"next": 1}

    def tick() -> None:
        ticks.append(time.perf_counter())
        n = state["next"]
        if n >= count:
            timer.stop()
            return
        started = time.perf_counter()
        memory.append(from_memory(lambda: viewer.dims.set_current_step(0, n)))
        step_times.append(time.perf_counter() - started)
        at_once.append(_shown(layer, n) == _expected(n))
        state["next"] = n + 1

    timer = QTimer()
    timer.setInterval(round(interval * 1000))
    timer.timeout.connect(tick)
    started = time.perf_counter()
    timer.start()
    while timer.isActive():
        QApplication.processEvents()
        time.sleep(0.001)
    wall = time.perf_counter() - started
    gaps = [later - earlier for earlier, later in itertools.pairwise(ticks)]
    return {
        "from_memory": sum(memory),
        "at_once": sum(at_once),
        "steps": len(at_once),
        "median_step_ms": statistics.median(step_times) * 1000,
        "max_step_ms": max(step_times) * 1000,
        "max_stall_ms": max(0.0, max(gaps) - interval) * 1000,
        "wall_s": wall,
    }


def _no_read(share: SimulatedShare, step: Callable[[], None]) -> bool:
    """dask-image reads in the GUI thread: a step from memory made no read."""
    before = share.reads
    step()
    return share.reads == before


def _a_hit(loader: PrefetchingLoader[Any, Any], step: Callable[[], None]) -> bool:
    """prefetcher reads in its workers: a step from memory was a hit of the loader."""
    before = loader.stats().hits
    step()
    return loader.stats().hits > before


def _shown(layer: Any, n: int) -> float:
    return float(layer.get_value((n, 384, 512), world=True))


_FRAME_VALUES: dict[int, float] = {}


def _expected(n: int) -> float:
    return _FRAME_VALUES[n]


def _run_dask_image(
    pattern: str, share: SimulatedShare, count: int, rate: float
) -> dict[str, float]:
    import dask_image.imread

    original = dask_image.imread._read_frame

    def slow_read_frame(fn: str, i: Any, **kwargs: Any) -> Any:
        share.delay(os.path.getsize(fn))
        return original(fn=fn, i=i, **kwargs)

    dask_image.imread._read_frame = slow_read_frame
    # napari keeps an opportunistic cache of dask chunks for the whole process, keyed by the
    # files' names: empty it, or every round after the first would be a revisit from memory.
    napari.utils.resize_dask_cache(0)
    napari.utils.resize_dask_cache()
    viewer = napari.Viewer()
    try:
        layer = viewer.add_image(dask_image.imread.imread(pattern), contrast_limits=(0, 255))
        return _step_through(viewer, layer, count, rate, functools.partial(_no_read, share))
    finally:
        dask_image.imread._read_frame = original
        viewer.close()


def _run_in_memory(paths: list[str], count: int, rate: float) -> dict[str, float]:
    frames = np.stack([np.asarray(decode_image(Path(p).read_bytes(), p)) for p in paths])
    viewer = napari.Viewer()
    try:
        layer = viewer.add_image(frames, contrast_limits=(0, 255))
        return _step_through(viewer, layer, count, rate, lambda step: step() or True)
    finally:
        viewer.close()


def _run_prefetcher(
    paths: list[str], share: SimulatedShare, count: int, rate: float, screenshot: Path | None
) -> dict[str, float]:
    def load(path: str) -> Any:
        return decode_image(share.read_bytes(path), path, as_array=True)

    viewer = napari.Viewer()
    with PrefetchingLoader(load, paths) as loader:
        try:
            layer = prefetcher.napari.view(loader, viewer, name="run7 (prefetcher)")
            result = _step_through(viewer, layer, count, rate, functools.partial(_a_hit, loader))
            stats = loader.stats()
            result["hits"] = stats.hits
            result["reads"] = share.reads
            if screenshot is not None:
                viewer.dims.set_current_step(0, count // 2)
                deadline = time.monotonic() + 10
                while _shown(layer, count // 2) != _expected(count // 2):
                    if time.monotonic() > deadline:
                        raise TimeoutError("the frame for the screenshot never arrived")
                    QApplication.processEvents()
                    time.sleep(0.01)
                viewer.window.resize(1100, 760)
                QApplication.processEvents()
                viewer.screenshot(str(screenshot), canvas_only=False)
            return result
        finally:
            viewer.close()


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    print(
        f"{platform.python_implementation()} {platform.python_version()}, napari "
        f"{napari.__version__}, {os.cpu_count()} cores; {args.frames} frames of 1024x768, "
        f"{args.latency * 1000:g} ms a read, {args.rate:g} steps/s, {args.rounds} rounds"
    )
    results: dict[str, list[dict[str, float]]] = {
        "all in memory": [],
        "dask-image imread": [],
        "prefetcher": [],
    }
    with tempfile.TemporaryDirectory() as directory:
        paths = make_frames(directory, args.frames)
        for n, path in enumerate(paths):
            _FRAME_VALUES[n] = float(
                np.asarray(decode_image(Path(path).read_bytes(), path))[384, 512]
            )
        runs: dict[str, Callable[[SimulatedShare], dict[str, float]]] = {
            "all in memory": lambda share: _run_in_memory(paths, args.frames, args.rate),
            "dask-image imread": lambda share: _run_dask_image(
                os.path.join(directory, "*.png"), share, args.frames, args.rate
            ),
            "prefetcher": lambda share: _run_prefetcher(
                paths, share, args.frames, args.rate, args.screenshot
            ),
        }
        if importlib.util.find_spec("dask_image") is None:
            print("dask-image is not installed (pip install dask-image): its row is left out")
            del runs["dask-image imread"], results["dask-image imread"]
        for round_number in range(args.rounds):
            for name, run in runs.items():
                result = run(SimulatedShare(latency=args.latency))
                results[name].append(result)
                print(f"round {round_number + 1} {name}: {result}", file=sys.stderr)
    print(_table(results))
    return 0


def _table(results: dict[str, list[dict[str, float]]]) -> str:
    rows = [
        ("steps whose frame came from memory", "from_memory", "{:.0f}"),
        ("steps showing their frame at once", "at_once", "{:.0f}"),
        ("steps", "steps", "{:.0f}"),
        ("GUI blocked per step, median ms", "median_step_ms", "{:.1f}"),
        ("GUI blocked per step, longest ms", "max_step_ms", "{:.1f}"),
        ("longest stall beyond a step, ms", "max_stall_ms", "{:.1f}"),
        ("wall time, s", "wall_s", "{:.2f}"),
    ]
    names = list(results)
    lines = [f"{'(medians)':34}" + "".join(f"{name:>19}" for name in names)]
    for label, key, fmt in rows:
        cells = [fmt.format(statistics.median(r[key] for r in results[name])) for name in names]
        lines.append(f"{label:34}" + "".join(f"{cell:>19}" for cell in cells))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
