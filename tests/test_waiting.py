"""Waits that Ctrl-C always ends: the same answers as the stdlib's waits."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future

from prefetcher._waiting import SLICE, as_completed, join_all, wait_all, wait_one

WAIT = 10.0


def test_wait_all_returns_true_once_every_future_is_done() -> None:
    futures: list[Future[int]] = [Future(), Future()]

    def finish() -> None:
        for future in futures:
            future.set_result(1)

    setter = threading.Timer(2 * SLICE, finish)
    setter.start()
    try:
        assert wait_all(futures, WAIT)
    finally:
        setter.cancel()


def test_wait_all_returns_false_when_the_timeout_runs_out_first() -> None:
    began = time.monotonic()
    assert not wait_all([Future()], 2.5 * SLICE)
    assert 2.5 * SLICE <= time.monotonic() - began < WAIT


def test_wait_all_with_no_time_left_still_reports_done_futures() -> None:
    done: Future[int] = Future()
    done.set_result(1)
    assert wait_all([done], 0)
    assert not wait_all([done, Future()], 0)


def test_wait_one_returns_true_once_its_future_is_done_after_several_slices() -> None:
    future: Future[int] = Future()
    setter = threading.Timer(2.5 * SLICE, future.set_result, (1,))
    setter.start()
    try:
        assert wait_one(future, WAIT)
        assert future.done()  # not merely the end of a slice
    finally:
        setter.cancel()


def test_wait_one_returns_true_for_a_future_that_failed_or_was_cancelled() -> None:
    failed: Future[int] = Future()
    failed.set_exception(OSError("share gone"))
    cancelled: Future[int] = Future()
    cancelled.cancel()
    assert wait_one(failed, WAIT) and wait_one(cancelled, WAIT)


def test_wait_one_returns_false_when_the_timeout_runs_out_first() -> None:
    began = time.monotonic()
    assert not wait_one(Future(), 2.5 * SLICE)
    assert 2.5 * SLICE <= time.monotonic() - began < WAIT


def test_wait_one_with_no_time_left_still_reports_a_done_future() -> None:
    done: Future[int] = Future()
    done.set_result(1)
    assert wait_one(done, 0)
    assert not wait_one(Future(), 0)


def test_as_completed_yields_each_future_once_in_the_order_they_finish() -> None:
    first: Future[str] = Future()
    second: Future[str] = Future()
    second.set_result("second")
    results = as_completed([first, second])
    assert next(results) is second
    threading.Timer(2 * SLICE, first.set_result, ("first",)).start()
    assert next(results) is first
    assert list(results) == []


def test_join_all_returns_false_while_a_thread_runs_and_true_once_it_ended() -> None:
    release = threading.Event()
    thread = threading.Thread(target=release.wait, args=(WAIT,), daemon=True)
    thread.start()
    assert not join_all([thread], 2.5 * SLICE)
    release.set()
    assert join_all([thread], WAIT)


def test_join_all_does_not_wait_for_the_calling_thread() -> None:
    assert join_all([threading.current_thread()], None)
