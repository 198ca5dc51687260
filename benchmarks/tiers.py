"""The tiers of open_sequence: raw bytes in memory and a local-disk cache, with and without each.

Run from the repository root::

    python benchmarks/tiers.py            # simulated share (a few minutes)
    python benchmarks/tiers.py --quick    # the same, small (seconds)
    python benchmarks/tiers.py --smb      # a real smbd on 127.0.0.1 (needs samba; run as root)

Two scripts a user runs, each in a fresh child process (so peak RSS is the script's own):

* ``back30``: frames 0 .. N-1 forward, then back 30 frames and forward again to the end (a viewer
  that goes back to look at something);
* ``twice``: frames 0 .. N-1 forward, and the same script run a second time (a new process:
  only the local-disk tier survives).

Each is run without tiers (``raw_bytes=0``), with the raw-bytes tier (the default), with the
raw-bytes and local-disk tiers, and with the raw-bytes tier but no stat per read
(``check_files=False``). It reports reads from the share, wall time (median of
``--runs``) and the child's peak RSS.

A second table chooses how far the bytes are read beyond the decoded window (``raw_ahead``: 0,
``"auto"``, 4, 8, 16), where the share rather than decoding is what the loop waits for: small
frames (``--depth-size``) on a slower share (``--depth-latency``, simulated only), read forward,
like a viewer (runs and jumps, benchmarks/patterns.py) and at random. It reports reads, the
seconds the loop waited in ``get`` and wall time.

The simulated share (:class:`prefetcher.SimulatedShare`) stands in for the share by replacing the
read open_sequence makes (``prefetcher._fetch.read_file``) in the child; the stat each read
makes is local and free there, whereas on SMB it is a round trip of its own.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT), str(ROOT / "tests")]

CONFIGS: dict[str, dict[str, Any]] = {
    "no tiers (raw_bytes=0)": {"raw_bytes": 0},
    "raw bytes (default)": {},
    "raw bytes + disk": {"disk": True},
    "raw, check_files=False": {"check_files": False},
}
DEPTHS: tuple[int | str, ...] = (0, "auto", 4, 8, 16)
PATTERNS = ("forward", "viewer", "random")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python benchmarks/tiers.py", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="few small frames, one run")
    parser.add_argument("--smb", action="store_true", help="a real smbd on 127.0.0.1")
    parser.add_argument(
        "--delay",
        type=float,
        default=0.0,
        help="with --smb: seconds added to every chunk each way, by a TCP proxy on 127.0.0.1",
    )
    parser.add_argument("--frames", type=int, default=None, help="frames in the sequence")
    parser.add_argument("--size", default=None, help="WIDTHxHEIGHT of the frames")
    parser.add_argument("--latency", type=float, default=0.03, help="simulated: s per read")
    parser.add_argument(
        "--bandwidth",
        type=float,
        default=12.5e6,
        help="simulated: bytes/s of the share's one link (12.5e6: 100 Mbit/s; 0 = unlimited)",
    )
    parser.add_argument(
        "--only", choices=("scripts", "depth"), default=None, help="run one of the two tables"
    )
    parser.add_argument("--work", type=float, default=0.01, help="s of work per frame")
    parser.add_argument("--runs", type=int, default=None, help="runs; medians are reported")
    parser.add_argument("--depth-size", default="256x256", help="depth table: frame size")
    parser.add_argument(
        "--depth-latency", type=float, default=0.1, help="depth table: simulated s per read"
    )
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    frames, size, runs = (40, "256x256", 1) if args.quick else (90, "1024x768", 3)
    args.frames = args.frames or frames
    args.size = args.size or size
    args.runs = args.runs or runs
    return args


# -- the child: one script, one configuration ---------------------------------------------------


def child(spec: dict[str, Any]) -> None:
    import prefetcher._fetch
    from prefetcher import SimulatedShare, open_sequence

    share = None
    if spec["latency"] is not None:
        share = SimulatedShare(latency=spec["latency"], bandwidth=spec.get("bandwidth") or None)
        prefetcher._fetch.read_file = share.read_bytes  # type: ignore[assignment]
    # SMB files are opened sharing read, write and delete access by prefetcher's own SMB layer,
    # so a child that starts while smbd still tears down the previous child's session can read.
    options: dict[str, Any] = dict(spec["options"])
    if options.pop("disk", False):
        options["disk_cache"] = spec["disk_dir"]
    began = time.perf_counter()
    with open_sequence(spec["source"], **options) as loader:
        for n in spec["order"]:
            loader.get(n, timeout=120)
            time.sleep(spec["work"])
        stats = loader.stats()
    seconds = time.perf_counter() - began
    disk_hits = stats.disk.hits if stats.disk is not None else 0
    reads = share.reads if share is not None else stats.raw.loads_completed - disk_hits
    print(
        json.dumps(
            {
                "seconds": seconds,
                "reads": reads,
                "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "raw_hits": stats.raw.hits,
                "raw_wasted": stats.raw.wasted_loads,
                "wait_seconds": stats.wait_seconds,
                "disk_hits": disk_hits,
            }
        )
    )


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"child failed:\n{result.stderr}")
    out: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return out


# -- the parent ---------------------------------------------------------------------------------


def scripts(frames: int) -> dict[str, list[list[int]]]:
    forward = list(range(frames))
    back = max(0, frames - 30)
    return {
        # One process per list: back30 is one script, twice is the same script run twice.
        "back30": [forward + list(range(back, frames))],
        "twice": [forward, forward],
    }


def _median(results: list[dict[str, Any]], name: str) -> float:
    return statistics.median(r[name] for r in results)


def measure(args: argparse.Namespace, source: str, latency: float | None, work_dir: Path) -> None:
    base = {"source": source, "latency": latency, "bandwidth": args.bandwidth, "work": args.work}
    cells = [
        (script, name, options, orders)
        for script, orders in scripts(args.frames).items()
        for name, options in CONFIGS.items()
    ]
    results: dict[tuple[str, str], list[dict[str, Any]]] = {}
    # Round after round of every cell, so a machine that gets busier or quieter during the run
    # weighs on every configuration alike.
    for run in range(args.runs):
        for number, (script, name, options, orders) in enumerate(cells):
            disk_dir = str(work_dir / f"disk-{run}-{number}")
            totals = {"seconds": 0.0, "reads": 0, "rss_mb": 0.0, "wait_seconds": 0.0}
            for order in orders:
                out = run_child({**base, "order": order, "options": options, "disk_dir": disk_dir})
                for total in ("seconds", "reads", "wait_seconds"):
                    totals[total] += out[total]
                totals["rss_mb"] = max(totals["rss_mb"], out["rss_mb"])
            results.setdefault((script, name), []).append(totals)
    print(
        f"{'script':8} {'configuration':26} {'reads':>6} {'waited s':>9} {'wall s':>8} "
        f"{'peak RSS MB':>12}"
    )
    for script, name, _, _ in cells:
        cell = results[(script, name)]
        print(
            f"{script:8} {name:26} {_median(cell, 'reads'):6.0f} "
            f"{_median(cell, 'wait_seconds'):9.2f} {_median(cell, 'seconds'):8.2f} "
            f"{_median(cell, 'rss_mb'):12.0f}"
        )


def depth_table(args: argparse.Namespace, source: str, latency: float | None, frames: int) -> None:
    import patterns

    orders = {pattern: patterns.make_pattern(pattern, frames) for pattern in PATTERNS}
    results: dict[tuple[str, int | str], list[dict[str, Any]]] = {}
    for _ in range(args.runs):
        for pattern, order in orders.items():
            for depth in DEPTHS:
                spec = {
                    "source": source,
                    "latency": latency,
                    "bandwidth": args.bandwidth,
                    "work": args.work,
                    "order": order,
                    "options": {"raw_ahead": depth},
                    "disk_dir": "",
                }
                results.setdefault((pattern, depth), []).append(run_child(spec))
    print(f"{'pattern':8} {'raw_ahead':>9} {'reads':>6} {'waited s':>9} {'wall s':>8}")
    for (pattern, depth), cell in results.items():
        print(
            f"{pattern:8} {depth!s:>9} {_median(cell, 'reads'):6.0f} "
            f"{_median(cell, 'wait_seconds'):9.2f} {_median(cell, 'seconds'):8.2f}"
        )


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child is not None:
        child(json.loads(args.child))
        return
    from decode import write_images

    print(f"command: python benchmarks/tiers.py {shlex.join(sys.argv[1:])}".rstrip())
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        work_dir = Path(tmp)
        small_dir = work_dir / "small"
        small_dir.mkdir()
        if args.smb:
            import servers

            share_dir, smb_work = work_dir / "share", work_dir / "smb"
            (share_dir / "small").mkdir(parents=True)
            smb_work.mkdir()
            paths = write_images(share_dir, args.frames, args.size, "RGB")
            small = write_images(share_dir / "small", args.frames, args.depth_size, "RGB")
            from faulty_link import FaultyLink

            with (
                servers.samba_server(share_dir, smb_work) as server,
                FaultyLink(("127.0.0.1", server.port)) as link,
            ):
                link.set_delay(args.delay, args.delay)
                url = server.url.replace(f":{server.port}/", f":{link.port}/")
                share = (
                    f"loopback smbd behind a proxy adding {args.delay * 1e3:g} ms each way"
                    if args.delay
                    else "loopback smbd, no added delay"
                )
                if args.only != "depth":
                    print(_describe(args, paths, args.size, share))
                    measure(args, url + "/{}.png", None, work_dir)
                    print()
                if args.only != "scripts":
                    print(_describe(args, small, args.depth_size, share))
                    depth_table(args, url + "/small/{}.png", None, args.frames)
        else:
            link = (
                f"{args.bandwidth * 8 / 1e6:g} Mbit/s" if args.bandwidth else "no bandwidth limit"
            )
            if args.only != "depth":
                paths = write_images(work_dir, args.frames, args.size, "RGB")
                share = f"SimulatedShare latency {args.latency * 1e3:g} ms, {link}"
                print(_describe(args, paths, args.size, share))
                measure(args, str(work_dir / "{}.png"), args.latency, work_dir)
                print()
            if args.only != "scripts":
                small = write_images(small_dir, args.frames, args.depth_size, "RGB")
                share = f"SimulatedShare latency {args.depth_latency * 1e3:g} ms, {link}"
                print(_describe(args, small, args.depth_size, share))
                depth_table(args, str(small_dir / "{}.png"), args.depth_latency, args.frames)


def _describe(args: argparse.Namespace, paths: list[Path], size: str, share: str) -> str:
    kb = statistics.mean(p.stat().st_size for p in paths) / 1e3
    return (
        f"frames:  {len(paths)} PNGs {size} RGB, {kb:,.0f} kB each; {share}; "
        f"{args.work * 1e3:g} ms of work per frame; medians of {args.runs} runs"
    )


if __name__ == "__main__":
    main()
