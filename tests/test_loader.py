"""The behaviour of PrefetchingLoader, one behaviour per test."""

from __future__ import annotations

import concurrent.futures
import gc
import operator
import subprocess
import sys
import textwrap
import threading
import time
import traceback
import weakref
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from loader_support import (
    WAIT,
    Finalized,
    LockProbe,
    ProbedExecutor,
    ProbedKeys,
    RecordingExecutor,
    RecordingLoad,
    loader_threads,
    wait_until,
)
from PIL import Image

from prefetcher import LoaderClosedError, LoaderStats, PrefetchingLoader
from prefetcher._sizeof import default_sizeof

KEYS = [f"{n}.png" for n in range(100)]


@pytest.fixture
def load() -> RecordingLoad:
    return RecordingLoad()


@pytest.fixture(autouse=True)
def no_loader_thread_left_behind() -> Any:
    yield
    wait_until(lambda: not loader_threads())


def scheduled(load: RecordingLoad, **options: Any) -> Callable[..., set[int]]:
    """Run requests on a loader over KEYS, each once the read-ahead of the one before is loaded;
    return the indices handed to its executor by then.

    The wait makes the answer the windows the requests planned, however long a load takes: when
    a load takes 2 ms or more (a busy machine), the farther prefetches follow a head start, and
    the next request would drop those still queued.
    """

    def run(*requests: int) -> set[int]:
        executor = RecordingExecutor(max_workers=8)
        try:
            with PrefetchingLoader(load, KEYS, executor=executor, **options) as loader:
                for n in requests:
                    loader.get(n, timeout=WAIT)
                    wait_until(lambda: loader.stats().pending == 0)
                return {KEYS.index(key) for key in executor.submitted}
        finally:
            executor.shutdown()

    return run


def held(loader: PrefetchingLoader[Any, Any], candidates: Iterable[int]) -> set[int]:
    """The candidates the loader serves from memory, asked for in order (ahead=0 loaders only)."""
    found = set()
    for n in candidates:
        before = loader.stats().hits
        loader.get(n, timeout=WAIT)
        if loader.stats().hits > before:
            found.add(n)
    return found


# 1. get returns the item; memory hits do not load again; one load for many waiters.


def test_get_returns_the_item_loaded_from_its_key(load: RecordingLoad) -> None:
    with PrefetchingLoader(load, KEYS, ahead=0) as loader:
        assert loader.get(3) == ("item", "3.png")
        assert loader[4] == ("item", "4.png")


def test_get_without_keys_loads_the_index_itself(load: RecordingLoad) -> None:
    with PrefetchingLoader(load, ahead=0) as loader:
        assert loader.get(12345) == ("item", 12345)


def test_an_item_in_memory_is_returned_without_loading_again(load: RecordingLoad) -> None:
    with PrefetchingLoader(load, KEYS, ahead=0) as loader:
        first = loader.get(5)
        assert loader.get(5) is first
        assert load.count("5.png") == 1


def test_a_repeated_get_of_a_ready_item_counts_as_a_request_and_a_hit(load: RecordingLoad) -> None:
    with PrefetchingLoader(load, KEYS, ahead=2) as loader:
        loader.get(5, timeout=WAIT)
        wait_until(lambda: loader.stats().pending == 0)
        before = loader.stats()
        for _ in range(3):
            loader.get(5)
        after = loader.stats()
        assert (after.requests - before.requests, after.hits - before.hits) == (3, 3)
        assert after.loads_started == before.loads_started


def test_a_repeated_get_of_an_item_invalidated_in_between_loads_it_again(
    load: RecordingLoad,
) -> None:
    with PrefetchingLoader(load, KEYS, ahead=0) as loader:
        loader.get(3)
        loader.get(3)
        loader.invalidate(3)
        loader.get(3)
        assert load.count("3.png") == 2


def test_a_repeated_get_of_an_item_too_large_to_keep_loads_it_again() -> None:
    load = RecordingLoad()
    with PrefetchingLoader(load, KEYS, ahead=0, max_bytes=10, sizeof=lambda item: 100) as loader:
        loader.get(4)
        loader.get(4)
        assert load.count("4.png") == 2


def test_a_repeated_get_after_close_raises() -> None:
    loader = PrefetchingLoader(str.upper, ["a", "b"], ahead=0)
    assert loader.get(1) == "B"
    loader.close()
    with pytest.raises(LoaderClosedError):
        loader.get(1)


def test_a_repeated_get_with_a_bool_for_the_index_is_refused_as_before() -> None:
    with PrefetchingLoader(str.upper, ["a", "b"], ahead=0) as loader:
        loader.get(1)
        with pytest.raises(TypeError, match="integer"):
            loader.get(True)


def test_many_threads_asking_for_a_loading_item_cause_one_load(load: RecordingLoad) -> None:
    gate = load.gate("7.png")
    threads = 8
    with PrefetchingLoader(load, KEYS, ahead=0) as loader:
        with ThreadPoolExecutor(threads) as pool:
            results = [pool.submit(loader.get, 7) for _ in range(threads)]
            wait_until(lambda: loader.stats().requests == threads)
            gate.set()
            assert {f.result(WAIT) for f in results} == {("item", "7.png")}
        assert load.count("7.png") == 1


