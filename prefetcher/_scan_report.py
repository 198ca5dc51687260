"""What ``prefetcher scan`` found: the tally kept while reading, as JSON and as a text report."""

from __future__ import annotations

import dataclasses
from typing import Any

from prefetcher._numbering import Numbering
from prefetcher._remote import display_name

__all__ = ["SHOWN_ERRORS", "Tally", "format_report", "scan_result"]

#: How many errors the report lists one by one (all of them are counted, and all are in --json).
SHOWN_ERRORS = 10


@dataclasses.dataclass
class Tally:
    """What a scan met so far: filled in while reading, then read once by :func:`scan_result`."""

    frames: int = 0
    errors: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    #: Positions of a template whose file does not exist.
    absent: list[int] = dataclasses.field(default_factory=list)
    #: Every position read (or tried).
    visited: list[int] = dataclasses.field(default_factory=list)
    #: Whether a walk without a known end stopped at a missing file.
    walked_to_gap: bool = False


def scan_result(
    source: str,
    stop_given: bool,
    numbering: Numbering,
    scan: Tally,
    seconds: float,
    stats: dict[str, Any],
) -> dict[str, Any]:
    """The scan's result, as ``--json`` prints it: ``source`` as given, ``stop_given``: --stop."""
    # A template: every number in the range whose file is not there (up to --stop, if given).
    missing = _missing_in(scan.absent) if numbering.open_ended else numbering.missing
    ordered = sorted(set(scan.visited) - set(scan.absent))
    return {
        "source": display_name(source),
        "frames": scan.frames,
        "read": scan.frames - len(scan.errors),
        "seconds": seconds,
        "frames_per_second": scan.frames / seconds if seconds > 0 and scan.frames else None,
        "first": numbering.label(ordered[0]) if ordered else None,
        "last": numbering.label(ordered[-1]) if ordered else None,
        "open_ended": numbering.open_ended,
        "stop_given": stop_given,
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


def format_report(result: dict[str, Any]) -> str:
    """The text report of a :func:`scan_result`."""
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
