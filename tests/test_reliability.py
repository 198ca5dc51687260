"""A share that hangs or fails: the loader stays responsive, closes, and loads an item once."""

from __future__ import annotations

import concurrent.futures
import gc
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from loader_support import (
    WAIT,
    KeysActingAt,
    RecordingLoad,
    loader_threads,
    run_child,
    wait_until,
)

from prefetcher import LoaderClosedError, PrefetchingLoader

KEYS = [f"{n}.png" for n in range(100)]


@pytest.fixture
def load() -> RecordingLoad:
    return RecordingLoad()


@pytest.fixture
def released() -> Any:
    """Events a test's hung loads wait on; all set at teardown so no thread outlives a test."""
    events: list[threading.Event] = []

    def make() -> threading.Event:
        event = threading.Event()
        events.append(event)
        return event

    yield make
    for event in events:
        event.set()
    wait_until(lambda: not loader_threads())


class Flaky:
    """A load that raises ``errors`` one after another for ``key``, then returns the item."""

    def __init__(self, key: Any, errors: list[BaseException]) -> None:
        self.key = key
        self.errors = list(errors)
        self.calls: list[Any] = []
        self._lock = threading.Lock()

    def __call__(self, key: Any) -> tuple[str, Any]:
        with self._lock:
            self.calls.append(key)
            error = self.errors.pop(0) if key == self.key and self.errors else None
        if error is not None:
            raise error
        return ("item", key)


def waiting_on(event: threading.Event) -> Callable[[int], bool]:
    """A load that hangs until ``event`` is set."""

    def load(n: int) -> bool:
        return event.wait(WAIT)

    return load


# One load per item.


def test_a_request_for_an_item_evicted_while_it_loads_joins_that_load(load: RecordingLoad) -> None:
    gate = load.gate("0.png")
    with PrefetchingLoader(load, KEYS, cache_size=1, ahead=0, max_workers=2) as loader:
        first = loader.request(0)
        loader.get(1)
        loader.get(2)  # item 0 is evicted, its load still running
        again = loader.request(0)
        gate.set()
        assert again.result(WAIT) == first.result(WAIT) == ("item", "0.png")
        assert load.count("0.png") == 1
        assert loader.stats().loads_started == 3


def test_the_read_ahead_joins_a_load_evicted_while_it_runs(load: RecordingLoad) -> None:
    gate = load.gate("1.png")
    with PrefetchingLoader(load, KEYS, cache_size=1, ahead=1) as loader:
        loader.get(0)  # prefetches 1, which hangs at its gate
        assert load.started("1.png").wait(WAIT)
        loader.get(50)  # 0 and the stale prefetch of 1 are evicted
        loader.get(2)  # reads back: the window is item 1 again
        gate.set()
        assert loader.get(1, timeout=WAIT) == ("item", "1.png")
        assert load.count("1.png") == 1


def test_invalidate_makes_the_next_request_start_a_fresh_load(load: RecordingLoad) -> None:
    gate = load.gate("0.png")
    with PrefetchingLoader(load, KEYS, ahead=0) as loader:
        running = loader.request(0)
        loader.invalidate(0)
        fresh = loader.request(0)
        gate.set()
        assert running.result(WAIT) == fresh.result(WAIT) == ("item", "0.png")
        assert load.count("0.png") == 2


# Stuck loads.


def test_a_stuck_load_fails_its_waiters_with_a_timeout_naming_index_and_key(
    load: RecordingLoad,
) -> None:
    gate = load.gate("3.png")
    with (
        PrefetchingLoader(load, KEYS, ahead=0, load_timeout=0.1) as loader,
        pytest.raises(TimeoutError) as caught,
    ):
        loader.get(3, timeout=WAIT)
        gate.set()
    message = str(caught.value)
    assert "item 3" in message and "'3.png'" in message and "load_timeout=0.1" in message
    assert loader.stats().loads_stuck == 1


