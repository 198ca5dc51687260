"""What the demo loops over: generated frames, and the orders in which a loop asks for them.

Benchmarks and tests generate their frames here too.
"""

from __future__ import annotations

import os
import random

import numpy as np
from PIL import Image

from prefetcher._cli_common import progress

__all__ = ["FRAME_HEIGHT", "FRAME_WIDTH", "make_frames", "pattern_indices"]

#: Size of a generated frame: decoding one costs a few milliseconds, as with a real camera frame.
FRAME_WIDTH, FRAME_HEIGHT = 1024, 768


def make_frames(directory: str, count: int, *, show_progress: bool = False) -> list[str]:
    """Write ``count`` numbered grayscale PNGs ``0.png`` ... into ``directory``; return the paths.

    A bright spot travels across a gradient with sensor-like noise, so every frame differs and
    decoding is real work (about 5 ms per frame here).
    """
    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[0:FRAME_HEIGHT, 0:FRAME_WIDTH]
    background = (xs * 80 // FRAME_WIDTH).astype(np.uint8)
    spot = 160 * np.exp(-((xs - FRAME_WIDTH // 2) ** 2 + (ys - FRAME_HEIGHT // 2) ** 2) / 7200.0)
    spot_pixels = spot.astype(np.uint8)
    noise = rng.integers(0, 24, (FRAME_HEIGHT, FRAME_WIDTH), dtype=np.uint8)
    paths = []
    with progress("making frames", count, quiet=not show_progress) as bar:
        for n in range(count):
            shift = int((n / max(count, 1) - 0.5) * FRAME_WIDTH * 0.8)
            pixels = background + np.roll(spot_pixels, shift, axis=1) + np.roll(noise, 13 * n, 1)
            path = os.path.join(directory, f"{n}.png")
            # compress_level=1: quick to write; decoding costs the same as at the default level.
            Image.fromarray(pixels).save(path, compress_level=1)
            paths.append(path)
            bar.update()
    return paths


def pattern_indices(pattern: str, count: int, *, seed: int = 0) -> list[int]:
    """The order in which the demo's loop asks for ``count`` frames numbered ``0 .. count-1``.

    ``forward`` and ``backward`` visit each frame once. ``viewer`` is a person browsing: runs
    forward, a few steps back, page jumps of 10, as many requests as frames. ``random`` asks for
    frames in no order at all (where no read-ahead can help).
    """
    if pattern == "forward":
        return list(range(count))
    if pattern == "backward":
        return list(range(count - 1, -1, -1))
    rng = random.Random(seed)
    if pattern == "random":
        return [rng.randrange(count) for _ in range(count)]
    if pattern == "viewer":
        indices = [0]
        while len(indices) < count:
            roll = rng.random()
            if roll < 0.7:  # hold Right for a while
                steps = [1] * rng.randint(5, 20)
            elif roll < 0.9:  # step back to look again
                steps = [-1] * rng.randint(1, 4)
            else:  # PageDown
                steps = [10]
            for step in steps:
                following = indices[-1] + step
                if not 0 <= following < count:  # bounce off either end
                    following = indices[-1] - step
                indices.append(min(max(following, 0), count - 1))
        return indices[:count]
    raise ValueError(f"unknown pattern {pattern!r}")
