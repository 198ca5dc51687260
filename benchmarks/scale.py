"""How the loader's cost grows with the length of a run, the size of its cache, its window's depth.

Run from the repository root::

    python benchmarks/scale.py            # the full run (about three minutes)
    python benchmarks/scale.py --quick    # a smoke run (seconds), as the tests do
    python benchmarks/scale.py --only overhead,hits

Four measurements, printed as text and written as JSON (``benchmarks/results/scale-<time>.json``):

overhead
    The loader's own cost per item, streaming forward over a load that returns at once, against a
    bare ``ThreadPoolExecutor`` sliding window of the same depth in the same run (keep ``depth``
    loads submitted ahead, take the result of n, submit n + depth + 1). Rounds alternate between
    the contenders; the median of the rounds (5) is reported. ``"auto"`` grows its window on
    this load, so a bare window 16 deep (its deepest) runs too, and each loader's deepest window
    and waits are printed.
hits
    A cache hit (``get`` of an item that is in memory, again and again) with ``cache_size`` 10,
    1,000 and 100,000, each cache filled first: the cost must not grow with the size.
long
    A forward run of 100,000 items on a simulated share (5 ms latency, 1 ms of work per item):
    wall time against the bound (latency + items x work) and against the same work done alone
    (the work is a sleep calibrated to last 1 ms here: a plain ``time.sleep(0.001)`` returns late),
    the time per item in each tenth of the run, and the resident memory at each tenth; and, side
    by side, a bare ``ThreadPoolExecutor`` window of 4 over the first tenth of the items.
depth
    ``max_ahead`` 16, 64 and 256 with a latency that needs the depth (200 ms, 1 ms of work: about
    200 loads must be in flight), as a multiple of the bound.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shlex
import statistics
import sys
import time
import timeit
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Benchmark the checkout this script sits in, not whatever prefetcher happens to be installed.
sys.path[:0] = [str(ROOT)]

from prefetcher import PrefetchingLoader, SimulatedShare  # noqa: E402

PARTS = ("overhead", "hits", "long", "depth")

# The deepest window of ``ahead="auto"`` (``max_ahead``'s default).
AUTO_DEPTH = 16

FULL = {
    "overhead_items": 20_000,
    "rounds": 5,
    "depth": 4,
    "hit_sizes": (10, 1_000, 100_000),
    "long_items": 100_000,
    "long_latency": 0.005,
    "long_work": 0.001,
    "depth_items": 1_000,
    "depth_latency": 0.2,
    "depth_work": 0.001,
    "max_aheads": (16, 64, 256),
}
QUICK = {
    **FULL,
    "overhead_items": 1_000,
    "rounds": 3,
    "hit_sizes": (10, 1_000),
    "long_items": 500,
    "long_latency": 0.002,
    "depth_items": 100,
    "depth_latency": 0.02,
    "max_aheads": (4, 16),
}


def _instant(key: int) -> int:
    return key


def bare_window(items: int, depth: int) -> float:
    """Seconds per item of a ThreadPoolExecutor sliding window ``depth`` deep."""
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=depth + 1) as pool:
        futures: dict[int, Future[int]] = {}
        for n in range(min(depth + 1, items)):
            futures[n] = pool.submit(_instant, n)
        for n in range(items):
            if futures.pop(n).result() != n:
                raise AssertionError(f"the bare window returned a wrong item for {n}")
            ahead = n + depth + 1
            if ahead < items:
                futures[ahead] = pool.submit(_instant, ahead)
        elapsed = time.perf_counter() - start
    return elapsed / items


def loader_stream(items: int, ahead: int | str, seen: dict[str, int] | None = None) -> float:
    """Seconds per item of a forward walk through a PrefetchingLoader over the same load.

    ``seen``, if given, gets the deepest window of the walk (``"window"``, sampled every 100
    items) and how many ``get`` calls waited (``"waits"``).
    """
    deepest = 0
    start = time.perf_counter()
    with PrefetchingLoader(_instant, range(items), ahead=ahead) as loader:  # type: ignore[arg-type]
        for n in range(items):
            if loader.get(n, timeout=60) != n:
                raise AssertionError(f"the loader returned a wrong item for {n}")
            if seen is not None and n % 100 == 99:
                deepest = max(deepest, loader.stats().ahead)
        elapsed = time.perf_counter() - start
        if seen is not None:
            seen["window"] = max(seen.get("window", 0), deepest)
            seen["waits"] = loader.stats().waits
    return elapsed / items


def overhead(items: int, depth: int, rounds: int) -> dict[str, Any]:
    """The loader's cost per item against a bare sliding window, median of ``rounds``.

    ``"auto"`` grows its window on this load (the consumer keeps finding items not run yet), so
    it is set against a bare window as deep as its deepest too, ``max_ahead``'s default.
    """
    seen: dict[str, dict[str, int]] = {f"ahead={depth}": {}, "auto": {}}
    contenders: dict[str, Callable[[], float]] = {
        "bare_window": lambda: bare_window(items, depth),
        f"bare_window_{AUTO_DEPTH}": lambda: bare_window(items, AUTO_DEPTH),
        f"ahead={depth}": lambda: loader_stream(items, depth, seen[f"ahead={depth}"]),
        "auto": lambda: loader_stream(items, "auto", seen["auto"]),
    }
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for run in contenders.values():
        run()  # warm-up: imports, first threads
    for _ in range(rounds):
        for name, run in contenders.items():  # side by side, round after round
            samples[name].append(run())
    medians = {name: statistics.median(values) for name, values in samples.items()}
    bare = medians["bare_window"]
    return {
        "items": items,
        "depth": depth,
        "rounds": rounds,
        "us_per_item": {name: value * 1e6 for name, value in medians.items()},
        "samples_us": {name: [v * 1e6 for v in values] for name, values in samples.items()},
        "x_bare": {name: value / bare for name, value in medians.items()},
        # Against the bare window of the depth each loader reached (``auto``: its deepest).
        "x_bare_same_depth": {
            f"ahead={depth}": medians[f"ahead={depth}"] / bare,
            "auto": medians["auto"] / medians[f"bare_window_{AUTO_DEPTH}"],
        },
        "deepest_window": {name: found["window"] for name, found in seen.items()},
        "waits_last_round": {name: found["waits"] for name, found in seen.items()},
    }


def _wait_idle(loader: PrefetchingLoader[int, int], timeout: float = 60.0) -> None:
    # A benchmark helper, not a test: polling is fine here.
    deadline = time.monotonic() + timeout
    while loader.stats().pending and time.monotonic() < deadline:
        time.sleep(0.001)


def hits(sizes: Sequence[int], quick: bool) -> dict[str, Any]:
    """ns per cache-hit ``get`` with caches of ``sizes`` items, each filled first.

    Every loader is filled before any is timed, and the repeats alternate between them, so that
    a busy moment of the machine does not fall on one size only.
    """
    loaders: dict[int, PrefetchingLoader[int, int]] = {}
    timers: dict[int, timeit.Timer] = {}
    misses_before: dict[int, int] = {}
    try:
        for size in sizes:
            loader = loaders[size] = PrefetchingLoader(_instant, range(size), cache_size=size)
            for n in range(size):
                loader.get(n, timeout=60)
            _wait_idle(loader)
            probe = size // 2  # the middle of the cache: not the newest item
            loader.get(probe)
            misses_before[size] = loader.stats().misses
            timers[size] = timeit.Timer("get(probe)", globals={"get": loader.get, "probe": probe})
        number, _ = timers[sizes[0]].autorange()
        if quick:
            number = max(1, number // 10)
        times: dict[int, list[float]] = {size: [] for size in sizes}
        for _ in range(3 if quick else 9):
            for size in sizes:
                times[size].append(timers[size].timeit(number))
        out: dict[str, Any] = {}
        for size in sizes:
            stats = loaders[size].stats()
            out[str(size)] = {
                "ns_per_hit": statistics.median(times[size]) / number * 1e9,
                "cached": stats.cached,
                "misses": stats.misses - misses_before[size],  # must be 0: all hits
            }
    finally:
        for loader in loaders.values():
            loader.close()
    smallest = out[str(sizes[0])]["ns_per_hit"]
    for entry in out.values():
        entry["x_smallest"] = entry["ns_per_hit"] / smallest
    return out


def rss_bytes() -> int | None:
    """The resident memory of this process now (Linux), or None."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def long_run(items: int, latency: float, work: float) -> dict[str, Any]:
    """A forward run of ``items`` on a simulated share; time and RSS per tenth."""
    share = SimulatedShare(latency=latency)
    filler = bytes(1000 - 8)

    def load(key: int) -> bytes:
        share.delay(1000)
        return key.to_bytes(8, "little") + filler

    # The consumer's work is a sleep that lasts ``work`` here, and the same work alone, timed on
    # a sample of the run, is what a run with no wait at all would take.
    do_work, plain_sleep = calibrated_work(work)
    sample = max(1, items // 20)
    start = time.perf_counter()
    for _ in range(sample):
        do_work()
    work_alone = (time.perf_counter() - start) / sample

    # A bare window of 4 over the same loads and work, on a tenth of the run: the floor of a
    # thread pool here, side by side.
    window_items = max(1, items // 10)
    window_seconds = _window_walk(load, window_items, do_work, depth=4)
    window_bound = latency + window_items * work

    reads_before = share.reads  # the bare window's

    tenth = max(1, items // 10)
    marks: list[float] = []
    rss: list[int | None] = []
    start = time.perf_counter()
    with PrefetchingLoader(load, range(items)) as loader:
        for n in range(items):
            if n % tenth == 0:
                marks.append(time.perf_counter())
                rss.append(rss_bytes())
            item = loader.get(n, timeout=60)
            if item[:8] != n.to_bytes(8, "little"):
                raise AssertionError(f"wrong item for {n}")
            do_work()
        end = time.perf_counter()
        stats = loader.stats()
    marks.append(end)
    rss.append(rss_bytes())
    per_item = [(b - a) / tenth for a, b in itertools.pairwise(marks)]
    seconds = end - start
    bound = latency + items * work
    return {
        "items": items,
        "latency": latency,
        "work": work,
        "seconds": seconds,
        "bound": bound,
        "x_bound": seconds / bound,
        "work_alone_s": work_alone,
        "plain_sleep_s": plain_sleep,
        "x_work_alone": seconds / (latency + items * work_alone),
        "bare_window_items": window_items,
        "bare_window_x_bound": window_seconds / window_bound,
        "ms_per_item_by_tenth": [t * 1e3 for t in per_item],
        "last_over_first_tenth": per_item[-1] / per_item[0],
        "last_over_second_tenth": per_item[-1] / per_item[1] if len(per_item) > 1 else None,
        "rss_mb_by_tenth": [None if r is None else r / 1e6 for r in rss],
        "reads": share.reads - reads_before,
        "ahead_at_end": stats.ahead,
    }


def calibrated_work(work: float, samples: int = 500) -> tuple[Callable[[], None], float]:
    """A sleep that lasts ``work`` seconds on average here, and what ``time.sleep(work)`` takes.

    ``time.sleep`` returns late by the kernel's timer slack and the thread's wake-up (about
    0.1 ms on 1 ms on a 2-core virtual machine): the consumer's work would be a tenth longer
    than the bound counts, and no reader could come within 1.05x of it. The calibrated sleep
    asks for that much less, measured over ``samples`` sleeps first.
    """
    start = time.perf_counter()
    for _ in range(samples):
        time.sleep(work)
    plain = (time.perf_counter() - start) / samples
    shorter = max(0.0, work - (plain - work))

    def do_work() -> None:
        time.sleep(shorter)

    return do_work, plain


def _window_walk(
    load: Callable[[int], bytes], items: int, do_work: Callable[[], None], depth: int
) -> float:
    """Seconds of a forward walk through a bare ThreadPoolExecutor window ``depth`` deep."""
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=depth + 1) as pool:
        futures = {n: pool.submit(load, n) for n in range(min(depth + 1, items))}
        for n in range(items):
            item = futures.pop(n).result(timeout=60)
            if item[:8] != n.to_bytes(8, "little"):
                raise AssertionError(f"the bare window returned a wrong item for {n}")
            if n + depth + 1 < items:
                futures[n + depth + 1] = pool.submit(load, n + depth + 1)
            do_work()
        seconds = time.perf_counter() - start
    return seconds


def depth(items: int, latency: float, work: float, max_aheads: Sequence[int]) -> dict[str, Any]:
    """x bound of a forward run with each ``max_ahead``, on a share that needs the depth."""
    out: dict[str, Any] = {"items": items, "latency": latency, "work": work}
    bound = latency + items * work
    out["bound"] = bound
    out["needed_depth"] = latency / work + 1
    do_work, out["plain_sleep_s"] = calibrated_work(work)
    for cap in max_aheads:
        share = SimulatedShare(latency=latency)

        def load(key: int, share: SimulatedShare = share) -> int:
            share.delay(100)
            return key

        start = time.perf_counter()
        with PrefetchingLoader(load, range(items), max_ahead=cap) as loader:
            deepest = 0
            for n in range(items):
                if loader.get(n, timeout=60) != n:
                    raise AssertionError(f"wrong item for {n}")
                do_work()
                deepest = max(deepest, loader.stats().ahead)
            seconds = time.perf_counter() - start
        # What no window of this depth can beat: cap loads per latency.
        cap_bound = latency + items * max(work, latency / cap)
        out[str(cap)] = {
            "seconds": seconds,
            "x_bound": seconds / bound,
            "x_depth_bound": seconds / cap_bound,
            "deepest_window": deepest,
            "reads": share.reads,
        }
    return out


def format_results(r: dict[str, Any]) -> str:
    lines = []
    if "overhead" in r:
        o = r["overhead"]
        lines.append(
            f"overhead per item ({o['items']} items, instant load, depth {o['depth']}, "
            f"median of {o['rounds']} rounds):"
        )
        for name, us in o["us_per_item"].items():
            line = f"  {name:15} {us:7.1f} us/item  {o['x_bare'][name]:5.2f}x the bare window"
            if name in o["deepest_window"]:
                line += (
                    f"; deepest window {o['deepest_window'][name]}, "
                    f"{o['waits_last_round'][name]:,} gets waited (last round)"
                )
            lines.append(line)
        lines.append(
            f"  auto against the bare window of {AUTO_DEPTH}: {o['x_bare_same_depth']['auto']:.2f}x"
        )
    if "hits" in r:
        lines.append("cache hit, same item, filled cache (median of alternating repeats):")
        for size, h in r["hits"].items():
            lines.append(
                f"  cache_size {int(size):>7,}  {h['ns_per_hit']:7.0f} ns  "
                f"{h['x_smallest']:5.2f}x the smallest  ({h['cached']} cached, "
                f"{h['misses']} misses while timed)"
            )
    if "long" in r:
        g = r["long"]
        tenths = " ".join(f"{t:.3f}" for t in g["ms_per_item_by_tenth"])
        rss = " ".join("?" if m is None else f"{m:.0f}" for m in g["rss_mb_by_tenth"])
        lines += [
            f"long forward run: {g['items']:,} items, latency {g['latency'] * 1e3:g} ms, "
            f"work {g['work'] * 1e3:g} ms",
            f"  {g['seconds']:.2f} s = {g['x_bound']:.3f}x the bound ({g['bound']:.2f} s), "
            f"{g['x_work_alone']:.3f}x the work alone ({g['work_alone_s'] * 1e3:.3f} ms an item; "
            f"a plain time.sleep({g['work']:g}) took {g['plain_sleep_s'] * 1e3:.3f} ms)",
            f"  a bare window of 4, on the first {g['bare_window_items']:,} items: "
            f"{g['bare_window_x_bound']:.3f}x its bound",
            f"  ms per item by tenth: {tenths}",
            f"  last tenth / first tenth {g['last_over_first_tenth']:.3f}, / second tenth "
            f"{g['last_over_second_tenth']:.3f}",
            f"  RSS MB by tenth: {rss}; reads {g['reads']:,}",
        ]
    if "depth" in r:
        d = r["depth"]
        lines.append(
            f"window depth: {d['items']} items, latency {d['latency'] * 1e3:g} ms, work "
            f"{d['work'] * 1e3:g} ms (needs ~{d['needed_depth']:.0f} in flight), bound "
            f"{d['bound']:.2f} s"
        )
        for cap, v in d.items():
            if isinstance(v, dict):
                lines.append(
                    f"  max_ahead {int(cap):>4}  {v['seconds']:6.2f} s  "
                    f"{v['x_bound']:5.2f}x bound  "
                    f"{v['x_depth_bound']:5.2f}x what {cap} in flight allow  "
                    f"(deepest window {v['deepest_window']})"
                )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/scale.py",
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="tiny settings, for smoke tests")
    parser.add_argument(
        "--only", default=",".join(PARTS), help="comma-separated: " + ", ".join(PARTS)
    )
    parser.add_argument("--long-items", type=int, default=None, help="items of the long run")
    parser.add_argument("--output", default=None, help="JSON file (default benchmarks/results/)")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        parser.error(f"unknown part(s): {', '.join(unknown)}")
    s = dict(QUICK if args.quick else FULL)
    if args.long_items is not None:
        s["long_items"] = args.long_items
    command = "python benchmarks/scale.py" + "".join(
        " " + shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    load_start = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(f"command: {command}")
    print(
        f"machine: {len(os.sched_getaffinity(0))} cores, {platform.platform()}, Python "
        f"{platform.python_version()}, load average {load_start}",
        flush=True,
    )
    results: dict[str, Any] = {"command": command, "settings": s, "loadavg_start": load_start}
    if "overhead" in parts:
        results["overhead"] = overhead(s["overhead_items"], s["depth"], s["rounds"])
    if "hits" in parts:
        results["hits"] = hits(s["hit_sizes"], args.quick)
    if "long" in parts:
        results["long"] = long_run(s["long_items"], s["long_latency"], s["long_work"])
    if "depth" in parts:
        results["depth"] = depth(
            s["depth_items"], s["depth_latency"], s["depth_work"], s["max_aheads"]
        )
    results["loadavg_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(format_results(results))
    print(f"load average at the end: {results['loadavg_end']}")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    output = Path(args.output) if args.output else HERE / "results" / f"scale-{stamp}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