def test_stuck_loads_get_workers_in_their_place(released: Any) -> None:
    hang = released()

    def load(n: int) -> int:
        if n < 2:
            hang.wait(WAIT)
        return n

    with PrefetchingLoader(load, ahead=0, max_workers=2, load_timeout=0.1) as loader:
        stuck = [loader.request(0), loader.request(1)]
        for future in stuck:
            with pytest.raises(TimeoutError):
                future.result(WAIT)
        assert loader.get(5, timeout=WAIT) == 5  # both workers hang; others serve


def test_the_next_request_for_a_stuck_item_loads_it_again_and_a_late_result_is_dropped(
    released: Any,
) -> None:
    first_call = released()
    calls: list[int] = []

    def load(n: int) -> tuple[int, int]:
        calls.append(n)
        attempt = len(calls)
        if attempt == 1:
            first_call.wait(WAIT)
        return (n, attempt)

    with PrefetchingLoader(load, ahead=0, load_timeout=0.1) as loader, pytest.raises(TimeoutError):
        loader.get(0, timeout=WAIT)
        assert loader.get(0, timeout=WAIT) == (0, 2)
        first_call.set()  # the stuck load returns now; its result must not replace the new one
        wait_until(lambda: loader.stats().wasted_loads == 1)
        assert loader.get(0, timeout=WAIT) == (0, 2)


def test_past_the_stuck_cap_a_request_fails_at_once_saying_how_many_are_stuck(
    released: Any,
) -> None:
    hang = released()
    with PrefetchingLoader(waiting_on(hang), ahead=0, max_workers=1, load_timeout=0.05) as loader:
        for n in range(4):  # the least cap of stuck loads, more than the one worker
            with pytest.raises(TimeoutError, match=f"item {n} .* is stuck"):
                loader.get(n, timeout=WAIT)
        with pytest.raises(TimeoutError, match="4 loads are stuck"):
            loader.get(4, timeout=WAIT)


def test_once_the_stuck_loads_return_loads_start_again(released: Any) -> None:
    hang = released()
    with PrefetchingLoader(waiting_on(hang), ahead=0, max_workers=1, load_timeout=0.05) as loader:
        for n in range(4):
            with pytest.raises(TimeoutError, match="is stuck"):
                loader.get(n, timeout=WAIT)
        hang.set()  # the stuck loads return; their late results are dropped
        wait_until(lambda: loader.stats().wasted_loads == 4)
        assert loader.get(4, timeout=WAIT) is True


def test_a_get_timeout_for_an_item_that_never_started_says_it_is_queued(
    load: RecordingLoad,
) -> None:
    gate = load.gate("0.png", "1.png")
    with PrefetchingLoader(load, KEYS, ahead=0, max_workers=1) as loader:
        loader.request(0)
        loader.request(1)  # on the thread the pool keeps for requested items
        assert load.started("0.png").wait(WAIT) and load.started("1.png").wait(WAIT)
        with pytest.raises(TimeoutError, match=r"queued: all 2 workers busy with items 0, 1 "):
            loader.get(2, timeout=0.05)
        gate.set()


def test_a_get_timeout_for_a_running_load_says_it_is_still_loading(load: RecordingLoad) -> None:
    gate = load.gate("0.png")
    with PrefetchingLoader(load, KEYS, ahead=0) as loader:
        loader.request(0)
        assert load.started("0.png").wait(WAIT)
        with pytest.raises(TimeoutError, match=r"item 0 .* still loading") as caught:
            loader.get(0, timeout=0.01)
        assert not getattr(caught.value, "__notes__", [])
        gate.set()


def test_a_loads_own_timeout_error_is_not_taken_for_a_get_timeout() -> None:
    def load(n: int) -> int:
        raise TimeoutError(f"the share timed out on {n}")

    with (
        PrefetchingLoader(load, ahead=0) as loader,
        pytest.raises(TimeoutError, match="the share timed out on 4"),
    ):
        loader.get(4, timeout=WAIT)


# Retries.


