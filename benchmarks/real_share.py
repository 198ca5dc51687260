"""The contenders of run.py on a real SMB share with real latency: smbd behind a delaying proxy.

Run from the repository root (needs smbd, ``apt-get install samba``, root, and the remote
extra)::

    python benchmarks/real_share.py            # 150 frames, 10 ms each way, 20 ms work, 3 runs
    python benchmarks/real_share.py --quick    # a smoke run in seconds
    python benchmarks/real_share.py --help     # every option

Where smbd is missing, this is not root or the remote extra is not installed, it prints
``skipped: <why>`` and exits with status 0.

It starts ``smbd`` on 127.0.0.1 (tests/servers.py) behind the faulty link of the tests
(tests/faulty_link.py) delaying every chunk ``--delay-ms`` each way, writes ``--frames`` PNG
frames (benchmarks/decode.py: a smooth scene plus sensor noise, not compressible to nothing)
and reads them over ``smb://`` with the contenders and patterns of run.py: the plain loop and
the seed's answers with ``load_image(url, as_array=True)``, seqtools and torch's ``DataLoader``
(given the whole order in advance) on the same, and prefetcher through ``open_sequence(urls,
as_array=True)``. The consumer sleeps ``--work-ms`` after each frame.

Every run is a child process of its own (its peak RSS is its own; it logs on to the share
before its clock starts, except torch's, whose workers log on themselves). The reads are the
CREATE requests naming a frame, counted at the proxy (tests/smb_requests.py). In the same run it
measures one bare load (``load_image``, one frame at a time on an idle connection), the read
alone with and without the delay, the decode alone, and a jump (``get`` of a far frame on a
loader whose read-ahead is loading) in each of ``--runs`` runs. It prints one table and the
targets against what was measured, and writes the JSON (``benchmarks/results/``) and a chart.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Benchmark the checkout this script sits in; tests/ holds the Samba server, the faulty link and
# the SMB request counter.
sys.path[:0] = [str(HERE), str(ROOT), str(ROOT / "tests")]

import contenders as cts  # noqa: E402
import patterns as pts  # noqa: E402
import run as harness  # noqa: E402
from decode import per_file  # noqa: E402
from faulty_link import FaultyLink  # noqa: E402
from smb_requests import READ, SmbRequests  # noqa: E402

DEFAULT_CONTENDERS = ("plain", "seed3", "seqtools", "torch", "aheadN", "auto")
QUICK = {"frames": 16, "size": "256x192", "delay_ms": 2.0, "work_ms": 2.0, "runs": 1, "bare": 3}
CHILD_TIMEOUT = 900.0
GET_TIMEOUT = 120.0
# Every SAMPLE-th row and column of a frame is compared with the frame as written: a wrong
# frame is caught, and checking costs microseconds, not a share of the consumer's work.
SAMPLE = 61


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/real_share.py",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    share = parser.add_argument_group("the share and the consumer")
    share.add_argument("--frames", type=int, default=150, help="PNG frames (and requests)")
    share.add_argument("--size", default="1024x768", help="WIDTHxHEIGHT of the RGB frames")
    share.add_argument("--delay-ms", type=float, default=10.0, help="one-way delay of the link")
    share.add_argument("--work-ms", type=float, default=20.0, help="consumer work per frame")
    what = harness.add_choice_options(parser, DEFAULT_CONTENDERS)
    what.add_argument("--bare", type=int, default=15, help="frames timed for each bare figure")
    what.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: "
        + ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in QUICK.items())
        + " (unless given)",
    )
    harness.add_contender_options(parser)
    out = parser.add_argument_group("output")
    out.add_argument("--output", default=None, help="JSON file (default benchmarks/results/...)")
    out.add_argument("--chart", default=None, help="PNG file (default: next to the JSON)")
    out.add_argument("--no-chart", action="store_true")
    out.add_argument("--table", choices=("rst", "markdown"), default="rst")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        harness.apply_quick(args, argv, QUICK)
    if args.runs < 1 or args.bare < 1 or args.frames < 4:
        parser.error("--runs and --bare must be >= 1, --frames >= 4")
    # What run.py's bench_pair and table read.
    args.no_memory = False
    return args


def skip_reason() -> str | None:
    """Why the benchmark cannot run here, or ``None``."""
    import servers

    reason: str | None = servers.smbd_missing_reason()
    if reason is not None:
        return reason
    missing = [name for name in ("fsspec", "smbclient") if importlib.util.find_spec(name) is None]
    if missing:
        return f"needs the remote extra ({', '.join(missing)} missing): pip install '.[remote]'"
    return None


# -- what both sides know: the frames and how a frame is checked -------------------------------


def sample(frame: Any) -> Any:
    """The part of a decoded frame that the check compares."""
    return frame[::SAMPLE, ::SAMPLE].copy()


def workload(spec: dict[str, Any], share: cts.Share) -> cts.Workload:
    """The frames at ``spec["urls"]`` as a run.py workload: ``load_image`` for the contenders
    that take a load function, ``open_sequence`` for prefetcher's."""
    import numpy as np

    from prefetcher import load_image, open_sequence

    urls: list[str] = spec["urls"]
    expected = np.load(spec["samples"])
    shape = tuple(spec["shape"])

    def check(n: int, item: Any) -> bool:
        # torch's DataLoader hands over a tensor of the worker's array.
        array = np.asarray(item)
        return array.shape == shape and bool(np.array_equal(sample(array), expected[n]))

    return cts.Workload(
        keys=urls,
        load=partial(load_image, as_array=True),
        check=check,
        share=share,
        item_size=spec["frame_bytes"],
        transfer=0.0,  # not simulated: the link's own time is in every load
        work=spec["work"],
        open_loader=partial(open_sequence, urls, as_array=True),
    )


