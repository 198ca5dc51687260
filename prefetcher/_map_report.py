"""What :func:`~prefetcher.map_frames` reports: each failed frame, each chunk, the whole run.

Frozen dataclasses, and the exception that carries them: they travel back from worker processes
and cluster workers, so they pickle.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Generic, TypeVar

from prefetcher._stats import LoaderStats

__all__ = ["ChunkReport", "FrameFailure", "MapFramesError", "MapReport"]

R = TypeVar("R")

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
