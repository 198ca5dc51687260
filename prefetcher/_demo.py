"""``prefetcher demo``: the same loop over a slow share, without and with prefetching."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal

from prefetcher._cli_common import (
    CLIError,
    LoaderOptions,
    OutputOptions,
    describe_missing,
    progress,
)
from prefetcher._demo_frames import FRAME_HEIGHT, FRAME_WIDTH, make_frames, pattern_indices
from prefetcher._images import decode_image, read_file
from prefetcher._loader import PrefetchingLoader
from prefetcher._slow_share import SimulatedShare

__all__ = ["DemoParams", "run_demo"]

#: Seconds each read costs on the simulated share, unless --latency says otherwise.
DEFAULT_LATENCY = 0.04
#: Frames generated unless --frames says otherwise.
DEFAULT_FRAMES = 150


@dataclasses.dataclass
class RunResult:
    """Figures of one run of the loop (the table's column, the JSON's object)."""

    frames: int
    wall_seconds: float
    wait_seconds: float
    hits: int
    waits: int
    misses: int
    reads: int
    stats: dict[str, Any] | None = None

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.wall_seconds if self.wall_seconds > 0 else float("inf")

    def as_dict(self) -> dict[str, Any]:
        result = dataclasses.asdict(self)
        result["frames_per_second"] = self.frames_per_second
        return result


class _SharedLoad:
    """``load(path)``: one read over the simulated share, then a complete decode."""

    def __init__(self, share: SimulatedShare) -> None:
        self.share = share

    def __call__(self, path: str) -> Any:
        # read_file also reads fsspec URLs; the share adds its latency on top of the real read.
        data = read_file(path)
        self.share.delay(len(data))
        return decode_image(data, path)


def _work(frame: Any, seconds: float) -> None:
    """The user's own processing of one frame (step1(img); step2(img))."""
    # time.sleep stands for processing that releases the GIL (numpy, OpenCV, a GPU): the loader's
    # threads go on reading and decoding meanwhile. Pure-Python work would compete with them.
    if seconds:
        time.sleep(seconds)


def _checked(load: Callable[[Any], Any], arg: Any) -> Any:
    """``load(arg)``; a file that cannot be read ends the demo with one line that names it."""
    try:
        return load(arg)
    except Exception as exc:
        # Pillow's messages name the file already (load_image makes sure they do).
        raise CLIError(
            f"{type(exc).__name__}: {exc} ('prefetcher scan' lists every unreadable file)"
        ) from exc


def run_plain(
    paths: Sequence[str], order: Sequence[int], load: Callable[[str], Any], work: float, quiet: bool
) -> RunResult:
    """The user's loop as it is: ``img = load(paths[n]); work(img)``."""
    waited = 0.0
    start = time.perf_counter()
    with progress("plain loop", len(order), quiet=quiet) as bar:
        for n in order:
            began = time.perf_counter()
            frame = _checked(load, paths[n])
            waited += time.perf_counter() - began
            _work(frame, work)
            bar.update()
    wall = time.perf_counter() - start
    # Nothing is ever loaded ahead: every frame is a miss that the loop waits for in full.
    return RunResult(len(order), wall, waited, hits=0, waits=0, misses=len(order), reads=0)


def run_prefetching(
    paths: Sequence[str],
    order: Sequence[int],
    load: Callable[[str], Any],
    work: float,
    quiet: bool,
    *,
    ahead: int | Literal["auto"],
    workers: int | None,
) -> RunResult:
    """The same loop with ``img = loader.get(n)``."""
    loader = _make_loader(load, paths, ahead, workers)
    waited = 0.0
    with loader:
        start = time.perf_counter()
        # The bar shows up once the loader exists (tests wait for it before sending Ctrl-C).
        with progress("prefetching", len(order), quiet=quiet) as bar:
            for n in order:
                began = time.perf_counter()
                frame = _checked(loader.get, n)
                waited += time.perf_counter() - began
                _work(frame, work)
                bar.update()
        wall = time.perf_counter() - start
        stats = dataclasses.asdict(loader.stats())
    return RunResult(
        len(order),
        wall,
        waited,
        hits=stats["hits"],
        waits=stats["waits"],
        misses=stats["misses"],
        reads=0,
        stats=stats,
    )


def _make_loader(
    load: Callable[[str], Any],
    paths: Sequence[str],
    ahead: int | Literal["auto"],
    workers: int | None,
) -> PrefetchingLoader[str, Any]:
    try:
        return PrefetchingLoader(load, keys=paths, ahead=ahead, max_workers=workers)
    except (TypeError, ValueError) as exc:
        raise CLIError(f"--ahead {ahead} / --workers {workers}: {exc}", status=2) from exc


def _source_paths(source: str) -> list[str]:
    """The files of ``--source``, resolved as open_sequence resolves them."""
    from prefetcher._sequence import open_sequence  # only with --source: it lists a directory

    try:
        with open_sequence(source, ahead=0) as sequence:
            keys = sequence.keys
    except FileNotFoundError as exc:
        # A source that is not there is a mistake on the command line, as a bad value is.
        raise CLIError(f"--source: {describe_missing(exc)}", status=2) from exc
    except (TypeError, ValueError) as exc:
        raise CLIError(f"--source: {exc}", status=2) from exc
    if keys is None:
        raise CLIError(
            f"--source {source!r} is a numbered template, which has no end; give its directory or "
            "a glob pattern (prefetcher scan walks templates)",
            status=2,
        )
    return [str(key) for key in keys]


