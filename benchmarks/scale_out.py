"""Scale out: one consumer against map_frames on local threads and on a Dask LocalCluster.

Run from the repository root (needs the ``dask`` extra: ``pip install -e .[dask]``)::

    python benchmarks/scale_out.py            # 2,000 frames, 10 ms of work each (about 3 minutes)
    python benchmarks/scale_out.py --quick    # a smoke run with tiny settings (seconds)
    python benchmarks/scale_out.py --help

Every frame lives on a ``prefetcher.SimulatedShare`` (``--latency`` per read, reads overlap) and
costs ``--work`` seconds of consumer work (a sleep, which releases the GIL as decoding in C and
most numpy work do). The contenders, side by side in one run:

* ``plain``: ``for n: work(load(n))``, one consumer;
* ``loader``: one consumer through one ``PrefetchingLoader``;
* ``map_frames_local``: ``map_frames`` on ``--parallel`` local threads;
* ``map_frames_cluster``: ``map_frames`` on a LocalCluster of ``--parallel`` processes, one thread
  each (started before the clock starts; its start-up time is reported apart).

Each row gives the median wall time, its ratio to the row's lower bound -- one latency, then
``frames x max(work / parallel tasks, transfer)`` -- and the speed-up over the plain loop. Every
result is checked: a frame missing or out of order fails its contender. Numbers go to a JSON file
(``benchmarks/results/``, not committed).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import shlex
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Benchmark the checkout this script sits in, not whatever prefetcher happens to be installed.
sys.path[:0] = [str(HERE), str(ROOT)]

from prefetcher import PrefetchingLoader, SimulatedShare, map_frames_report  # noqa: E402

QUICK = {"frames": 60, "latency": 0.005, "work": 0.002, "runs": 1, "chunk_size": 10}
CONTENDERS = ("plain", "loader", "map_frames_local", "map_frames_cluster")
CLUSTER_TIMEOUT = 60

# One share per process and per setting: the threads of a process share its link, as the
# threads of one machine share its network card. Guards _SHARES.
_SHARES_LOCK = threading.Lock()
_SHARES: dict[tuple[float, float | None], SimulatedShare] = {}


def _share(latency: float, bandwidth: float | None) -> SimulatedShare:
    with _SHARES_LOCK:
        share = _SHARES.get((latency, bandwidth))
        if share is None:
            share = _SHARES[(latency, bandwidth)] = SimulatedShare(latency, bandwidth)
        return share


@dataclasses.dataclass(frozen=True)
class SimulatedLoad:
    """``load(n)``: one read of ``item_size`` bytes from this process's simulated share.

    The item is fresh bytes whose first eight are ``n``, so a wrong frame is caught. A
    module-level class: it pickles to the cluster's workers by reference.
    """

    latency: float
    bandwidth: float | None
    item_size: int

    def __call__(self, n: int) -> bytes:
        _share(self.latency, self.bandwidth).delay(self.item_size)
        return n.to_bytes(8, "little") + bytes(self.item_size - 8)


@dataclasses.dataclass(frozen=True)
class Work:
    """The consumer's ``step1(img); step2(img)``: ``seconds`` of sleep; returns the frame's tag."""

    seconds: float

    def __call__(self, item: bytes) -> int:
        time.sleep(self.seconds)
        return int.from_bytes(item[:8], "little")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/scale_out.py",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.03, help="seconds per read (overlap)")
    parser.add_argument(
        "--transfer",
        type=float,
        default=0.0,
        help="seconds one frame takes on a process's link (0 = unlimited; every cluster "
        "process has a link of its own, so this does not model one share's bandwidth)",
    )
    parser.add_argument("--item-size", type=int, default=100_000, help="bytes per frame")
    parser.add_argument("--work", type=float, default=0.01, help="seconds of work per frame")
    parser.add_argument("--parallel", type=int, default=2, help="local threads / cluster processes")
    parser.add_argument("--chunk-size", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3, help="runs per contender (median)")
    parser.add_argument(
        "--plain-runs", type=int, default=1, help="runs of the plain loop (it is the slow one)"
    )
    parser.add_argument("--contenders", default=",".join(CONTENDERS), help="comma-separated")
    parser.add_argument("--output", default=None, help="JSON file (default benchmarks/results/)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: " + ", ".join(f"--{k} {v}" for k, v in QUICK.items()) + " (unless given)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        given = {a.split("=", 1)[0] for a in (argv if argv is not None else sys.argv[1:])}
        for key, value in QUICK.items():
            if f"--{key.replace('_', '-')}" not in given:
                setattr(args, key, value)
        if "--plain-runs" not in given:
            args.plain_runs = 1
    unknown = set(args.contenders.split(",")) - set(CONTENDERS)
    if unknown:
        parser.error(f"unknown contenders: {', '.join(sorted(unknown))}")
    if args.item_size < 8:
        parser.error("--item-size must be >= 8 (the frame's tag)")
    return args


def timed(run: Callable[[], tuple[list[int], dict[str, Any]]]) -> dict[str, Any]:
    start = time.perf_counter()
    results, extra = run()
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "results": results, **extra}


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    import run as harness  # benchmarks/run.py: the machine description

    bandwidth = args.item_size / args.transfer if args.transfer > 0 else None
    load = SimulatedLoad(args.latency, bandwidth, args.item_size)
    work = Work(args.work)
    frames = list(range(args.frames))
    wanted = args.contenders.split(",")

    def plain() -> tuple[list[int], dict[str, Any]]:
        return [work(load(n)) for n in frames], {}

    def one_loader() -> tuple[list[int], dict[str, Any]]:
        with PrefetchingLoader(load, frames) as loader:
            results = [work(item) for item in loader]
            return results, {"stats": dataclasses.asdict(loader.stats())}

    def mapped(**options: Any) -> Callable[[], tuple[list[int], dict[str, Any]]]:
        def run() -> tuple[list[int], dict[str, Any]]:
            report = map_frames_report(
                work, frames, load=load, chunk_size=args.chunk_size, progress=False, **options
            )
            chunk_seconds = [c.seconds for c in report.chunks]
            return report.results, {  # type: ignore[return-value]
                "failures": len(report.failures),
                "chunks": len(report.chunks),
                "workers": sorted({c.worker for c in report.chunks}),
                "chunk_seconds_median": statistics.median(chunk_seconds) if chunk_seconds else 0,
                "stats": dataclasses.asdict(report.loader_stats()),
            }

        return run

    machine = harness.machine()
    command = shlex.join([sys.executable, *sys.argv]) if argv is None else shlex.join(argv)
    print(f"command: {command}")
    print(f"commit: {git_commit()}")
    print(
        f"machine: {machine['cpu']}, {machine['cores']} cores, {machine['platform']}, "
        f"Python {machine['python']}, load average {machine['loadavg_start']}"
    )
    transfer = args.transfer
    print(
        f"workload: {args.frames} frames of {args.item_size} bytes, "
        f"latency {args.latency * 1e3:g} ms, "
        f"transfer {transfer * 1e3:g} ms/frame, work {args.work * 1e3:g} ms/frame, "
        f"{args.parallel} parallel tasks, chunks of {args.chunk_size}"
    )

    def bound(parallel: int) -> float:
        return args.latency + args.frames * max(args.work / parallel, transfer)

    contenders: dict[str, tuple[int, Callable[[], Any]]] = {
        "plain": (1, plain),
        "loader": (1, one_loader),
        "map_frames_local": (args.parallel, mapped(workers=args.parallel)),
    }
    results: list[dict[str, Any]] = []
    cluster_start = None
    client = cluster = None
    try:
        if "map_frames_cluster" in wanted:
            from distributed import Client, LocalCluster

            began = time.perf_counter()
            cluster = LocalCluster(
                n_workers=args.parallel,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
            client = Client(cluster, timeout=CLUSTER_TIMEOUT)
            client.wait_for_workers(args.parallel, timeout=CLUSTER_TIMEOUT)
            cluster_start = time.perf_counter() - began
            print(
                f"cluster: {args.parallel} processes x 1 thread, started in {cluster_start:.2f} s"
            )
            contenders["map_frames_cluster"] = (args.parallel, mapped(client=client))
        for name in wanted:
            parallel, run = contenders[name]
            runs = args.plain_runs if name == "plain" else args.runs
            measured = [timed(run) for _ in range(runs)]
            ok = all(m.pop("results") == frames for m in measured)
            seconds = [m["seconds"] for m in measured]
            median = statistics.median(seconds)
            results.append(
                {
                    "contender": name,
                    "status": "ok" if ok else "failed",
                    "parallel": parallel,
                    "runs": measured,
                    "median_seconds": median,
                    "bound_seconds": bound(parallel),
                    "x_bound": median / bound(parallel),
                }
            )
            print(f"  {name}: {', '.join(f'{s:.2f}' for s in seconds)} s", file=sys.stderr)
    finally:
        if client is not None:
            client.close(timeout=CLUSTER_TIMEOUT)
        if cluster is not None:
            cluster.close(timeout=CLUSTER_TIMEOUT)

    plain_median = next((r["median_seconds"] for r in results if r["contender"] == "plain"), None)
    print()
    print(table(results, plain_median))
    document = {
        "command": command,
        "commit": git_commit(),
        "machine": {**machine, "loadavg_end": os.getloadavg()},
        "settings": vars(args),
        "cluster_start_seconds": cluster_start,
        "results": results,
    }
    output = Path(args.output) if args.output else _default_output()
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(document, indent=2))
    print(f"\nload average at the end: {os.getloadavg()}; results: {output}")
    return 0 if all(r["status"] == "ok" for r in results) else 1


def table(results: list[dict[str, Any]], plain_median: float | None) -> str:
    header = ("contender", "tasks", "median s", "bound s", "x bound", "x faster than plain", "runs")
    rows = [
        (
            r["contender"],
            str(r["parallel"]),
            f"{r['median_seconds']:.2f}",
            f"{r['bound_seconds']:.2f}",
            f"{r['x_bound']:.2f}",
            f"{plain_median / r['median_seconds']:.2f}" if plain_median else "-",
            str(len(r["runs"])) + ("" if r["status"] == "ok" else " FAILED"),
        )
        for r in results
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    rule = "  ".join("=" * w for w in widths)
    lines = [rule, _row(header, widths), rule, *(_row(row, widths) for row in rows)]
    lines.append(rule)
    return "\n".join(lines)


def _row(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()


def git_commit() -> str | None:
    """The commit of the checkout (a git worktree too), or ``None`` outside git."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _default_output() -> Path:
    return HERE / "results" / f"scale_out-{time.strftime('%Y%m%d-%H%M%S')}.json"


if __name__ == "__main__":
    # Run the module's own copy, not __main__'s: the cluster's workers unpickle SimulatedLoad and
    # Work by module name, and they can import "scale_out" (the workers inherit sys.path).
    import scale_out

    sys.exit(scale_out.main())
