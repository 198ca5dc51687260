"""The loader's own thread pool: daemon threads, started as needed, and a spare for a stuck call."""

from __future__ import annotations

import threading
import time
from concurrent.futures import CancelledError, wait

import pytest

from prefetcher._pool import DaemonThreadPool

TIMEOUT = 10.0


def test_a_call_returns_its_result_through_its_future() -> None:
    with DaemonThreadPool(2) as pool:
        assert pool.submit(round, 2.567, ndigits=1).result(timeout=TIMEOUT) == 2.6


def test_a_call_that_raises_gives_its_error_to_the_future_and_the_thread_lives_on() -> None:
    with DaemonThreadPool(1) as pool:
        failing = pool.submit(int, "not a number")
        assert isinstance(failing.exception(timeout=TIMEOUT), ValueError)
        assert pool.submit(int, "7").result(timeout=TIMEOUT) == 7


def test_the_threads_are_daemon_threads() -> None:
    with DaemonThreadPool(1) as pool:
        assert pool.submit(lambda: threading.current_thread().daemon).result(timeout=TIMEOUT)


def test_the_future_records_when_a_thread_took_the_call() -> None:
    with DaemonThreadPool(1) as pool:
        future = pool.submit(int, "1")
        future.result(timeout=TIMEOUT)
        assert future.started_at is not None


def test_no_more_calls_run_at_once_than_max_workers() -> None:
    release = threading.Event()
    running = threading.Semaphore(0)
    with DaemonThreadPool(2) as pool:

        def hold() -> None:
            running.release()
            assert release.wait(TIMEOUT)

        futures = [pool.submit(hold) for _ in range(3)]
        assert running.acquire(timeout=TIMEOUT) and running.acquire(timeout=TIMEOUT)
        # The third waits for a thread: it has not started, and does not start on its own.
        assert not running.acquire(timeout=0.2)
        assert not futures[2].running()
        release.set()
        done, _ = wait(futures, TIMEOUT)
        assert len(done) == 3


def test_add_worker_runs_a_call_while_every_thread_is_stuck() -> None:
    stuck = threading.Event()
    with DaemonThreadPool(1) as pool:
        pool.submit(stuck.wait, TIMEOUT)
        waiting = pool.submit(int, "3")
        pool.add_worker()
        assert waiting.result(timeout=TIMEOUT) == 3
        stuck.set()


def test_remove_worker_ends_the_spare_thread_once_the_stuck_call_returned() -> None:
    stuck = threading.Event()
    pool = DaemonThreadPool(1, thread_name_prefix="spare-test")
    try:
        first = pool.submit(stuck.wait, TIMEOUT)
        pool.add_worker()
        assert pool.submit(int, "1").result(timeout=TIMEOUT) == 1
        stuck.set()
        assert first.result(timeout=TIMEOUT)
        pool.remove_worker()
        live = _threads_named("spare-test")
        assert len(live) == 2
        # One of the two ends, whichever took the nudge: wait for either, bounded.
        deadline = time.monotonic() + TIMEOUT
        while all(t.is_alive() for t in live) and time.monotonic() < deadline:
            for thread in live:
                thread.join(0.05)
        assert sum(t.is_alive() for t in live) == 1
        # The one left still serves calls.
        assert pool.submit(int, "2").result(timeout=TIMEOUT) == 2
    finally:
        pool.shutdown(wait=True)


def test_shutdown_with_cancel_futures_cancels_the_calls_not_started() -> None:
    release = threading.Event()
    started = threading.Event()
    pool = DaemonThreadPool(1)

    def hold() -> None:
        started.set()
        assert release.wait(TIMEOUT)

    running = pool.submit(hold)
    assert started.wait(TIMEOUT)
    queued = pool.submit(int, "1")
    pool.shutdown(wait=False, cancel_futures=True)
    with pytest.raises(CancelledError):
        queued.result(timeout=TIMEOUT)
    release.set()
    assert running.result(timeout=TIMEOUT) is None
    assert pool.join(TIMEOUT)


def test_shutdown_without_cancelling_runs_every_queued_call_and_ends_the_threads() -> None:
    release = threading.Event()
    pool = DaemonThreadPool(2, thread_name_prefix="drain-test")
    futures = [pool.submit(release.wait, TIMEOUT) for _ in range(5)]
    pool.shutdown(wait=False)
    release.set()
    done, not_done = wait(futures, TIMEOUT)
    assert not_done == set()
    assert all(f.result() for f in done)
    assert pool.join(TIMEOUT)
    assert _threads_named("drain-test") == []


def test_a_worker_added_after_shutdown_serves_the_queue_and_ends() -> None:
    stuck = threading.Event()
    pool = DaemonThreadPool(1, thread_name_prefix="late-test")
    first = pool.submit(stuck.wait, TIMEOUT)
    waiting = pool.submit(int, "4")
    pool.shutdown(wait=False)
    pool.add_worker()
    assert waiting.result(timeout=TIMEOUT) == 4
    stuck.set()
    assert first.result(timeout=TIMEOUT)
    assert pool.join(TIMEOUT)


def test_submit_after_shutdown_is_refused() -> None:
    pool = DaemonThreadPool(1)
    pool.shutdown()
    with pytest.raises(RuntimeError, match="after shutdown"):
        pool.submit(int, "1")


def test_max_workers_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="max_workers must be >= 1"):
        DaemonThreadPool(0)


def _threads_named(prefix: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(prefix + "_") and t.is_alive()]