def test_a_transient_failure_is_retried_until_it_succeeds() -> None:
    load = Flaky(7, [ConnectionResetError("reset"), TimeoutError("slow")])
    with PrefetchingLoader(load, ahead=0, retries=2, backoff=0) as loader:
        assert loader.get(7, timeout=WAIT) == ("item", 7)
        assert loader.stats().retries == 2
    assert load.calls == [7, 7, 7]


@pytest.mark.parametrize(
    "error",
    [FileNotFoundError(2, "gone"), PermissionError(13, "no"), IsADirectoryError(21, "dir")],
    ids=["missing", "permission", "directory"],
)
def test_errors_another_attempt_cannot_fix_are_never_retried(error: OSError) -> None:
    load = Flaky(1, [error])
    with (
        PrefetchingLoader(load, ahead=0, retries=3, retry_on=(OSError,), backoff=0) as loader,
        pytest.raises(type(error)),
    ):
        loader.get(1, timeout=WAIT)
    assert load.calls == [1]


def test_the_last_attempts_error_says_how_many_attempts_were_made() -> None:
    load = Flaky(2, [ConnectionError("first"), ConnectionError("second"), ConnectionError("last")])
    with (
        PrefetchingLoader(load, ahead=0, retries=2, backoff=0) as loader,
        pytest.raises(ConnectionError, match="last") as caught,
    ):
        loader.get(2, timeout=WAIT)
    assert getattr(caught.value, "__notes__", None) == [
        "prefetcher: while loading index 2 (key 2), after 3 attempts"
    ]


def test_errors_not_in_retry_on_are_not_retried() -> None:
    load = Flaky(1, [ValueError("bad")])
    with (
        PrefetchingLoader(load, ahead=0, retries=3, backoff=0) as loader,
        pytest.raises(ValueError),
    ):
        loader.get(1, timeout=WAIT)
    assert load.calls == [1]


def test_a_demand_request_for_an_item_waiting_to_retry_starts_it_at_once() -> None:
    load = Flaky(1, [ConnectionError("once")])
    # A backoff far beyond the wait: only starting the retry at once can serve the get.
    with PrefetchingLoader(load, ahead=1, retries=1, backoff=60) as loader:
        loader.get(0)
        wait_until(lambda: load.calls.count(1) == 1 and loader.stats().pending == 1)
        assert loader.get(1, timeout=WAIT) == ("item", 1)


def test_no_worker_is_held_while_a_retry_waits() -> None:
    load = Flaky(0, [ConnectionError("once")])
    with PrefetchingLoader(load, ahead=0, max_workers=1, retries=1, backoff=60) as loader:
        waiting = loader.request(0)
        wait_until(lambda: load.calls == [0])
        assert loader.get(1, timeout=WAIT) == ("item", 1)  # the one worker is free
        assert not waiting.done()


# User hooks that misbehave.


@pytest.mark.parametrize(
    ("size", "error"),
    [(None, TypeError), ("4", TypeError), (True, TypeError), (-5, ValueError)],
    ids=["None", "str", "bool", "negative"],
)
def test_a_sizeof_that_returns_no_size_fails_that_item(size: Any, error: type[Exception]) -> None:
    with (
        PrefetchingLoader(str, ahead=0, max_bytes=100, sizeof=lambda item: size) as loader,
        pytest.raises(error, match=r"sizeof\(\) must return an int >= 0.* item 3"),
    ):
        loader.get(3, timeout=WAIT)
        assert loader.stats().cached == 0
    assert loader.closed


@pytest.mark.parametrize("error", [KeyboardInterrupt, SystemExit], ids=lambda e: e.__name__)
def test_a_base_exception_from_load_reaches_its_waiters_and_spares_the_worker(
    error: type[BaseException],
) -> None:
    def load(n: int) -> int:
        if n == 3:
            raise error()
        return n

    with PrefetchingLoader(load, ahead=0, max_workers=1) as loader, pytest.raises(error):
        loader.get(3, timeout=WAIT)
        assert loader.get(4, timeout=WAIT) == 4


