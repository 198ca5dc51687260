"""The drop-in: existing PyQt5 worker-thread code, changed in one line to load through a loader.

The structure is the usual one: a ``QObject`` worker moved to a ``QThread``; the window asks for
frame n with a signal; the worker's slot loads it and emits the result back. Before::

    image = load_image(paths[n])      # the slow read from the share, every time

After::

    image = loader.get(n)             # from memory when prefetched; reads ahead for the next one

Nothing else changes: ``loader.get`` is thread-safe and blocks only the worker thread, exactly as
the old load did. Run it::

    python examples/qt_worker.py                   # generated frames behind a simulated slow share
    python examples/qt_worker.py 'share/{}.png'    # your own files (anything open_sequence takes)

Keys: Right / Left. The title shows how long the last frame took to arrive.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from typing import Any

import numpy as np
from PIL import Image
from qtpy.QtCore import QObject, Qt, QThread, Signal, Slot
from qtpy.QtGui import QImage, QKeyEvent, QPixmap
from qtpy.QtWidgets import QApplication, QLabel

from prefetcher import PrefetchingLoader, SimulatedShare


class FrameWorker(QObject):
    """Lives in a QThread; loads frame n when asked and emits it. Unchanged but for one line."""

    frame_loaded = Signal(int, object)
    frame_failed = Signal(int, str)

    def __init__(self, loader: PrefetchingLoader[Any, Any]) -> None:
        super().__init__()
        self.loader = loader

    @Slot(int)
    def load_frame(self, n: int) -> None:
        try:
            image = self.loader.get(n)  # was: image = load_image(paths[n])
        except Exception as exc:  # report any load error to the window, as the old code did
            self.frame_failed.emit(n, f"{type(exc).__name__}: {exc}")
            return
        self.frame_loaded.emit(n, image)


class FrameWindow(QLabel):
    """Shows one frame; Right / Left ask the worker for the next / previous one."""

    frame_wanted = Signal(int)

    def __init__(self, count: int) -> None:
        super().__init__()
        self.count = count
        self.index = 0
        self.asked_at = time.perf_counter()
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.resize(640, 480)

    def ask(self, n: int) -> None:
        self.index = max(0, min(n, self.count - 1))
        self.asked_at = time.perf_counter()
        self.frame_wanted.emit(self.index)

    @Slot(int, object)
    def show_frame(self, n: int, image: Image.Image) -> None:
        if n != self.index:
            return  # a late answer for a frame we already left
        rgba = np.ascontiguousarray(image.convert("RGBA"))
        height, width = rgba.shape[:2]
        qimage = QImage(rgba.data, width, height, 4 * width, QImage.Format.Format_RGBA8888)
        self.setPixmap(QPixmap.fromImage(qimage.copy()))
        waited = (time.perf_counter() - self.asked_at) * 1000
        self.setWindowTitle(f"frame {n + 1}/{self.count} in {waited:.0f} ms")

    @Slot(int, str)
    def show_error(self, n: int, message: str) -> None:
        self.setText(f"frame {n + 1}: {message}")

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Right:
            self.ask(self.index + 1)
        elif event.key() == Qt.Key.Key_Left:
            self.ask(self.index - 1)
        else:
            super().keyPressEvent(event)


def generated_loader(directory: str, frames: int, latency: float) -> PrefetchingLoader[Any, Any]:
    """Write ``frames`` PNGs to ``directory``; load them through a simulated slow share."""
    paths = []
    for n in range(frames):
        pixels = np.zeros((480, 640, 3), np.uint8)
        pixels[..., 0] = (n * 37) % 256
        pixels[:, (n * 13) % 640 :, 1] = 200
        path = os.path.join(directory, f"{n}.png")
        Image.fromarray(pixels).save(path)
        paths.append(path)
    share = SimulatedShare(latency=latency)

    def load(path: str) -> Image.Image:
        with Image.open(io.BytesIO(share.read_bytes(path))) as image:
            image.load()
            return image

    return PrefetchingLoader(load, paths, ahead=3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "source", nargs="?", help="directory, glob or template (default: generated)"
    )
    parser.add_argument("--frames", type=int, default=60, help="generated frames (default 60)")
    parser.add_argument("--latency", type=float, default=0.2, help="simulated share latency, s")
    args = parser.parse_args(argv)

    app = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as directory:
        if args.source:
            from prefetcher import open_sequence

            loader = open_sequence(args.source, ahead=3)
        else:
            loader = generated_loader(directory, args.frames, args.latency)
        with loader:
            worker = FrameWorker(loader)
            thread = QThread()
            worker.moveToThread(thread)
            window = FrameWindow(len(loader) if loader.keys is not None else 10**9)
            window.frame_wanted.connect(worker.load_frame)
            worker.frame_loaded.connect(window.show_frame)
            worker.frame_failed.connect(window.show_error)
            thread.start()
            window.show()
            window.ask(0)
            try:
                return int(app.exec_())
            finally:
                thread.quit()
                thread.wait()


if __name__ == "__main__":
    sys.exit(main())
