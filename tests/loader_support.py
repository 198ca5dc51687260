"""Test doubles for the core loader: a load that records, blocks on events and fails on demand."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any

# Bound for every wait in these tests: long enough never to fire on a loaded 2-core machine,
# short enough that a deadlock fails fast (pytest-timeout is the last resort).
WAIT = 10.0


def wait_until(condition: Callable[[], bool], timeout: float = WAIT) -> None:
    """Wait for a state the test cannot get an event for (e.g. a counter in the loader)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.001)


class RecordingLoad:
    """A load function: returns ``("item", key)``; records calls; can block or fail per key."""

    def __init__(self, fail: set[Hashable] | None = None) -> None:
        self.fail = set() if fail is None else fail
        self.calls: list[Any] = []
        self._lock = threading.Lock()
        self._gates: dict[Any, threading.Event] = {}
        self._started: dict[Any, threading.Event] = {}
        self.on_call: Callable[[Any], None] | None = None

    def gate(self, *keys: Any) -> threading.Event:
        """Make the loads of ``keys`` block until the returned event is set."""
        event = threading.Event()
        with self._lock:
            for key in keys:
                self._gates[key] = event
        return event

    def started(self, key: Any) -> threading.Event:
        """An event set when the load of ``key`` starts."""
        with self._lock:
            return self._started.setdefault(key, threading.Event())

    def count(self, key: Any) -> int:
        with self._lock:
            return self.calls.count(key)

    def __call__(self, key: Any) -> tuple[str, Any]:
        with self._lock:
            self.calls.append(key)
            gate = self._gates.get(key)
            started = self._started.setdefault(key, threading.Event())
        started.set()
        if self.on_call is not None:
            self.on_call(key)
        if gate is not None and not gate.wait(WAIT):
            raise AssertionError(f"gate for {key!r} never opened")
        if key in self.fail:
            raise ValueError(f"cannot load {key!r}")
        return ("item", key)


class RecordingExecutor(Executor):
    """Wraps a ThreadPoolExecutor; records submissions and the most ever outstanding at once."""

    def __init__(self, max_workers: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max_workers)
        self._lock = threading.Lock()
        self.submitted: list[Any] = []
        self.outstanding = 0
        self.peak_outstanding = 0
        self.shut_down = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._lock:
            self.submitted.append(args[0] if args else None)
            self.outstanding += 1
            self.peak_outstanding = max(self.peak_outstanding, self.outstanding)
        future = self._pool.submit(fn, *args, **kwargs)
        future.add_done_callback(self._done)
        return future

    def _done(self, _: Future[Any]) -> None:
        with self._lock:
            self.outstanding -= 1

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.shut_down = True
        self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)


def loader_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("prefetcher")]
