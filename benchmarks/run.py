"""Benchmark prefetcher against the alternatives on a simulated slow share (or a real directory).

Run from the repository root::

    python benchmarks/run.py            # the full run with the default settings (a few minutes)
    python benchmarks/run.py --quick    # a smoke run with tiny settings (seconds)
    python benchmarks/run.py --help

It prints the machine, the exact command, one table with every (pattern, contender) side by side and
the microbenchmarks; it writes the results as JSON (``benchmarks/results/``) and a PNG chart.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import itertools
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Benchmark the checkout this script sits in, not whatever prefetcher happens to be installed.
sys.path[:0] = [str(HERE), str(ROOT)]

import contenders as cts  # noqa: E402
import micro  # noqa: E402
import patterns as pts  # noqa: E402

QUICK = {"latency": 0.005, "transfer": 0.001, "work": 0.002, "items": 30, "runs": 1}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/run.py",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    share = parser.add_argument_group("the simulated share and the consumer")
    share.add_argument("--latency", type=float, default=0.03, help="seconds per read (overlaps)")
    share.add_argument(
        "--transfer",
        type=float,
        default=0.005,
        help="seconds one item takes on the shared link (sets the bandwidth; 0 = unlimited)",
    )
    share.add_argument(
        "--bandwidth", type=float, default=None, help="bytes/s of the link (overrides --transfer)"
    )
    share.add_argument("--item-size", type=int, default=1_000_000, help="bytes per item")
    share.add_argument(
        "--work", type=float, default=0.01, help="seconds of consumer work per item (a sleep)"
    )
    share.add_argument("--items", type=int, default=120, help="number of items (and requests)")
    share.add_argument(
        "--source",
        metavar="DIR",
        default=None,
        help="read the (first --items) files of DIR instead of made-up items; latency and link "
        "still apply on top (pass --latency 0 --transfer 0 to time the directory alone)",
    )
    what = add_choice_options(parser, list(cts.CONTENDERS))
    what.add_argument("--no-memory", action="store_true", help="do not trace memory")
    what.add_argument("--no-micro", action="store_true", help="skip the microbenchmarks")
    what.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: " + ", ".join(f"--{k} {v}" for k, v in QUICK.items()) + " (unless given)",
    )
    add_contender_options(parser)
    out = parser.add_argument_group("output")
    out.add_argument("--output", default=None, help="JSON file (default benchmarks/results/...)")
    out.add_argument("--chart", default=None, help="PNG file (default: next to the JSON)")
    out.add_argument("--no-chart", action="store_true")
    out.add_argument(
        "--waits-chart",
        default=None,
        help="PNG of the wait of every request on the viewer pattern (default: next to the JSON)",
    )
    out.add_argument("--table", choices=("rst", "markdown"), default="rst")
    args = parser.parse_args(argv)
    if args.quick:
        apply_quick(args, argv, QUICK)
    if args.runs < 1:
        parser.error("--runs must be >= 1")
    return args


def apply_quick(
    args: argparse.Namespace, argv: Sequence[str] | None, quick: dict[str, Any]
) -> None:
    """Set the ``quick`` settings (``work_ms`` is ``--work-ms``) that the command line left out."""
    given = {a.split("=", 1)[0] for a in (argv if argv is not None else sys.argv[1:])}
    for key, value in quick.items():
        if f"--{key.replace('_', '-')}" not in given:
            setattr(args, key, value)


def run_pairs(
    names: Sequence[str],
    orders: dict[str, Sequence[int]],
    args: argparse.Namespace,
    bench: Callable[[str, Sequence[int], float | None], dict[str, Any]],
    reads: str = "reads",
) -> list[dict[str, Any]]:
    """``bench(name, order, plain_median)`` for every pattern and contender, in that order (the
    plain loop first), each printed as it ends (its reads called ``reads``)."""
    results: list[dict[str, Any]] = []
    for pattern, order in orders.items():
        plain_median = None
        for name in names:
            result = bench(name, order, plain_median)
            result.update({"pattern": pattern, "requests": len(order)})
            if name == "plain" and result["status"] == "ok":
                plain_median = result["median_seconds"]
            results.append(result)
            shown = (
                f"{result['median_seconds']:.3f} s, {reads} {result['median_reads']:g}"
                if result["status"] == "ok"
                else f"{result['status']}: {result['note']}"
            )
            print(f"  {pattern:8} {label(name, args):42} {shown}", flush=True)
    return results


def add_choice_options(
    parser: argparse.ArgumentParser, contenders: Sequence[str]
) -> argparse._ArgumentGroup:
    """The "what to run" options (patterns, ``contenders`` by default, runs, seed, slow cap)."""
    what = parser.add_argument_group("what to run")
    what.add_argument("--patterns", default=",".join(pts.PATTERNS), help="comma-separated")
    what.add_argument(
        "--contenders",
        default=",".join(contenders),
        help=f"comma-separated, of {', '.join(cts.CONTENDERS)}",
    )
    what.add_argument("--runs", type=int, default=3, help="runs per (pattern, contender)")
    what.add_argument("--seed", type=int, default=0, help="seed of the viewer and random orders")
    what.add_argument(
        "--slow-cap",
        type=float,
        default=2.0,
        help="a contender whose first run takes more than this many times the plain loop's "
        "median is not repeated (its one run is reported, marked); 0 = always repeat",
    )
    return what


def add_contender_options(parser: argparse.ArgumentParser) -> None:
    """The contenders' own settings (see :func:`contender_settings`)."""
    knobs = parser.add_argument_group("contender settings")
    knobs.add_argument("--cache-size", type=int, default=10)
    knobs.add_argument("--fixed-ahead", type=int, default=4, help="the 'ahead=N' contender")
    knobs.add_argument("--max-ahead", type=int, default=None, help="for ahead='auto'")
    knobs.add_argument("--torch-workers", type=int, default=4)
    knobs.add_argument("--torch-prefetch-factor", type=int, default=2)