# 2. read-ahead in the direction of travel.


def test_get_schedules_the_next_items_forward_before_returning(load: RecordingLoad) -> None:
    gate = load.gate(*KEYS[1:])
    executor = RecordingExecutor(max_workers=8)
    with PrefetchingLoader(load, KEYS, ahead=3, executor=executor) as loader:
        loader.get(0)
        # All three are planned before get returns. When item 0's load took 2 ms or more (a
        # busy machine), the farther two follow a head start; after 10 ms, the deadline thread
        # starts all three.
        assert loader.stats().pending == 3
        wait_until(lambda: len(executor.submitted) >= 4)
        assert executor.submitted == ["0.png", "1.png", "2.png", "3.png"]
        gate.set()
    executor.shutdown()


def test_request_schedules_the_read_ahead_too(load: RecordingLoad) -> None:
    gate = load.gate(*KEYS)
    executor = RecordingExecutor(max_workers=8)
    with PrefetchingLoader(load, KEYS, ahead=2, executor=executor) as loader:
        loader.request(10)
        # The requested item first; its read-ahead after the head start of that first load.
        wait_until(lambda: executor.submitted == ["10.png", "11.png", "12.png"])
        gate.set()
    executor.shutdown()


def test_first_request_reads_forward(load: RecordingLoad) -> None:
    assert scheduled(load, ahead=2)(50) == {50, 51, 52}


def test_a_first_request_for_the_last_item_reads_backward(load: RecordingLoad) -> None:
    assert scheduled(load, ahead=2)(99) == {97, 98, 99}


def test_a_step_back_turns_the_read_ahead_backward(load: RecordingLoad) -> None:
    assert scheduled(load, ahead=2)(50, 49) == {47, 48, 49, 50, 51, 52}


def test_a_step_forward_again_turns_the_read_ahead_forward(load: RecordingLoad) -> None:
    assert scheduled(load, ahead=1)(50, 49, 50) == {48, 49, 50, 51}


def test_read_ahead_stops_at_the_end_of_the_keys(load: RecordingLoad) -> None:
    assert scheduled(load, ahead=5)(98) == {98, 99}


def test_backward_read_ahead_stops_at_zero(load: RecordingLoad) -> None:
    assert scheduled(load, ahead=5)(3, 2) == {0, 1, 2, 3, 4, 5, 6, 7, 8}


def test_ahead_zero_loads_only_what_is_requested(load: RecordingLoad) -> None:
    with PrefetchingLoader(load, KEYS, ahead=0) as loader:
        for n in range(5):
            loader.get(n)
        assert load.calls == KEYS[:5]


# 3. get waits only for its own item.


def test_get_does_not_wait_for_prefetches(load: RecordingLoad) -> None:
    gate = load.gate("1.png", "2.png")
    with PrefetchingLoader(load, KEYS, ahead=2) as loader:
        assert loader.get(0, timeout=WAIT) == ("item", "0.png")
        # Both prefetches are held at their gate: get returned without them.
        assert loader.stats().loads_completed == 1
        gate.set()


# 4. requested items jump the queue; the executor gets no more than it has workers.


def test_a_requested_item_jumps_ahead_of_queued_prefetches(load: RecordingLoad) -> None:
    gate = load.gate("1.png")
    with PrefetchingLoader(load, KEYS, ahead=4, max_workers=1) as loader:
        loader.get(0)
        assert load.started("1.png").wait(WAIT)  # 1 runs, 2..4 wait in the loader's queue
        assert loader.stats().pending == 4
        future = loader.request(3)
        gate.set()
        assert future.result(WAIT) == ("item", "3.png")
        assert load.calls[:3] == ["0.png", "1.png", "3.png"]


def test_a_jump_cancels_queued_prefetches_outside_the_new_window(load: RecordingLoad) -> None:
    gate = load.gate("1.png")
    with PrefetchingLoader(load, KEYS, ahead=4, max_workers=1) as loader:
        loader.get(0)
        assert load.started("1.png").wait(WAIT)
        future = loader.request(50)
        assert loader.stats().prefetches_cancelled == 3
        gate.set()
        assert future.result(WAIT) == ("item", "50.png")
        assert loader.stats().prefetches_cancelled == 3
        wait_until(lambda: loader.stats().pending == 0)
        assert not {"2.png", "3.png", "4.png"} & set(load.calls)
        assert load.calls[:3] == ["0.png", "1.png", "50.png"]
        assert sorted(load.calls[3:]) == ["51.png", "52.png", "53.png", "54.png"]


def test_a_running_prefetch_outside_the_new_window_finishes_and_is_kept(
    load: RecordingLoad,
) -> None:
    gate = load.gate("1.png")
    with PrefetchingLoader(load, KEYS, ahead=1, max_workers=2) as loader:
        loader.get(0)
        assert load.started("1.png").wait(WAIT)
        loader.get(50)
        gate.set()
        wait_until(lambda: loader.stats().loads_completed == 4)
        assert loader.get(1) == ("item", "1.png")
        assert load.count("1.png") == 1


