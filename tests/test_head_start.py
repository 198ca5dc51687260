"""A demand load, the nearest prefetches of a burst, and in a chain a landing's read, go first."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from loader_support import WAIT, wait_until

from prefetcher import PrefetchingLoader, chain
from prefetcher._entries import Entry, EntryState
from prefetcher._head_start import (
    HEAD_START_SHARE,
    LANDING_HOLD_SHARE,
    MAX_HEAD_START,
    MAX_LANDING_HOLD,
    MIN_HEAD_START_LOAD,
    HeadStart,
)


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


def test_the_first_requests_prefetches_wait_the_longest_head_start_while_its_load_runs() -> None:
    release = threading.Event()

    def load(key: int) -> int:
        if key == 0:
            release.wait(WAIT)  # the first read is slow; how slow, nobody knows yet
        return key

    clock = SubmissionClock()
    with PrefetchingLoader(load, ahead=2, executor=clock) as loader:
        requested_at = time.perf_counter()
        first = loader.request(0)
        wait_until(lambda: clock.submitted(1) and clock.submitted(2))
        release.set()
        assert first.result(timeout=WAIT) == 0
    clock.shutdown(wait=True)
    assert clock.submitted_at[0] < min(clock.submitted_at[1], clock.submitted_at[2])
    assert min(clock.submitted_at[1], clock.submitted_at[2]) - requested_at >= MAX_HEAD_START


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
    assert not head_start.holds(now=100.0)


def test_before_any_load_time_is_known_a_demand_load_gets_the_longest_head_start() -> None:
    head_start = HeadStart()
    assert head_start.give([running_demand()], 100.0, None) == 100.0 + MAX_HEAD_START
    assert head_start.holds(now=100.0)


def test_before_any_load_time_is_known_a_burst_starts_whole() -> None:
    assert HeadStart().split(burst(11, 12, 13), 10, now=100.0, typical_load=None) == (3, None)


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


def test_a_landings_hold_outlasts_a_typical_load_up_to_its_cap() -> None:
    for typical_load in (0.05, 10 * MAX_LANDING_HOLD):
        until = HeadStart(hold_landings=True).give(
            [Entry(7, requested=True)], 100.0, typical_load, landing=True
        )
        expected = min(LANDING_HOLD_SHARE * typical_load, MAX_LANDING_HOLD)
        assert until == 100.0 + expected


def running(index: int) -> Entry:
    entry = Entry(index, requested=True)
    entry.move_to(EntryState.RUNNING)
    return entry


def test_a_demand_load_within_the_window_gets_the_short_head_start() -> None:
    until = HeadStart(hold_landings=True).give([running(7)], 100.0, 0.05, landing=False)
    assert until == 100.0 + min(HEAD_START_SHARE * 0.05, MAX_HEAD_START)


def test_a_demand_load_within_the_window_leaves_a_landings_hold_in_force() -> None:
    head_start = HeadStart(hold_landings=True)
    head_start.give([running(7)], now=100.0, typical_load=0.05, landing=True)
    assert head_start.give([running(8)], now=100.001, typical_load=0.05) is None
    assert head_start.holds(now=100.05)


def test_release_ends_the_head_start_of_its_load() -> None:
    head_start = HeadStart(hold_landings=True)
    head_start.give([running(7)], now=100.0, typical_load=0.05, landing=True)
    assert head_start.holds(now=100.001)
    assert head_start.release(7)
    assert not head_start.holds(now=100.001)


def test_release_of_another_load_keeps_the_head_start() -> None:
    head_start = HeadStart(hold_landings=True)
    head_start.give([running(7)], now=100.0, typical_load=0.05, landing=True)
    assert not head_start.release(8)
    assert head_start.holds(now=100.001)


def test_after_a_release_the_farther_prefetches_of_a_burst_wait_for_the_released_loads_end() -> (
    None
):
    head_start, load = HeadStart(hold_landings=True), running(7)
    head_start.give([load], now=100.0, typical_load=0.05, landing=True)
    head_start.release(7)
    burst = [Entry(n, requested=False) for n in (8, 6, 9, 5)]
    count, until = head_start.split(burst, 7, now=100.01, typical_load=0.05)
    assert count == 2 and until is not None and until > 100.01 + MAX_HEAD_START
    assert head_start.holds(now=100.02)
    load.move_to(EntryState.DONE)
    assert not head_start.holds(now=100.02)


def test_until_released_a_landings_hold_outlasts_its_load() -> None:
    head_start, load = HeadStart(hold_landings=True, until_released=True), running(7)
    head_start.give([load], now=100.0, typical_load=0.05, landing=True)
    load.move_to(EntryState.DONE)
    assert head_start.holds(now=100.001)
    head_start.release(7)
    assert not head_start.holds(now=100.001)


class TimedChain:
    """A chain's fetch and decode: each read sleeps (``landing`` for item 50), and so does item
    50's decode; when each read ended and item 50's decode began and ended are recorded, and
    each stage's executor records when each of its loads was handed to it."""

    def __init__(self, read: float = 0.2, landing: float = 0.05, decode: float = 0.03) -> None:
        self._read, self._landing, self._decode = read, landing, decode
        self._lock = threading.Lock()
        self.reads, self.decodes = SubmissionClock(), SubmissionClock()
        self.read_ended: dict[int, float] = {}
        self.decode_began: dict[int, float] = {}
        self.decode_ended: dict[int, float] = {}

    def fetch(self, key: int) -> int:
        time.sleep(self._landing if key == 50 else self._read)
        with self._lock:
            self.read_ended.setdefault(key, time.perf_counter())
        return key

    def decode(self, data: int, key: int) -> int:
        with self._lock:
            self.decode_began.setdefault(key, time.perf_counter())
        if key == 50:
            time.sleep(self._decode)
        with self._lock:
            self.decode_ended.setdefault(key, time.perf_counter())
        return data

    def read(self, key: int) -> bool:
        with self._lock:
            return key in self.read_ended


