"""``prefetcher scan``: read every file of a sequence with prefetching; report errors and gaps."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import json
import os
import time
from collections.abc import Iterable, Iterator
from typing import Any

from prefetcher._cli_common import (
    CLIError,
    LoaderOptions,
    OutputOptions,
    describe_missing,
    progress,
)
from prefetcher._numbering import Numbering
from prefetcher._remote import display_name
from prefetcher._scan_report import Tally, format_report, scan_result
from prefetcher._sequence import ImageSequence, open_sequence
from prefetcher._tiff import is_tiff_file

__all__ = ["ScanParams", "run_scan"]


@dataclasses.dataclass(frozen=True)
class ScanParams:
    """What ``prefetcher scan`` was asked to do."""

    source: str
    start: int | None = None
    stop: int | None = None
    reverse: bool = False
    #: A Dask scheduler's address: read the frames in chunks on its cluster.
    scheduler: str | None = None
    #: Read the frames in chunks on this many local processes.
    processes: int | None = None
    loader: LoaderOptions = dataclasses.field(default_factory=LoaderOptions)
    output: OutputOptions = dataclasses.field(default_factory=OutputOptions)


def run_scan(params: ScanParams) -> int:
    """Run ``prefetcher scan``; return the exit status (1 on an unreadable or missing file)."""
    if params.stop is not None and params.start is not None and params.stop < params.start:
        raise CLIError(f"--stop {params.stop} is before --start {params.start}", status=2)
    loader = _open(params.source, params.loader)
    scan = Tally()
    with loader:
        numbering = loader.numbering
        positions = _positions(numbering, params)
        first = numbering.first_position if params.start is None else params.start
        walk: Iterable[int] = _walk(first, scan) if positions is None else positions
        total = None if positions is None else len(positions)
        began = time.perf_counter()
        chunked = params.scheduler is not None or params.processes is not None
        if chunked:
            if positions is None:
                raise CLIError(
                    "--scheduler and --processes need a known last file: give --stop N", status=2
                )
            chunk_stats = _read_in_chunks(loader, numbering, positions, params, scan)
        else:
            with progress("scan", total, quiet=params.output.quiet) as bar:
                for position in walk:
                    scan.visited.append(position)
                    _read(loader, numbering, position, scan)
                    bar.update()
        if scan.walked_to_gap:
            # The walk's end is where the sequence ends as far as we can tell, not a gap.
            end = scan.absent.pop()
            scan.visited.remove(end)
            if not scan.frames:
                raise CLIError(f"no file {numbering.name(end)!r}: nothing to scan")
        seconds = time.perf_counter() - began
        stats = chunk_stats if chunked else dataclasses.asdict(loader.stats())
    result = scan_result(params.source, params.stop is not None, numbering, scan, seconds, stats)
    if params.output.json:
        print(json.dumps(result, indent=2))
    else:
        print(format_report(result))
    return 1 if scan.errors or result["missing_count"] else 0


def _open(source: str, options: LoaderOptions) -> ImageSequence[Any, Any]:
    # One file is a sequence of one: "is this file readable?" is a fair question to ask. A TIFF
    # file is a sequence of its pages.
    one_file = os.path.isfile(source) and not is_tiff_file(source)
    sequence: str | list[str] = [source] if one_file else source
    try:
        return open_sequence(sequence, ahead=options.ahead, max_workers=options.workers)
    except FileNotFoundError as exc:
        # A SOURCE that is not there is a mistake on the command line, as a bad value is.
        raise CLIError(describe_missing(exc), status=2) from exc
    except (TypeError, ValueError) as exc:
        raise CLIError(str(exc), status=2) from exc


def _positions(numbering: Numbering, params: ScanParams) -> range | None:
    """The positions to read: all of them, or ``--start .. --stop``, maybe reversed.

    A template is read from its lowest existing file number to its highest (listed when the scan
    starts), or up to ``--stop``. ``None``: a template whose directory cannot be listed, walked
    from its first file up to the first one missing.
    """
    first = numbering.first_position if params.start is None else params.start
    last = numbering.last_position
    if numbering.open_ended:
        if params.stop is None and not numbering.listed:
            if params.reverse:
                raise CLIError(
                    "--reverse needs --stop for a numbered template whose directory cannot be "
                    "listed: it has no known last file",
                    status=2,
                )
            return None
        if last is None and params.stop is None:
            name = numbering.name(first)
            raise CLIError(f"no file {name!r} or after it: nothing to scan (give --stop N)")
        stop = params.stop if params.stop is not None else (last or 0) + 1
    else:
        assert last is not None
        if first > last:
            raise CLIError(
                f"--start {first} is past the end of the sequence ({last + 1} files)", status=2
            )
        stop = last + 1 if params.stop is None else min(params.stop, last + 1)
    positions = range(first, stop)
    return positions[::-1] if params.reverse else positions


def _read_in_chunks(
    loader: ImageSequence[Any, Any],
    numbering: Numbering,
    positions: range,
    params: ScanParams,
    scan: Tally,
) -> dict[str, Any]:
    """Read ``positions`` with :func:`~prefetcher.map_frames_report`, on a cluster or processes.

    Each chunk opens a loader of its own over its files with this sequence's reader (which holds
    a URL's credentials; the keys never do). Returns the chunks' loader counters added up.
    """
    from prefetcher._map import map_frames_report

    keys = loader.keys
    frames = [keys[p] for p in positions] if keys is not None else list(positions)
    with _client(params.scheduler) as client:
        report = map_frames_report(
            _discard,
            frames,
            load=loader.reader,
            client=client,
            workers=params.processes,
            processes=params.processes is not None,
            progress=not params.output.quiet,
            **loader.options,
        )
    failed = {positions[f.index]: f for f in report.failures}
    for position in positions:
        scan.visited.append(position)
        failure = failed.get(position)
        missing = failure is not None and isinstance(failure.error, FileNotFoundError)
        if missing and numbering.open_ended:
            scan.absent.append(position)  # a gap in the numbering, reported as one
            continue
        if failure is not None:
            _record(scan, numbering, position, loader, failure.error)
        scan.frames += 1
    return dataclasses.asdict(report.loader_stats())


@contextlib.contextmanager
def _client(address: str | None) -> Iterator[Any]:
    """A ``distributed.Client`` connected to ``address``, or ``None`` without one."""
    if address is None:
        yield None
        return
    try:
        distributed: Any = importlib.import_module("distributed")  # optional: Any for mypy
    except ImportError as exc:
        raise CLIError(
            f"--scheduler needs Dask ({exc}); install it from the checkout with: "
            "pip install '.[dask]'",
            status=2,
        ) from exc
    try:
        client = distributed.Client(address, timeout=30)
    except OSError as exc:
        raise CLIError(f"cannot reach the Dask scheduler at {address}: {exc}") from exc
    with client:
        yield client


def _discard(frame: object) -> None:
    """What a chunked scan does with a frame: nothing; reading it was the test."""


def _walk(first: int, scan: Tally) -> Iterator[int]:
    """``first, first + 1, ...`` until a file is missing."""
    position = first
    while not scan.absent:
        yield position
        position += 1
    scan.walked_to_gap = True


def _read(
    loader: ImageSequence[Any, Any], numbering: Numbering, position: int, scan: Tally
) -> None:
    try:
        frame = loader.get(position)
    except FileNotFoundError as exc:
        if numbering.open_ended:
            scan.absent.append(position)  # a gap in the numbering, reported as one
            return
        _record(scan, numbering, position, loader, exc)
    except Exception as exc:
        _record(scan, numbering, position, loader, exc)
    else:
        del frame  # not kept: the loader's cache bounds the memory
    scan.frames += 1


def _record(
    scan: Tally,
    numbering: Numbering,
    position: int,
    loader: ImageSequence[Any, Any],
    exc: BaseException,
) -> None:
    keys = loader.keys
    path = str(keys[position]) if keys is not None else _template_path(numbering, position)
    scan.errors.append(
        {
            "position": position,
            "number": numbering.number(position),
            "label": numbering.label(position),
            "path": display_name(path),
            "error": f"{type(exc).__name__}: {_message(exc)}",
        }
    )


def _template_path(numbering: Numbering, position: int) -> str:
    assert numbering.template is not None
    return numbering.template.format(position)


def _message(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError) and exc.strerror:
        return exc.strerror
    return str(exc)
