"""Test doubles for the core loader: a load that records, blocks on events and fails on demand."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any, overload

from prefetcher import PrefetchingLoader

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


def loader_threads(prefix: str = "prefetcher") -> list[threading.Thread]:
    """The live threads whose name starts with ``prefix`` (by default, every loader's)."""
    return [t for t in threading.enumerate() if t.name.startswith(prefix)]


class OwnerRecordingLock:
    """A lock that knows which thread holds it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.owner: int | None = None

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        acquired = self._lock.acquire(blocking, timeout)
        if acquired:
            self.owner = threading.get_ident()
        return acquired

    def release(self) -> None:
        self.owner = None
        self._lock.release()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self.release()


class LockProbe:
    """Hands out owner-recording locks and records every call made while one is held.

    ``probe.loader_type`` is a PrefetchingLoader whose lock comes from the probe; ``check``
    is called by the test's hooks (keys, executor, load, sizeof, callbacks).
    """

    def __init__(self) -> None:
        self.locks: list[OwnerRecordingLock] = []
        self.violations: list[str] = []
        self.checks: list[str] = []
        probe = self

        class ProbedLoader(PrefetchingLoader[Any, Any]):
            lock_type = probe.new_lock

        self.loader_type = ProbedLoader

    def new_lock(self) -> OwnerRecordingLock:
        lock = OwnerRecordingLock()
        self.locks.append(lock)
        return lock

    def check(self, what: str) -> None:
        if not self.record(what):
            raise AssertionError(f"{what} ran under the loader's lock")

    def record(self, what: str) -> bool:
        """Record ``what``, and whether it ran under a loader's lock; return whether it did not.

        For a hook that must not raise (a finalizer).
        """
        self.checks.append(what)
        me = threading.get_ident()
        if any(lock.owner == me for lock in self.locks):
            self.violations.append(what)
            return False
        return True


class Finalized:
    """An item whose finalizer (user code that runs when the loader lets the item go) reports
    to a probe."""

    def __init__(self, probe: LockProbe, index: int) -> None:
        self._probe = probe
        self.index = index

    def __del__(self) -> None:
        self._probe.record(f"finalizer of {self.index}")


class _WatchedKeys(Sequence[str]):
    """Keys that call a hook before every ``len`` and every lookup: the Sequence for the key
    wrappers below, each of which overrides the hooks it needs."""

    def __init__(self, keys: Sequence[str]) -> None:
        self._keys = keys

    def _measuring(self) -> None:
        """Called before ``len(keys)``."""

    def _looking_up(self, index: int | slice) -> None:
        """Called before ``keys[index]``."""

    def __len__(self) -> int:
        self._measuring()
        return len(self._keys)

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        self._looking_up(index)
        return self._keys[index]


class ProbedKeys(_WatchedKeys):
    """Keys whose reads are checked by a probe."""

    def __init__(self, probe: LockProbe, keys: Sequence[str]) -> None:
        super().__init__(keys)
        self._probe = probe

    def _measuring(self) -> None:
        self._probe.check("len(keys)")

    def _looking_up(self, index: int | slice) -> None:
        self._probe.check("keys[n]")


class KeysActingAt(_WatchedKeys):
    """Keys that call ``act()`` each time ``index`` is looked up, before returning its key: to
    raise there (a lookup that fails, a Ctrl-C landing in it) or to wait."""

    def __init__(self, keys: Sequence[str], index: int, act: Callable[[], None]) -> None:
        super().__init__(keys)
        self._index = index
        self._act = act

    def _looking_up(self, index: int | slice) -> None:
        if index == self._index:
            self._act()


class ProbedExecutor(RecordingExecutor):
    """An executor whose submit is checked by a probe."""

    def __init__(self, probe: LockProbe, max_workers: int) -> None:
        super().__init__(max_workers)
        self._probe = probe

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self._probe.check("executor.submit")
        return super().submit(fn, *args, **kwargs)


def run_child(
    script: str, *, interrupt_at: str | None = None, timeout: float = 30.0
) -> tuple[int, str, float]:
    """Run ``script`` in a child Python; return its exit status, output, and seconds it took.

    The child gets the default SIGINT handler even when this process ignores SIGINT (a run in
    the background or under nohup). With ``interrupt_at``, the child is sent one SIGINT once it
    printed that line, and the time counts from then. A child still running after ``timeout``
    seconds is killed by its pid and the test fails.
    """
    prelude = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler)\n"
    child = subprocess.Popen(
        [sys.executable, "-u", "-c", prelude + script],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert child.stdout is not None
    lines: list[str] = []
    interrupted = False
    killer = threading.Timer(timeout, child.kill)  # a hung child cannot hang the test
    killer.start()
    try:
        started = time.monotonic()
        for line in child.stdout:
            lines.append(line)
            if interrupt_at is not None and not interrupted and line.strip() == interrupt_at:
                started = time.monotonic()
                child.send_signal(signal.SIGINT)
                interrupted = True
        status = child.wait()  # the output ended: the child ended, or the killer ended it
        took = time.monotonic() - started
    finally:
        killer.cancel()
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
        child.stdout.close()
    output = "".join(lines)
    sent = "after Ctrl-C" if interrupted else "and was never sent Ctrl-C"
    assert status != -signal.SIGKILL, f"the child hung {sent}; killed after {timeout} s:\n{output}"
    return status, output, took
