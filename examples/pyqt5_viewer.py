"""A PyQt5 viewer for numbered images on a slow share: the same window as ``prefetcher view``.

Run it::

    python examples/pyqt5_viewer.py                  # 300 generated frames behind a 60 ms share
    python examples/pyqt5_viewer.py 'share/{}.png'   # your own files: directory, glob or template
    python examples/pyqt5_viewer.py --ahead 0        # no read-ahead, to feel the difference
    python examples/pyqt5_viewer.py --hold-right 90  # measure: Right held for 90 key repeats

Keys: Right / Left, PageDown / PageUp (10 frames), Home / End. The status bar says, for every
frame, whether it came from memory or how long it had to be waited for, and the loader's counters.
Hold Right: frames follow as fast as the share and the decoder deliver them, and the window never
freezes, because the GUI thread only ever calls ``request()`` and draws what the loader signals.
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
from PIL import Image, ImageDraw, ImageFont
from qtpy.QtCore import QEvent, Qt, QTimer
from qtpy.QtGui import QKeyEvent
from qtpy.QtWidgets import QApplication

from prefetcher import PrefetchingLoader, SimulatedShare
from prefetcher.viewer import ViewerWindow


def generate_frames(directory: str, count: int) -> list[str]:
    """Write ``count`` numbered 640x400 PNGs (a moving pattern and the frame number)."""
    font = ImageFont.load_default(size=120)
    y, x = np.mgrid[0:400, 0:640]
    paths = []
    for n in range(count):
        phase = n / 12
        pixels = np.stack(
            [
                (128 + 127 * np.sin(x / 60 + phase)).astype(np.uint8),
                (128 + 127 * np.sin(y / 45 - phase)).astype(np.uint8),
                np.full_like(x, (n * 7) % 256, dtype=np.uint8),
            ],
            axis=-1,
        )
        image = Image.fromarray(pixels)
        ImageDraw.Draw(image).text(
            (30, 250), f"{n}", fill="white", font=font, stroke_width=4, stroke_fill="black"
        )
        path = os.path.join(directory, f"{n}.png")
        image.save(path)
        paths.append(path)
    return paths


def share_loader(paths: list[str], latency: float, **options: Any) -> PrefetchingLoader[Any, Any]:
    """A loader that reads every file through a simulated slow share, then decodes it."""
    share = SimulatedShare(latency=latency)

    def load(path: str) -> Image.Image:
        with Image.open(io.BytesIO(share.read_bytes(path))) as image:
            image.load()  # decode now, in the worker
            return image

    return PrefetchingLoader(load, paths, **options)


def press(window: ViewerWindow, key: Qt.Key) -> None:
    QApplication.sendEvent(
        window, QKeyEvent(QEvent.Type.KeyPress, key, Qt.KeyboardModifier.NoModifier)
    )


def screenshot_when_ready(window: ViewerWindow, path: str, steps: int) -> None:
    """Press Right ``steps`` times, one per shown frame, then save the real window and quit."""
    remaining = [steps]

    def on_shown(_: int) -> None:
        if remaining[0] > 0:
            remaining[0] -= 1
            # A person's pace: the read-ahead has time to bring the next frames into memory.
            QTimer.singleShot(200, lambda: press(window, Qt.Key.Key_Right))
            return
        window.frame_shown.disconnect(on_shown)
        # Let the new frame paint, then read the window back from the display server.
        QTimer.singleShot(300, save)

    def save() -> None:
        screen = window.screen() or QApplication.primaryScreen()
        picture = screen.grabWindow(int(window.winId()))
        if picture.isNull() or not picture.save(path):
            print(f"could not save a screenshot to {path}", file=sys.stderr)
            QApplication.exit(1)
            return
        print(f"saved {path} ({picture.width()}x{picture.height()})")
        window.close()

    window.frame_shown.connect(on_shown)


def hold_right(window: ViewerWindow, presses: int, rate: float = 30.0) -> None:
    """Act as a person holding Right: one key press, then auto-repeats at ``rate`` per second.

    When the last frame is shown, print what the viewer did and close the window.
    """
    statuses: list[str] = []
    window.frame_shown.connect(lambda _: statuses.append(window.status_text()))
    window.frame_failed.connect(lambda *_: statuses.append(window.status_text()))
    gaps: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:  # the longest gap between ticks is the longest freeze of the GUI
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    sent = [0]
    started = [0.0]

    def key() -> None:
        if sent[0] == 0:
            statuses.clear()
            started[0] = time.perf_counter()
        if sent[0] < presses:
            sent[0] += 1
            event = QKeyEvent(
                QEvent.Type.KeyPress,
                Qt.Key.Key_Right,
                Qt.KeyboardModifier.NoModifier,
                "",
                sent[0] > 1,  # autorepeat
            )
            QApplication.sendEvent(window, event)
        elif window.shown_index == window.index:
            keys.stop()
            ticker.stop()
            report()

    def report() -> None:
        elapsed = time.perf_counter() - started[0]
        memory = sum(text.endswith("from memory") for text in statuses)
        stats = window.prefetcher.loader.stats()
        print(
            f"held Right {presses} times at {rate:g}/s: {len(statuses)} frames shown in "
            f"{elapsed:.2f} s ({len(statuses) / elapsed:.1f} frames/s), {memory} from memory, "
            f"longest GUI pause {max(gaps) * 1000:.0f} ms; hits {stats.hits}, waits {stats.waits}, "
            f"misses {stats.misses}"
        )
        window.close()

    ticker = QTimer(window)
    ticker.timeout.connect(tick)
    keys = QTimer(window)
    keys.timeout.connect(key)

    def begin(_: int) -> None:
        window.frame_shown.disconnect(begin)
        last[0] = time.perf_counter()
        ticker.start(5)
        keys.start(round(1000 / rate))

    window.frame_shown.connect(begin)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", help="directory, glob or template (default: demo)")
    parser.add_argument("--frames", type=int, default=300, help="generated frames (default 300)")
    parser.add_argument("--latency", type=float, default=0.06, help="share latency in s (0.06)")
    parser.add_argument("--start", type=int, default=0, help="first index shown (default 0)")
    parser.add_argument("--ahead", default="auto", help="read-ahead: a number or 'auto' (default)")
    parser.add_argument("--workers", type=int, default=None, help="loader threads")
    parser.add_argument("--screenshot", metavar="PNG", help=argparse.SUPPRESS)
    parser.add_argument(
        "--hold-right",
        type=int,
        metavar="N",
        help="measure: hold Right for N key repeats (30/s), print what was shown, and quit",
    )
    args = parser.parse_args(argv)
    ahead: int | str = args.ahead if args.ahead == "auto" else int(args.ahead)

    if args.source and not (args.screenshot or args.hold_right):
        from prefetcher.viewer import run

        return run(args.source, start=args.start, ahead=ahead, workers=args.workers)

    app = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as directory:
        if args.source:
            from prefetcher import open_sequence

            loader = open_sequence(args.source, ahead=ahead, max_workers=args.workers)
        else:
            print(f"writing {args.frames} frames to {directory} ...")
            paths = generate_frames(directory, args.frames)
            loader = share_loader(paths, args.latency, ahead=ahead, max_workers=args.workers)
        window = ViewerWindow(loader, start=args.start)
        window.setWindowTitle(f"prefetcher view {args.source or 'demo: ' + directory}")
        if args.screenshot:
            screenshot_when_ready(window, args.screenshot, steps=3)
        elif args.hold_right:
            hold_right(window, args.hold_right)
        window.show()
        try:
            return int(app.exec_())
        finally:
            window.prefetcher.close()


if __name__ == "__main__":
    sys.exit(main())