def test_the_loader_hands_the_executor_no_more_than_max_workers_prefetches(
    load: RecordingLoad,
) -> None:
    gate = load.gate(*KEYS[1:])
    executor = RecordingExecutor(max_workers=8)
    with PrefetchingLoader(load, KEYS, ahead=6, max_workers=2, executor=executor) as loader:
        loader.get(0)
        # Once item 0 is in, one worker is free for a prefetch; the farther of the two may
        # follow a head start later when item 0's load took 2 ms or more (a busy machine).
        wait_until(lambda: len(executor.submitted) >= 3)
        assert sorted(executor.submitted) == ["0.png", "1.png", "2.png"]
        assert loader.stats().pending == 6
        gate.set()
        wait_until(lambda: loader.stats().loads_completed == 7)
    assert executor.peak_outstanding <= 2
    executor.shutdown()


def test_a_demand_load_goes_to_the_executor_before_prefetches(load: RecordingLoad) -> None:
    executor = RecordingExecutor(max_workers=4)
    with PrefetchingLoader(load, KEYS, ahead=2, executor=executor) as loader:
        loader.get(10)
        assert executor.submitted[0] == "10.png"
    executor.shutdown()


# 5. memory bounds.


def test_never_more_than_cache_size_plus_ahead_entries_are_held() -> None:
    most_held = 0
    loader: PrefetchingLoader[int, int]

    def entries(stats: LoaderStats) -> int:
        return stats.cached + stats.pending

    def load(n: int) -> int:
        nonlocal most_held
        most_held = max(most_held, entries(loader.stats()))
        return n

    with PrefetchingLoader(load, cache_size=3, ahead=2) as loader:
        for n in [*range(20), *range(19, -1, -1), 50, 7, 70, 71, 30, 29]:
            loader.get(n)
            assert entries(loader.stats()) <= 5
        wait_until(lambda: loader.stats().pending == 0)
    assert 3 <= most_held <= 5


def test_the_least_recently_requested_item_is_evicted_first(load: RecordingLoad) -> None:
    with PrefetchingLoader(load, KEYS, cache_size=3, ahead=0) as loader:
        for n in (0, 1, 2, 0, 3):
            loader.get(n)
        assert loader.stats().evictions == 1
        assert held(loader, [0, 2, 3]) == {0, 2, 3}
        assert held(loader, [1]) == set()


class Frame:
    """An item that weak references can follow."""

    def __init__(self, key: object) -> None:
        self.key = key


def test_an_evicted_item_is_freed_at_once_without_the_cycle_collector() -> None:
    gate = threading.Event()

    def load(n: int) -> Frame:
        # Held back until request() has returned, so the loader's done-callback is attached
        # to a future that is still running (the case that can make a reference cycle).
        assert gate.wait(WAIT)
        return Frame(n)

    gc.disable()
    try:
        with PrefetchingLoader(load, cache_size=2, ahead=1) as loader:
            future = loader.request(0)
            gate.set()
            first = weakref.ref(future.result(WAIT))
            del future
            for n in range(1, 6):
                loader.get(n)
            wait_until(lambda: loader.stats().pending == 0)
            assert loader.stats().evictions >= 1
            assert first() is None
    finally:
        gc.enable()


def test_max_bytes_evicts_completed_items_until_they_fit() -> None:
    def hundred_bytes(n: int) -> bytes:
        return bytes(100)

    with PrefetchingLoader(hundred_bytes, cache_size=10, ahead=0, max_bytes=250) as loader:
        for n in range(4):
            loader.get(n)
        assert held(loader, [3, 2]) == {2, 3}
        assert held(loader, [0, 1]) == set()


def test_an_item_larger_than_max_bytes_is_returned_but_not_kept() -> None:
    with PrefetchingLoader(bytes, ahead=0, max_bytes=100) as loader:
        assert len(loader.get(500)) == 500
        assert loader.stats().cached == 0
        assert len(loader.get(50)) == 50
        assert held(loader, [50, 500]) == {50}


def test_sizeof_is_used_for_max_bytes() -> None:
    with PrefetchingLoader(str, ahead=0, max_bytes=10, sizeof=lambda item: 4) as loader:
        for n in range(5):
            loader.get(n)
        assert held(loader, [4, 3]) == {3, 4}
        assert held(loader, [0, 1, 2]) == set()


@pytest.mark.parametrize(
    ("item", "size"),
    [
        (np.zeros((10, 20), dtype=np.uint16), 400),
        (Image.new("RGB", (10, 20)), 600),
        (Image.new("I;16", (10, 20)), 400),
        (b"x" * 7, 7),
        (bytearray(9), 9),
        (memoryview(b"abc"), 3),
    ],
)
def test_default_sizeof_knows_arrays_images_and_bytes(item: object, size: int) -> None:
    assert default_sizeof(item) == size


def test_default_sizeof_falls_back_to_getsizeof() -> None:
    assert default_sizeof("abc") == sys.getsizeof("abc")


# 6. failures.


def test_a_failed_load_raises_its_own_exception_with_a_note_naming_index_and_key() -> None:
    load = RecordingLoad(fail={"4.png"})
    with (
        PrefetchingLoader(load, KEYS, ahead=0) as loader,
        pytest.raises(ValueError, match=r"cannot load '4\.png'") as caught,
    ):
        loader.get(4)
    notes = getattr(caught.value, "__notes__", [])
    assert any("index 4" in note and "'4.png'" in note for note in notes)
    frames = traceback.extract_tb(caught.value.__traceback__)
    assert any(frame.name == "__call__" for frame in frames)  # raised inside the load