def test_a_base_exception_from_sizeof_reaches_its_waiters() -> None:
    def sizeof(item: object) -> int:
        raise KeyboardInterrupt

    with (
        PrefetchingLoader(str, ahead=0, max_bytes=10, sizeof=sizeof) as loader,
        pytest.raises(KeyboardInterrupt),
    ):
        loader.get(1, timeout=WAIT)
        assert loader.stats().pending == 0


# One note per raise.


def test_an_error_raised_for_several_indices_carries_one_loader_note_for_the_current_one() -> None:
    shared = OSError("the share is gone")
    shared.__notes__ = ["a note of the caller's"]  # type: ignore[attr-defined]  # add_note, on 3.10

    def load(n: int) -> int:
        raise shared

    with PrefetchingLoader(load, ahead=0) as loader:
        for n in (1, 2, 1, 5):
            with pytest.raises(OSError) as caught:
                loader.get(n, timeout=WAIT)
            assert getattr(caught.value, "__notes__", None) == [
                "a note of the caller's",
                f"prefetcher: while loading index {n} (key {n})",
            ]


# Arguments.


@pytest.mark.parametrize(
    ("options", "error", "name"),
    [
        ({"load_timeout": "5"}, TypeError, "load_timeout"),
        ({"load_timeout": -1}, ValueError, "load_timeout"),
        ({"load_timeout": float("nan")}, ValueError, "load_timeout"),
        ({"backoff": True}, TypeError, "backoff"),
        ({"backoff": -0.1}, ValueError, "backoff"),
        ({"retries": 1.5}, TypeError, "retries"),
        ({"retries": -1}, ValueError, "retries"),
        ({"retry_on": "OSError"}, TypeError, "retry_on"),
    ],
)
def test_bad_reliability_arguments_raise_naming_the_argument(
    options: dict[str, Any], error: type[Exception], name: str
) -> None:
    with pytest.raises(error, match=name):
        PrefetchingLoader(str, **options)


@pytest.mark.parametrize("timeout", ["1", -1, float("inf")])
def test_a_bad_get_timeout_raises_before_anything_loads(load: RecordingLoad, timeout: Any) -> None:
    with (
        PrefetchingLoader(load, KEYS) as loader,
        pytest.raises((TypeError, ValueError), match="timeout"),
    ):
        loader.get(0, timeout=timeout)
    assert load.calls == []


def test_a_str_as_keys_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="keys"):
        PrefetchingLoader(str, "0123")


# close() against hung loads and waiters.


def test_close_with_a_timeout_returns_and_warns_naming_the_abandoned_items(
    load: RecordingLoad, caplog: pytest.LogCaptureFixture
) -> None:
    gate = load.gate("4.png", "7.png")
    loader = PrefetchingLoader(load, KEYS, ahead=0, max_workers=2)
    loader.request(4)
    loader.request(7)
    assert load.started("4.png").wait(WAIT) and load.started("7.png").wait(WAIT)
    with caplog.at_level(logging.WARNING, logger="prefetcher"):
        loader.close(timeout=0.05)
    gate.set()
    (record,) = caplog.records
    assert "items 4, 7" in record.getMessage()


def test_the_close_warning_says_how_long_close_waited(
    load: RecordingLoad, caplog: pytest.LogCaptureFixture
) -> None:
    gate = load.gate("4.png")
    loader = PrefetchingLoader(load, KEYS, ahead=0)
    loader.request(4)
    assert load.started("4.png").wait(WAIT)
    with caplog.at_level(logging.WARNING, logger="prefetcher"):
        loader.close(timeout=0.05)
    gate.set()
    (record,) = caplog.records
    found = re.search(r"closed after waiting (\d+\.\d+) s", record.getMessage())
    assert found is not None, record.getMessage()
    assert 0.05 <= float(found.group(1)) < WAIT