def contender_settings(args: argparse.Namespace, **more: Any) -> cts.Settings:
    """The contenders' settings from the options of :func:`add_contender_options`."""
    return cts.Settings(
        cache_size=args.cache_size,
        fixed_ahead=args.fixed_ahead,
        max_ahead=args.max_ahead,
        torch_workers=args.torch_workers,
        torch_prefetch_factor=args.torch_prefetch_factor,
        **more,
    )


def choices(args: argparse.Namespace) -> tuple[list[str], list[str], list[str]]:
    """The contenders (the plain loop first), the patterns, and the names that are neither."""
    names = [n.strip() for n in args.contenders.split(",") if n.strip()]
    unknown = [n for n in names if n not in cts.CONTENDERS]
    pattern_names = [p.strip() for p in args.patterns.split(",") if p.strip()]
    unknown += [p for p in pattern_names if p not in pts.PATTERNS]
    # The plain loop first: the others are compared with it, and --slow-cap needs it.
    names.sort(key=lambda n: n != "plain")
    return names, pattern_names, unknown


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    versions: dict[str, str | None] = {}
    for name in ("prefetcher", "numpy", "seqtools", "torch", "matplotlib"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            module = sys.modules.get(name)  # a checkout that is not installed
            versions[name] = getattr(module, "__version__", None)
    return {
        "cpu": cpu,
        "cores": cores,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
        "loadavg_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def git_commit() -> str | None:
    """The commit of the checkout (a worktree too), or None outside git."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def make_workload_factory(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """A function giving a fresh Workload (fresh share, counters at zero) and a description."""
    if args.source:
        files = cts.list_files(args.source, args.items)
        sizes = [p.stat().st_size for p in files]
        mean = sum(sizes) / len(sizes)
        bandwidth = args.bandwidth
        if bandwidth is None and args.transfer > 0:
            bandwidth = mean / args.transfer
        probe = cts.files_workload(files, args.latency, bandwidth, args.work)

        def factory() -> cts.Workload:
            fresh = cts.SimulatedShare(latency=args.latency, bandwidth=bandwidth)
            return cts.Workload(
                probe.keys, fresh.read_bytes, probe.check, fresh, mean, probe.transfer, args.work
            )

        description = {"source": str(args.source), "files": len(files), "item_size": mean}
        n_items = len(files)
    else:
        bandwidth = args.bandwidth
        if bandwidth is None and args.transfer > 0:
            bandwidth = args.item_size / args.transfer

        def factory() -> cts.Workload:
            return cts.simulated_workload(
                args.items, args.item_size, args.latency, bandwidth, args.work
            )

        description = {"source": "simulated", "item_size": args.item_size}
        n_items = args.items
    sample = factory()
    bare = bare_load(factory)
    description.update(
        {
            "items": n_items,
            "latency": args.latency,
            "bandwidth": bandwidth,
            "transfer_per_item": sample.transfer,
            "work": args.work,
            # The lower bound: one latency, then the slower of work and transfer per item.
            "lower_bound": args.latency + n_items * max(args.work, sample.transfer),
            # One load alone on an idle share (median): what a jump nobody could guess costs.
            "bare_load": bare,
        }
    )
    return factory, description


def bare_load(factory: Any, trials: int = 5) -> float:
    """Median seconds of one load on a fresh, idle share (the first item, one at a time)."""
    times = []
    for _ in range(trials):
        workload = factory()
        start = time.perf_counter()
        workload.load(workload.keys[0])
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def print_machine(command: str, info: dict[str, Any]) -> None:
    """The command, the commit and the machine (:func:`machine`), as every run starts."""
    print(f"command:  {command}")
    print(f"commit:   {git_commit()}")
    print(
        f"machine:  {info['cpu']}, {info['cores']} cores, {info['platform']}, "
        f"Python {info['python']}, load average {info['loadavg_start']}"
    )
    print(f"versions: {info['versions']}", flush=True)


def chart_title(command: str, info: dict[str, Any], lower_bound: float) -> str:
    """The title of a run's charts."""
    return (
        f"{command}\n{info['cpu']}, {info['cores']} cores, Python {info['python']}; "
        f"lower bound {lower_bound:.2f} s"
    )


def jumps(order: Sequence[int]) -> int:
    """Requests that are not a step of +1 or -1 from the one before (the first one is not)."""
    return sum(1 for a, b in itertools.pairwise(order) if abs(b - a) != 1)


def online_bound(workload: dict[str, Any], order: Sequence[int]) -> float:
    """What a reader that learns the order as it comes could do at best.

    Every jump lands where nobody could guess, so it (and the first request) costs one bare load;
    every other request can be hidden behind the work, or the link: ``n x max(work, transfer) +
    (jumps + 1) x bare load``.
    """
    per_item = max(workload["work"], workload["transfer_per_item"])
    return len(order) * per_item + (jumps(order) + 1) * workload["bare_load"]


def measure(
    contender: cts.Contender,
    factory: Any,
    settings: cts.Settings,
    order: Sequence[int],
    trace_memory: bool,
) -> dict[str, Any]:
    """One run: wall time until the last item was consumed, reads and waits; with
    ``trace_memory``, the peak traced memory too (and a wall time slowed by the tracing)."""
    workload = factory()
    run = cts.Run(workload, settings)
    threads_before = threading.active_count()
    gc.collect()
    if trace_memory:
        tracemalloc.start()
    start = time.perf_counter()
    run.started = start
    try:
        contender(run, order)
    finally:
        stopped = time.perf_counter()
        peak = tracemalloc.get_traced_memory()[1] if trace_memory else None
        if trace_memory:
            tracemalloc.stop()
    if run.requests != len(order):
        raise cts.WrongItem(f"{run.requests} items consumed for {len(order)} requests")
    end = run.end if run.end is not None else stopped
    return {
        "seconds": end - start,
        "cleanup_seconds": stopped - end,
        "reads": workload.share.reads + run.external_reads,
        "peak_bytes": peak,
        "threads_left": threading.active_count() - threads_before,
        "waits": run.waits,
        **run.extra,
    }


def bench_pair(
    name: str,
    factory: Any,
    settings: cts.Settings,
    order: Sequence[int],
    args: argparse.Namespace,
    plain_median: float | None,
    measure_run: Callable[[], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Up to ``args.runs`` runs of one contender on one order, summarised.

    Each run is :func:`measure` in this process, or ``measure_run()`` (which returns what
    :func:`measure` does, and raises :class:`contenders.NotAvailable` the same way).
    """
    contender = cts.CONTENDERS[name]
    # The timed runs never trace memory: tracemalloc slows every allocation, and so each
    # contender by how much it allocates. The peak comes from one more run, untimed.
    memory_run: Callable[[], dict[str, Any]] | None = None
    if measure_run is None:

        def measure_run() -> dict[str, Any]:
            return measure(contender, factory, settings, order, False)

        if not args.no_memory:

            def memory_run() -> dict[str, Any]:
                return measure(contender, factory, settings, order, True)

    runs: list[dict[str, Any]] = []
    result: dict[str, Any] = {"contender": name, "status": "ok", "note": ""}
    try:
        for i in range(args.runs):
            runs.append(measure_run())
            too_slow = (
                i == 0
                and args.slow_cap > 0
                and plain_median is not None
                and runs[0]["seconds"] > args.slow_cap * plain_median
            )
            if too_slow and args.runs > 1:
                result["note"] = f"1 run only (> {args.slow_cap:g}x the plain loop)"
                break
        traced = memory_run() if memory_run is not None else None
    except cts.NotAvailable as exc:
        return {**result, "status": "not available", "note": str(exc), "runs": []}
    except Exception as exc:  # a contender that breaks is reported, the others still run
        return {**result, "status": "failed", "note": f"{type(exc).__name__}: {exc}", "runs": runs}
    seconds = [r["seconds"] for r in runs]
    reads = [r["reads"] for r in runs]
    peaks = [r["peak_bytes"] for r in (runs if traced is None else [traced])]
    peaks = [peak for peak in peaks if peak is not None]
    if traced is not None:
        result["memory_run"] = {k: v for k, v in traced.items() if k != "waits"}
    result.update(
        {
            "runs": runs,
            "median_seconds": statistics.median(seconds),
            "min_seconds": min(seconds),
            "max_seconds": max(seconds),
            "median_reads": statistics.median(reads),
            "peak_bytes": max(peaks) if peaks else None,
        }
    )
    return result


def label(name: str, args: argparse.Namespace) -> str:
    return cts.LABELS[name].replace("{N}", str(args.fixed_ahead))


def add_ratios(
    results: list[dict[str, Any]],
    lower_bound: float,
    item_size: float,
    online: dict[str, float],
) -> None:
    plain = {
        r["pattern"]: r["median_seconds"]
        for r in results
        if r["contender"] == "plain" and r["status"] == "ok"
    }
    for r in results:
        if r["status"] != "ok":
            continue
        r["x_bound"] = r["median_seconds"] / lower_bound
        r["x_online"] = r["median_seconds"] / online[r["pattern"]]
        base = plain.get(r["pattern"])
        r["x_plain"] = r["median_seconds"] / base if base else None
        r["reads_per_request"] = r["median_reads"] / r["requests"]
        if r["peak_bytes"] is not None:
            r["peak_items"] = r["peak_bytes"] / item_size


def table(
    results: list[dict[str, Any]],
    args: argparse.Namespace,
    fmt: str,
    memory: str = "peak MB (items)",
) -> str:
    """One row per (pattern, contender), every ratio side by side (``memory``: that heading)."""
    header = [
        "pattern",
        "contender",
        "median s",
        "x bound",
        "x online",
        "x plain",
        "reads",
        memory,
        "runs",
    ]
    rows = []
    for r in results:
        name = label(r["contender"], args)
        if r["status"] != "ok":
            rows.append([r["pattern"], name, r["status"], "", "", "", "", "", ""])
            continue
        peak = "-"
        if r.get("peak_bytes") is not None:
            peak = f"{r['peak_bytes'] / 1e6:.1f} ({r['peak_items']:.0f})"
        x_plain = f"{r['x_plain']:.2f}" if r.get("x_plain") is not None else "-"
        rows.append(
            [
                r["pattern"],
                name,
                f"{r['median_seconds']:.3f}",
                f"{r['x_bound']:.2f}",
                f"{r['x_online']:.2f}",
                x_plain,
                f"{r['median_reads']:g}/{r['requests']}",
                peak,
                str(len(r["runs"])) + ("*" if r["note"] else ""),
            ]
        )
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    if fmt == "markdown":
        lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |"]
        lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        for row in rows:
            cells = (c.ljust(w) for c, w in zip(row, widths, strict=True))
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)
    rule = "  ".join("=" * w for w in widths)
    lines = [
        rule,
        "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip(),
        rule,
    ]
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    lines.append(rule)
    return "\n".join(lines)


def notes(results: list[dict[str, Any]], args: argparse.Namespace) -> list[str]:
    out = []
    for r in results:
        if r["note"]:
            out.append(f"{r['pattern']} / {label(r['contender'], args)}: {r['note']}")
    return out


def verdict(ok: bool) -> str:
    """How a target line says whether the target was reached."""
    return "reached" if ok else "not reached"


def by_pair(results: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """The results that ran, by (pattern, contender)."""
    return {(r["pattern"], r["contender"]): r for r in results if r["status"] == "ok"}


def bound_targets(
    by: dict[tuple[str, str], dict[str, Any]],
    patterns: Sequence[str],
    limit: float,
    workload: dict[str, Any] | None = None,
) -> list[str]:
    """For ``auto`` and ``aheadN`` on each of ``patterns``: the ratio to the lower bound (and
    the bare window's, for comparison, where it ran).

    With the simulated share's ``workload``, also where the time above the bound went.
    """
    lines = []
    for pattern in patterns:
        for name in ("auto", "aheadN", "window"):
            r = by.get((pattern, name))
            if not r:
                continue
            if name == "window":
                lines.append(
                    f"{pattern}: for comparison, the bare window (order known, nothing decided) "
                    f"{r['x_bound']:.3f}x lower bound"
                )
            else:
                lines.append(
                    f"{pattern}: {name} {r['x_bound']:.3f}x lower bound (target <= {limit}): "
                    f"{verdict(r['x_bound'] <= limit)}"
                )
            if workload is not None:
                lines += time_over_bound(r, workload)
    return lines


#: A request that waited longer than this found its item still loading; one that waited less
#: found it ready and paid for the call alone.
NOT_READY_WAIT = 0.001


def time_over_bound(result: dict[str, Any], workload: dict[str, Any]) -> list[str]:
    """Where the time of the median run above the lower bound went, in units of the bound.

    The run's time is the consumer's work, what its work took beyond that (a sleep overshoots,
    the item is checked), and the waits of its requests; the bound is the first item's time (one
    latency on the simulated share, one bare load on a real one) plus the work (when the work is
    longer than a transfer, as by default).
    """
    run = median_run(result)
    waits = run.get("waits") or []
    bound = workload.get("lower_bound")
    if not waits or not bound or workload.get("work", 0) < workload.get("transfer_per_item", 0):
        return []
    consumer = run["seconds"] - sum(waits) - len(waits) * workload["work"]
    first = waits[0] - workload.get("latency", workload.get("bare_load", 0.0))
    late = [w for w in waits[1:] if w > NOT_READY_WAIT]
    ready = sum(waits[1:]) - sum(late)
    return [
        f"  = 1 + consumer's own time beyond its work {consumer / bound:.3f}"
        f" + first item beyond its share of the bound {first / bound:.3f}"
        f" + {len(late)} items not ready {sum(late) / bound:.3f}"
        f" + {len(waits) - 1 - len(late)} gets of ready items {ready / bound:.3f}"
        f" ({ready / max(1, len(waits) - 1 - len(late)) * 1e6:.0f} us each)"
    ]


def viewer_targets(
    by: dict[tuple[str, str], dict[str, Any]], limit: float, reads_limit: float
) -> list[str]:
    """For ``auto`` and ``aheadN`` on the viewer: the ratio to the online bound, and the reads."""
    lines = []
    for name in ("auto", "aheadN"):
        r = by.get(("viewer", name))
        if r:
            lines.append(
                f"viewer: {name} {r['x_online']:.3f}x online bound (target <= {limit}): "
                f"{verdict(r['x_online'] <= limit)}; reads {r['reads_per_request']:.2f}/request "
                f"(target <= {reads_limit}): {verdict(r['reads_per_request'] <= reads_limit)}"
            )
    return lines


def targets(
    results: list[dict[str, Any]],
    micro_results: dict[str, Any] | None,
    workload: dict[str, Any],
) -> list[str]:
    """The targets next to what this run measured (reported, never asserted)."""
    by = by_pair(results)
    lines = bound_targets(by, ("forward", "backward"), 1.03, workload)
    lines += viewer_targets(by, 1.10, 1.35)
    viewer = [r for (p, c), r in by.items() if p == "viewer" and c not in cts.KNOWS_THE_ORDER]
    if viewer and ("viewer", "auto") in by:
        best = min(viewer, key=lambda r: r["median_seconds"])
        lines.append(
            f"viewer: fastest of those that learn the order as it comes: {best['contender']} "
            f"{best['median_seconds']:.3f}s (target: auto): {verdict(best['contender'] == 'auto')}"
        )
    r = by.get(("random", "auto"))
    if r and r.get("x_plain") is not None:
        lines.append(
            f"random: auto {r['x_plain']:.3f}x plain loop (target <= 1.02): "
            f"{verdict(r['x_plain'] <= 1.02)}; reads {r['reads_per_request']:.2f}x requests "
            f"(target <= 1.02): {verdict(r['reads_per_request'] <= 1.02)}"
        )
    for pattern in dict.fromkeys(p for p, _ in by):
        auto = by.get((pattern, "auto"))
        others = [by[(pattern, c)] for c in ("plain", "ahead1") if (pattern, c) in by]
        if auto and others:
            fastest = min(others, key=lambda r: r["median_seconds"])
            lines.append(
                f"{pattern}: auto {auto['median_seconds']:.3f}s vs best of plain/ahead=1 "
                f"{fastest['median_seconds']:.3f}s (target: not slower): "
                f"{verdict(auto['median_seconds'] <= fastest['median_seconds'])}"
            )
    if micro_results:
        hit = micro_results.get("get_hit_ns")
        if hit is not None:
            lines.append(
                f"cache-hit get: {hit:.0f} ns median (target <= 2000): {verdict(hit <= 2000)}"
            )
        jump = micro_results.get("jump_ratio")
        if jump is not None:
            lines.append(
                f"jump: {jump:.2f}x one bare load (target <= 1.10): {verdict(jump <= 1.10)}"
            )
    return lines


def chart(results: list[dict[str, Any]], args: argparse.Namespace, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    patterns = list(dict.fromkeys(r["pattern"] for r in results))
    names = list(dict.fromkeys(r["contender"] for r in results))
    by = {(r["pattern"], r["contender"]): r for r in results if r["status"] == "ok"}
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 6.5))
    width = 0.8 / max(len(names), 1)
    colors = plt.get_cmap("tab10")
    for i, name in enumerate(names):
        xs = [p + (i - (len(names) - 1) / 2) * width for p in range(len(patterns))]
        times = [by[(p, name)]["x_bound"] if (p, name) in by else 0 for p in patterns]
        reads = [by[(p, name)]["reads_per_request"] if (p, name) in by else 0 for p in patterns]
        left.bar(xs, times, width, label=label(name, args), color=colors(i % 10))
        right.bar(xs, reads, width, color=colors(i % 10))
    left.axhline(1.0, color="black", linewidth=0.8)
    left.axhline(1.1, color="black", linewidth=0.8, linestyle="--")
    left.set_yscale("log")
    left.set_ylabel("median wall time / lower bound (log; dashed = 1.10)")
    right.axhline(1.0, color="black", linewidth=0.8)
    right.set_ylabel("reads from the share / requests")
    for axis in (left, right):
        axis.set_xticks(range(len(patterns)), patterns)
    handles, labels = left.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(names), 5), fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


WAIT_CONTENDERS = ("plain", "aheadN", "auto")


def median_run(result: dict[str, Any]) -> dict[str, Any]:
    """The run whose time is the median one (the lower middle for an even count)."""
    ordered = sorted(result["runs"], key=lambda r: r["seconds"])
    return ordered[(len(ordered) - 1) // 2]


def waits_chart(
    results: list[dict[str, Any]],
    args: argparse.Namespace,
    order: Sequence[int],
    workload: dict[str, Any],
    path: Path,
    title: str,
) -> bool:
    """Wait of every request of the viewer pattern, one line per contender; False if no data."""
    by = {
        r["contender"]: r
        for r in results
        if r["pattern"] == "viewer" and r["status"] == "ok" and r["contender"] in WAIT_CONTENDERS
    }
    if not by:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axis = plt.subplots(figsize=(12, 4.5))
    landings = [i for i in range(1, len(order)) if abs(order[i] - order[i - 1]) != 1]
    for i, landing in enumerate([0, *landings]):
        axis.axvline(landing, color="0.8", linewidth=0.8, label="a jump" if i == 0 else None)
    axis.axhline(
        workload["bare_load"] * 1e3,
        color="black",
        linewidth=0.8,
        linestyle="--",
        label=f"one bare load ({workload['bare_load'] * 1e3:.1f} ms)",
    )
    styles = {"plain": ("tab:gray", 1.0), "aheadN": ("tab:blue", 1.2), "auto": ("tab:red", 1.2)}
    for name in WAIT_CONTENDERS:
        if name not in by:
            continue
        run = median_run(by[name])
        waits = [w * 1e3 for w in run["waits"]]
        color, width = styles[name]
        axis.plot(
            range(len(waits)),
            waits,
            color=color,
            linewidth=width,
            marker=".",
            markersize=3,
            label=f"{label(name, args)} (total wait {sum(waits) / 1e3:.2f} s)",
        )
    axis.set_xlabel("request number (viewer pattern; grey lines: a jump)")
    axis.set_ylabel("wait for the item (ms)")
    axis.set_xlim(-1, len(order))
    axis.set_ylim(bottom=0)
    axis.legend(loc="upper right", fontsize=8)
    axis.set_title(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    command = "python benchmarks/run.py" + "".join(
        " " + shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    names, pattern_names, unknown = choices(args)
    if unknown:
        print(f"unknown contender or pattern: {', '.join(unknown)}", file=sys.stderr)
        return 2
    chosen = contender_settings(args)
    factory, workload = make_workload_factory(args)
    if "torch" in names:
        # Import it now: its seconds of import time are no part of any run.
        with contextlib.suppress(ImportError):
            import torch.utils.data  # noqa: F401
    import prefetcher  # noqa: F401  (for its version below)

    info = machine()
    print_machine(command, info)
    print(f"workload: {workload}")
    print(
        f"lower bound: {workload['lower_bound']:.3f} s (one latency + items x max(work, transfer))",
        flush=True,
    )

    orders = {p: pts.make_pattern(p, workload["items"], args.seed) for p in pattern_names}
    online = {p: online_bound(workload, order) for p, order in orders.items()}
    workload["online_bound"] = online
    workload["jumps"] = {p: jumps(order) for p, order in orders.items()}
    print(
        f"bare load: {workload['bare_load'] * 1e3:.1f} ms (one load on an idle share, median of 5)"
    )
    for p in pattern_names:
        print(
            f"online bound, {p}: {online[p]:.3f} s (items x max(work, transfer) + "
            f"({workload['jumps'][p]} jumps + 1) x bare load)"
        )
    sys.stdout.flush()

    started = time.perf_counter()
    results = run_pairs(
        names,
        dict(orders),
        args,
        lambda name, order, plain: bench_pair(name, factory, chosen, order, args, plain),
    )
    add_ratios(results, workload["lower_bound"], workload["item_size"], online)

    micro_results = None
    if not args.no_micro:
        micro_results = micro.run_all(
            latency=args.latency,
            transfer=args.transfer,
            item_size=args.item_size,
            work=args.work,
            fixed_ahead=args.fixed_ahead,
            quick=args.quick,
        )
    info["loadavg_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    elapsed = time.perf_counter() - started

    stamp = time.strftime("%Y%m%d-%H%M%S")
    output = Path(args.output) if args.output else HERE / "results" / f"run-{stamp}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "command": command,
        "git_commit": git_commit(),
        "machine": info,
        "workload": workload,
        "settings": asdict(chosen),
        "runs_per_pair": args.runs,
        "slow_cap": args.slow_cap,
        "memory": None if args.no_memory else "tracemalloc peak of one more run, untimed",
        "elapsed_seconds": elapsed,
        "results": results,
        "micro": micro_results,
        "targets": targets(results, micro_results, workload),
    }
    output.write_text(json.dumps(document, indent=2, default=str) + "\n")

    print()
    print(table(results, args, args.table))
    for line in notes(results, args):
        print(f"* {line}")
    if micro_results:
        print()
        print(micro.format_results(micro_results))
    print()
    print(
        "this run against the goals the defaults were chosen for"
        + (" (a --quick run is too short to compare):" if args.quick else ":")
    )
    for line in document["targets"]:
        print(f"  {line}")
    print()
    print(f"load average at the end: {info['loadavg_end']}; whole run {elapsed:.0f} s")
    print(f"results:  {output}")
    if not args.no_chart:
        png = Path(args.chart) if args.chart else output.with_suffix(".png")
        title = chart_title(command, info, workload["lower_bound"])
        chart(results, args, png, title)
        print(f"chart:    {png}")
        if "viewer" in orders:
            waits_png = (
                Path(args.waits_chart)
                if args.waits_chart
                else output.with_name(output.stem + "-waits.png")
            )
            if waits_chart(results, args, orders["viewer"], workload, waits_png, title):
                print(f"waits:    {waits_png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