def test_a_failure_is_not_cached_the_next_get_loads_again() -> None:
    load = RecordingLoad(fail={"4.png"})
    with PrefetchingLoader(load, KEYS, ahead=0) as loader:
        with pytest.raises(ValueError):
            loader.get(4)
        load.fail.clear()
        assert loader.get(4) == ("item", "4.png")
        assert load.count("4.png") == 2


def test_a_failed_prefetch_raises_nothing_unless_requested() -> None:
    load = RecordingLoad(fail={"1.png"})
    with PrefetchingLoader(load, KEYS, ahead=1) as loader:
        loader.get(0)
        wait_until(lambda: loader.stats().loads_failed == 1)
        loader.get(2)
        assert loader.stats().cached >= 2
        with pytest.raises(ValueError):
            loader.get(1)
        assert load.count("1.png") == 2


def test_the_loader_keeps_working_for_other_indices_after_a_failure() -> None:
    load = RecordingLoad(fail={"4.png"})
    with PrefetchingLoader(load, KEYS, ahead=2) as loader:
        with pytest.raises(ValueError):
            loader.get(4)
        assert [loader.get(n) for n in (5, 6, 3)] == [("item", k) for k in KEYS[5:7] + KEYS[3:4]]


# 7. bad input.


def test_negative_indices_count_from_the_end_with_keys(load: RecordingLoad) -> None:
    with PrefetchingLoader(load, KEYS, ahead=0) as loader:
        assert loader.get(-1) == ("item", "99.png")


@pytest.mark.parametrize("index", [100, -101, 10**9])
def test_an_index_outside_the_keys_raises_index_error_without_loading(
    load: RecordingLoad, index: int
) -> None:
    with PrefetchingLoader(load, KEYS) as loader:
        with pytest.raises(IndexError, match=str(index)):
            loader.get(index)
        assert load.calls == []
        assert loader.stats().requests == 0


def test_a_negative_index_without_keys_raises_index_error(load: RecordingLoad) -> None:
    with PrefetchingLoader(load) as loader, pytest.raises(IndexError, match="-1"):
        loader.request(-1)
    assert load.calls == []


@pytest.mark.parametrize("index", [1.0, "1", True, None, [1]])
def test_a_non_integer_index_raises_type_error(load: RecordingLoad, index: Any) -> None:
    with PrefetchingLoader(load, KEYS) as loader, pytest.raises(TypeError, match="integer"):
        loader.get(index)
    assert load.calls == []


def test_numpy_integers_are_valid_indices(load: RecordingLoad) -> None:
    index: Any = np.int64(3)  # numpy's stubs type it differently from one release to the next
    with PrefetchingLoader(load, KEYS, ahead=0) as loader:
        assert loader.get(index) == ("item", "3.png")


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"load": 3}, TypeError, "load"),
        ({"keys": 5}, TypeError, "keys"),
        ({"cache_size": 0}, ValueError, "cache_size"),
        ({"cache_size": 2.5}, TypeError, "cache_size"),
        ({"ahead": -1}, ValueError, "ahead"),
        ({"ahead": "far"}, ValueError, "ahead"),
        ({"ahead": 1.5}, TypeError, "ahead"),
        ({"ahead": 2, "max_ahead": 4}, ValueError, "max_ahead"),
        ({"ahead": "auto", "max_ahead": 0}, ValueError, "max_ahead"),
        ({"max_workers": 0}, ValueError, "max_workers"),
        ({"executor": "threads"}, TypeError, "executor"),
        ({"max_bytes": 0}, ValueError, "max_bytes"),
        ({"sizeof": 3}, TypeError, "sizeof"),
    ],
)
def test_bad_constructor_arguments_raise_naming_the_argument(
    kwargs: dict[str, Any], error: type[Exception], name: str
) -> None:
    arguments: dict[str, Any] = {"load": str, **kwargs}
    with pytest.raises(error, match=name):
        PrefetchingLoader(**arguments)


# 8. timeout.


@pytest.mark.parametrize(
    ("timeout", "error"),
    [
        (-1, ValueError),
        (-0.5, ValueError),
        (float("nan"), ValueError),
        (float("inf"), ValueError),
        ("5", TypeError),
        (True, TypeError),
    ],
)
def test_get_refuses_a_timeout_that_is_not_a_finite_number_of_seconds(
    timeout: Any, error: type[Exception]
) -> None:
    with PrefetchingLoader(str.upper, ["a"]) as loader, pytest.raises(error, match="timeout"):
        loader.get(0, timeout=timeout)


@pytest.mark.parametrize("timeout", [5, 5.0, 0, 0.0])
def test_get_takes_a_timeout_in_int_or_float_seconds(timeout: float) -> None:
    with PrefetchingLoader(str.upper, ["a"]) as loader:
        loader.request(0).result(timeout=WAIT)  # ready, so that a timeout of 0 is enough
        assert loader.get(0, timeout=timeout) == "A"


