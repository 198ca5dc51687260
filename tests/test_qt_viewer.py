"""The viewer: keys move the index, the right frame is on screen, errors and slow loads pass."""

from __future__ import annotations

import os

# Before any Qt import: without a display Qt aborts unless it renders offscreen.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pathlib
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

pytest.importorskip("qtpy")
pytest.importorskip("pytestqt")

import numpy as np
from conftest import EXAMPLES, load_example
from PIL import Image
from qtpy.QtCore import QEvent, Qt, QTimer
from qtpy.QtGui import QImage, QKeyEvent
from qtpy.QtWidgets import QApplication

from prefetcher import LoaderClosedError, PrefetchingLoader
from prefetcher._images import load_image
from prefetcher._sequence import ImageSequence, open_sequence
from prefetcher.viewer import ViewerWindow, run, to_qimage

WAIT = 10.0
WAIT_MS = int(WAIT * 1000)
FRAMES = 25
HEIGHT, WIDTH = 30, 40


def frame_pixels(n: int) -> np.ndarray[Any, Any]:
    """Frame n: a colour of its own plus a position-dependent pattern, so no two frames match."""
    rng = np.random.default_rng(n)
    pixels = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    pixels[:4] = ((n * 53) % 256, (n * 101) % 256, (n * 197) % 256)
    return pixels


@pytest.fixture
def frames(tmp_path: pathlib.Path) -> pathlib.Path:
    for n in range(FRAMES):
        Image.fromarray(frame_pixels(n)).save(tmp_path / f"{n}.png")
    return tmp_path


@pytest.fixture
def no_thread_left() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    left = [t for t in threading.enumerate() if t not in before]
    assert not left, f"threads left running: {left}"


class GatedImages:
    """load(path): the image, read with load_image; paths given to gate() block until released."""

    def __init__(self) -> None:
        self.gates: dict[str, threading.Event] = {}

    def gate(self, path: pathlib.Path) -> threading.Event:
        self.gates[str(path)] = threading.Event()
        return self.gates[str(path)]

    def __call__(self, path: str) -> Any:
        gate = self.gates.get(str(path))
        if gate is not None:
            assert gate.wait(WAIT), f"gate for {path} never opened"
        return load_image(path)


@pytest.fixture
def open_viewer(
    qtbot: Any, frames: pathlib.Path, no_thread_left: None
) -> Iterator[Callable[..., ViewerWindow]]:
    """Opens a viewer on the frames (shown, first frame drawn); closes it and its gates after."""
    opened: list[ViewerWindow] = []

    def open_(loader: PrefetchingLoader[Any, Any] | None = None, **options: Any) -> ViewerWindow:
        if loader is None:
            loader = open_sequence(str(frames), ahead=2, max_workers=3)
        window = ViewerWindow(loader, **options)
        qtbot.addWidget(window)
        opened.append(window)
        window.show()
        qtbot.waitUntil(lambda: window.shown_index == window.index, timeout=WAIT_MS)
        return window

    yield open_
    for window in opened:
        window.close()


def paths(frames: pathlib.Path) -> list[str]:
    return [str(frames / f"{n}.png") for n in range(FRAMES)]


def as_array(image: QImage) -> np.ndarray[Any, Any]:
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    width, height = image.width(), image.height()
    bits: Any = image.constBits()  # PyQt's sip.voidptr, or PySide's sized memoryview
    if hasattr(bits, "setsize"):
        bits.setsize(image.sizeInBytes())
    rows = np.frombuffer(bits, np.uint8, image.sizeInBytes()).reshape(height, image.bytesPerLine())
    pixels: np.ndarray[Any, Any] = rows[:, : width * 3].reshape(height, width, 3).copy()
    return pixels


def on_screen(window: ViewerWindow) -> np.ndarray[Any, Any]:
    """What the window's label actually paints, as an RGB array."""
    widget = window.centralWidget()
    assert widget is not None
    return as_array(widget.grab().toImage())


def shows_frame(window: ViewerWindow, n: int) -> bool:
    """Whether the painted label contains frame n exactly, pixel for pixel, near its centre."""
    screen = on_screen(window)
    expected = frame_pixels(n)
    top = (screen.shape[0] - HEIGHT) // 2
    left = (screen.shape[1] - WIDTH) // 2
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            y, x = top + dy, left + dx
            if np.array_equal(screen[y : y + HEIGHT, x : x + WIDTH], expected):
                return True
    return False