class HandsOverLate(ThreadPoolExecutor):
    """A caller's executor whose first ``submit`` waits for ``proceed``, then returns only once
    the load has started: the submission lands after close() began, too late to be cancelled."""

    def __init__(self, started: threading.Event) -> None:
        super().__init__(2)
        self.submitting = threading.Event()
        self.proceed = threading.Event()
        self._started = started

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        if not self.submitting.is_set():
            self.submitting.set()
            assert self.proceed.wait(WAIT)
            future = super().submit(fn, *args, **kwargs)
            assert self._started.wait(WAIT)
            return future
        return super().submit(fn, *args, **kwargs)


def test_close_waits_for_a_load_handed_to_a_callers_executor_while_it_closes(
    load: RecordingLoad, caplog: pytest.LogCaptureFixture
) -> None:
    gate = load.gate("0.png")
    with HandsOverLate(load.started("0.png")) as executor, ThreadPoolExecutor(2) as side:
        loader = PrefetchingLoader(load, KEYS, ahead=0, executor=executor)
        requested = side.submit(loader.request, 0)  # decided, then held up in submit
        assert executor.submitting.wait(WAIT)
        with caplog.at_level(logging.WARNING, logger="prefetcher"):
            closing = side.submit(loader.close, True, WAIT)
            wait_until(lambda: loader.closed)
            executor.proceed.set()  # the load reaches the executor only now, and runs
            assert load.started("0.png").wait(WAIT)
            gate.set()
            closing.result(WAIT)
        assert requested.result(WAIT).result(WAIT) == ("item", "0.png")
    assert not caplog.records


def test_close_in_a_done_callback_on_a_callers_executors_only_thread_returns(
    load: RecordingLoad,
) -> None:
    gate = load.gate("0.png")
    closed = threading.Event()
    with ThreadPoolExecutor(1) as executor:
        loader = PrefetchingLoader(load, KEYS, ahead=4, executor=executor)
        future = loader.request(0)

        def close_here(_: object) -> None:  # in the thread whose load just ended
            loader.close()
            closed.set()

        future.add_done_callback(close_here)
        gate.set()
        assert closed.wait(WAIT)
        assert future.result(WAIT) == ("item", "0.png")


def test_a_load_on_its_way_to_the_loaders_own_pool_as_it_closes_fails_and_close_returns(
    load: RecordingLoad,
) -> None:
    looking_up, proceed = threading.Event(), threading.Event()

    def hold() -> None:  # the lookup of key 0: the load is on its way to the pool
        looking_up.set()
        assert proceed.wait(WAIT)

    loader = PrefetchingLoader(load, KeysActingAt(KEYS, 0, hold), ahead=0)
    with ThreadPoolExecutor(2) as side:
        requested = side.submit(loader.request, 0)
        assert looking_up.wait(WAIT)
        closing = side.submit(loader.close, True, WAIT)
        wait_until(lambda: loader.closed)
        proceed.set()
        closing.result(WAIT)
        with pytest.raises(LoaderClosedError):
            requested.result(WAIT).result(WAIT)
    assert "0.png" not in load.calls


def test_close_fails_every_waiter_whose_item_did_not_finish(released: Any) -> None:
    hang = released()
    loader = PrefetchingLoader(waiting_on(hang), ahead=0)
    future = loader.request(0)
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(loader.get, 0)
        wait_until(lambda: loader.stats().waits == 1)
        loader.close(wait=False)
        with pytest.raises(LoaderClosedError):
            waiting.result(WAIT)
    with pytest.raises(LoaderClosedError):
        future.result(0)


def test_leaving_a_with_block_by_an_exception_does_not_wait(
    load: RecordingLoad, caplog: pytest.LogCaptureFixture
) -> None:
    gate = load.gate("0.png")
    started = time.monotonic()
    with pytest.raises(RuntimeError), PrefetchingLoader(load, KEYS, ahead=0) as loader:
        loader.request(0)
        assert load.started("0.png").wait(WAIT)
        raise RuntimeError("the caller's own error")
    # Leaving normally would wait two seconds for the hung load, and warn.
    assert time.monotonic() - started < 1.5
    assert not caplog.records
    gate.set()