def jump_in_a_chain(fetch_ahead: int, decode_ahead: int, demand_reads_first: bool) -> TimedChain:
    """Read item 0 of a chain (its loads set the typical load time), then jump to 50; return the
    record once items 51 and 52 were read too."""
    timed = TimedChain()
    fetch = PrefetchingLoader(timed.fetch, ahead=fetch_ahead, executor=timed.reads)
    with chain(
        fetch,
        timed.decode,
        ahead=decode_ahead,
        executor=timed.decodes,
        demand_reads_first=demand_reads_first,
    ) as loader:
        loader.get(0, timeout=WAIT)
        wait_until(lambda: loader.stats().pending == 0 and loader.stats().raw.pending == 0)
        loader.get(50, timeout=WAIT)
        wait_until(lambda: timed.read(51) and timed.read(52))
    timed.reads.shutdown(wait=True)
    timed.decodes.shutdown(wait=True)
    return timed


def test_in_a_chain_the_nearest_neighbour_is_read_once_the_landings_bytes_are_in() -> None:
    timed = jump_in_a_chain(fetch_ahead=0, decode_ahead=2, demand_reads_first=True)
    submitted = timed.decodes.submitted_at[51]
    assert timed.read_ended[50] <= submitted <= timed.decode_began[50]


def test_in_a_chain_the_farther_neighbours_are_read_once_the_landing_is_decoded() -> None:
    timed = jump_in_a_chain(fetch_ahead=0, decode_ahead=2, demand_reads_first=True)
    assert timed.decodes.submitted_at[52] >= timed.decode_ended[50]


def test_in_a_chain_the_fetch_stages_read_ahead_waits_until_the_landing_is_decoded() -> None:
    timed = jump_in_a_chain(fetch_ahead=2, decode_ahead=0, demand_reads_first=True)
    assert timed.reads.submitted_at[51] >= timed.decode_ended[50]


def test_a_chain_without_demand_reads_first_reads_the_neighbours_after_a_short_head_start() -> None:
    timed = jump_in_a_chain(fetch_ahead=2, decode_ahead=2, demand_reads_first=False)
    assert timed.reads.submitted_at[51] < timed.read_ended[50]
    assert timed.reads.submitted_at[52] < timed.read_ended[50]