def test_get_with_timeout_raises_builtin_timeout_error_and_keeps_loading(
    load: RecordingLoad,
) -> None:
    gate = load.gate("2.png")
    with PrefetchingLoader(load, KEYS, ahead=0) as loader:
        with pytest.raises(TimeoutError, match="2"):
            loader.get(2, timeout=0.01)
        gate.set()
        assert loader.get(2, timeout=WAIT) == ("item", "2.png")
        assert load.count("2.png") == 1


# 9. close.


def test_close_cancels_queued_prefetches(load: RecordingLoad) -> None:
    gate = load.gate("1.png")
    loader = PrefetchingLoader(load, KEYS, ahead=4, max_workers=1)
    loader.get(0)
    assert load.started("1.png").wait(WAIT)
    gate.set()
    loader.close()
    assert loader.stats().prefetches_cancelled == 3
    assert set(load.calls) == {"0.png", "1.png"}


def test_close_waits_for_running_loads_and_leaves_no_thread(load: RecordingLoad) -> None:
    gate = load.gate("1.png")
    loader = PrefetchingLoader(load, KEYS, ahead=1)
    loader.get(0)
    assert load.started("1.png").wait(WAIT)
    closer = threading.Thread(target=loader.close, kwargs={"wait": True})
    closer.start()
    closer.join(0.05)
    assert closer.is_alive()  # held by the running load of item 1
    gate.set()
    closer.join(WAIT)
    assert not closer.is_alive()
    assert loader.stats().loads_completed == 2
    assert loader_threads() == []


def test_close_from_a_done_callback_in_a_worker_does_not_wait_for_itself(
    load: RecordingLoad,
) -> None:
    gate = load.gate("0.png")
    closed = concurrent.futures.Future[None]()
    loader = PrefetchingLoader(load, KEYS, ahead=0)

    def close_loader(_: object) -> None:
        try:
            loader.close()
            closed.set_result(None)
        except BaseException as error:
            closed.set_exception(error)

    loader.request(0).add_done_callback(close_loader)
    gate.set()  # the callback now runs in the worker that loaded item 0
    closed.result(WAIT)
    assert loader.closed


def test_close_is_idempotent(load: RecordingLoad) -> None:
    loader = PrefetchingLoader(load, KEYS)
    loader.get(0)
    loader.close()
    loader.close()
    loader.close(wait=False)
    assert loader.closed


@pytest.mark.parametrize(
    "call",
    [
        lambda loader: loader.get(0),
        lambda loader: loader[0],
        lambda loader: loader.request(0),
        lambda loader: loader.invalidate(),
        lambda loader: len(loader),
        lambda loader: iter(loader),
    ],
    ids=["get", "getitem", "request", "invalidate", "len", "iter"],
)
def test_every_call_after_close_raises_loader_closed_error(load: RecordingLoad, call: Any) -> None:
    loader = PrefetchingLoader(load, KEYS)
    loader.close()
    with pytest.raises(LoaderClosedError):
        call(loader)
    assert issubclass(LoaderClosedError, RuntimeError)


def test_a_caller_waiting_for_a_load_that_never_started_gets_loader_closed_error(
    load: RecordingLoad,
) -> None:
    gate = load.gate("0.png", "1.png")
    loader = PrefetchingLoader(load, KEYS, ahead=0, max_workers=1)
    loader.request(0)
    loader.request(1)  # on the thread the pool keeps for requested items
    assert load.started("0.png").wait(WAIT) and load.started("1.png").wait(WAIT)
    waiting = loader.request(2)  # behind 0 and 1 in the executor, every thread busy
    loader.close(wait=False)
    with pytest.raises(LoaderClosedError):
        waiting.result(WAIT)
    gate.set()


def test_a_callers_executor_is_never_shut_down(load: RecordingLoad) -> None:
    with ThreadPoolExecutor(2) as executor:
        with PrefetchingLoader(load, KEYS, executor=executor) as loader:
            loader.get(0)
        assert executor.submit(operator.neg, 1).result(WAIT) == -1


def test_close_cancels_what_a_callers_executor_has_not_started(load: RecordingLoad) -> None:
    gate = load.gate("0.png")
    with ThreadPoolExecutor(1) as executor:
        loader = PrefetchingLoader(load, KEYS, ahead=0, max_workers=4, executor=executor)
        loader.request(0)
        assert load.started("0.png").wait(WAIT)
        waiting = loader.request(1)
        loader.close(wait=False)
        with pytest.raises(LoaderClosedError):
            waiting.result(WAIT)
        gate.set()
    assert "1.png" not in load.calls


def test_a_loader_dropped_without_close_lets_its_threads_go(load: RecordingLoad) -> None:
    def use_and_drop() -> weakref.ref[PrefetchingLoader[str, Any]]:
        loader = PrefetchingLoader(load, KEYS, ahead=2)
        loader.get(0)
        wait_until(lambda: loader.stats().pending == 0)
        return weakref.ref(loader)

    dropped = use_and_drop()
    gc.collect()
    assert dropped() is None
    wait_until(lambda: not loader_threads())


