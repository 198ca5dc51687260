"""QtPrefetcher: signals in the GUI thread, stale results, shutdown; the worker-thread drop-in."""

from __future__ import annotations

import os

# Before any Qt import: without a display Qt aborts unless it renders offscreen.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import logging
import pathlib
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

import pytest

pytest.importorskip("qtpy")
pytest.importorskip("pytestqt")

import numpy as np
from conftest import load_example
from PIL import Image

# qtpy binds Signal inside an if/else on the binding, which mypy does not count as an export.
from qtpy.QtCore import QCoreApplication, QEvent, QObject, QThread, Signal  # type: ignore[attr-defined]

from prefetcher import LoaderClosedError, PrefetchingLoader
from prefetcher.qt import QtPrefetcher, describe_error

WAIT = 10.0  # seconds; bound for every wait, never reached unless something is broken
WAIT_MS = int(WAIT * 1000)


class GatedLoad:
    """load(n) -> n * 10; the loads of gated indices block until the test opens the gate."""

    def __init__(self, fail: frozenset[int] = frozenset()) -> None:
        self.fail = fail
        self.gates: dict[int, threading.Event] = {}
        self.started: dict[int, threading.Event] = {}
        self.threads: list[int] = []

    def gate(self, n: int) -> threading.Event:
        self.gates[n] = threading.Event()
        self.started[n] = threading.Event()
        return self.gates[n]

    def __call__(self, n: int) -> int:
        self.threads.append(threading.get_ident())
        if n in self.gates:
            self.started[n].set()
            assert self.gates[n].wait(WAIT), f"gate {n} never opened"
        if n in self.fail:
            raise ValueError(f"frame {n} is corrupt")
        return n * 10


class Recorder:
    """Connects to every signal of a QtPrefetcher and records (signal, index, value, thread)."""

    def __init__(self, prefetcher: QtPrefetcher) -> None:
        self.events: list[tuple[str, int, Any]] = []
        self.threads: set[int] = set()
        for name in ("loaded", "failed", "current_loaded", "current_failed"):
            getattr(prefetcher, name).connect(self._recorder(name))

    def _recorder(self, name: str) -> Any:
        def record(index: int, value: Any) -> None:
            self.threads.add(threading.get_ident())
            self.events.append((name, index, value))

        return record

    def of(self, name: str) -> list[tuple[int, Any]]:
        return [(index, value) for signal, index, value in self.events if signal == name]


def after_callbacks(future: Future[Any]) -> threading.Event:
    """An event set once the done-callbacks added to ``future`` before this call have run."""
    ran = threading.Event()
    # Done-callbacks run in the order they were added.
    future.add_done_callback(lambda _: ran.set())
    return ran


@pytest.fixture
def no_thread_left() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    # A QThread that ran Python code shows up as a _DummyThread, which threading never removes;
    # the tests that start a QThread assert that it finished with QThread.wait().
    left = [
        t
        for t in threading.enumerate()
        if t not in before and not isinstance(t, threading._DummyThread)
    ]
    assert not left, f"threads left running: {left}"


@pytest.fixture
def load() -> GatedLoad:
    return GatedLoad()


@pytest.fixture
def prefetcher(qtbot: Any, load: GatedLoad, no_thread_left: None) -> Iterator[QtPrefetcher]:
    prefetcher = QtPrefetcher(PrefetchingLoader(load, ahead=0))
    yield prefetcher
    for gate in load.gates.values():
        gate.set()
    prefetcher.close()


def test_request_returns_while_the_load_is_still_running(
    qtbot: Any, prefetcher: QtPrefetcher, load: GatedLoad
) -> None:
    gate = load.gate(0)
    future = prefetcher.request(0)
    assert load.started[0].wait(WAIT)
    assert not future.done()
    with qtbot.waitSignal(prefetcher.loaded, timeout=WAIT_MS) as blocker:
        gate.set()
    assert blocker.args == [0, 0]


