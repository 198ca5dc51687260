"""A real Dask LocalCluster for the tests: 2 worker processes on 127.0.0.1."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
from collections.abc import Iterator
from typing import Any

import pytest

#: Seconds any one step of starting or stopping the cluster may take.
CLUSTER_TIMEOUT = 30


@contextlib.contextmanager
def local_cluster(threads_per_worker: int = 1) -> Iterator[Any]:
    """A ``distributed.Client`` on a new LocalCluster of 2 processes, closed afterwards.

    Only 127.0.0.1, no dashboards. A worker process still alive after the cluster closed is
    killed by its pid.
    """
    distributed = pytest.importorskip(
        "distributed", reason="the dask extra: pip install 'prefetcher[dask]'"
    )
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=threads_per_worker,
        processes=True,
        host="127.0.0.1",
        dashboard_address=":0",  # a free port, should a dashboard start (with bokeh installed)
        worker_dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    pids: list[int] = []
    try:
        client = distributed.Client(cluster, timeout=CLUSTER_TIMEOUT)
        try:
            client.wait_for_workers(2, timeout=CLUSTER_TIMEOUT)
            pids = list(client.run(os.getpid).values())
            yield client
        finally:
            client.close(timeout=CLUSTER_TIMEOUT)
    finally:
        cluster.close(timeout=CLUSTER_TIMEOUT)
        # Only this process's own living children: a pid that exited may belong to someone else.
        for child in multiprocessing.active_children():
            if child.pid in pids:
                child.kill()
                child.join(CLUSTER_TIMEOUT)