def press(qtbot: Any, window: ViewerWindow, key: Qt.Key, *, wait: bool = True) -> None:
    """Press a key; with wait, until the frame it leads to is on screen."""
    qtbot.keyClick(window, key)
    if wait:
        qtbot.waitUntil(lambda: window.shown_index == window.index, timeout=WAIT_MS)


def auto_repeat(window: ViewerWindow, key: Qt.Key) -> None:
    """A key event as Qt sends it while a key is held down."""
    event = QKeyEvent(QEvent.Type.KeyPress, key, Qt.KeyboardModifier.NoModifier, "", True)
    QApplication.sendEvent(window, event)


def test_the_start_frame_is_on_screen_pixel_for_pixel(
    open_viewer: Callable[..., ViewerWindow],
) -> None:
    window = open_viewer(start=3)
    assert window.index == 3
    assert shows_frame(window, 3)
    assert not shows_frame(window, 4)


def test_right_shows_the_next_frame(qtbot: Any, open_viewer: Callable[..., ViewerWindow]) -> None:
    window = open_viewer()
    press(qtbot, window, Qt.Key.Key_Right)
    assert window.index == 1
    assert shows_frame(window, 1)


def test_left_shows_the_previous_frame(
    qtbot: Any, open_viewer: Callable[..., ViewerWindow]
) -> None:
    window = open_viewer(start=5)
    press(qtbot, window, Qt.Key.Key_Left)
    assert window.index == 4
    assert shows_frame(window, 4)


def test_page_down_and_page_up_jump_by_ten(
    qtbot: Any, open_viewer: Callable[..., ViewerWindow]
) -> None:
    window = open_viewer(start=2)
    press(qtbot, window, Qt.Key.Key_PageDown)
    assert (window.index, shows_frame(window, 12)) == (12, True)
    press(qtbot, window, Qt.Key.Key_PageUp)
    assert (window.index, shows_frame(window, 2)) == (2, True)


def test_home_and_end_go_to_the_first_and_last_frame(
    qtbot: Any, open_viewer: Callable[..., ViewerWindow]
) -> None:
    window = open_viewer(start=7)
    press(qtbot, window, Qt.Key.Key_End)
    assert (window.index, shows_frame(window, FRAMES - 1)) == (FRAMES - 1, True)
    press(qtbot, window, Qt.Key.Key_Home)
    assert (window.index, shows_frame(window, 0)) == (0, True)


def test_moves_stop_at_both_ends(qtbot: Any, open_viewer: Callable[..., ViewerWindow]) -> None:
    window = open_viewer()
    press(qtbot, window, Qt.Key.Key_Left)
    press(qtbot, window, Qt.Key.Key_PageUp)
    assert window.index == 0
    press(qtbot, window, Qt.Key.Key_End)
    press(qtbot, window, Qt.Key.Key_Right)
    press(qtbot, window, Qt.Key.Key_PageDown)
    assert window.index == FRAMES - 1


def test_end_on_a_template_goes_to_its_highest_file_number(
    qtbot: Any, frames: pathlib.Path, open_viewer: Callable[..., ViewerWindow]
) -> None:
    window = open_viewer(open_sequence(str(frames / "{}.png"), ahead=1), start=4)
    press(qtbot, window, Qt.Key.Key_End)
    assert window.index == FRAMES - 1
    assert window.count is None


def test_end_on_an_open_ended_loader_stays_and_says_why(
    qtbot: Any, frames: pathlib.Path, open_viewer: Callable[..., ViewerWindow]
) -> None:
    loader: PrefetchingLoader[int, Image.Image] = PrefetchingLoader(
        lambda n: load_image(frames / f"{n}.png"), ahead=1
    )
    window = open_viewer(loader, start=4)
    press(qtbot, window, Qt.Key.Key_End, wait=False)
    assert window.index == 4
    assert "no known last file" in window.status_text()


def test_template_opens_on_its_lowest_file_number(
    qtbot: Any, tmp_path: pathlib.Path, open_viewer: Callable[..., ViewerWindow]
) -> None:
    (tmp_path / "from1").mkdir()
    for n in (1, 2, 3):
        Image.new("L", (8, 8), n).save(tmp_path / "from1" / f"{n}.png")
    window = open_viewer(open_sequence(str(tmp_path / "from1" / "{}.png"), ahead=1))
    qtbot.waitUntil(lambda: window.shown_index == 1, timeout=WAIT_MS)
    assert window.status_text().startswith("1.png (file 1) · 8x8")