def test_loaded_is_emitted_in_the_gui_thread(qtbot: Any, prefetcher: QtPrefetcher) -> None:
    recorder = Recorder(prefetcher)
    gui_thread = threading.get_ident()
    slot_threads: list[QThread | None] = []
    prefetcher.loaded.connect(lambda *_: slot_threads.append(QThread.currentThread()))
    with qtbot.waitSignal(prefetcher.current_loaded, timeout=WAIT_MS):
        prefetcher.request(3)
    assert recorder.threads == {gui_thread}
    app = QCoreApplication.instance()
    assert app is not None
    assert slot_threads == [app.thread()]


def test_load_runs_in_a_worker_thread(
    qtbot: Any, prefetcher: QtPrefetcher, load: GatedLoad
) -> None:
    with qtbot.waitSignal(prefetcher.loaded, timeout=WAIT_MS):
        prefetcher.request(1)
    assert load.threads
    assert threading.get_ident() not in load.threads


def test_failed_is_emitted_with_the_exception_type_and_message(qtbot: Any) -> None:
    prefetcher = QtPrefetcher(PrefetchingLoader(GatedLoad(fail=frozenset({2})), ahead=0))
    try:
        with qtbot.waitSignal(prefetcher.failed, timeout=WAIT_MS) as blocker:
            prefetcher.request(2)
        index, message = blocker.args
        assert index == 2
        assert message.startswith("ValueError: frame 2 is corrupt")
    finally:
        prefetcher.close()


def test_failed_is_emitted_in_the_gui_thread(qtbot: Any) -> None:
    prefetcher = QtPrefetcher(PrefetchingLoader(GatedLoad(fail=frozenset({2})), ahead=0))
    recorder = Recorder(prefetcher)
    try:
        with qtbot.waitSignal(prefetcher.current_failed, timeout=WAIT_MS):
            prefetcher.request(2)
        assert recorder.threads == {threading.get_ident()}
    finally:
        prefetcher.close()


def test_an_item_already_in_memory_is_reported_from_the_event_loop_not_inside_request(
    qtbot: Any, prefetcher: QtPrefetcher
) -> None:
    assert prefetcher.loader.get(4, timeout=WAIT) == 40
    recorder = Recorder(prefetcher)
    future = prefetcher.request(4)
    assert future.done()  # what the viewer calls "from memory"
    assert recorder.events == []
    qtbot.waitUntil(lambda: recorder.of("current_loaded") == [(4, 40)], timeout=WAIT_MS)


def test_a_late_result_for_an_index_left_behind_is_not_emitted_as_current(
    qtbot: Any, load: GatedLoad, no_thread_left: None
) -> None:
    slow = load.gate(0)
    prefetcher = QtPrefetcher(PrefetchingLoader(load, ahead=0, max_workers=2))
    recorder = Recorder(prefetcher)
    try:
        prefetcher.request(0)
        with qtbot.waitSignal(prefetcher.current_loaded, timeout=WAIT_MS) as newer:
            prefetcher.request(1)
        assert newer.args == [1, 10]
        with qtbot.waitSignal(prefetcher.loaded, timeout=WAIT_MS) as late:
            slow.set()
        assert late.args == [0, 0]  # the index travels with the late result...
        assert recorder.of("current_loaded") == [(1, 10)]  # ...and it never becomes current
    finally:
        slow.set()
        prefetcher.close()


def test_a_late_failure_for_an_index_left_behind_is_not_emitted_as_current(
    qtbot: Any,
) -> None:
    load = GatedLoad(fail=frozenset({0}))
    slow = load.gate(0)
    prefetcher = QtPrefetcher(PrefetchingLoader(load, ahead=0, max_workers=2))
    recorder = Recorder(prefetcher)
    try:
        prefetcher.request(0)
        with qtbot.waitSignal(prefetcher.current_loaded, timeout=WAIT_MS):
            prefetcher.request(1)
        with qtbot.waitSignal(prefetcher.failed, timeout=WAIT_MS):
            slow.set()
        assert recorder.of("current_failed") == []
    finally:
        slow.set()
        prefetcher.close()


