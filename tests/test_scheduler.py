"""The scheduler's decisions, through its own interface: no threads, no executor."""

from __future__ import annotations

import time
from concurrent.futures import Future

from prefetcher._head_start import MAX_HEAD_START
from prefetcher._readahead import FixedReadAhead
from prefetcher._retry import RetryPolicy
from prefetcher._scheduler import Scheduler
from prefetcher._scheduling import Start


def scheduler(max_workers: int, ahead: int) -> Scheduler:
    return Scheduler(
        cache_size=10,
        max_entries=10 + ahead,
        max_workers=max_workers,
        max_bytes=None,
        policy=FixedReadAhead(ahead),
        retry=RetryPolicy(retries=1, retry_on=(ConnectionError,), backoff=0),
        load_timeout=None,
    )


def request(plan: Scheduler, position: int) -> list[Start]:
    """The loads a request for ``position`` starts."""
    return plan.request(position, None, False, time.perf_counter()).starts


def first_request(plan: Scheduler, position: int, now: float) -> list[Start]:
    """The loads a first request for ``position`` at ``now`` starts: the demand load at once,
    its read-ahead once the longest head start is over (no load time is known yet)."""
    starts = plan.request(position, None, False, now).starts
    assert indices(starts) == [position]
    _, held, _ = plan.deadline(now + MAX_HEAD_START)
    return starts + held


def test_a_prefetch_due_for_retry_waits_while_the_workers_are_busy() -> None:
    plan = scheduler(max_workers=2, ahead=1)
    # Item 0 and the prefetch of item 1.
    demand, prefetch = first_request(plan, 0, time.perf_counter())
    plan.record(demand, None, "item 0", None)
    request(plan, 10)  # two demand loads keep both workers busy
    request(plan, 20)
    plan.record(prefetch, None, None, ConnectionError("reset"))  # item 1 will be tried again
    _, starts, _ = plan.deadline(time.perf_counter())
    assert [start.entry.index for start in starts] == []


def test_a_demand_load_starts_ahead_of_a_prefetch_due_for_retry() -> None:
    plan = scheduler(max_workers=2, ahead=1)
    demand, prefetch = first_request(plan, 0, time.perf_counter())
    plan.record(demand, None, "item 0", None)
    request(plan, 10)
    request(plan, 20)
    plan.record(prefetch, None, None, ConnectionError("reset"))
    _, at_deadline, _ = plan.deadline(time.perf_counter())
    started = at_deadline + request(plan, 30)
    assert [start.entry.index for start in started] == [30]


def test_a_prefetch_due_for_retry_starts_once_a_worker_is_free() -> None:
    plan = scheduler(max_workers=2, ahead=1)
    demand, prefetch = first_request(plan, 0, time.perf_counter())
    plan.record(prefetch, None, None, ConnectionError("reset"))
    _, starts, _ = plan.deadline(time.perf_counter())
    assert [(start.entry.index, start.attempt) for start in starts] == [(1, 2)]
    plan.record(demand, None, "item 0", None)


def scheduler_that_knows_its_load_time(ahead: int) -> tuple[Scheduler, float]:
    """A scheduler whose first loads (0 and its window) took 50 ms each once started (item 0
    a head start longer); and the time now."""
    plan = scheduler(max_workers=ahead + 1, ahead=ahead)
    began = time.perf_counter() - 0.05
    for start in first_request(plan, 0, began - MAX_HEAD_START):
        plan.record(start, None, f"item {start.entry.index}", None)
    return plan, time.perf_counter()


def indices(starts: list[Start]) -> list[int]:
    return [start.entry.index for start in starts]


def test_a_demand_load_starts_alone_and_says_when_its_prefetches_may_follow() -> None:
    plan, now = scheduler_that_knows_its_load_time(ahead=3)
    decided = plan.request(50, None, False, now)
    assert indices(decided.starts) == [50]
    assert decided.wake_at is not None and decided.wake_at > now


def test_the_nearest_prefetch_of_a_burst_starts_a_head_start_before_the_farther_ones() -> None:
    plan, now = scheduler_that_knows_its_load_time(ahead=3)
    head_start_ends = plan.request(50, None, False, now).wake_at
    assert head_start_ends is not None
    _, starts, nearest_head_start_ends = plan.deadline(head_start_ends)
    assert indices(starts) == [51]
    assert nearest_head_start_ends is not None and nearest_head_start_ends > head_start_ends
    _, starts, _ = plan.deadline(nearest_head_start_ends - 1e-6)
    assert starts == []


