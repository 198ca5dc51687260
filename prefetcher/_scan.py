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
from prefetcher._sequence import ImageSequence, open_sequence
from prefetcher._tiff import is_tiff_file

__all__ = ["ScanParams", "run_scan"]

#: How many errors the report lists one by one (all of them are counted, and all are in --json).
SHOWN_ERRORS = 10


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


@dataclasses.dataclass
class _Scan:
    """What a scan met so far."""

    frames: int = 0
    errors: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    #: Positions of a template whose file does not exist.
    absent: list[int] = dataclasses.field(default_factory=list)
    #: Every position read (or tried).
    visited: list[int] = dataclasses.field(default_factory=list)
    #: Whether a walk without a known end stopped at a missing file.
    walked_to_gap: bool = False


def run_scan(params: ScanParams) -> int:
    """Run ``prefetcher scan``; return the exit status (1 on an unreadable or missing file)."""
    if params.stop is not None and params.start is not None and params.stop < params.start:
        raise CLIError(f"--stop {params.stop} is before --start {params.start}", status=2)
    loader = _open(params.source, params.loader)
    scan = _Scan()
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
    result = _result(params, numbering, scan, seconds, stats)
    if params.output.json:
        print(json.dumps(result, indent=2))
    else:
        print(_report(result))
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
    scan: _Scan,
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


def _walk(first: int, scan: _Scan) -> Iterator[int]:
    """``first, first + 1, ...`` until a file is missing."""
    position = first
    while not scan.absent:
        yield position
        position += 1
    scan.walked_to_gap = True


def _read(
    loader: ImageSequence[Any, Any], numbering: Numbering, position: int, scan: _Scan
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
    scan: _Scan,
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


def _result(
    params: ScanParams,
    numbering: Numbering,
    scan: _Scan,
    seconds: float,
    stats: dict[str, Any],
) -> dict[str, Any]:
    # A template: every number in the range whose file is not there (up to --stop, if given).
    missing = _missing_in(scan.absent) if numbering.open_ended else numbering.missing
    ordered = sorted(set(scan.visited) - set(scan.absent))
    return {
        "source": display_name(params.source),
        "frames": scan.frames,
        "read": scan.frames - len(scan.errors),
        "seconds": seconds,
        "frames_per_second": scan.frames / seconds if seconds > 0 and scan.frames else None,
        "first": numbering.label(ordered[0]) if ordered else None,
        "last": numbering.label(ordered[-1]) if ordered else None,
        "open_ended": numbering.open_ended,
        "stop_given": params.stop is not None,
        "walked_to_gap": scan.walked_to_gap,
        "missing": [list(run) for run in missing],
        "missing_count": sum(last - first + 1 for first, last in missing),
        "error_count": len(scan.errors),
        "errors": scan.errors,
        "stats": stats,
    }


def _missing_in(absent: list[int]) -> tuple[tuple[int, int], ...]:
    """The ``absent`` numbers as runs of ``(first, last)``."""
    runs: list[tuple[int, int]] = []
    for number in sorted(absent):
        if runs and runs[-1][1] == number - 1:
            runs[-1] = (runs[-1][0], number)
        else:
            runs.append((number, number))
    return tuple(runs)


def _report(result: dict[str, Any]) -> str:
    stats = result["stats"]
    rate = result["frames_per_second"]
    lines = [
        f"scanned {_frames(result['frames'])} of {result['source']} in {result['seconds']:.2f} s"
        + (f" ({rate:.1f} frames/s)" if rate is not None else ""),
        f"from {result['first']} to {result['last']}",
        f"read: {result['read']}, errors: {result['error_count']}, "
        f"missing: {result['missing_count']}",
        f"loader: {stats['hits']} hits, {stats['waits']} waits, {stats['misses']} misses, "
        f"{stats['wait_seconds']:.2f} s waiting, {stats['loads_started']} loads, "
        f"{stats['wasted_loads']} wasted",
    ]
    if result["missing"]:
        lines.append(f"missing file numbers: {_runs(result['missing'])}")
    errors = result["errors"]
    if errors:
        lines.append("first errors:" if len(errors) > SHOWN_ERRORS else "errors:")
        lines.extend(f"  {e['label']} {e['path']}: {e['error']}" for e in errors[:SHOWN_ERRORS])
        if len(errors) > SHOWN_ERRORS:
            lines.append(f"  ... and {len(errors) - SHOWN_ERRORS} more (all of them in --json)")
    if result["walked_to_gap"]:
        lines.append(
            f"the scan stopped at the first missing file after {result['last']} (the directory "
            "cannot be listed, so later files are unknown); to scan past it, give --stop N"
        )
    elif result["open_ended"] and not result["stop_given"]:
        lines.append(
            f"the scan ended at {result['last']}, the highest file number there was when it "
            "started; to scan past it, give --stop N"
        )
    return "\n".join(lines)


def _runs(runs: list[list[int]]) -> str:
    shown = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs[:SHOWN_ERRORS])
    return shown + (", ..." if len(runs) > SHOWN_ERRORS else "")


def _frames(count: int) -> str:
    return f"{count} frame" if count == 1 else f"{count} frames"