def test_current_is_the_latest_requested_index(prefetcher: QtPrefetcher) -> None:
    assert prefetcher.current is None
    prefetcher.request(5)
    prefetcher.request(2)
    assert prefetcher.current == 2


def test_requesting_an_index_again_while_it_loads_reports_it_once(
    qtbot: Any, prefetcher: QtPrefetcher, load: GatedLoad
) -> None:
    gate = load.gate(0)
    recorder = Recorder(prefetcher)
    first = prefetcher.request(0)
    second = prefetcher.request(0)
    assert first is second
    callbacks_ran = after_callbacks(first)
    gate.set()
    assert callbacks_ran.wait(WAIT)
    with qtbot.waitSignal(prefetcher.current_loaded, timeout=WAIT_MS):
        pass
    QCoreApplication.processEvents()
    assert recorder.of("loaded") == [(0, 0)]


def test_no_signal_is_emitted_after_close_for_a_result_already_posted(
    qtbot: Any, prefetcher: QtPrefetcher
) -> None:
    recorder = Recorder(prefetcher)
    future = prefetcher.request(0)
    # Our callback runs after the prefetcher's, which posted the result to the event loop.
    assert after_callbacks(future).wait(WAIT)
    prefetcher.close()
    QCoreApplication.processEvents()
    assert recorder.events == []


def test_close_waits_for_running_loads_and_leaves_no_thread(
    qtbot: Any, load: GatedLoad, no_thread_left: None
) -> None:
    gate = load.gate(0)
    prefetcher = QtPrefetcher(PrefetchingLoader(load, ahead=2))
    future = prefetcher.request(0)
    assert load.started[0].wait(WAIT)
    gate.set()
    prefetcher.close()
    assert future.done()
    assert prefetcher.loader.closed


def test_request_after_close_raises_loader_closed_error(prefetcher: QtPrefetcher) -> None:
    prefetcher.close()
    with pytest.raises(LoaderClosedError):
        prefetcher.request(0)


def test_close_is_idempotent(prefetcher: QtPrefetcher) -> None:
    prefetcher.close()
    prefetcher.close()
    assert prefetcher.closed


def test_deleting_the_parent_closes_the_loader_and_leaves_no_thread(
    qtbot: Any, no_thread_left: None
) -> None:
    parent = QObject()
    loader = PrefetchingLoader(GatedLoad(), ahead=2)
    prefetcher = QtPrefetcher(loader, parent)
    with qtbot.waitSignal(prefetcher.loaded, timeout=WAIT_MS):
        prefetcher.request(0)
    with qtbot.waitSignal(parent.destroyed, timeout=WAIT_MS):
        parent.deleteLater()
    assert loader.closed


def test_deleting_the_parent_with_a_result_posted_emits_nothing_and_logs_no_error(
    qtbot: Any, caplog: pytest.LogCaptureFixture, no_thread_left: None
) -> None:
    parent = QObject()
    loader = PrefetchingLoader(GatedLoad(), ahead=0)
    prefetcher = QtPrefetcher(loader, parent)
    received: list[int] = []
    prefetcher.loaded.connect(lambda index, _: received.append(index))
    with caplog.at_level(logging.DEBUG):
        assert after_callbacks(prefetcher.request(0)).wait(WAIT)
        # The result is posted; delete the parent before the event loop delivers it.
        parent.deleteLater()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        QCoreApplication.processEvents()
    assert received == []
    assert loader.closed
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_deleting_the_prefetcher_itself_closes_the_loader(qtbot: Any, no_thread_left: None) -> None:
    loader = PrefetchingLoader(GatedLoad(), ahead=2)
    prefetcher = QtPrefetcher(loader)
    prefetcher.request(0)
    with qtbot.waitSignal(prefetcher.destroyed, timeout=WAIT_MS):
        prefetcher.deleteLater()
    assert loader.closed