def test_home_on_a_template_goes_back_to_its_lowest_file_number(
    qtbot: Any, frames: pathlib.Path, open_viewer: Callable[..., ViewerWindow]
) -> None:
    window = open_viewer(open_sequence(str(frames / "{}.png"), ahead=1), start=4)
    press(qtbot, window, Qt.Key.Key_PageDown)
    press(qtbot, window, Qt.Key.Key_Home)
    assert window.index == 0
    assert shows_frame(window, 0)


@pytest.mark.parametrize(
    ("key", "modifier"),
    [
        (Qt.Key.Key_Escape, Qt.KeyboardModifier.NoModifier),
        (Qt.Key.Key_Q, Qt.KeyboardModifier.NoModifier),
        (Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier),
    ],
    ids=["Esc", "Q", "Ctrl+Q"],
)
def test_quit_key_closes_the_window_and_its_loader(
    qtbot: Any, key: Qt.Key, modifier: Qt.KeyboardModifier, open_viewer: Callable[..., ViewerWindow]
) -> None:
    window = open_viewer()
    qtbot.waitUntil(lambda: window.shown_index == 0, timeout=WAIT_MS)
    qtbot.keyClick(window, key, modifier)
    assert not window.isVisible()
    assert window.prefetcher.loader.stats() is not None
    with pytest.raises(LoaderClosedError):
        window.prefetcher.loader.get(0)


def test_status_bar_shows_file_name_number_place_and_from_memory(
    qtbot: Any, open_viewer: Callable[..., ViewerWindow]
) -> None:
    window = open_viewer()
    press(qtbot, window, Qt.Key.Key_Right)
    press(qtbot, window, Qt.Key.Key_Left)  # frame 0 is still in the cache
    text = window.status_text()
    assert text.startswith(f"0.png (file 0) · 1 of {FRAMES} ·")
    assert text.endswith("from memory")


def test_status_bar_says_how_long_a_frame_that_was_not_ready_took(
    qtbot: Any, frames: pathlib.Path, open_viewer: Callable[..., ViewerWindow]
) -> None:
    load = GatedImages()
    gate = load.gate(frames / "10.png")
    window = open_viewer(PrefetchingLoader(load, paths(frames), ahead=0))
    try:
        press(qtbot, window, Qt.Key.Key_PageDown, wait=False)
        assert window.status_text() == f"10.png (file 10) · 11 of {FRAMES} · loading…"
        gate.set()
        qtbot.waitUntil(lambda: window.shown_index == 10, timeout=WAIT_MS)
        assert window.status_text().startswith(f"10.png (file 10) · 11 of {FRAMES} · ")
        assert " · waited " in window.status_text()
        assert window.status_text().endswith(" ms")
    finally:
        gate.set()


def test_a_corrupt_frame_shows_an_error_in_the_status_bar(
    qtbot: Any, frames: pathlib.Path, open_viewer: Callable[..., ViewerWindow]
) -> None:
    (frames / "1.png").write_bytes(b"this is not a png")
    window = open_viewer()
    with qtbot.waitSignal(window.frame_failed, timeout=WAIT_MS):
        press(qtbot, window, Qt.Key.Key_Right, wait=False)
    text = window.status_text()
    assert "index 1" in text
    assert "error:" in text
    assert "1.png" in text
    assert "cannot identify image file" in text


def test_after_a_corrupt_frame_the_viewer_keeps_working(
    qtbot: Any, frames: pathlib.Path, open_viewer: Callable[..., ViewerWindow]
) -> None:
    (frames / "1.png").write_bytes(b"this is not a png")
    window = open_viewer()
    press(qtbot, window, Qt.Key.Key_Right)
    assert not shows_frame(window, 0)  # the error replaced the old frame
    press(qtbot, window, Qt.Key.Key_Right)
    assert window.index == 2
    assert shows_frame(window, 2)
    assert "error" not in window.status_text()


def test_a_slow_frame_does_not_freeze_the_viewer(
    qtbot: Any, frames: pathlib.Path, open_viewer: Callable[..., ViewerWindow]
) -> None:
    load = GatedImages()
    gate = load.gate(frames / "1.png")
    window = open_viewer(PrefetchingLoader(load, paths(frames), ahead=0, max_workers=2))
    try:
        press(qtbot, window, Qt.Key.Key_Right, wait=False)  # frame 1 hangs on the share
        assert window.index == 1
        press(qtbot, window, Qt.Key.Key_Left)  # the window still answers at once
        assert shows_frame(window, 0)
    finally:
        gate.set()


