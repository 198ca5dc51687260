"""ahead="auto": the adaptive read-ahead window."""

from __future__ import annotations

import random
from typing import Any

import pytest
from loader_support import WAIT, RecordingExecutor, RecordingLoad, wait_until

from prefetcher import PrefetchingLoader
from prefetcher._readahead import AdaptiveReadAhead, LoadTimes


def walk(
    policy: AdaptiveReadAhead, steps: list[int | None], *, ready: bool, every: float
) -> list[int]:
    """Feed requests `every` seconds apart on a fake clock; return the windows."""
    windows = []
    now = 0.0
    for step in steps:
        now += every
        windows.append(policy.on_request(step, ready, now))
    return windows


def test_the_window_starts_at_the_minimum() -> None:
    assert AdaptiveReadAhead(minimum=1, maximum=8).on_request(None, False, 0.0) == 1


def test_the_first_request_reads_the_minimum_on_both_sides() -> None:
    policy = AdaptiveReadAhead(minimum=1, maximum=8)
    policy.on_request(None, False, 0.0)
    assert policy.behind == 1


def test_a_first_request_where_only_one_way_is_open_reads_four_items_that_way() -> None:
    policy = AdaptiveReadAhead(minimum=1, maximum=8)
    assert policy.on_request(None, False, 0.0, one_way=True) == 4
    assert policy.behind == 0


def test_a_first_request_where_only_one_way_is_open_reads_at_most_the_maximum() -> None:
    policy = AdaptiveReadAhead(minimum=1, maximum=2)
    assert policy.on_request(None, False, 0.0, one_way=True) == 2


def test_the_first_step_grows_the_window_to_the_estimate_at_once() -> None:
    policy = AdaptiveReadAhead(minimum=1, maximum=8)
    policy.on_load_finished(0.034)
    windows = walk(policy, [None, 1], ready=True, every=0.010)
    assert windows == [1, 4]  # ceil(34 ms / 10 ms + 0.5)


def test_the_window_grows_while_the_consumer_arrives_at_items_still_loading() -> None:
    policy = AdaptiveReadAhead(minimum=1, maximum=8)
    windows = walk(policy, [None, 1, 1, 1, 1], ready=False, every=0.01)
    assert windows == [1, 2, 3, 4, 5]


def test_a_single_step_after_a_jump_does_not_grow_the_window_yet() -> None:
    policy = AdaptiveReadAhead(minimum=1, maximum=8)
    policy.on_load_finished(1.0)
    windows = walk(policy, [None, 30, 1], ready=False, every=0.01)
    assert windows == [1, 0, 1]


def test_loads_slowed_by_others_in_flight_do_not_raise_the_typical_load_time() -> None:
    times = LoadTimes()
    for seconds in [0.035] * 12 + [0.100] * 4:  # the newest four shared the link with many
        times.add(seconds)
    assert times.typical == 0.035  # not the 51 ms of the mean


def test_the_typical_load_time_follows_a_share_that_became_slower() -> None:
    times = LoadTimes()
    for seconds in [0.035] * 16 + [0.065] * 16:
        times.add(seconds)
    assert times.typical == 0.065