def test_leaving_a_with_block_normally_waits_a_bounded_time_and_warns(
    load: RecordingLoad, caplog: pytest.LogCaptureFixture
) -> None:
    gate = load.gate("9.png")
    with (
        caplog.at_level(logging.WARNING, logger="prefetcher"),
        PrefetchingLoader(load, KEYS, ahead=0) as loader,
    ):
        loader.request(9)
        assert load.started("9.png").wait(WAIT)
    gate.set()
    (record,) = caplog.records
    assert "items 9" in record.getMessage()


def test_close_racing_with_loads_that_finish_resolves_every_waiter() -> None:
    for round_ in range(30):
        barrier = threading.Barrier(2)
        loader: PrefetchingLoader[int, int] = PrefetchingLoader(lambda n: n, ahead=4)
        futures = [loader.request(n) for n in range(0, 40, 5)]

        def close(loader: PrefetchingLoader[int, int], barrier: threading.Barrier) -> None:
            barrier.wait(WAIT)
            loader.close()

        closer = threading.Thread(target=close, args=(loader, barrier))
        closer.start()
        barrier.wait(WAIT)
        closer.join(WAIT)
        assert not closer.is_alive(), f"round {round_}"
        for future in futures:
            done, _ = concurrent.futures.wait([future], WAIT)
            assert done, f"round {round_}: a waiter was left waiting"
            if future.exception() is not None:
                assert isinstance(future.exception(), LoaderClosedError)


def test_a_failing_key_lookup_says_so_in_the_note(load: RecordingLoad) -> None:
    def fail() -> None:  # a list of paths read from a share, say
        raise OSError("the list of frames is gone")

    with (
        PrefetchingLoader(load, KeysActingAt(KEYS, 3, fail), ahead=0) as loader,
        pytest.raises(OSError, match="the list of frames is gone") as raised,
    ):
        loader.get(3)
    notes = getattr(raised.value, "__notes__", None)
    assert notes == ["prefetcher: while loading index 3 (keys[3] did not return)"]


def test_a_ctrl_c_while_a_load_is_handed_over_leaves_no_item_loading_for_ever(
    load: RecordingLoad,
) -> None:
    interrupted = threading.Event()

    def interrupt_once() -> None:  # as a Ctrl-C landing in the lookup of key 3 would
        if not interrupted.is_set():
            interrupted.set()
            raise KeyboardInterrupt

    with PrefetchingLoader(load, KeysActingAt(KEYS, 3, interrupt_once), ahead=0) as loader:
        with pytest.raises(KeyboardInterrupt):
            loader.get(3)
        assert loader.get(3, timeout=WAIT) == ("item", "3.png")


# Exit and Ctrl-C, in a child process whose load hangs for ever.

# Each worker writes its line in one call: print() writes the text and the newline apart, and
# lines of workers starting at once then interleave ("loadingloading 1"), so the line a test
# waits for to send Ctrl-C may never come whole.
HUNG_LOADER = """
import sys
import threading
from prefetcher import PrefetchingLoader

never = threading.Event()

def load(n):
    sys.stdout.write(f"loading {n}\\n")
    sys.stdout.flush()
    never.wait()
"""


@pytest.mark.parametrize(
    "ending",
    [
        "loader = PrefetchingLoader(load, ahead=2)\nloader.request(0)",
        "loader = PrefetchingLoader(load, ahead=2)\nloader.request(0)\nloader.close(wait=False)",
        "with PrefetchingLoader(load, ahead=2) as loader:\n    loader.request(0)",
    ],
    ids=["without close", "after close(wait=False)", "after a with block"],
)
def test_a_program_whose_load_hangs_exits_when_its_main_thread_ends(ending: str) -> None:
    script = HUNG_LOADER + ending + "\nprint('main thread ends', flush=True)\n"
    status, output, _ = run_child(script, timeout=20)
    assert status == 0, output
    assert "main thread ends" in output


