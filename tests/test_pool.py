"""The loader's own thread pool: daemon threads, started as needed, and a spare for a stuck call."""

from __future__ import annotations

import threading
from concurrent.futures import CancelledError, Future, wait
from typing import Any

import pytest
from loader_support import WAIT, loader_threads, wait_until

from prefetcher._pool import DaemonThreadPool, PoolFuture


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


def test_the_future_records_when_a_thread_took_the_call() -> None:
    with DaemonThreadPool(1) as pool:
        future = pool.submit(int, "1")
        future.result(timeout=WAIT)
        assert future.started_at is not None


def outcome_seen_by_a_done_callback(fn: Any, *args: Any) -> tuple[bool, Any, Any]:
    """Run ``fn(*args)`` on a pool; return what its done-callback found on the future."""
    seen: Future[tuple[bool, Any, Any]] = Future()

    def look(done: Future[Any]) -> None:
        assert isinstance(done, PoolFuture)
        seen.set_result((done.finished, done.value, done.error))

    with DaemonThreadPool(1) as pool:
        pool.submit(fn, *args).add_done_callback(look)
        return seen.result(timeout=WAIT)


def test_a_done_callback_finds_what_the_call_returned_on_the_future() -> None:
    assert outcome_seen_by_a_done_callback(int, "7") == (True, 7, None)


def test_a_done_callback_finds_what_the_call_raised_on_the_future() -> None:
    finished, value, error = outcome_seen_by_a_done_callback(int, "not a number")
    assert (finished, value) == (True, None) and isinstance(error, ValueError)


def test_a_cancelled_call_is_not_finished() -> None:
    release = threading.Event()
    with DaemonThreadPool(1) as pool:
        pool.submit(release.wait, WAIT)  # keeps the only thread busy
        queued = pool.submit(int, "7")
        pool.shutdown(wait=False, cancel_futures=True)
        release.set()
    assert queued.cancelled() and not queued.finished


def outcome_seen_by_then(fn: Any, *args: Any) -> tuple[bool, Any, Any, str]:
    """Run ``fn(*args)`` with ``submit_then``; return what ``then`` found, and its thread."""
    seen: Future[tuple[bool, Any, Any, str]] = Future()

    def look(done: PoolFuture) -> None:
        thread = threading.current_thread().name
        seen.set_result((done.done(), done.value, done.error, thread))

    with DaemonThreadPool(1, thread_name_prefix="pooltest") as pool:
        pool.submit_then(look, fn, *args)
        return seen.result(timeout=WAIT)


def test_then_runs_in_the_worker_once_the_future_holds_the_result() -> None:
    done, value, error, thread = outcome_seen_by_then(int, "7")
    assert (done, value, error) == (True, 7, None)
    assert thread.startswith("pooltest")


def test_then_runs_once_the_future_holds_the_error() -> None:
    done, value, error, _ = outcome_seen_by_then(int, "not a number")
    assert (done, value) == (True, None) and isinstance(error, ValueError)


def test_then_runs_for_a_call_that_shutdown_cancelled() -> None:
    release = threading.Event()
    seen: list[bool] = []
    with DaemonThreadPool(1) as pool:
        pool.submit(release.wait, WAIT)  # keeps the only thread busy
        queued = pool.submit_then(lambda done: seen.append(done.cancelled()), int, "7")
        pool.shutdown(wait=False, cancel_futures=True)
        release.set()
    assert queued.cancelled() and seen == [True]


def test_then_runs_once_for_each_call() -> None:
    seen: list[int] = []
    with DaemonThreadPool(2) as pool:
        for n in range(20):
            pool.submit_then(lambda done: seen.append(done.value), int, str(n))
    # Leaving the block joined the threads, so every call and its then have run.
    assert sorted(seen) == list(range(20))


def test_an_error_in_then_is_logged_and_the_thread_lives_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def fail(done: PoolFuture) -> None:
        raise RuntimeError("then failed")

    with DaemonThreadPool(1) as pool:
        pool.submit_then(fail, int, "1")
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
