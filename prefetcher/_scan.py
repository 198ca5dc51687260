"""``prefetcher scan``: read every frame of a real sequence with prefetching, report the errors."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from collections.abc import Iterator
from typing import Any, Literal

from tqdm import tqdm  # type: ignore[import-untyped,unused-ignore]

from prefetcher._cli import CLIError, describe_missing
from prefetcher._remote import display_name, is_url, url_filesystem
from prefetcher._sequence import open_sequence
from prefetcher._tiers import AnyLoader

__all__ = ["run_scan"]

#: How many errors the report lists one by one (all of them are counted, and all are in --json).
SHOWN_ERRORS = 10


@dataclasses.dataclass
class _Scan:
    """What a scan met so far."""

    frames: int = 0
    errors: list[dict[str, Any]] = dataclasses.field(default_factory=list)


def run_scan(args: argparse.Namespace) -> int:
    """Run ``prefetcher scan`` with parsed arguments; return the exit status."""
    if args.stop is not None and args.start is not None and args.stop < args.start:
        raise CLIError(f"--stop {args.stop} is before --start {args.start}", status=2)
    loader = _open(args.source, ahead=args.ahead, workers=args.workers)
    scan = _Scan()
    with loader:
        indices = _Indices(loader, args)
        began = time.perf_counter()
        with tqdm(
            total=indices.total, desc="scan", unit="frame", file=sys.stderr, disable=args.quiet
        ) as bar:
            for index in indices:
                try:
                    frame = loader.get(index)
                except FileNotFoundError as exc:
                    if indices.ends_at_missing_file:
                        indices.found_end()
                        continue
                    _record(scan, index, _name(loader, args.source, index), exc)
                except Exception as exc:
                    _record(scan, index, _name(loader, args.source, index), exc)
                else:
                    del frame  # not kept: the loader's cache bounds the memory
                scan.frames += 1
                bar.update()
        seconds = time.perf_counter() - began
        if scan.frames == 0 and indices.ends_at_missing_file:
            missing = _name(loader, args.source, indices.start)
            raise CLIError(f"no file {missing!r}: nothing to scan")
        stats = dataclasses.asdict(loader.stats())
    result = {
        "source": display_name(args.source),
        "frames": scan.frames,
        "read": scan.frames - len(scan.errors),
        "seconds": seconds,
        "frames_per_second": scan.frames / seconds if seconds > 0 else None,
        "error_count": len(scan.errors),
        "errors": scan.errors,
        "stats": stats,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(_report(result))
    return 1 if scan.errors else 0


def _open(source: str, *, ahead: int | Literal["auto"], workers: int | None) -> AnyLoader:
    # One file is a sequence of one: "is this file readable?" is a fair question to ask.
    sequence: str | list[str] = [source] if os.path.isfile(source) else source
    try:
        return open_sequence(sequence, ahead=ahead, max_workers=workers)
    except FileNotFoundError as exc:
        raise CLIError(describe_missing(exc)) from exc
    except (TypeError, ValueError) as exc:
        raise CLIError(str(exc), status=2) from exc


def _name(loader: AnyLoader, source: str, index: int) -> str:
    keys = loader.keys
    return display_name(str(keys[index]) if keys is not None else source.format(index))


def _record(scan: _Scan, index: int, name: str, exc: Exception) -> None:
    scan.errors.append(
        {"index": index, "path": name, "error": f"{type(exc).__name__}: {_message(exc)}"}
    )


def _message(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError) and exc.strerror:
        return exc.strerror
    return str(exc)


class _Indices:
    """The indices a scan visits, and where an open-ended template ends.

    With keys: ``start .. stop`` (default: all of them), or the other way round with --reverse.
    With a numbered template, --start defaults to 0, or to 1 when there is no file 0 (numbering
    often starts at 1). With --stop, every number up to it is scanned and a missing file is an
    error; without --stop the first missing file is the end of the sequence, not an error.
    """

    def __init__(self, loader: AnyLoader, args: argparse.Namespace) -> None:
        self.ends_at_missing_file = False
        self._ended = False
        self._next = 0
        if loader.keys is not None:
            length = len(loader.keys)
            start = 0 if args.start is None else args.start
            if start >= length:
                raise CLIError(
                    f"--start {start} is past the end of the sequence ({length} files)", status=2
                )
            stop = length if args.stop is None else min(args.stop, length)
            self._range: range | None = range(start, stop)
        else:
            start = args.start
            if start is None:
                start = 0 if _exists(args.source.format(0)) else 1
            if args.stop is not None:
                self._range = range(start, args.stop)
            elif args.reverse:
                raise CLIError(
                    "--reverse needs --stop for a numbered template: it has no last file",
                    status=2,
                )
            else:
                self.ends_at_missing_file = True
                self._range = None
                self._next = start
        self._start = start
        if self._range is not None and args.reverse:
            self._range = self._range[::-1]

    @property
    def total(self) -> int | None:
        """How many indices there are, or ``None`` when the sequence ends at a missing file."""
        return None if self._range is None else len(self._range)

    def __iter__(self) -> Iterator[int]:
        if self._range is not None:
            yield from self._range
            return
        while not self._ended:
            yield self._next
            self._next += 1

    @property
    def start(self) -> int:
        """The first index of an open-ended scan."""
        return self._start

    def found_end(self) -> None:
        """The file of the last index does not exist: an open-ended template ends there."""
        self._ended = True


def _exists(path: str) -> bool:
    if is_url(path):
        fs, fs_path = url_filesystem(path)
        return bool(fs.exists(fs_path))
    return os.path.exists(path)


def _report(result: dict[str, Any]) -> str:
    stats = result["stats"]
    rate = result["frames_per_second"]
    lines = [
        f"scanned {_frames(result['frames'])} of {result['source']} in {result['seconds']:.2f} s"
        + (f" ({rate:.1f} frames/s)" if rate is not None else ""),
        f"read: {result['read']}, errors: {result['error_count']}",
        f"loader: {stats['hits']} hits, {stats['waits']} waits, {stats['misses']} misses, "
        f"{stats['wait_seconds']:.2f} s waiting, {stats['loads_started']} loads, "
        f"{stats['wasted_loads']} wasted",
    ]
    errors = result["errors"]
    if errors:
        lines.append("first errors:" if len(errors) > SHOWN_ERRORS else "errors:")
        lines.extend(f"  #{e['index']} {e['path']}: {e['error']}" for e in errors[:SHOWN_ERRORS])
        if len(errors) > SHOWN_ERRORS:
            lines.append(f"  ... and {len(errors) - SHOWN_ERRORS} more (all of them in --json)")
    return "\n".join(lines)


def _frames(count: int) -> str:
    return f"{count} frame" if count == 1 else f"{count} frames"
