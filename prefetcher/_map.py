"""map_frames: apply a function to every frame of a sequence, chunk by chunk, each chunk read ahead.

The sequence is cut into contiguous chunks and every chunk runs as one task that opens a loader of
its own over its files, so each task reads ahead in order while the function works. The tasks run
on local threads, local processes or a Dask cluster (``distributed.Client``); the scheduling is
theirs. Dask is imported only when a client is given.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import importlib
import os
import pickle
import socket
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Generator, Mapping, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from prefetcher._cli_common import progress as progress_bar
from prefetcher._loader import PrefetchingLoader
from prefetcher._remote import display_name
from prefetcher._sequence import open_sequence
from prefetcher._stats import LoaderStats
from prefetcher._waiting import as_completed

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

#: How many failures the message of MapFramesError names one by one (all are in ``failures``).
_SHOWN_FAILURES = 3


@dataclasses.dataclass(frozen=True)
class FrameFailure:
    """A frame that could not be loaded, or on which ``fn`` raised.

    Attributes:
        index: The frame's position in the whole sequence.
        file: The frame's file (or key), as shown in messages: a URL's password is masked.
        error: The exception, unchanged when it ran in this process; an exception that cannot
            travel back from another process is replaced by a :class:`RuntimeError` naming it.
        traceback: The exception's traceback as text, formatted where it happened (a traceback
            does not survive being sent between processes).
    """

    index: int
    file: str
    error: BaseException
    traceback: str

    def __str__(self) -> str:
        return f"#{self.index} {self.file}: {type(self.error).__name__}: {self.error}"


@dataclasses.dataclass(frozen=True)
class ChunkReport:
    """What one chunk task did: its frames, its loader's counters, its time and where it ran.

    Attributes:
        start: The index of the chunk's first frame.
        stop: One past the index of its last frame.
        stats: The counters of the chunk's loader when the chunk finished (``hits`` and
            ``waits`` count the frames that were already read ahead).
        seconds: Wall time of the task, loader opening included.
        worker: ``"host:pid"`` of the process that ran it.
    """

    start: int
    stop: int
    stats: LoaderStats
    seconds: float
    worker: str


@dataclasses.dataclass(frozen=True)
class MapReport(Generic[R]):
    """Everything :func:`map_frames_report` found: results, failures and one report per chunk.

    Attributes:
        results: One entry per frame, in frame order: ``fn(frame)``, or ``None`` for a frame in
            ``failures``.
        failures: The frames that failed, by index.
        chunks: One report per chunk, by start. A chunk whose task itself failed (a worker that
            died, a result that cannot be pickled) has no report; its frames are in ``failures``.
        seconds: Wall time of the whole call.
    """

    results: list[R | None]
    failures: tuple[FrameFailure, ...]
    chunks: tuple[ChunkReport, ...]
    seconds: float

    def loader_stats(self) -> LoaderStats:
        """The counters of every chunk's loader added up (``ahead``: the largest window)."""
        totals: dict[str, Any] = {}
        for field in dataclasses.fields(LoaderStats):
            values = [getattr(chunk.stats, field.name) for chunk in self.chunks]
            if field.name == "ahead":
                totals[field.name] = max(values, default=0)
            else:
                totals[field.name] = sum(values, 0.0 if field.type in (float, "float") else 0)
        return LoaderStats(**totals)