def test_a_late_frame_never_replaces_the_newer_one(
    qtbot: Any, frames: pathlib.Path, open_viewer: Callable[..., ViewerWindow]
) -> None:
    load = GatedImages()
    gate = load.gate(frames / "1.png")
    loader = PrefetchingLoader(load, paths(frames), ahead=0, max_workers=2)
    window = open_viewer(loader)
    try:
        press(qtbot, window, Qt.Key.Key_Right, wait=False)
        press(qtbot, window, Qt.Key.Key_Right)
        assert shows_frame(window, 2)
        with qtbot.waitSignal(window.prefetcher.loaded, timeout=WAIT_MS) as late:
            gate.set()
        assert late.args[0] == 1
        assert window.shown_index == 2
        assert shows_frame(window, 2)
    finally:
        gate.set()


def test_a_held_key_does_not_run_ahead_of_the_frame_still_loading(
    qtbot: Any, frames: pathlib.Path, open_viewer: Callable[..., ViewerWindow]
) -> None:
    load = GatedImages()
    gate = load.gate(frames / "1.png")
    window = open_viewer(PrefetchingLoader(load, paths(frames), ahead=0))
    try:
        press(qtbot, window, Qt.Key.Key_Right, wait=False)
        auto_repeat(window, Qt.Key.Key_Right)
        auto_repeat(window, Qt.Key.Key_Right)
        assert window.index == 1
        gate.set()
        qtbot.waitUntil(lambda: window.shown_index == 1, timeout=WAIT_MS)
        auto_repeat(window, Qt.Key.Key_Right)
        assert window.index == 2
    finally:
        gate.set()


def test_the_gui_thread_never_calls_get(
    qtbot: Any,
    frames: pathlib.Path,
    open_viewer: Callable[..., ViewerWindow],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls_in_gui_thread: list[str] = []
    real_get = ImageSequence.get

    def recording_get(self: Any, *args: Any, **kwargs: Any) -> Any:
        if threading.current_thread() is threading.main_thread():
            calls_in_gui_thread.append(f"get{args}")
        return real_get(self, *args, **kwargs)

    # On the class: loader[n] looks __getitem__ up on the type, never on the instance.
    monkeypatch.setattr(ImageSequence, "get", recording_get)
    monkeypatch.setattr(ImageSequence, "__getitem__", recording_get)
    window = open_viewer(open_sequence(str(frames), ahead=2))
    for key in (Qt.Key.Key_Right, Qt.Key.Key_PageDown, Qt.Key.Key_End, Qt.Key.Key_Home):
        press(qtbot, window, key)
    assert shows_frame(window, 0)
    assert calls_in_gui_thread == []


def test_closing_the_window_leaves_no_thread(
    qtbot: Any, frames: pathlib.Path, no_thread_left: None
) -> None:
    loader = open_sequence(str(frames), ahead=3)
    window = ViewerWindow(loader)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.shown_index == 0, timeout=WAIT_MS)
    qtbot.keyClick(window, Qt.Key.Key_Right)
    assert threading.active_count() > 1  # the loads ran in threads
    window.close()
    assert loader.closed


def test_run_opens_a_window_on_the_source_and_returns_the_exit_code(
    qtbot: Any, frames: pathlib.Path, no_thread_left: None
) -> None:
    seen: list[tuple[int, bool]] = []

    def close_when_shown() -> None:
        (window,) = [
            w
            for w in QApplication.topLevelWidgets()
            if isinstance(w, ViewerWindow) and w.isVisible()
        ]

        def shown(n: int) -> None:
            seen.append((n, shows_frame(window, n)))
            window.close()

        if window.shown_index is not None:
            shown(window.shown_index)
        else:
            window.frame_shown.connect(shown)

    QTimer.singleShot(0, close_when_shown)
    assert run(str(frames), start=6, ahead=2, workers=2) == 0
    assert seen == [(6, True)]


def test_to_qimage_takes_pillow_images_and_arrays() -> None:
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    for item in (grey, Image.fromarray(grey), Image.fromarray(grey).convert("RGB")):
        image = to_qimage(item)
        assert (image.width(), image.height()) == (4, 3)
        assert as_array(image)[2, 3].tolist() == [11, 11, 11]


def test_to_qimage_scales_a_16_bit_image_to_its_range() -> None:
    deep = Image.fromarray(np.array([[1000, 3000]], dtype=np.uint16))
    assert as_array(to_qimage(deep))[0].tolist() == [[0, 0, 0], [255, 255, 255]]


def test_to_qimage_rejects_what_it_cannot_show() -> None:
    with pytest.raises(TypeError, match="float64"):
        to_qimage(np.zeros((2, 2)))
    with pytest.raises(TypeError, match="str"):
        to_qimage("7.png")