def test_the_typical_load_time_is_the_lower_quartile_of_the_sixteen_newest_loads() -> None:
    rng = random.Random(7)
    times, seen = LoadTimes(), []
    for _ in range(200):
        seconds = rng.choice([rng.uniform(0.01, 0.2), 0.05])  # ties too
        times.add(seconds)
        seen.append(seconds)
        newest = sorted(seen[-16:])
        assert times.typical == newest[len(newest) // 4]


def test_there_is_no_typical_load_time_before_a_load_finished() -> None:
    assert LoadTimes().typical is None


def test_a_miss_at_full_depth_adds_an_item_that_ready_requests_give_back() -> None:
    policy = AdaptiveReadAhead(minimum=1, maximum=16)
    policy.on_load_finished(0.034)
    readiness = [True] * 3 + [False] + [True] * 8
    windows = [
        policy.on_request(None if i == 0 else 1, ready, 0.010 * i)
        for i, ready in enumerate(readiness)
    ]
    assert windows[2:] == [4, 5, 5, 5, 5, 5, 5, 5, 5, 4]  # back to 4 at the 8th ready request


def steps_from_a_landing(readiness: list[bool]) -> list[int]:
    """A run 4 deep (34 ms loads, a request every 10 ms), a jump, then a step forward for each
    of ``readiness``; return the windows of those steps."""
    policy = AdaptiveReadAhead(minimum=1, maximum=16)
    policy.on_load_finished(0.034)
    now = 0.0
    for step in (None, 1, 1, 1, 1):
        now += 0.010
        policy.on_request(step, True, now)
    now += 0.010
    policy.on_request(30, False, now)
    windows = []
    for ready in readiness:
        now += 0.010
        windows.append(policy.on_request(1, ready, now))
    return windows


def test_misses_on_the_first_steps_from_a_landing_do_not_deepen_the_window() -> None:
    assert steps_from_a_landing([False] * 4) == [4, 4, 4, 4]


def test_a_miss_at_items_read_at_full_depth_after_a_landing_deepens_the_window() -> None:
    assert steps_from_a_landing([True] * 4 + [False]) == [4, 4, 4, 4, 5]


@pytest.mark.parametrize(("load_time", "depth"), [(0.034, 4), (0.036, 5)])
def test_the_window_moves_to_load_time_over_request_interval_and_half_a_request_rounded_up(
    load_time: float, depth: int
) -> None:
    policy = AdaptiveReadAhead(minimum=1, maximum=8)
    policy.on_load_finished(load_time)
    windows = walk(policy, [None, 1, 1, 1], ready=True, every=0.010)
    assert windows[-1] == depth  # ceil(3.4 + 0.5) and ceil(3.6 + 0.5)


def test_a_backward_run_grows_the_window_too() -> None:
    policy = AdaptiveReadAhead(minimum=1, maximum=8)
    assert walk(policy, [None, -1, -1], ready=False, every=0.01)[-1] == 3


def test_the_window_never_passes_its_maximum() -> None:
    policy = AdaptiveReadAhead(minimum=1, maximum=4)
    policy.on_load_finished(10.0)
    windows = walk(policy, [None, *[1] * 20], ready=False, every=0.001)
    assert max(windows) == 4


def test_a_jump_out_of_a_run_reads_the_depth_less_one_on_both_sides() -> None:
    policy = AdaptiveReadAhead(minimum=1, maximum=16)
    windows = walk(policy, [None, 1, 1, 1], ready=False, every=0.01)
    side = windows[-1] - 1
    assert (policy.on_request(40, False, 1.0), policy.behind) == (side, side) == (3, 3)


def test_a_jump_after_a_single_step_is_random_access() -> None:
    policy = AdaptiveReadAhead(minimum=1, maximum=8)
    walk(policy, [None, 30, 1], ready=True, every=0.01)
    assert (policy.on_request(40, False, 1.0), policy.behind) == (0, 0)


def test_the_split_window_never_passes_the_maximum() -> None:
    policy = AdaptiveReadAhead(minimum=1, maximum=3)
    walk(policy, [None, 1, 1, 1, 1], ready=False, every=0.01)
    assert policy.on_request(40, False, 1.0) + policy.behind <= 3


def test_a_jump_after_a_jump_is_random_access_and_reads_nothing_ahead() -> None:
    policy = AdaptiveReadAhead(minimum=1, maximum=8)
    windows = walk(policy, [None, 17, -30, 5, 12], ready=False, every=0.01)
    assert windows == [1, 0, 0, 0, 0]
    assert policy.behind == 0


def test_a_repeated_request_keeps_the_window() -> None:
    policy = AdaptiveReadAhead(minimum=1, maximum=8)
    windows = walk(policy, [None, 1, 1], ready=False, every=0.01)
    assert policy.on_request(0, True, 1.0) == windows[-1] == 3


# The same, through the loader.


def gated_walk(loader: PrefetchingLoader[Any, Any], load: RecordingLoad, indices: range) -> None:
    """Request each index while its load is held back, so every request finds it loading."""
    gates = {n: load.gate(n) for n in indices}
    for n in indices:
        future = loader.request(n)
        gates[n].set()
        future.result(WAIT)
    for gate in gates.values():
        gate.set()


def test_the_loader_window_grows_in_a_slow_sequential_run() -> None:
    load = RecordingLoad()
    with PrefetchingLoader(load, ahead="auto", max_ahead=6) as loader:
        gated_walk(loader, load, range(0, 5))
        assert loader.stats().ahead >= 4
        assert "ahead=" in repr(loader)


def test_the_loader_reads_both_sides_of_a_jump_out_of_a_run() -> None:
    load = RecordingLoad()
    with PrefetchingLoader(load, ahead="auto", max_ahead=6) as loader:
        gated_walk(loader, load, range(0, 5))
        wait_until(lambda: loader.stats().pending == 0)
        calls_before = len(load.calls)
        loader.get(500)
        side = loader.stats().ahead
        wait_until(lambda: loader.stats().pending == 0)
        assert side >= 2
        assert set(load.calls[calls_before:]) == set(range(500 - side, 500 + side + 1))


def loads_of_a_first_request(index: int, keys: range | None) -> list[int]:
    """The items an ``ahead="auto"`` loader loads for a first request of ``index``."""
    load = RecordingLoad()
    with PrefetchingLoader(load, keys, ahead="auto") as loader:
        loader.get(index, timeout=WAIT)
        wait_until(lambda: loader.stats().pending == 0)
        return sorted(load.calls)


def test_a_first_request_for_item_0_reads_four_items_forward() -> None:
    assert loads_of_a_first_request(0, keys=None) == [0, 1, 2, 3, 4]


def test_a_first_request_for_the_last_item_reads_four_items_backward() -> None:
    assert loads_of_a_first_request(9, keys=range(10)) == [5, 6, 7, 8, 9]


def test_a_first_request_in_the_middle_reads_one_item_each_side() -> None:
    assert loads_of_a_first_request(5, keys=range(10)) == [4, 5, 6]


def test_the_loader_window_drops_on_a_jump_and_random_access_reads_only_requests() -> None:
    load = RecordingLoad()
    with PrefetchingLoader(load, ahead="auto", max_ahead=6) as loader:
        gated_walk(loader, load, range(0, 5))
        loader.get(500)
        wait_until(lambda: loader.stats().pending == 0)
        calls_before = len(load.calls)
        for n in (900, 300, 700, 100):
            loader.get(n)
        assert loader.stats().ahead == 0
        wait_until(lambda: loader.stats().pending == 0)
        assert load.calls[calls_before:] == [900, 300, 700, 100]


def test_the_loader_window_never_exceeds_its_workers() -> None:
    load = RecordingLoad()
    with PrefetchingLoader(load, ahead="auto", max_ahead=8, max_workers=3) as loader:
        gated_walk(loader, load, range(0, 8))
        assert loader.stats().ahead == 3


def test_the_auto_memory_bound_is_cache_size_plus_max_ahead() -> None:
    load = RecordingLoad()
    with PrefetchingLoader(load, cache_size=2, ahead="auto", max_ahead=3) as loader:
        gated_walk(loader, load, range(0, 10))
        stats = loader.stats()
        assert stats.cached + stats.pending <= 5


@pytest.mark.parametrize("ahead", [1, 2, 5])
def test_the_default_workers_leave_room_for_the_whole_window_and_a_request(ahead: int) -> None:
    load = RecordingLoad()
    gate = load.gate(*range(10))
    executor = RecordingExecutor(max_workers=20)
    with PrefetchingLoader(load, ahead=ahead, executor=executor) as loader:
        loader.request(0)
        # The prefetches follow the first load after its head start.
        wait_until(lambda: executor.submitted == list(range(ahead + 1)))
        loader.request(1)  # a hit on a loading prefetch: nothing more may start
        assert executor.submitted == list(range(ahead + 1))
        gate.set()
    executor.shutdown()