def test_a_program_that_forgets_close_still_exits() -> None:
    program = textwrap.dedent(
        """
        import time
        from prefetcher import PrefetchingLoader
        loader = PrefetchingLoader(lambda n: time.sleep(0.05) or n, ahead=4)
        assert loader.get(0) == 0
        print("done", flush=True)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "done\n"


# 10. executors.


def test_a_process_pool_executor_works_with_a_picklable_load() -> None:
    with (
        ProcessPoolExecutor(2) as executor,
        PrefetchingLoader[int, int](operator.neg, ahead=2, executor=executor) as loader,
    ):
        assert [loader.get(n, timeout=30) for n in range(5)] == [0, -1, -2, -3, -4]


def test_a_callers_thread_pool_executor_works(load: RecordingLoad) -> None:
    with (
        ThreadPoolExecutor(3) as executor,
        PrefetchingLoader(load, KEYS, ahead=2, executor=executor) as loader,
    ):
        assert list(loader)[:3] == [("item", k) for k in KEYS[:3]]


# 11. stats.


def test_stats_count_hits_waits_and_misses(load: RecordingLoad) -> None:
    gate = load.gate("1.png")
    with PrefetchingLoader(load, KEYS, ahead=1) as loader:
        loader.get(0)  # miss
        loader.get(0)  # hit
        assert load.started("1.png").wait(WAIT)
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(loader.get, 1)  # a wait: it is being prefetched
            wait_until(lambda: loader.stats().requests == 3)
            gate.set()
            assert waiting.result(WAIT) == ("item", "1.png")
        stats = loader.stats()
    assert (stats.requests, stats.hits, stats.waits, stats.misses) == (3, 1, 1, 1)
    assert stats.wait_seconds > 0
    assert stats.loads_started == 3
    assert isinstance(stats, LoaderStats)


def test_stats_count_failed_and_wasted_loads_and_evictions() -> None:
    load = RecordingLoad(fail={"3.png"})
    with PrefetchingLoader(load, KEYS, cache_size=1, ahead=1) as loader:
        loader.get(0)
        wait_until(lambda: loader.stats().loads_completed == 2)
        loader.get(2)  # a jump: prefetched 1 is now a stale prefetch, 3 fails
        wait_until(lambda: loader.stats().loads_failed == 1)
        loader.get(10)
        wait_until(lambda: loader.stats().pending == 0)
        stats = loader.stats()
    assert stats.loads_failed == 1
    assert stats.wasted_loads == 1  # item 1: loaded, then evicted unrequested
    assert stats.evictions >= 3


def test_stats_snapshots_are_frozen(load: RecordingLoad) -> None:
    with PrefetchingLoader(load, KEYS) as loader:
        stats = loader.stats()
    with pytest.raises(AttributeError):
        stats.hits = 5  # type: ignore[misc]


# 12. the lock is never held while calling user code or waiting.


@pytest.fixture
def probe() -> LockProbe:
    return LockProbe()


def test_keys_are_read_without_the_loader_lock(probe: LockProbe, load: RecordingLoad) -> None:
    keys = ProbedKeys(probe, KEYS)
    with probe.loader_type(load, keys, ahead=2) as loader:
        for n in (0, 1, 2, 10, -1):
            loader.get(n, timeout=WAIT)
    assert {"keys[n]", "len(keys)"} <= set(probe.checks)
    assert probe.violations == []


def test_the_executor_is_called_without_the_loader_lock(
    probe: LockProbe, load: RecordingLoad
) -> None:
    executor = ProbedExecutor(probe, max_workers=4)
    with probe.loader_type(load, KEYS, ahead=3, max_workers=2, executor=executor) as loader:
        for n in (0, 1, 2, 3, 50, 49):
            loader.get(n, timeout=WAIT)
        wait_until(lambda: loader.stats().pending == 0)
    executor.shutdown()
    assert probe.checks.count("executor.submit") >= 6
    assert probe.violations == []


def test_load_runs_without_the_loader_lock(probe: LockProbe) -> None:
    def load(n: int) -> int:
        probe.check("load")
        return n

    with probe.loader_type(load, ahead=2) as loader:
        assert [loader.get(n, timeout=WAIT) for n in range(5)] == [0, 1, 2, 3, 4]
    assert probe.violations == []


def test_sizeof_runs_without_the_loader_lock(probe: LockProbe) -> None:
    def sizeof(item: int) -> int:
        probe.check("sizeof")
        return 1

    with probe.loader_type(int, ahead=2, max_bytes=100, sizeof=sizeof) as loader:
        assert [loader.get(n, timeout=WAIT) for n in range(4)] == [0, 1, 2, 3]
    assert "sizeof" in probe.checks
    assert probe.violations == []


def test_done_callbacks_run_without_the_loader_lock(probe: LockProbe, load: RecordingLoad) -> None:
    gate = load.gate("3.png")
    called = concurrent.futures.Future[None]()

    def callback(_: object) -> None:
        try:
            probe.check("callback")
            called.set_result(None)
        except AssertionError as error:
            called.set_exception(error)

    with probe.loader_type(load, KEYS) as loader:
        loader.request(3).add_done_callback(callback)  # runs in the worker that loads 3
        gate.set()
        called.result(WAIT)
        loader.request(3).add_done_callback(callback)  # done already: runs here, at once
    assert probe.violations == []


def let_go_by_eviction(loader: PrefetchingLoader[int, Finalized]) -> None:
    for n in range(6):  # cache_size 2: each request from the third on evicts the oldest
        loader.get(n, timeout=WAIT)


def let_go_by_invalidate(loader: PrefetchingLoader[int, Finalized]) -> None:
    for n in range(2):
        loader.get(n, timeout=WAIT)
    loader.invalidate(0)
    loader.invalidate()


def let_go_by_close(loader: PrefetchingLoader[int, Finalized]) -> None:
    for n in range(2):
        loader.get(n, timeout=WAIT)
    loader.close()


def let_go_by_max_bytes(loader: PrefetchingLoader[int, Finalized]) -> None:
    # Each item counts 10 bytes against 25: a finished prefetch evicts, in the worker.
    for n in range(6):
        loader.get(n, timeout=WAIT)
        wait_until(lambda: loader.stats().pending == 0)


@pytest.mark.parametrize(
    "let_go", [let_go_by_eviction, let_go_by_invalidate, let_go_by_close, let_go_by_max_bytes]
)
def test_an_items_finalizer_runs_without_the_loader_lock_however_the_item_is_let_go(
    probe: LockProbe, let_go: Callable[[PrefetchingLoader[int, Finalized]], None]
) -> None:
    def load(n: int) -> Finalized:
        return Finalized(probe, n)

    options: dict[str, Any] = {"cache_size": 2, "ahead": 0}
    if let_go is let_go_by_max_bytes:
        options = {"cache_size": 10, "ahead": 2, "max_bytes": 25, "sizeof": lambda item: 10}
    loader = probe.loader_type(load, **options)
    try:
        let_go(loader)
    finally:
        loader.close()
    finalized = [what for what in probe.checks if what.startswith("finalizer")]
    assert "finalizer of 0" in finalized  # the first item was let go while the loader lived
    assert probe.violations == []


def test_a_waiting_get_does_not_hold_the_loader_lock(probe: LockProbe, load: RecordingLoad) -> None:
    gate = load.gate("0.png")
    with probe.loader_type(load, KEYS) as loader, ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(loader.get, 0)
        assert load.started("0.png").wait(WAIT)
        wait_until(lambda: loader.stats().requests == 1)
        (lock,) = probe.locks
        assert lock.acquire(timeout=WAIT)  # a waiting get leaves the lock free
        lock.release()
        gate.set()
        assert waiting.result(WAIT) == ("item", "0.png")


# The rest of the API.


def test_len_and_iteration_follow_the_keys(load: RecordingLoad) -> None:
    with PrefetchingLoader(load, KEYS[:5], ahead=2) as loader:
        assert len(loader) == 5
        assert list(loader) == [("item", k) for k in KEYS[:5]]
        assert loader.keys == KEYS[:5]


def test_an_open_ended_loader_has_no_length_and_no_iteration(load: RecordingLoad) -> None:
    with PrefetchingLoader(load) as loader:
        assert loader.keys is None
        with pytest.raises(TypeError, match="no length"):
            len(loader)
        with pytest.raises(TypeError):
            iter(loader)


def test_invalidate_makes_the_next_get_load_again(load: RecordingLoad) -> None:
    with PrefetchingLoader(load, KEYS, ahead=0) as loader:
        loader.get(1)
        loader.get(2)
        loader.invalidate(1)
        loader.get(1)
        loader.get(2)
        assert (load.count("1.png"), load.count("2.png")) == (2, 1)
        loader.invalidate()
        assert (loader.stats().cached, loader.stats().pending) == (0, 0)
        loader.get(2)
        assert load.count("2.png") == 2


def test_repr_shows_the_state(load: RecordingLoad) -> None:
    gate = load.gate("1.png", "2.png")
    with PrefetchingLoader(load, KEYS, ahead=2) as loader:
        loader.get(0)
        assert repr(loader) == "<PrefetchingLoader cached=1 pending=2 ahead=2 closed=False>"
        gate.set()
    assert repr(loader) == "<PrefetchingLoader cached=0 pending=0 ahead=2 closed=True>"


def test_request_returns_a_future_that_cannot_be_cancelled(load: RecordingLoad) -> None:
    gate = load.gate("0.png")
    with PrefetchingLoader(load, KEYS) as loader:
        future = loader.request(0)
        assert not future.cancel()
        gate.set()
        assert future.result(WAIT) == ("item", "0.png")
        assert loader.request(0).result(0) == ("item", "0.png")


def test_a_repeated_request_does_not_reload_a_prefetch_evicted_for_its_size() -> None:
    load = RecordingLoad()

    def sizeof(item: tuple[str, int]) -> int:
        return 1000 if item[1] == 1 else 1  # item 1 is larger than max_bytes: never kept

    with PrefetchingLoader(load, ahead=1, max_bytes=100, sizeof=sizeof) as loader:
        loader.get(0)
        wait_until(lambda: loader.stats().pending == 0)
        loader.get(0)  # a GUI repainting the same item
        wait_until(lambda: loader.stats().pending == 0)
        assert load.count(1) == 1


def test_the_auto_window_measures_the_consumer_without_its_waits() -> None:
    def load(n: int) -> int:
        time.sleep(0.05)  # the share: every read takes 50 ms, the consumer no time at all
        return n

    with PrefetchingLoader(load, ahead="auto", max_ahead=8) as loader:
        for n in range(6):
            loader.get(n, timeout=WAIT)
        # 50 ms of load against microseconds between requests asks for the deepest window;
        # counting the waits as the consumer's time would ask for about 2.
        assert loader.stats().ahead == 8


def test_read_ahead_past_the_last_file_counts_as_missing_not_failed() -> None:
    def load(n: int) -> int:
        if n >= 3:
            raise FileNotFoundError(2, "No such file", f"{n}.png")
        return n

    with PrefetchingLoader(load, ahead=2) as loader:
        assert loader.get(2, timeout=WAIT) == 2  # reads ahead 3 and 4, which do not exist
        wait_until(lambda: loader.stats().pending == 0)
        assert (loader.stats().prefetches_missing, loader.stats().loads_failed) == (2, 0)
        with pytest.raises(FileNotFoundError):
            loader.get(3, timeout=WAIT)  # asked for: a failure
        assert loader.stats().loads_failed == 1


class FilesBefore:
    """The load of an open-ended sequence whose files end before ``end``; records every call.

    Files past the end that the test writes later go in ``written``.
    """

    def __init__(self, end: int) -> None:
        self.end = end
        self.written: set[int] = set()
        self.calls: list[int] = []

    def __call__(self, n: int) -> int:
        self.calls.append(n)
        if n >= self.end and n not in self.written:
            raise FileNotFoundError(2, "No such file", f"{n}.png")
        return n


def test_walking_on_does_not_read_again_a_prefetch_that_failed() -> None:
    load = FilesBefore(5)
    with PrefetchingLoader(load, ahead=3) as loader:
        for n in range(5):  # near the end of an open-ended sequence, the window reaches past it
            assert loader.get(n, timeout=WAIT) == n
            wait_until(lambda: loader.stats().pending == 0)
    assert sorted(n for n in load.calls if n >= 5) == [5, 6, 7]  # each missing file tried once


def test_the_first_step_after_invalidate_reads_its_whole_window_again() -> None:
    load = RecordingLoad()
    with PrefetchingLoader(load, ahead=3) as loader:
        for n in range(4):
            loader.get(n, timeout=WAIT)
            wait_until(lambda: loader.stats().pending == 0)
        loader.invalidate()
        loader.get(4, timeout=WAIT)
        wait_until(lambda: loader.stats().pending == 0)
    assert [load.count(n) for n in (5, 6, 7)] == [2, 2, 1]


def test_a_requested_item_starts_while_prefetches_keep_every_worker_busy(
    load: RecordingLoad,
) -> None:
    gate = load.gate("1.png", "2.png")
    with PrefetchingLoader(load, KEYS, ahead=2, max_workers=2) as loader:
        loader.get(0)
        assert load.started("1.png").wait(WAIT) and load.started("2.png").wait(WAIT)
        # Well before the gates give up (WAIT): 1 and 2 are still loading.
        assert loader.get(50, timeout=WAIT / 2) == ("item", "50.png")
        gate.set()


def test_read_ahead_leaves_a_missing_file_alone_for_a_while_but_a_request_loads_it() -> None:
    load = FilesBefore(5)
    calls = load.calls
    with PrefetchingLoader(load, ahead=2) as loader:
        loader.get(4, timeout=WAIT)  # reads ahead 5 and 6: missing
        wait_until(lambda: loader.stats().pending == 0)
        loader.get(3, timeout=WAIT)  # a turn, and a turn back: the window planned afresh
        loader.get(4, timeout=WAIT)
        wait_until(lambda: loader.stats().pending == 0)
        assert (calls.count(5), calls.count(6)) == (1, 1)
        with pytest.raises(FileNotFoundError):
            loader.get(5, timeout=WAIT)
        assert calls.count(5) == 2


def test_invalidate_lets_read_ahead_try_a_missing_file_again_at_once() -> None:
    load = FilesBefore(5)
    with PrefetchingLoader(load, ahead=1) as loader:
        loader.get(4, timeout=WAIT)  # reads ahead 5: missing
        wait_until(lambda: loader.stats().pending == 0)
        load.written.add(5)  # the acquisition writes it
        loader.invalidate()
        loader.get(4, timeout=WAIT)
        wait_until(lambda: loader.stats().pending == 0)
        assert load.calls.count(5) == 2
        assert loader.stats().cached == 2


def test_the_loads_a_finished_load_lets_start_are_submitted_before_its_waiters_hear_of_it(
    load: RecordingLoad,
) -> None:
    gate = load.gate(KEYS[0])
    later = load.gate(KEYS[1])  # item 1 stays loading, so item 2 cannot start meanwhile
    executor = RecordingExecutor(max_workers=4)
    seen: list[list[Any]] = []
    # One load in flight at a time: item 1's prefetch can start only once item 0 is done.
    with PrefetchingLoader(load, KEYS, ahead=2, max_workers=1, executor=executor) as loader:
        first = loader.request(0)
        first.add_done_callback(lambda _: seen.append(list(executor.submitted)))
        gate.set()
        assert first.result(timeout=WAIT) == load(KEYS[0])
        wait_until(lambda: bool(seen))
        later.set()
    executor.shutdown()
    assert seen == [["0.png", "1.png"]]