def jump_until_the_nearest_started(plan: Scheduler, now: float) -> float:
    """Jump to 50, let its head start end (51 starts); return when the nearest's one ends."""
    head_start_ends = plan.request(50, None, False, now).wake_at
    assert head_start_ends is not None
    _, _, nearest_head_start_ends = plan.deadline(head_start_ends)
    assert nearest_head_start_ends is not None
    return nearest_head_start_ends


def test_the_farther_prefetches_of_a_burst_then_start_together() -> None:
    plan, now = scheduler_that_knows_its_load_time(ahead=3)
    nearest_head_start_ends = jump_until_the_nearest_started(plan, now)
    _, starts, _ = plan.deadline(nearest_head_start_ends)
    assert indices(starts) == [52, 53]


def test_prefetches_held_back_once_are_not_held_again_for_requests_in_between() -> None:
    plan, now = scheduler_that_knows_its_load_time(ahead=3)
    nearest_head_start_ends = jump_until_the_nearest_started(plan, now)
    plan.request(51, None, False, nearest_head_start_ends - 1e-6)  # a step while they are held
    _, starts, _ = plan.deadline(nearest_head_start_ends)
    assert indices(starts) == [52, 53]  # every worker busy then


def test_holding_landings_a_jumps_prefetches_wait_at_least_a_typical_load() -> None:
    plan, now = scheduler_that_knows_its_load_time(ahead=2)
    plan.hold_prefetches_for_landings(until_released=False)
    decided = plan.request(50, None, False, now)
    assert indices(decided.starts) == [50]
    assert decided.wake_at is not None and decided.wake_at - now >= 0.05 * 0.9  # a whole load
    _, starts, _ = plan.deadline(now + 0.02)  # a short head start would be over by now
    assert starts == []


def test_a_stage_done_of_the_landing_starts_the_prefetches_it_held() -> None:
    plan, now = scheduler_that_knows_its_load_time(ahead=2)
    plan.hold_prefetches_for_landings(until_released=False)
    plan.request(50, None, False, now)
    starts, _ = plan.stage_done(50, now + 0.001)
    assert indices(starts) == [51]  # the nearest; the farther wait for the landing to end


def test_a_stage_done_of_another_load_starts_nothing() -> None:
    plan, now = scheduler_that_knows_its_load_time(ahead=2)
    plan.hold_prefetches_for_landings(until_released=False)
    plan.request(50, None, False, now)
    assert plan.stage_done(7, now + 0.001) == ([], None)


def test_holding_landings_a_queued_item_asked_for_gets_the_short_head_start() -> None:
    plan = scheduler(max_workers=1, ahead=3)
    plan.hold_prefetches_for_landings(until_released=False)
    # One worker: item 0 loads (in 50 ms), items 1, 2 and 3 wait in the queue.
    (first,) = plan.request(0, None, False, time.perf_counter() - 0.05).starts
    plan.record(first, None, "item 0", None)  # item 1 starts in its place
    now = time.perf_counter()
    decided = plan.request(2, None, False, now)  # within the window: not a landing
    assert indices(decided.starts) == [2]
    assert decided.wake_at is not None and decided.wake_at - now <= MAX_HEAD_START


def test_an_attempt_attached_while_it_runs_keeps_its_future_until_it_is_settled() -> None:
    plan = scheduler(max_workers=2, ahead=0)
    (demand,) = request(plan, 0)
    submission: Future[object] = Future()
    plan.attach(demand, submission)
    assert demand.entry.submission is submission
    plan.record(demand, submission, "item 0", None)
    assert demand.entry.submission is None


def test_an_attempt_settled_before_its_future_is_attached_keeps_no_future() -> None:
    # The loader's own pool may settle a load in its worker before the dispatcher attaches it.
    plan = scheduler(max_workers=2, ahead=0)
    (demand,) = request(plan, 0)
    submission: Future[object] = Future()
    plan.record(demand, submission, "item 0", None)
    plan.attach(demand, submission)
    assert demand.entry.submission is None


def test_a_closed_scheduler_is_drained_once_the_loads_decided_before_close_end() -> None:
    plan = scheduler(max_workers=2, ahead=0)
    (decided,) = request(plan, 0)  # decided, not yet handed to an executor
    plan.close()
    assert not plan.drained()
    plan.record(decided, None, "item 0", None)
    assert plan.drained()


def test_a_scheduler_says_it_is_drained_only_once() -> None:
    plan = scheduler(max_workers=2, ahead=0)
    plan.close()
    assert plan.drained()
    assert not plan.drained()


def test_an_open_scheduler_with_nothing_running_is_not_drained() -> None:
    plan = scheduler(max_workers=2, ahead=0)
    assert not plan.drained()