def test_pyqt5_viewer_example_runs_the_demo_and_saves_a_screenshot(
    qtbot: Any, tmp_path: pathlib.Path, no_thread_left: None
) -> None:
    example = load_example("pyqt5_viewer")
    picture = tmp_path / "viewer.png"
    argv = ["--frames", "6", "--latency", "0.001", "--screenshot", str(picture)]
    assert example.main(argv) == 0
    with Image.open(picture) as saved:
        assert saved.size == (800, 600)


GC_SCRIPT = """
import gc, importlib.util, sys, tempfile, threading
from qtpy.QtWidgets import QApplication
app = QApplication([])
spec = importlib.util.spec_from_file_location("example", sys.argv[1])
example = importlib.util.module_from_spec(spec)
spec.loader.exec_module(example)
with tempfile.TemporaryDirectory() as directory:
    for _ in range(3):
        example.main(["--frames", "4", "--latency", "0", "--screenshot", directory + "/s.png"])
        gc.collect()
print("threads left:", threading.active_count() - 1)
"""


def test_viewer_windows_collected_in_reference_cycles_do_not_crash_python() -> None:
    # The example's window sits in a reference cycle (closures connected to its signals), so the
    # garbage collector deletes it and its prefetcher. With a lambda connected to `destroyed`
    # this crashed (segfault) every time; run in a subprocess so a crash fails only this test.
    done = subprocess.run(
        [sys.executable, "-c", GC_SCRIPT, str(EXAMPLES / "pyqt5_viewer.py")],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[-1] == "threads left: 0"


def test_a_loader_without_items_is_refused(qtbot: Any) -> None:
    empty: list[str] = []
    with (
        PrefetchingLoader(load_image, empty) as loader,
        pytest.raises(ValueError, match="no items"),
    ):
        ViewerWindow(loader)


def test_pyqt5_viewer_example_measures_a_held_key(
    qtbot: Any, capsys: pytest.CaptureFixture[str], no_thread_left: None
) -> None:
    example = load_example("pyqt5_viewer")
    assert example.main(["--frames", "8", "--latency", "0", "--hold-right", "5"]) == 0
    report = capsys.readouterr().out.splitlines()[-1]
    assert report.startswith("held Right 5 times at 30/s: ")
    shown, memory, ready_or_loading = held_key_figures(report)
    # A frame "from memory" was ready when requested: a hit of the loader, or a wait whose load
    # finished between the loader's lookup and the viewer's look at the future.
    assert 1 <= shown <= 6
    assert memory <= min(shown, ready_or_loading)


def test_pyqt5_viewer_example_without_read_ahead_shows_nothing_from_memory(
    qtbot: Any, capsys: pytest.CaptureFixture[str], no_thread_left: None
) -> None:
    example = load_example("pyqt5_viewer")
    argv = ["--frames", "8", "--latency", "0.01", "--ahead", "0", "--hold-right", "3"]
    assert example.main(argv) == 0
    shown, memory, _ = held_key_figures(capsys.readouterr().out.splitlines()[-1])
    assert (shown >= 1, memory) == (True, 0)


def held_key_figures(report: str) -> tuple[int, int, int]:
    """Frames shown, frames from memory, and loader hits + waits in a --hold-right report."""
    pattern = r"(\d+) frames shown .* (\d+) from memory, .*hits (\d+), waits (\d+),"
    match = re.search(pattern, report)
    assert match is not None, report
    shown, memory, hits, waits = (int(group) for group in match.groups())
    return shown, memory, hits + waits


CTRL_C_SCRIPT = """
import signal, sys
# A child gets the default SIGINT handler, even when its parent runs with SIGINT ignored.
signal.signal(signal.SIGINT, signal.default_int_handler)
from prefetcher import viewer
from prefetcher._cli import main

show = viewer.ViewerWindow.show

def show_and_report(self):
    self.frame_shown.connect(lambda n: print("shown", n, flush=True))
    show(self)

viewer.ViewerWindow.show = show_and_report
sys.exit(main(["view", sys.argv[1]]))
"""


def test_one_ctrl_c_in_the_terminal_quits_the_viewer_with_130_and_no_traceback(
    frames: pathlib.Path,
) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", CTRL_C_SCRIPT, str(frames)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # "" at EOF, if the process died
        assert first.startswith("shown"), first + process.stderr.read()[-2000:]  # type: ignore[union-attr]
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=WAIT)
    finally:
        process.kill()
        process.wait(timeout=WAIT)
    assert process.returncode == 130, err[-2000:]
    assert "prefetcher view: interrupted" in err
    assert "Traceback" not in err
