"""PrefetchingLoader(load, keys, executor=client.get_executor(pure=False)) on a real LocalCluster:
loads run on the cluster's worker processes and come back to the one consumer."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dask_support import local_cluster

from prefetcher import PrefetchingLoader

pytestmark = pytest.mark.slow

ITEMS = 12
TIMEOUT = 30  # seconds any one get may wait
LOAD_SECONDS = 0.05  # long enough for loads on different workers to overlap


def load_and_log(key: tuple[str, int]) -> tuple[int, int]:
    """Load item ``n``: take LOAD_SECONDS, append ``n start end pid`` to the log, return (n, pid).

    The log is a file because the load runs in another process; time.monotonic is one clock for
    every process of the machine (Linux's CLOCK_MONOTONIC).
    """
    log, n = key
    start = time.monotonic()
    time.sleep(LOAD_SECONDS)
    end = time.monotonic()
    with open(log, "a") as file:  # one short append per line: lines do not interleave
        file.write(f"{n} {start} {end} {os.getpid()}\n")
    return n, os.getpid()


def read_log(log: Path) -> list[tuple[int, float, float, int]]:
    lines = log.read_text().splitlines() if log.exists() else []
    return [(int(n), float(s), float(e), int(p)) for n, s, e, p in (ln.split() for ln in lines)]


def most_at_once(intervals: list[tuple[float, float]]) -> int:
    """The largest number of intervals that overlap at one instant."""
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    now = peak = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    return peak


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    with local_cluster(threads_per_worker=2) as client:  # 4 threads in all
        yield client


@pytest.fixture
def keys(tmp_path: Path) -> list[tuple[str, int]]:
    log = str(tmp_path / "loads.log")
    return [(log, n) for n in range(ITEMS)]


def test_loads_run_on_the_cluster_workers_and_come_back_in_order(
    client: Any, keys: list[tuple[str, int]]
) -> None:
    worker_pids = set(client.run(os.getpid).values())

    with PrefetchingLoader(load_and_log, keys, executor=client.get_executor(pure=False)) as loader:
        items = [loader.get(n, timeout=TIMEOUT) for n in range(ITEMS)]

    assert [n for n, _ in items] == list(range(ITEMS))
    assert {pid for _, pid in items} <= worker_pids
    assert os.getpid() not in worker_pids


def test_reads_ahead_through_the_client_executor(client: Any, keys: list[tuple[str, int]]) -> None:
    with PrefetchingLoader(load_and_log, keys, executor=client.get_executor(pure=False)) as loader:
        for n in range(ITEMS):
            loader.get(n, timeout=TIMEOUT)
        stats = loader.stats()

    assert stats.misses == 1  # every item after the first was already loading on the cluster
    assert stats.hits + stats.waits == ITEMS - 1


def test_max_workers_bounds_the_loads_running_on_the_cluster(
    client: Any, keys: list[tuple[str, int]]
) -> None:
    # The cluster has 4 threads and the window is 6 deep: only max_workers keeps the loads to 2
    # (plus the one item the consumer asks for, which never waits behind a prefetch).
    executor = client.get_executor(pure=False)
    with PrefetchingLoader(load_and_log, keys, ahead=6, max_workers=2, executor=executor) as loader:
        for n in range(ITEMS):
            loader.get(n, timeout=TIMEOUT)

    loads = read_log(Path(keys[0][0]))
    assert len(loads) == ITEMS
    assert most_at_once([(start, end) for _, start, end, _ in loads]) <= 3


def test_invalidate_loads_again_on_the_cluster_with_pure_false(
    client: Any, keys: list[tuple[str, int]]
) -> None:
    executor = client.get_executor(pure=False)  # pure=True would let Dask reuse the old result
    with PrefetchingLoader(load_and_log, keys, ahead=0, executor=executor) as loader:
        loader.get(3, timeout=TIMEOUT)
        loader.invalidate(3)
        loader.get(3, timeout=TIMEOUT)

    assert [n for n, *_ in read_log(Path(keys[0][0]))] == [3, 3]


def test_close_leaves_the_clients_executor_usable(client: Any, keys: list[tuple[str, int]]) -> None:
    executor = client.get_executor(pure=False)
    with PrefetchingLoader(load_and_log, keys, executor=executor) as loader:
        loader.get(0, timeout=TIMEOUT)

    assert executor.submit(load_and_log, keys[5]).result(TIMEOUT)[0] == 5