def test_open_builds_a_loader_over_a_numbered_sequence(
    qtbot: Any, tmp_path: pathlib.Path, no_thread_left: None
) -> None:
    for n, grey in enumerate([10, 20, 30]):
        Image.fromarray(np.full((4, 6), grey, np.uint8)).save(tmp_path / f"{n}.png")
    prefetcher = QtPrefetcher.open(str(tmp_path / "{}.png"), as_array=True, ahead=1)
    try:
        with qtbot.waitSignal(prefetcher.current_loaded, timeout=WAIT_MS) as blocker:
            prefetcher.request(2)
        index, array = blocker.args
        assert index == 2
        assert array.shape == (4, 6)
        assert (array == 30).all()
    finally:
        prefetcher.close()


def test_repr_shows_current_pending_and_closed(prefetcher: QtPrefetcher, load: GatedLoad) -> None:
    load.gate(7)
    prefetcher.request(7)
    assert repr(prefetcher) == "<QtPrefetcher current=7 pending=1 closed=False>"


def test_describe_error_includes_the_notes() -> None:
    exc = OSError("broken data")
    exc.__notes__ = ["while loading item 3"]  # type: ignore[attr-defined]  # add_note() on 3.11+
    assert describe_error(exc) == "OSError: broken data (while loading item 3)"


# --- examples/qt_worker.py: the user's worker-thread structure, loading through loader.get(n) ---


@pytest.fixture
def worker_in_thread(qtbot: Any, no_thread_left: None) -> Iterator[tuple[Any, GatedLoad]]:
    example = load_example("qt_worker")
    load = GatedLoad(fail=frozenset({6}))
    with PrefetchingLoader(load, list(range(10)), ahead=2) as loader:
        worker = example.FrameWorker(loader)
        thread = QThread()
        worker.moveToThread(thread)
        thread.start()
        try:
            yield worker, load
        finally:
            thread.quit()
            assert thread.wait(WAIT_MS)


def test_worker_example_emits_the_frame_it_was_asked_for(
    qtbot: Any, worker_in_thread: tuple[Any, GatedLoad]
) -> None:
    worker, _ = worker_in_thread
    ask = _Asker()
    ask.frame_wanted.connect(worker.load_frame)
    with qtbot.waitSignal(worker.frame_loaded, timeout=WAIT_MS) as blocker:
        ask.frame_wanted.emit(3)
    assert blocker.args == [3, 30]


def test_worker_example_loads_in_its_own_thread_not_the_gui_thread(
    qtbot: Any, worker_in_thread: tuple[Any, GatedLoad]
) -> None:
    worker, load = worker_in_thread
    ask = _Asker()
    ask.frame_wanted.connect(worker.load_frame)
    slot_threads: list[int] = []
    original = worker.loader.get

    def recording_get(n: int) -> Any:
        slot_threads.append(threading.get_ident())
        return original(n)

    worker.loader.get = recording_get
    with qtbot.waitSignal(worker.frame_loaded, timeout=WAIT_MS):
        ask.frame_wanted.emit(0)
    assert slot_threads and slot_threads[0] != threading.get_ident()
    assert threading.get_ident() not in load.threads


def test_worker_example_reads_ahead_so_the_next_frame_is_already_loading(
    qtbot: Any, worker_in_thread: tuple[Any, GatedLoad]
) -> None:
    worker, load = worker_in_thread
    next_frame = load.gate(5)
    ask = _Asker()
    ask.frame_wanted.connect(worker.load_frame)
    with qtbot.waitSignal(worker.frame_loaded, timeout=WAIT_MS):
        ask.frame_wanted.emit(4)
    assert load.started[5].wait(WAIT)  # prefetched without being asked for
    next_frame.set()


def test_worker_example_reports_a_failed_frame(
    qtbot: Any, worker_in_thread: tuple[Any, GatedLoad]
) -> None:
    worker, _ = worker_in_thread
    ask = _Asker()
    ask.frame_wanted.connect(worker.load_frame)
    with qtbot.waitSignal(worker.frame_failed, timeout=WAIT_MS) as blocker:
        ask.frame_wanted.emit(6)
    assert blocker.args[0] == 6
    assert "frame 6 is corrupt" in blocker.args[1]


class _Asker(QObject):
    """Plays the window: asks the worker for a frame through a (queued) signal."""

    frame_wanted = Signal(int)