class _SeenAtTheProxy:
    """The child's share: its reads are counted by the parent, at the proxy."""

    reads = 0


def peak_rss() -> int:
    """Bytes: the peak resident set size of this process so far.

    Linux's VmHWM, of this program's own memory: ``ru_maxrss`` is carried over ``exec`` from the
    process that spawned this one, so every child would report at least its parent's peak.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# -- the child: one run of one contender, or one jump --------------------------------------------


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """One measured run in this (fresh) process; what it found, for the parent."""
    from prefetcher import load_image

    loaded = workload(spec, _SeenAtTheProxy())
    if spec.get("contender") == "torch":
        # Imported now, as run.py does: its seconds and megabytes are no part of the run.
        with contextlib.suppress(ImportError):
            import torch.utils.data  # noqa: F401
    if spec["log_on"]:
        load_image(spec["log_on_url"])  # log on to the share before the clock starts
    rss_before = peak_rss()
    if spec["what"] == "jump":
        out = jump(spec, loaded)
    else:
        settings = cts.Settings(**spec["settings"])
        try:
            out = harness.measure(
                cts.CONTENDERS[spec["contender"]], lambda: loaded, settings, spec["order"], False
            )
        except cts.NotAvailable as exc:
            return {"not_available": str(exc)}
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return {
        **out,
        "rss_before": rss_before,
        "peak_bytes": peak_rss(),
        "peak_worker_bytes": children or None,
    }


def jump(spec: dict[str, Any], loaded: cts.Workload) -> dict[str, Any]:
    """A forward walk with work after each frame, then ``get`` of a far frame (timed); then the
    same frame loaded alone on the idle connection (timed, for the JSON: one sample of a bare
    load is too noisy to divide by, the run's median bare load is the measure)."""
    assert loaded.open_loader is not None
    walk, far = spec["walk"], spec["far"]
    with loaded.open_loader(cache_size=spec["settings"]["cache_size"], **spec["options"]) as seq:
        for n in range(walk):
            seq.get(n, timeout=GET_TIMEOUT)
            time.sleep(loaded.work)
        before = seq.stats()
        started = time.perf_counter()
        item = seq.get(far, timeout=GET_TIMEOUT)
        seconds = time.perf_counter() - started
    if not loaded.check(far, item):
        raise cts.WrongItem(f"jump: a wrong item for index {far}")
    (bare,) = per_file(loaded.load, [loaded.keys[far]])
    return {
        "seconds": seconds,
        "alone_after_seconds": bare,
        # Loads in flight or queued at the jump: the decoded frames', the raw bytes' tier's,
        # and the decoded window's depth then.
        "pending": before.pending,
        "raw_pending": getattr(before, "raw", before).pending,
        "ahead": before.ahead,
    }


# -- the parent ---------------------------------------------------------------------------------


class RealShare:
    """smbd behind the delaying proxy, the frames on it, and the SMB requests counted."""

    def __init__(
        self, spec: dict[str, Any], requests: SmbRequests, names: set[str], link: FaultyLink
    ) -> None:
        self.spec = spec
        self.requests = requests
        self.names = names
        self.link = link

    def run_child(self, child_spec: dict[str, Any]) -> dict[str, Any]:
        """One child run; its reads are the frames opened at the proxy while it ran."""
        before = self.requests.counts()
        opened = self.requests.opens(self.names)
        done = subprocess.run(
            [sys.executable, __file__, "--child", json.dumps({**self.spec, **child_spec})],
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT,
            check=False,
            cwd=ROOT,
        )
        if done.returncode != 0:
            raise RuntimeError(f"the child failed:\n{done.stderr[-3000:]}")
        out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        if "not_available" in out:
            raise cts.NotAvailable(out["not_available"])
        after = self.requests.counts()
        out["reads"] = self.requests.opens(self.names) - opened
        out["connections"] = after.connections - before.connections
        out["read_requests"] = after.commands.get(READ, 0) - before.commands.get(READ, 0)
        return out


def measure_bare(args: argparse.Namespace, share: RealShare, paths: list[Path]) -> dict[str, Any]:
    """Decode alone, read alone with and without the delay, and a bare load, in this process."""
    from prefetcher import load_image
    from prefetcher._images import decode_image, read_file

    urls: list[str] = share.spec["urls"]
    delay = args.delay_ms / 1000
    load_image(share.spec["log_on_url"])  # log on, untimed
    decode: list[float] = []
    undelayed: list[float] = []
    read: list[float] = []
    load: list[float] = []
    # The four figures take turns, frame after frame, so that a machine that gets busier or
    # quieter meanwhile weighs on each alike; each reads a frame the others do not.
    for i in range(args.bare):
        path = paths[i % len(paths)]
        data = path.read_bytes()
        started = time.perf_counter()
        decode_image(data, str(path), as_array=True)
        decode.append(time.perf_counter() - started)
        share.link.set_delay(0.0, 0.0)
        undelayed += per_file(read_file, [urls[(4 * i + 1) % len(urls)]])
        share.link.set_delay(delay, delay)
        read += per_file(read_file, [urls[(4 * i + 2) % len(urls)]])
        load += per_file(share_load, [urls[(4 * i + 3) % len(urls)]])
    return {
        "decode": statistics.median(decode),
        "read_undelayed": statistics.median(undelayed),
        "read": statistics.median(read),
        "bare_load": statistics.median(load),
        "bare_loads": load,
        # What one round trip allows: the read's bytes on an undelayed link, one round trip of
        # the delay, and the decode.
        "one_round_trip_load": statistics.median(undelayed) + 2 * delay + statistics.median(decode),
    }


def share_load(url: str) -> Any:
    """One bare load as the plain loop does it."""
    from prefetcher import load_image

    return load_image(url, as_array=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child is not None:
        print(json.dumps(child(json.loads(args.child)), default=str))
        return 0
    reason = skip_reason()
    if reason is not None:
        print(f"skipped: {reason}")
        return 0
    names, pattern_names, unknown = harness.choices(args)
    if unknown:
        print(f"unknown contender or pattern: {', '.join(unknown)}", file=sys.stderr)
        return 2
    command = "python benchmarks/real_share.py" + "".join(
        " " + shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    with tempfile.TemporaryDirectory(prefix="prefetcher-real-share-") as tmp:
        return measure_all(args, command, names, pattern_names, Path(tmp))


def measure_all(
    args: argparse.Namespace,
    command: str,
    names: list[str],
    pattern_names: list[str],
    tmp: Path,
) -> int:
    import numpy as np
    import servers
    from decode import write_images

    from prefetcher._images import decode_image
    from prefetcher._smb import forget_servers

    share_dir, smb_work = tmp / "share", tmp / "smb"
    for directory in (share_dir / "frames", share_dir / "log-on", smb_work):
        directory.mkdir(parents=True)
    paths = write_images(share_dir / "frames", args.frames, args.size, "RGB")
    write_images(share_dir / "log-on", 1, "8x8", "RGB")
    first = decode_image(paths[0].read_bytes(), str(paths[0]), as_array=True)
    frame_bytes, shape = first.nbytes, list(first.shape)
    samples = [sample(decode_image(p.read_bytes(), str(p), as_array=True)) for p in paths]
    np.save(tmp / "samples.npy", np.stack(samples))
    file_mb = statistics.mean(p.stat().st_size for p in paths) / 1e6

    info = harness.machine()
    harness.print_machine(command, info)

    requests = SmbRequests()
    started = time.perf_counter()
    with (
        servers.samba_server(share_dir, smb_work) as smbd,
        FaultyLink(("127.0.0.1", smbd.port), tap=requests.stream) as link,
    ):
        base = f"smb://{smbd.user}:{smbd.password}@127.0.0.1:{link.port}/{smbd.share}"
        settings = harness.contender_settings(args, get_timeout=GET_TIMEOUT)
        spec = {
            "urls": [f"{base}/frames/{p.name}" for p in paths],
            "log_on_url": f"{base}/log-on/0.png",
            "samples": str(tmp / "samples.npy"),
            "shape": shape,
            "frame_bytes": frame_bytes,
            "work": args.work_ms / 1000,
            "settings": asdict(settings),
        }
        share = RealShare(spec, requests, {f"frames\\{p.name}" for p in paths}, link)
        bare = measure_bare(args, share, paths)
        description = describe(args, info, bare, file_mb, frame_bytes)
        print_workload(description)

        orders = {p: pts.make_pattern(p, args.frames, args.seed) for p in pattern_names}
        online = {p: harness.online_bound(description, order) for p, order in orders.items()}
        description["online_bound"] = online
        description["jumps"] = {p: harness.jumps(order) for p, order in orders.items()}
        for p in pattern_names:
            print(
                f"online bound, {p}: {online[p]:.3f} s ({description['jumps'][p]} jumps + 1 "
                "bare loads)"
            )
        results = run_contenders(args, share, settings, names, orders)
        jumps = run_jumps(args, share, names)
        forget_servers()  # log off while the link still carries the connection
        smb_counts = requests.counts()
    elapsed = time.perf_counter() - started

    harness.add_ratios(results, description["lower_bound"], frame_bytes, online)
    for r in results:
        if r["status"] == "ok":
            growth = max(run["peak_bytes"] - run["rss_before"] for run in r["runs"])
            r["peak_items"] = growth / frame_bytes  # frames held above the idle process
    info["loadavg_end"] = os.getloadavg()
    document = {
        "command": command,
        "git_commit": harness.git_commit(),
        "machine": info,
        "workload": description,
        "settings": asdict(settings),
        "runs_per_pair": args.runs,
        "slow_cap": args.slow_cap,
        "memory": "peak RSS of the child process that ran it (torch: its main process)",
        "elapsed_seconds": elapsed,
        "results": results,
        "jumps": jumps,
        "smb_requests": asdict(smb_counts),
        "targets": targets(results, jumps, description),
    }
    stamp = time.strftime("%Y%m%d-%H%M%S")
    output = Path(args.output) if args.output else HERE / "results" / f"real-share-{stamp}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(document, indent=2, default=str) + "\n")

    print()
    print(harness.table(results, args, args.table, memory="peak RSS MB (frames)"))
    for line in harness.notes(results, args):
        print(f"* {line}")
    print()
    bare = description["bare_load"]
    for name, trials in jumps.items():
        times = ", ".join(f"{t['seconds'] * 1e3:.1f}" for t in trials)
        alone = ", ".join(f"{t['alone_after_seconds'] * 1e3:.1f}" for t in trials)
        ratios = ", ".join(f"{t['seconds'] / bare:.2f}x" for t in trials)
        print(
            f"jump, {harness.label(name, args)}: {times} ms, {ratios} the bare load "
            f"({bare * 1e3:.1f} ms), one per run; the same frame alone right after: {alone} ms"
        )
    print()
    short = " (a --quick run is too short to compare)" if args.quick else ""
    print(f"the targets against this run{short}:")
    for line in document["targets"]:
        print(f"  {line}")
    print()
    print(f"load average at the end: {info['loadavg_end']}; whole run {elapsed:.0f} s")
    print(f"results:  {output}")
    if not args.no_chart:
        png = Path(args.chart) if args.chart else output.with_suffix(".png")
        title = harness.chart_title(command, info, description["lower_bound"])
        harness.chart(results, args, png, title)
        print(f"chart:    {png}")
    return 0


def describe(
    args: argparse.Namespace,
    info: dict[str, Any],
    bare: dict[str, Any],
    file_mb: float,
    frame_bytes: int,
) -> dict[str, Any]:
    """The workload, its bounds and the bare figures, as run.py's JSON names them."""
    work = args.work_ms / 1000
    # Decoding is CPU work the cores share; the consumer's work is a sleep. An item cannot be
    # handed over faster than the slower of the two.
    per_item = max(work, bare["decode"] / max(info["cores"] or 1, 1))
    return {
        "source": f"smbd on 127.0.0.1 behind a proxy delaying every chunk {args.delay_ms:g} ms "
        "each way",
        "items": args.frames,
        "frame": f"{args.size} RGB PNG, {file_mb:.2f} MB on the share, "
        f"{frame_bytes / 1e6:.2f} MB decoded",
        "item_size": frame_bytes,
        "delay": args.delay_ms / 1000,
        "work": work,
        # run.py's online bound takes the slower of work and this per item.
        "transfer_per_item": per_item,
        # The first frame cannot come sooner than one bare load; then one per item at best.
        "lower_bound": bare["bare_load"] + args.frames * per_item,
        **bare,
    }


def print_workload(d: dict[str, Any]) -> None:
    print(f"share:    {d['source']}; {d['items']} frames, {d['frame']}")
    print(
        f"bare:     one load {d['bare_load'] * 1e3:.1f} ms (read {d['read'] * 1e3:.1f} + decode "
        f"{d['decode'] * 1e3:.1f}); the read undelayed {d['read_undelayed'] * 1e3:.1f} ms; "
        f"one round trip + undelayed read + decode {d['one_round_trip_load'] * 1e3:.1f} ms"
    )
    print(
        f"lower bound: {d['lower_bound']:.3f} s (one bare load + frames x max(work "
        f"{d['work'] * 1e3:g} ms, decode / cores))",
        flush=True,
    )


def run_contenders(
    args: argparse.Namespace,
    share: RealShare,
    settings: cts.Settings,
    names: list[str],
    orders: dict[str, list[int]],
) -> list[dict[str, Any]]:
    """Every (pattern, contender), each run in a child of its own."""

    def bench(name: str, order: Sequence[int], plain_median: float | None) -> dict[str, Any]:
        child_spec = {
            "what": "run",
            "contender": name,
            "order": list(order),
            # torch's workers are forked: a connection of their parent's would be shared.
            "log_on": name != "torch",
        }
        return harness.bench_pair(
            name,
            None,
            settings,
            order,
            args,
            plain_median,
            measure_run=partial(share.run_child, child_spec),
        )

    return harness.run_pairs(names, dict(orders), args, bench, reads="frames opened")


def run_jumps(args: argparse.Namespace, share: RealShare, names: list[str]) -> dict[str, Any]:
    """For ``aheadN`` and ``auto`` (those of them that run): a jump in each of ``--runs`` runs."""
    walk = min(12, args.frames // 3)
    options = {"aheadN": {"ahead": args.fixed_ahead}, "auto": {"ahead": "auto"}}
    if args.max_ahead is not None:
        options["auto"]["max_ahead"] = args.max_ahead
    out: dict[str, Any] = {}
    for name in (n for n in ("aheadN", "auto") if n in names):
        trials = []
        for _ in range(args.runs):
            child_spec = {
                "what": "jump",
                "options": options[name],
                "walk": walk,
                "far": args.frames - 1,
                "log_on": True,
            }
            trials.append(share.run_child(child_spec))
        out[name] = trials
    return out


def targets(
    results: list[dict[str, Any]], jumps: dict[str, Any], workload: dict[str, Any]
) -> list[str]:
    """The real-share targets next to what this run measured (reported, never asserted)."""
    by = harness.by_pair(results)
    lines = harness.bound_targets(by, ("forward",), 1.10, workload)
    # Reads are file opens here.
    lines += harness.viewer_targets(by, 1.15, 1.35)
    verdict = harness.verdict
    ratio = workload["bare_load"] / workload["one_round_trip_load"]
    lines.append(
        f"bare load: {ratio:.2f}x one round trip + undelayed read + decode (target <= 1.2): "
        f"{verdict(ratio <= 1.2)}"
    )
    for name, trials in jumps.items():
        ratios = [t["seconds"] / workload["bare_load"] for t in trials]
        shown = ", ".join(f"{x:.2f}" for x in ratios)
        lines.append(
            f"jump: {name} {shown}x one bare load in each run (target <= 1.2 in each): "
            f"{verdict(max(ratios) <= 1.2)}"
        )
    return lines


if __name__ == "__main__":
    sys.exit(main())
