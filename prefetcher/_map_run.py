"""Where the chunk tasks of :func:`~prefetcher.map_frames` run: local threads or processes, or a
Dask cluster, each yielding the chunks as they complete; and the check that what is sent pickles.

Dask is imported only when a client is given.
"""

from __future__ import annotations

import concurrent.futures
import importlib
import os
import pickle
from collections.abc import Callable, Generator, Mapping
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from prefetcher._map_chunk import Chunk, Outcome, run_chunk_local, run_chunk_portable
from prefetcher._waiting import as_completed

if TYPE_CHECKING:  # pragma: no cover - the dask extra is optional
    from distributed import Client  # type: ignore[import-not-found,unused-ignore]

__all__ = ["check_picklable", "run_all"]


def check_picklable(objects: Mapping[str, Any], *, cluster: bool) -> None:
    """Raise ``TypeError`` naming the first of ``objects`` that cannot be sent to the workers."""
    if cluster:
        # The cluster's own serializer: pickle, and cloudpickle for what pickle refuses.
        # Imported as Any: distributed is optional and only partly typed.
        dumps: Callable[[Any], Any] = importlib.import_module("distributed.protocol.pickle").dumps

        where = "the cluster's workers"
    else:
        dumps = pickle.dumps
        where = "worker processes (processes=True)"
    for name, value in objects.items():
        if value is None:
            continue
        try:
            dumps(value)
        except Exception as exc:
            raise TypeError(
                f"{name} {value!r} cannot be pickled, so it cannot be sent to {where}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc


_Done = tuple[Chunk, Outcome | None, BaseException | None]


def run_all(
    chunks: list[Chunk], client: Client | None, workers: int | None, processes: bool
) -> Generator[_Done, None, None]:
    """Yield ``(chunk, outcome, task error)`` for each chunk as it completes."""
    if client is not None:
        yield from _run_on_cluster(chunks, client)
        return
    count = workers if workers is not None else (os.cpu_count() or 1)
    executor: Executor = (
        concurrent.futures.ProcessPoolExecutor(max_workers=count)  # multiprocessing: only now
        if processes
        else ThreadPoolExecutor(max_workers=count, thread_name_prefix="prefetcher-map")
    )
    task = run_chunk_portable if processes else run_chunk_local
    try:
        futures: dict[Future[Outcome], Chunk] = {
            executor.submit(task, chunk): chunk for chunk in chunks
        }
        for future in as_completed(futures):
            chunk = futures.pop(future)
            error = future.exception()
            yield chunk, None if error is not None else future.result(), error
    finally:
        # Also on an interrupt or an exception in the caller: chunks not started never start.
        executor.shutdown(wait=True, cancel_futures=True)


def _run_on_cluster(chunks: list[Chunk], client: Client) -> Generator[_Done, None, None]:
    distributed: Any = importlib.import_module("distributed")
    cluster: Any = client  # distributed is only partly typed
    futures = cluster.map(
        run_chunk_portable, chunks, key=[chunk.task_key for chunk in chunks], pure=False
    )
    by_key = {future.key: chunk for future, chunk in zip(futures, chunks, strict=True)}
    try:
        for future in distributed.as_completed(futures):
            chunk = by_key[future.key]
            try:
                outcome = future.result()
            except Exception as exc:
                yield chunk, None, exc
            else:
                yield chunk, outcome, None
            future.release()  # the worker frees the chunk's results once they are here
    finally:
        cluster.cancel(futures)