class MapFramesError(Exception):
    """Raised by :func:`map_frames` after every frame was tried, when some of them failed.

    Nothing is dropped: ``results`` holds the result of every frame that worked (``None`` at the
    index of each failed one) and ``failures`` names each failed frame with its index, its file
    and its exception.

    Example:
        >>> try:  # doctest: +SKIP
        ...     areas = map_frames(measure, "/mnt/share/run7")
        ... except MapFramesError as exc:
        ...     areas = exc.results
        ...     for failure in exc.failures:
        ...         print(failure.index, failure.file, failure.error)
    """

    def __init__(self, report: MapReport[Any]) -> None:
        self.report = report
        total = len(report.results)
        failures = report.failures
        shown = "; ".join(str(failure) for failure in failures[:_SHOWN_FAILURES])
        more = len(failures) - _SHOWN_FAILURES
        super().__init__(
            f"{len(failures)} of {total} frames failed: {shown}"
            + (f"; and {more} more (all of them in .failures)" if more > 0 else "")
        )

    @property
    def results(self) -> list[Any]:
        """One entry per frame, in order: its result, or ``None`` where it failed."""
        return self.report.results

    @property
    def failures(self) -> tuple[FrameFailure, ...]:
        """The frames that failed, by index."""
        return self.report.failures

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.report,))


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
        _check_picklable({"fn": fn, "load": load, **loader_options}, cluster=client is not None)
    token = uuid.uuid4().hex[:8]
    chunks = [
        _Chunk(fn, load, start, tuple(keys[start : start + chunk_size]), loader_options, token)
        for start in range(0, len(keys), chunk_size)
    ]
    results: list[R | None] = [None] * len(keys)
    failures: list[FrameFailure] = []
    reports: list[ChunkReport] = []
    # closing(): on an interrupt the generator's cleanup (cancel what has not run) runs now, not
    # whenever the generator is collected.
    with (
        progress_bar("map_frames", len(keys), quiet=not progress) as bar,
        contextlib.closing(_run_all(chunks, client, workers, processes)) as done,
    ):
        for chunk, outcome, error in done:
            if error is not None:
                # The task itself failed: every frame of the chunk is reported, none dropped.
                failures.extend(
                    _failure(chunk.start + offset, key, error, portable=False, note=False)
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


# -- the chunk task: runs in a worker thread, a worker process or on a cluster worker ----------


@dataclasses.dataclass(frozen=True)
class _Chunk:
    """One task's work: a module-level class, so that it pickles with its fields.

    Its repr leaves the keys and options out: Dask logs a failed task with its arguments, and a
    URL key holds the share's password.
    """

    fn: Callable[[Any], Any]
    load: Callable[[Any], Any]
    start: int
    keys: tuple[Any, ...] = dataclasses.field(repr=False)
    loader_options: Mapping[str, Any] = dataclasses.field(repr=False)
    token: str = ""

    @property
    def task_key(self) -> str:
        # Named by position, never by file: a URL's password must not reach the dashboard.
        return f"prefetcher-chunk-{self.token}-{self.start}"


@dataclasses.dataclass(frozen=True)
class _Outcome:
    results: list[Any]
    failures: list[FrameFailure]
    report: ChunkReport


def _run_chunk(chunk: _Chunk, portable: bool) -> _Outcome:
    """Open a loader over the chunk's frames, apply ``fn`` to each in order, close it."""
    began = time.perf_counter()
    loader = PrefetchingLoader(chunk.load, chunk.keys, **chunk.loader_options)
    results: list[Any] = []
    failures: list[FrameFailure] = []
    with loader:
        for offset, key in enumerate(chunk.keys):
            try:
                results.append(chunk.fn(loader.get(offset)))
            except Exception as exc:
                results.append(None)
                failures.append(_failure(chunk.start + offset, key, exc, portable=portable))
        stats = loader.stats()
    report = ChunkReport(
        start=chunk.start,
        stop=chunk.start + len(chunk.keys),
        stats=stats,
        seconds=time.perf_counter() - began,
        worker=f"{socket.gethostname()}:{os.getpid()}",
    )
    return _Outcome(results, failures, report)


def _run_chunk_portable(chunk: _Chunk) -> _Outcome:
    """``_run_chunk`` for another process: its failures are made fit to travel back."""
    return _run_chunk(chunk, portable=True)


def _run_chunk_local(chunk: _Chunk) -> _Outcome:
    return _run_chunk(chunk, portable=False)


def _failure(
    index: int, key: Any, error: BaseException, *, portable: bool, note: bool = True
) -> FrameFailure:
    raw = os.fspath(key) if isinstance(key, (str, os.PathLike)) else None
    file = display_name(raw) if isinstance(raw, str) else repr(key)
    notes = getattr(error, "__notes__", None)
    if isinstance(raw, str) and file != raw and notes:
        # The loader's note names the key as it is, password and all: mask it before the
        # failure is shown, logged or sent anywhere.
        setattr(error, "__notes__", [str(n).replace(raw, file) for n in notes])  # noqa: B010
    if note:
        # The loader's own note names the index inside the chunk; this one names it in the run.
        _add_note(error, f"prefetcher: map_frames frame {index} ({file})")
    text = "".join(traceback.format_exception(error))
    if portable and not _survives_pickling(error):
        error = RuntimeError(
            f"{type(error).__module__}.{type(error).__qualname__}: {error} "
            "(the exception cannot be pickled back from the worker; its traceback is in "
            "FrameFailure.traceback)"
        )
    return FrameFailure(index, file, error, text)


def _add_note(error: BaseException, note: str) -> None:
    if sys.version_info >= (3, 11):
        error.add_note(note)
    else:  # pragma: no cover - Python 3.10 has no add_note; keep the note where 3.11 puts it.
        setattr(error, "__notes__", [*getattr(error, "__notes__", []), note])  # noqa: B010


def _survives_pickling(error: BaseException) -> bool:
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return False
    return True


# -- the caller's side ----------------------------------------------------------------------


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


def _check_picklable(objects: Mapping[str, Any], *, cluster: bool) -> None:
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


_Done = tuple[_Chunk, _Outcome | None, BaseException | None]


def _run_all(
    chunks: list[_Chunk], client: Client | None, workers: int | None, processes: bool
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
    task = _run_chunk_portable if processes else _run_chunk_local
    try:
        futures: dict[Future[_Outcome], _Chunk] = {
            executor.submit(task, chunk): chunk for chunk in chunks
        }
        for future in as_completed(futures):
            chunk = futures.pop(future)
            error = future.exception()
            yield chunk, None if error is not None else future.result(), error
    finally:
        # Also on an interrupt or an exception in the caller: chunks not started never start.
        executor.shutdown(wait=True, cancel_futures=True)


def _run_on_cluster(chunks: list[_Chunk], client: Client) -> Generator[_Done, None, None]:
    distributed: Any = importlib.import_module("distributed")
    cluster: Any = client  # distributed is only partly typed
    futures = cluster.map(
        _run_chunk_portable, chunks, key=[chunk.task_key for chunk in chunks], pure=False
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
