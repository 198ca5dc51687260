"""The user's loop over numbered images on a slow share, with and without prefetching.

Run it as ``python examples/slow_share.py`` (a few seconds). It writes a numbered sequence of PNGs
to a temporary directory, makes every read of them cost what a read from a slow network share costs
(``SimulatedShare``: 50 ms per file), and runs the same loop twice::

    img = loader.get(n)
    step1(img)
    step2(img)

once loading each image only when it is asked for (``ahead=0``), once reading ahead as far as the
share's latency needs (the default, ``ahead="auto"``). It prints how
long the loop spent waiting for images each time.

On a real share there is nothing to simulate; the whole program is::

    from prefetcher import open_sequence

    with open_sequence("/mnt/share/run42/{}.png", mode="L") as loader:
        for n in range(1, last + 1):
            img = loader.get(n)
            step1(img)
            step2(img)
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

from prefetcher import PrefetchingLoader, SimulatedShare, load_image

FRAMES = 30
LATENCY = 0.05  # seconds per read from the share
STEP = 0.01  # seconds each processing step takes


def write_sequence(directory: Path, count: int) -> list[Path]:
    """Write 1.png ... count.png, 512x512 grey images, and return their paths in order."""
    rng = np.random.default_rng(0)
    paths = []
    for n in range(1, count + 1):
        pixels = rng.integers(0, 256, (512, 512), dtype=np.uint8)
        path = directory / f"{n}.png"
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


class SlowShareLoad:
    """``load(path)``: pay the share's delay for the file's size, then read and decode it."""

    def __init__(self, share: SimulatedShare) -> None:
        self.share = share

    def __call__(self, path: Path) -> Image.Image:
        self.share.delay(os.path.getsize(path))
        return load_image(path)


def step1(img: Image.Image) -> None:
    """Stands for the first processing step (a sleep, so the demo runs alike on any machine)."""
    time.sleep(STEP)


def step2(img: Image.Image) -> None:
    """Stands for the second processing step."""
    time.sleep(STEP)


def run(paths: list[Path], ahead: int | Literal["auto"]) -> tuple[float, float]:
    """Run the user's loop over ``paths``; return (seconds spent waiting in get, total seconds)."""
    share = SimulatedShare(latency=LATENCY)
    waited = 0.0
    start = time.perf_counter()
    with PrefetchingLoader(SlowShareLoad(share), paths, ahead=ahead) as loader:
        for n in range(len(paths)):
            before = time.perf_counter()
            img = loader.get(n)
            waited += time.perf_counter() - before
            step1(img)
            step2(img)
    return waited, time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_sequence(Path(tmp), FRAMES)
        print(
            f"{FRAMES} images, {LATENCY * 1000:.0f} ms per read from the share, "
            f"{2 * STEP * 1000:.0f} ms of processing per image"
        )
        results: dict[int | str, float] = {}
        ahead: int | Literal["auto"]
        for label, ahead in (
            ("without prefetching (ahead=0)", 0),
            ("with prefetching (ahead=auto)", "auto"),
        ):
            waited, total = run(paths, ahead)
            results[ahead] = waited
            print(
                f"  {label:30} waited {waited:5.2f} s for images "
                f"({waited / FRAMES * 1000:5.1f} ms per image), loop took {total:5.2f} s"
            )
        saved = results[0] - results["auto"]
        print(f"prefetching saved {saved:.2f} s of waiting ({saved / results[0]:.0%})")


if __name__ == "__main__":
    main()