@dataclasses.dataclass
class DemoResult:
    """Everything ``prefetcher demo`` measured, for the table and for ``--json``."""

    settings: dict[str, Any]
    plain: RunResult
    prefetching: RunResult

    @property
    def speedup(self) -> float:
        return self.plain.wall_seconds / self.prefetching.wall_seconds

    def as_dict(self) -> dict[str, Any]:
        return {
            "settings": self.settings,
            "plain": self.plain.as_dict(),
            "prefetching": self.prefetching.as_dict(),
            "speedup": self.speedup,
        }


def format_table(result: dict[str, Any]) -> str:
    """The demo's result (as :meth:`DemoResult.as_dict` gives it) as a small text table."""
    plain, fetched = result["plain"], result["prefetching"]
    rows = [
        ("", "plain loop", "prefetching"),
        ("wall time", f"{plain['wall_seconds']:.2f} s", f"{fetched['wall_seconds']:.2f} s"),
        ("frames/s", f"{plain['frames_per_second']:.1f}", f"{fetched['frames_per_second']:.1f}"),
        ("time waiting", f"{plain['wait_seconds']:.2f} s", f"{fetched['wait_seconds']:.2f} s"),
        ("hits (ready)", str(plain["hits"]), str(fetched["hits"])),
        ("waits (in flight)", str(plain["waits"]), str(fetched["waits"])),
        ("misses (not started)", str(plain["misses"]), str(fetched["misses"])),
        ("reads from the share", str(plain["reads"]), str(fetched["reads"])),
        ("speed-up", "", f"{result['speedup']:.2f}x"),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        f"{label:<{widths[0]}}   {a:>{widths[1]}}   {b:>{widths[2]}}".rstrip()
        for label, a, b in rows
    ]
    return "\n".join(lines)


def _describe_settings(settings: dict[str, Any]) -> str:
    what = (
        f"from {settings['source']}"
        if settings["source"]
        else f"(generated {FRAME_WIDTH}x{FRAME_HEIGHT} PNGs)"
    )
    return (
        f"{settings['frames']} frames {what}, {settings['pattern']} order, "
        f"{settings['latency'] * 1000:g} ms per read, {settings['work'] * 1000:g} ms of work "
        f"per frame\nprefetching with ahead={settings['ahead']}, "
        f"workers={settings['workers'] or 'default'}"
    )


@dataclasses.dataclass(frozen=True)
class DemoParams:
    """What ``prefetcher demo`` was asked to do (``None``: the default for the source)."""

    frames: int | None = None
    latency: float | None = None
    work: float = 0.02
    pattern: str = "forward"
    source: str | None = None
    loader: LoaderOptions = dataclasses.field(default_factory=LoaderOptions)
    output: OutputOptions = dataclasses.field(default_factory=OutputOptions)


def run_demo(params: DemoParams) -> int:
    """Run ``prefetcher demo``; return the exit status."""
    latency = params.latency
    if latency is None:
        # Your own files sit on a real share already: add no latency unless asked to.
        latency = 0.0 if params.source else DEFAULT_LATENCY
    quiet, options = params.output.quiet, params.loader
    with _frames(params) as paths:
        order = pattern_indices(params.pattern, len(paths))
        settings = {
            "frames": len(order),
            "source": params.source,
            "latency": latency,
            "work": params.work,
            "ahead": options.ahead,
            "workers": options.workers,
            "pattern": params.pattern,
        }
        if not params.output.json:
            # The header belongs with the table: both on stdout, so `demo > out.txt` keeps both.
            print(_describe_settings(settings), flush=True)
        plain_share = SimulatedShare(latency)
        plain = run_plain(paths, order, _SharedLoad(plain_share), params.work, quiet)
        plain.reads = plain_share.reads
        fetched_share = SimulatedShare(latency)
        fetched = run_prefetching(
            paths,
            order,
            _SharedLoad(fetched_share),
            params.work,
            quiet,
            ahead=options.ahead,
            workers=options.workers,
        )
        fetched.reads = fetched_share.reads
    result = DemoResult(settings, plain, fetched).as_dict()
    if params.output.json:
        print(json.dumps(result, indent=2))
    else:
        print(format_table(result))
    return 0


@contextlib.contextmanager
def _frames(params: DemoParams) -> Iterator[list[str]]:
    """The demo's paths: ``--source`` files, or frames generated in a temporary directory."""
    if params.source:
        paths = _source_paths(params.source)
        yield paths if params.frames is None else paths[: params.frames]
        return
    # Removed on the way out, also after an error or Ctrl-C.
    with tempfile.TemporaryDirectory(prefix="prefetcher-demo-") as directory:
        count = DEFAULT_FRAMES if params.frames is None else params.frames
        yield make_frames(directory, count, show_progress=not params.output.quiet)
