"""The chunk task of :func:`~prefetcher.map_frames`: a loader over its frames, ``fn`` on each.

It runs in a worker thread, a worker process or on a cluster worker: :class:`Chunk` and the task
functions are at module level, so that they pickle.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import socket
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from prefetcher._loader import PrefetchingLoader
from prefetcher._map_report import ChunkReport, FrameFailure
from prefetcher._remote import display_name

__all__ = ["Chunk", "Outcome", "frame_failure", "run_chunk_local", "run_chunk_portable"]


@dataclasses.dataclass(frozen=True)
class Chunk:
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
class Outcome:
    """What a chunk task sends back: a result (or ``None``) per frame, its failures, its report."""

    results: list[Any]
    failures: list[FrameFailure]
    report: ChunkReport


def _run_chunk(chunk: Chunk, portable: bool) -> Outcome:
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
                failures.append(frame_failure(chunk.start + offset, key, exc, portable=portable))
        stats = loader.stats()
    report = ChunkReport(
        start=chunk.start,
        stop=chunk.start + len(chunk.keys),
        stats=stats,
        seconds=time.perf_counter() - began,
        worker=f"{socket.gethostname()}:{os.getpid()}",
    )
    return Outcome(results, failures, report)


def run_chunk_portable(chunk: Chunk) -> Outcome:
    """``_run_chunk`` for another process: its failures are made fit to travel back."""
    return _run_chunk(chunk, portable=True)


def run_chunk_local(chunk: Chunk) -> Outcome:
    """``_run_chunk`` in this process: its failures keep their exceptions as they are."""
    return _run_chunk(chunk, portable=False)


def frame_failure(
    index: int, key: Any, error: BaseException, *, portable: bool, note: bool = True
) -> FrameFailure:
    """The :class:`FrameFailure` of frame ``index`` (file ``key``), a URL's password masked.

    ``portable``: the failure goes to another process, so an exception that does not pickle is
    replaced by one that does. ``note``: the exception gets a note naming the frame in the run.
    """
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