def test_one_ctrl_c_ends_a_program_waiting_for_a_hung_load() -> None:
    script = HUNG_LOADER + "loader = PrefetchingLoader(load, ahead=0)\nloader.get(0)\n"
    status, output, took = run_child(script, interrupt_at="loading 0")
    assert status == -signal.SIGINT, output  # the usual status of a script killed by Ctrl-C
    assert "KeyboardInterrupt" in output
    assert took < 5, f"took {took:.1f} s to end after Ctrl-C"


@pytest.mark.parametrize(
    "waiting",
    ["loader.get(0)", "loader.request(0)\nrunning.wait(10)\nloader.close()"],
    ids=["get", "close"],
)
def test_ctrl_c_received_by_another_thread_still_ends_a_wait_for_a_hung_load(
    waiting: str,
) -> None:
    # The kernel hands a process's Ctrl-C to any thread that does not block it. Here only the
    # worker can take it, so the main thread's wait is never interrupted by the signal itself:
    # the case of a Ctrl-C that arrives just before the main thread blocks, made certain.
    script = (
        "import signal\n"
        "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})\n"
        + HUNG_LOADER.replace(
            "def load(n):\n",
            "def load(n):\n"
            "    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})\n"
            "    running.set()\n",
        )
        + "running = threading.Event()\n"
        + f"loader = PrefetchingLoader(load, ahead=0)\n{waiting}\n"
    )
    status, output, took = run_child(script, interrupt_at="loading 0", timeout=20)
    assert "KeyboardInterrupt" in output
    assert status == -signal.SIGINT, output
    assert took < 5, f"took {took:.1f} s to end after Ctrl-C"


def test_one_ctrl_c_ends_a_with_block_waiting_for_a_hung_load() -> None:
    script = HUNG_LOADER + "with PrefetchingLoader(load, ahead=3) as loader:\n    loader.get(0)\n"
    status, output, took = run_child(script, interrupt_at="loading 0")
    assert status == -signal.SIGINT, output
    assert took < 1.5, f"took {took:.1f} s: the with block waited for the hung load"


def test_a_loader_with_deadlines_dropped_without_close_lets_its_threads_go() -> None:
    def use_and_drop() -> weakref.ref[PrefetchingLoader[int, str]]:
        loader = PrefetchingLoader[int, str](str, ahead=2, load_timeout=30, retries=1)
        loader.get(0, timeout=WAIT)
        wait_until(lambda: loader.stats().pending == 0)
        return weakref.ref(loader)

    dropped = use_and_drop()
    gc.collect()
    assert dropped() is None
    wait_until(lambda: not loader_threads())


def test_one_ctrl_c_ends_prefetcher_scan_while_a_file_hangs(tmp_path: Path) -> None:
    # A named pipe nobody writes to: reading it blocks for ever, as a read from a hung share does.
    frames = tmp_path / "frames"
    frames.mkdir()
    for n in range(3):
        (frames / f"{n}.png").write_bytes(b"")
    fifo = frames / "3.png"
    os.mkfifo(fifo)
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, sys\n"
            "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
            "from prefetcher._cli import main\n"
            f"sys.exit(main(['scan', {str(frames / '{}.png')!r}, '--quiet']))\n",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    writer = None
    try:
        # The write end opens once the scan has the pipe open for reading; held open without a
        # byte written, it keeps the scan's read blocked.
        deadline = time.monotonic() + WAIT
        while writer is None and time.monotonic() < deadline and child.poll() is None:
            try:
                writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                time.sleep(0.01)
        assert writer is not None, "the scan never opened the hung file"
        interrupted = time.monotonic()
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=WAIT)
        took = time.monotonic() - interrupted
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
            child.communicate()
        if writer is not None:
            os.close(writer)
    assert child.returncode == 130, err
    assert "Traceback" not in err
    assert took < 2.5, f"took {took:.1f} s to end after Ctrl-C"
