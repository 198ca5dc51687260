"""A demand load, and the nearest prefetches of a burst, reach the share before the others."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from loader_support import WAIT, wait_until

from prefetcher import PrefetchingLoader
from prefetcher._entries import Entry, EntryState
from prefetcher._head_start import HEAD_START_SHARE, MAX_HEAD_START, MIN_HEAD_START_LOAD, HeadStart


class SubmissionClock(ThreadPoolExecutor):
    """Records when each key was handed to the executor."""

    def __init__(self) -> None:
        super().__init__(max_workers=4)
        self._lock = threading.Lock()
        self.submitted_at: dict[int, float] = {}

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._lock:
            self.submitted_at.setdefault(args[0], time.perf_counter())
        return super().submit(fn, *args, **kwargs)

    def submitted(self, key: int) -> bool:
        with self._lock:
            return key in self.submitted_at


def run_jump(read_seconds: float) -> tuple[SubmissionClock, float]:
    """Read item 0 (the loads of 0, 1, 2 set the typical load time), then jump to 50.

    Returns the executor's record and the time just before the request for item 50.
    """

    def load(key: int) -> int:
        time.sleep(read_seconds)  # what a read of this share costs
        return key

    clock = SubmissionClock()
    with PrefetchingLoader(load, ahead=2, executor=clock) as loader:
        loader.get(0, timeout=WAIT)
        wait_until(lambda: loader.stats().pending == 0)
        requested_at = time.perf_counter()
        loader.get(50, timeout=WAIT)
        wait_until(lambda: clock.submitted(51) and clock.submitted(52))
    clock.shutdown(wait=True)
    return clock, requested_at


def test_prefetches_planned_with_a_demand_load_are_submitted_after_its_head_start() -> None:
    read_seconds = 0.1
    head_start = min(HEAD_START_SHARE * read_seconds, MAX_HEAD_START)
    clock, requested_at = run_jump(read_seconds)
    first_prefetch = min(clock.submitted_at[51], clock.submitted_at[52])
    assert clock.submitted_at[50] < first_prefetch
    assert first_prefetch - requested_at >= head_start


def test_the_first_request_gives_no_head_start_before_any_load_time_is_known() -> None:
    def load(key: int) -> int:
        return key

    clock = SubmissionClock()
    with PrefetchingLoader(load, ahead=2, executor=clock) as loader:
        loader.get(0, timeout=WAIT)
        # Submitted within get, before it waited for item 0.
        assert clock.submitted(1) and clock.submitted(2)
    clock.shutdown(wait=True)


def test_loads_too_short_for_a_head_start_start_their_prefetches_with_the_demand() -> None:
    def load(key: int) -> int:
        return key

    clock = SubmissionClock()
    with PrefetchingLoader(load, ahead=2, executor=clock) as loader:
        loader.get(0, timeout=WAIT)
        wait_until(lambda: loader.stats().pending == 0)
        loader.get(50, timeout=WAIT)
        assert clock.submitted(51) and clock.submitted(52)
    clock.shutdown(wait=True)


def running_demand() -> Entry:
    entry = Entry(7, requested=True)
    entry.move_to(EntryState.RUNNING)
    return entry


def test_a_head_start_holds_prefetches_until_it_ends() -> None:
    head_start = HeadStart()
    until = head_start.give([running_demand()], now=100.0, typical_load=0.05)
    assert until == 100.0 + HEAD_START_SHARE * 0.05
    assert head_start.holds(now=until - 1e-4)
    assert not head_start.holds(now=until)


def test_a_head_start_ends_when_its_demand_load_no_longer_runs() -> None:
    head_start = HeadStart()
    demand = running_demand()
    head_start.give([demand], now=100.0, typical_load=0.05)
    demand.move_to(EntryState.DONE)
    assert not head_start.holds(now=100.0)


def test_a_head_start_is_at_most_its_maximum() -> None:
    until = HeadStart().give([running_demand()], now=100.0, typical_load=60.0)
    assert until == 100.0 + MAX_HEAD_START


def test_loads_shorter_than_the_minimum_get_no_head_start() -> None:
    head_start = HeadStart()
    assert head_start.give([running_demand()], 100.0, MIN_HEAD_START_LOAD / 2) is None
    assert head_start.give([running_demand()], 100.0, None) is None
    assert not head_start.holds(now=100.0)


def burst(*indices: int) -> list[Entry]:
    """Prefetches about to start, nearest first."""
    return [Entry(n, requested=False) for n in indices]


def test_the_nearest_of_a_burst_start_first_and_hold_the_others_for_a_head_start() -> None:
    head_start = HeadStart()
    queued = burst(11, 9, 12, 8)
    count, until = head_start.split(queued, 10, now=100.0, typical_load=0.05)
    assert count == 2 and until == 100.0 + HEAD_START_SHARE * 0.05
    for entry in queued[:count]:
        entry.move_to(EntryState.RUNNING)
    assert head_start.holds(now=until - 1e-4)


def test_a_burst_at_a_single_distance_starts_whole() -> None:
    assert HeadStart().split(burst(11, 9), 10, now=100.0, typical_load=0.05) == (2, None)


def test_a_burst_of_loads_too_short_for_a_head_start_starts_whole() -> None:
    split = HeadStart().split(burst(11, 12), 10, now=100.0, typical_load=MIN_HEAD_START_LOAD / 2)
    assert split == (2, None)


def test_a_burst_is_split_once_until_the_next_demand_load() -> None:
    head_start = HeadStart()
    head_start.split(burst(11, 12), 10, now=100.0, typical_load=0.05)
    assert head_start.split(burst(12, 13), 11, now=100.1, typical_load=0.05) == (2, None)
    head_start.give([running_demand()], now=100.2, typical_load=0.05)
    assert head_start.split(burst(13, 14), 12, now=100.3, typical_load=0.05)[0] == 1
