"""The loader's own thread pool: daemon threads, started as needed, and a spare for a stuck call."""

from __future__ import annotations

import threading
import time
from concurrent.futures import CancelledError, Future, wait
from typing import Any

import pytest
from loader_support import WAIT, loader_threads, wait_until

from prefetcher._pool import DaemonThreadPool, PoolCall


def test_a_call_returns_its_result_through_its_future() -> None:
    with DaemonThreadPool(2) as pool:
        assert pool.submit(round, 2.567, ndigits=1).result(timeout=WAIT) == 2.6


def test_a_call_that_raises_gives_its_error_to_the_future_and_the_thread_lives_on() -> None:
    with DaemonThreadPool(1) as pool:
        failing = pool.submit(int, "not a number")
        assert isinstance(failing.exception(timeout=WAIT), ValueError)
        assert pool.submit(int, "7").result(timeout=WAIT) == 7


def test_the_threads_are_daemon_threads() -> None:
    with DaemonThreadPool(1) as pool:
        assert pool.submit(lambda: threading.current_thread().daemon).result(timeout=WAIT)


def test_a_call_records_when_a_thread_took_it() -> None:
    taken: Future[float | None] = Future()
    with DaemonThreadPool(1) as pool:
        before = time.perf_counter()
        pool.submit_call(PoolCall(), lambda call: taken.set_result(call.started_at), int, "1")
        started_at = taken.result(timeout=WAIT)
    assert started_at is not None and started_at >= before


def test_a_call_made_before_it_is_submitted_runs_with_the_context_it_was_made_with() -> None:
    seen: Future[tuple[Any, Any, float | None]] = Future()
    call = PoolCall(context="item 7")
    assert call.started_at is None and not call.finished  # made, not submitted: nothing ran
    with DaemonThreadPool(1) as pool:
        pool.submit_call(
            call,
            lambda done: seen.set_result((done.context, done.value, done.started_at)),
            int,
            "7",
        )
        context, value, started_at = seen.result(timeout=WAIT)
    assert (context, value) == ("item 7", 7) and started_at is not None


def outcome_seen_by_then(fn: Any, *args: Any) -> tuple[bool, Any, Any, str]:
    """Run ``fn(*args)`` with ``submit_call``; return what ``then`` found, and its thread."""
    seen: Future[tuple[bool, Any, Any, str]] = Future()

    def look(call: PoolCall) -> None:
        thread = threading.current_thread().name
        seen.set_result((call.finished, call.value, call.error, thread))

    with DaemonThreadPool(1, thread_name_prefix="pooltest") as pool:
        pool.submit_call(PoolCall(), look, fn, *args)
        return seen.result(timeout=WAIT)


def test_then_runs_in_the_worker_and_finds_what_the_call_returned() -> None:
    finished, value, error, thread = outcome_seen_by_then(int, "7")
    assert (finished, value, error) == (True, 7, None)
    assert thread.startswith("pooltest")


def test_then_finds_what_the_call_raised() -> None:
    finished, value, error, _ = outcome_seen_by_then(int, "not a number")
    assert (finished, value) == (True, None) and isinstance(error, ValueError)


def test_then_runs_for_a_call_that_shutdown_cancelled_and_finds_it_never_ran() -> None:
    release = threading.Event()
    seen: list[tuple[bool, float | None]] = []
    with DaemonThreadPool(1) as pool:
        pool.submit(release.wait, WAIT)  # keeps the only thread busy
        pool.submit_call(
            PoolCall(), lambda call: seen.append((call.finished, call.started_at)), int, "7"
        )
        pool.shutdown(wait=False, cancel_futures=True)
        release.set()
    assert seen == [(False, None)]


def test_then_runs_once_for_each_call() -> None:
    seen: list[int] = []
    with DaemonThreadPool(2) as pool:
        for n in range(20):
            pool.submit_call(PoolCall(), lambda call: seen.append(call.value), int, str(n))
    # Leaving the block joined the threads, so every call and its then have run.
    assert sorted(seen) == list(range(20))


