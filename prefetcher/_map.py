"""map_frames: apply a function to every frame of a sequence, chunk by chunk, each chunk read ahead.

The sequence is cut into contiguous chunks and every chunk runs as one task that opens a loader of
its own over its files, so each task reads ahead in order while the function works. The tasks run
on local threads, local processes or a Dask cluster (``distributed.Client``); the scheduling is
theirs. Dask is imported only when a client is given.

This module is the caller's side: it checks the arguments, lists the keys, cuts the chunks and
gathers what they report. The chunk task is :mod:`prefetcher._map_chunk`, where it runs
:mod:`prefetcher._map_run`, the report types :mod:`prefetcher._map_report`.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from prefetcher._cli_common import progress as progress_bar
from prefetcher._loader import PrefetchingLoader
from prefetcher._map_chunk import Chunk, frame_failure
from prefetcher._map_report import ChunkReport, FrameFailure, MapFramesError, MapReport
from prefetcher._map_run import check_picklable, run_all
from prefetcher._remote import display_name
from prefetcher._sequence import open_sequence

if TYPE_CHECKING:  # pragma: no cover - the dask extra is optional
    from distributed import Client  # type: ignore[import-not-found,unused-ignore]

__all__ = [
    "ChunkReport",
    "FrameFailure",
    "MapFramesError",
    "MapReport",
    "map_frames",
    "map_frames_report",
]

R = TypeVar("R")

#: Frames per task when ``chunk_size`` is not given. Each chunk pays one read's latency before its
#: read-ahead fills, and the run ends with workers idle while the last chunks finish; 64 keeps both
#: small for 10-100 ms frames (see docs/scaling.rst).
DEFAULT_CHUNK_SIZE = 64


def map_frames(
    fn: Callable[[Any], R],
    source: Any,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    client: Client | None = None,
    workers: int | None = None,
    processes: bool = False,
    progress: bool = True,
    load: Callable[[Any], Any] | None = None,
    **loader_options: Any,
) -> list[R]:
    """Apply ``fn`` to every frame of a sequence, chunk by chunk in parallel; results in order.

    The frames are cut into contiguous chunks of ``chunk_size``; every chunk runs as one task that
    opens its own loader over its frames (:func:`~prefetcher.open_sequence` on the chunk's files),
    so each task reads ahead in order while ``fn`` works. Without ``client`` the tasks run on
    ``workers`` local threads (or processes, with ``processes=True``); with a
    ``distributed.Client`` they run on its cluster (``pip install '.[dask]'``).

    A frame that fails -- unreadable, or ``fn`` raised -- does not stop the others: every frame is
    tried, then :class:`MapFramesError` is raised with the results of the frames that worked and
    the index, file and exception of each that failed. :func:`map_frames_report` returns the same
    as a :class:`MapReport` instead of raising, with each chunk's loader counters.

    Args:
        fn: Called as ``fn(frame)`` once per frame, in the task's thread or process. It must be
            picklable with ``processes=True`` (by :mod:`pickle`) or a ``client`` (by Dask, which
            also pickles lambdas and local functions by value); that is checked before anything
            runs.
        source: What :func:`~prefetcher.open_sequence` takes, with an end: a directory, a glob
            pattern or a sequence of paths or URLs (a numbered template has no end: pass the list
            of its paths). With ``load``, any sequence of keys.
        chunk_size: Frames per task. Each chunk waits for one read before its read-ahead runs,
            and the last chunks finish while other workers idle: see ``docs/scaling.rst``.
        client: A ``distributed.Client``; the tasks run on its cluster.
        workers: Local tasks at once (default: the number of CPUs). Not with ``client``.
        processes: Run local tasks in a :class:`~concurrent.futures.ProcessPoolExecutor` rather
            than threads (for an ``fn`` that holds the GIL). Not with ``client``.
        progress: Show a progress bar by frame on stderr (tqdm), advanced as chunks complete.
        load: Load frames with ``load(key)`` over a :class:`~prefetcher.PrefetchingLoader` per
            chunk instead of :func:`~prefetcher.open_sequence`; ``source`` is then the keys.
        **loader_options: For every chunk's loader (``mode``, ``as_array``, ``ahead``,
            ``max_workers`` ...), checked here before anything runs.

    Returns:
        ``[fn(frame) for frame in sequence]``.

    Raises:
        MapFramesError: Some frames failed; every other frame was processed.
        TypeError: ``fn`` (or ``load``, or a loader option) cannot be pickled for processes or a
            cluster; or a bad argument.
        ValueError: A bad ``chunk_size`` or ``workers``, ``workers``/``processes`` with
            ``client``, or a source without an end.
        FileNotFoundError: The source does not exist (as for ``open_sequence``).

    Example:
        >>> import numpy as np
        >>> from distributed import Client  # doctest: +SKIP
        >>> means = map_frames(np.mean, "/mnt/share/run7", as_array=True)  # doctest: +SKIP
        >>> with Client("tcp://scheduler:8786") as client:  # doctest: +SKIP
        ...     means = map_frames(np.mean, "/mnt/share/run7", client=client, as_array=True)
    """
    report = map_frames_report(
        fn,
        source,
        chunk_size=chunk_size,
        client=client,
        workers=workers,
        processes=processes,
        progress=progress,
        load=load,
        **loader_options,
    )
    if report.failures:
        raise MapFramesError(report)
    return report.results  # type: ignore[return-value]  # no failures: no None placeholders


def map_frames_report(
    fn: Callable[[Any], R],
    source: Any,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    client: Client | None = None,
    workers: int | None = None,
    processes: bool = False,
    progress: bool = True,
    load: Callable[[Any], Any] | None = None,
    **loader_options: Any,
) -> MapReport[R]:
    """Like :func:`map_frames`, but return a :class:`MapReport` instead of raising for failures.

    The report holds every result (``None`` for a failed frame), every failure with its index,
    file and exception, and each chunk's loader counters and time: what a scan of a whole run
    needs to list its unreadable files.

    Args and Raises: as for :func:`map_frames`, except that failed frames raise nothing.
    """
    began = time.perf_counter()
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be an integer >= 1, got {chunk_size!r}")
    if client is not None and (workers is not None or processes):
        raise ValueError("workers and processes are for local runs; a client's cluster has its own")
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
    ):
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {fn!r}")
    keys, load, options = _resolve_keys(source, load, loader_options)
    loader_options = dict(options)
    across_processes = client is not None or processes
    if across_processes:
        check_picklable({"fn": fn, "load": load, **loader_options}, cluster=client is not None)
    token = uuid.uuid4().hex[:8]
    chunks = [
        Chunk(fn, load, start, tuple(keys[start : start + chunk_size]), loader_options, token)
        for start in range(0, len(keys), chunk_size)
    ]
    results: list[R | None] = [None] * len(keys)
    failures: list[FrameFailure] = []
    reports: list[ChunkReport] = []
    # closing(): on an interrupt the generator's cleanup (cancel what has not run) runs now, not
    # whenever the generator is collected.
    with (
        progress_bar("map_frames", len(keys), quiet=not progress) as bar,
        contextlib.closing(run_all(chunks, client, workers, processes)) as done,
    ):
        for chunk, outcome, error in done:
            if error is not None:
                # The task itself failed: every frame of the chunk is reported, none dropped.
                failures.extend(
                    frame_failure(chunk.start + offset, key, error, portable=False, note=False)
                    for offset, key in enumerate(chunk.keys)
                )
            else:
                assert outcome is not None
                results[chunk.start : chunk.start + len(chunk.keys)] = outcome.results
                failures.extend(outcome.failures)
                reports.append(outcome.report)
            bar.update(len(chunk.keys))
    return MapReport(
        results=results,
        failures=tuple(sorted(failures, key=lambda failure: failure.index)),
        chunks=tuple(sorted(reports, key=lambda report: report.start)),
        seconds=time.perf_counter() - began,
    )


def _resolve_keys(
    source: Any, load: Callable[[Any], Any] | None, loader_options: Mapping[str, Any]
) -> tuple[Sequence[Any], Callable[[Any], Any], Mapping[str, Any]]:
    """The keys of every frame, listed once here, the load of one key, and the loader options.

    Opening a loader also checks the options. For a source, the load is the sequence's own
    reader: its keys are public (a URL without its password), and the reader holds what it takes
    to read them, so the chunks never see the password in their keys.
    """
    if load is not None:
        if not isinstance(source, Sequence) or isinstance(source, (str, bytes)):
            raise TypeError(
                f"with load, source must be a sequence of keys, not {type(source).__name__}"
            )
        PrefetchingLoader(load, source, **loader_options).close()
        return source, load, loader_options
    with open_sequence(source, **loader_options) as probe:
        keys = probe.keys
        reader = probe.reader
        options = probe.options
    if keys is None:
        raise ValueError(
            f"source {display_name(str(source))!r} is a numbered template, which has no end; "
            "pass the list of its files: [template.format(n) for n in range(first, last + 1)]"
        )
    return keys, reader, options