def test_an_error_in_then_is_logged_and_the_thread_lives_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def fail(call: PoolCall) -> None:
        raise RuntimeError("then failed")

    with DaemonThreadPool(1) as pool:
        pool.submit_call(PoolCall(), fail, int, "1")
        # One thread: it logged the error before it took this call.
        assert pool.submit(int, "7").result(timeout=WAIT) == 7
    logged = [r.exc_info[1] for r in caplog.records if r.exc_info]
    assert any(str(error) == "then failed" for error in logged)


def test_no_more_calls_run_at_once_than_max_workers() -> None:
    release = threading.Event()
    running = threading.Semaphore(0)
    with DaemonThreadPool(2) as pool:

        def hold() -> None:
            running.release()
            assert release.wait(WAIT)

        futures = [pool.submit(hold) for _ in range(3)]
        assert running.acquire(timeout=WAIT) and running.acquire(timeout=WAIT)
        # The third waits for a thread: it has not started, and does not start on its own.
        assert not running.acquire(timeout=0.2)
        assert not futures[2].running()
        release.set()
        done, _ = wait(futures, WAIT)
        assert len(done) == 3


def test_add_worker_runs_a_call_while_every_thread_is_stuck() -> None:
    stuck = threading.Event()
    with DaemonThreadPool(1) as pool:
        pool.submit(stuck.wait, WAIT)
        waiting = pool.submit(int, "3")
        pool.add_worker()
        assert waiting.result(timeout=WAIT) == 3
        stuck.set()


def test_remove_worker_ends_the_spare_thread_once_the_stuck_call_returned() -> None:
    stuck = threading.Event()
    pool = DaemonThreadPool(1, thread_name_prefix="spare-test")
    try:
        first = pool.submit(stuck.wait, WAIT)
        pool.add_worker()
        assert pool.submit(int, "1").result(timeout=WAIT) == 1
        stuck.set()
        assert first.result(timeout=WAIT)
        pool.remove_worker()
        live = loader_threads("spare-test_")
        assert len(live) == 2
        # One of the two ends, whichever took the nudge.
        wait_until(lambda: sum(t.is_alive() for t in live) == 1)
        assert sum(t.is_alive() for t in live) == 1
        # The one left still serves calls.
        assert pool.submit(int, "2").result(timeout=WAIT) == 2
    finally:
        pool.shutdown(wait=True)


def test_shutdown_with_cancel_futures_cancels_the_calls_not_started() -> None:
    release = threading.Event()
    started = threading.Event()
    pool = DaemonThreadPool(1)

    def hold() -> None:
        started.set()
        assert release.wait(WAIT)

    running = pool.submit(hold)
    assert started.wait(WAIT)
    queued = pool.submit(int, "1")
    pool.shutdown(wait=False, cancel_futures=True)
    with pytest.raises(CancelledError):
        queued.result(timeout=WAIT)
    release.set()
    assert running.result(timeout=WAIT) is None
    assert pool.join(WAIT)


def test_shutdown_without_cancelling_runs_every_queued_call_and_ends_the_threads() -> None:
    release = threading.Event()
    pool = DaemonThreadPool(2, thread_name_prefix="drain-test")
    futures = [pool.submit(release.wait, WAIT) for _ in range(5)]
    pool.shutdown(wait=False)
    release.set()
    done, not_done = wait(futures, WAIT)
    assert not_done == set()
    assert all(f.result() for f in done)
    assert pool.join(WAIT)
    assert loader_threads("drain-test_") == []


def test_a_worker_added_after_shutdown_serves_the_queue_and_ends() -> None:
    stuck = threading.Event()
    pool = DaemonThreadPool(1, thread_name_prefix="late-test")
    first = pool.submit(stuck.wait, WAIT)
    waiting = pool.submit(int, "4")
    pool.shutdown(wait=False)
    pool.add_worker()
    assert waiting.result(timeout=WAIT) == 4
    stuck.set()
    assert first.result(timeout=WAIT)
    assert pool.join(WAIT)


def test_submit_after_shutdown_is_refused() -> None:
    pool = DaemonThreadPool(1)
    pool.shutdown()
    with pytest.raises(RuntimeError, match="after shutdown"):
        pool.submit(int, "1")


def test_max_workers_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="max_workers must be >= 1"):
        DaemonThreadPool(0)
