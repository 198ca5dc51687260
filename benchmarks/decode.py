"""How much decoding big images costs, and what reading a real (loopback) SMB share costs.

Run from the repository root::

    python benchmarks/decode.py            # threads vs processes decoding big PNGs (about a minute)
    python benchmarks/decode.py --quick    # the same, small (seconds)
    python benchmarks/decode.py --smb      # per-file times over a Samba share on 127.0.0.1
                                           # (needs smbd: apt-get install samba; run as root;
                                           # and the remote extra: pip install '.[remote]')

Decoding (the default): do threads decode large PNGs in parallel with Pillow, and is
``executor=ProcessPoolExecutor(...)`` faster? Writes ``--images`` generated PNGs to a temporary
directory, then reads them all with ``load_image(path, as_array=True)`` (what ``open_sequence``
does for each item) on a thread pool of 1, 2 and 4 threads and on process pools of 2 and 4
processes (started and warmed up before timing: a process pool's start-up is paid once), once with
the executor's ``map`` and once through ``open_sequence(...).get(n)`` for every n. The
configurations take turns in every round; the table shows the median of ``--runs`` rounds, the
images per second and the speed-up over one thread.

SMB (``--smb``): starts smbd on a free high port of 127.0.0.1 (as the tests do, see
tests/servers.py), shares generated PNGs, and measures per file: a bare fsspec read, a
``load_image`` (read + decode), and the wait in ``loader.get(n)`` of a loop that spends ``--work``
seconds on each image, without prefetching (``ahead=0``) and with it (``ahead=2``, ``"auto"``).
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Benchmark the checkout this script sits in.
sys.path[:0] = [str(ROOT)]

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from prefetcher import load_image, open_sequence  # noqa: E402


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/decode.py",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--smb", action="store_true", help="measure a loopback Samba share")
    parser.add_argument("--quick", action="store_true", help="small images, few rounds")
    parser.add_argument("--images", type=int, default=None, help="how many images")
    parser.add_argument("--size", default=None, help="WIDTHxHEIGHT of each image")
    parser.add_argument("--mode", default=None, help="Pillow mode of the images (L, RGB, I;16)")
    parser.add_argument("--runs", type=int, default=None, help="rounds; medians are reported")
    parser.add_argument("--work", type=float, default=0.02, help="--smb: seconds of work per image")
    args = parser.parse_args(argv)
    decode_defaults = (12, "4000x3000", "RGB", 5) if not args.quick else (4, "800x600", "RGB", 2)
    smb_defaults = (40, "1024x1024", "L", 5) if not args.quick else (10, "256x256", "L", 2)
    images, size, mode, runs = smb_defaults if args.smb else decode_defaults
    args.images = args.images or images
    args.size = args.size or size
    args.mode = args.mode or mode
    args.runs = args.runs or runs
    return args


def write_images(directory: Path, count: int, size: str, mode: str) -> list[Path]:
    """Write ``count`` PNGs like camera frames: a smooth scene plus sensor noise."""
    width, height = (int(part) for part in size.lower().split("x"))
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width]
    scene = 96 + 64 * np.sin(x / 97.0) * np.cos(y / 71.0)
    paths = []
    for n in range(count):
        frame = scene + rng.normal(0, 6, scene.shape) + n
        grey = np.clip(frame, 0, 255).astype(np.uint8)
        image = Image.fromarray(grey)
        if mode != "L":
            image = image.convert(mode)
        path = directory / f"{n}.png"
        image.save(path, compress_level=6)
        paths.append(path)
    return paths


def header(args: argparse.Namespace, paths: list[Path]) -> None:
    sizes = [path.stat().st_size for path in paths]
    print(f"command: python benchmarks/decode.py {shlex.join(sys.argv[1:])}".rstrip())
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, Pillow {Image.__version__}, numpy {np.__version__}"
    )
    print(
        f"images:  {len(paths)} PNGs {args.size} {args.mode}, "
        f"{statistics.mean(sizes) / 1e3:,.0f} kB each on disk; medians of {args.runs} rounds"
    )


# -- decoding: threads against processes ---------------------------------------------------------

_load_array = functools.partial(load_image, as_array=True)


def time_map(executor: Executor, paths: list[Path]) -> float:
    start = time.perf_counter()
    for _ in executor.map(_load_array, paths):
        pass
    return time.perf_counter() - start


def time_loader(executor: Executor, workers: int, paths: list[Path]) -> float:
    start = time.perf_counter()
    with open_sequence(
        paths, as_array=True, ahead=workers, max_workers=workers, executor=executor
    ) as loader:
        for n in range(len(paths)):
            loader.get(n, timeout=600)
    return time.perf_counter() - start


def decode_benchmark(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="prefetcher-decode-") as tmp:
        paths = write_images(Path(tmp), args.images, args.size, args.mode)
        header(args, paths)
        configs: dict[str, tuple[Executor, int]] = {}
        for threads in (1, 2, 4):
            configs[f"{threads} thread{'s' if threads > 1 else ''}"] = (
                ThreadPoolExecutor(threads),
                threads,
            )
        for processes in (2, 4):
            pool = ProcessPoolExecutor(processes)
            # Start the workers and import Pillow in each before any timing.
            list(pool.map(_load_array, paths[:1] * processes * 2))
            configs[f"{processes} processes"] = (pool, processes)
        try:
            measures: dict[tuple[str, str], list[float]] = {}
            timers: dict[str, Callable[[Executor, int], float]] = {
                "executor.map": lambda executor, _: time_map(executor, paths),
                "open_sequence": lambda executor, workers: time_loader(executor, workers, paths),
            }
            for executor, _ in configs.values():  # warm the page cache and the pools
                time_map(executor, paths[:2])
            for _ in range(args.runs):
                for how, timer in timers.items():
                    for name, (executor, workers) in configs.items():
                        measures.setdefault((how, name), []).append(timer(executor, workers))
        finally:
            for executor, _ in configs.values():
                executor.shutdown()
        print()
        print(f"{'':14}{'decoder':13}{'median s':>9}{'images/s':>10}{'speed-up':>10}{'spread':>15}")
        for how in timers:
            base = statistics.median(measures[(how, "1 thread")])
            for name in configs:
                times = measures[(how, name)]
                median = statistics.median(times)
                print(
                    f"{how:14}{name:13}{median:9.2f}{len(paths) / median:10.1f}"
                    f"{base / median:9.2f}x   {min(times):.2f}-{max(times):.2f} s"
                )
            print()


# -- SMB: per-file times over a loopback share ---------------------------------------------------


def _servers() -> Any:
    """tests/servers.py (the Samba server the tests start), loaded by its path."""
    spec = importlib.util.spec_from_file_location("servers", ROOT / "tests" / "servers.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["servers"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def smb_benchmark(args: argparse.Namespace) -> None:
    missing = [name for name in ("fsspec", "smbclient") if importlib.util.find_spec(name) is None]
    if missing:
        sys.exit(
            f"python benchmarks/decode.py --smb needs the remote extra ({', '.join(missing)} "
            "missing): pip install '.[remote]'"
        )
    servers = _servers()
    reason = servers.smbd_missing_reason()
    if reason is not None:
        sys.exit(reason)
    with tempfile.TemporaryDirectory(prefix="prefetcher-smb-") as tmp:
        share_dir, work_dir = Path(tmp, "share"), Path(tmp, "work")
        share_dir.mkdir()
        work_dir.mkdir()
        paths = write_images(share_dir, args.images, args.size, args.mode)
        header(args, paths)
        with servers.samba_server(share_dir, work_dir) as server:
            urls = [f"{server.url}/{path.name}" for path in paths]
            print(f"share:   smbd {server.port} on 127.0.0.1; consumer work {args.work * 1e3:g} ms")
            load_image(urls[0])  # connect and authenticate once, outside the timings
            rows: dict[str, list[list[float]]] = {}
            for _ in range(args.runs):
                rows.setdefault("fsspec read only", []).append(per_file(read_bytes, urls))
                rows.setdefault("load_image (read + decode)", []).append(per_file(load_image, urls))
                for label, ahead in (
                    ("get(n) wait, ahead=0", 0),
                    ("get(n) wait, ahead=2", 2),
                    ('get(n) wait, ahead="auto"', "auto"),
                ):
                    rows.setdefault(label, []).append(loop_waits(urls, ahead, args.work))
    print()
    print(f"{'per file, ms':30}{'median':>8}{'mean':>8}{'p90':>8}{'max':>8}   loop, s")
    for label, runs in rows.items():
        # Pool each round's per-file times, then take the statistics over all of them.
        times = sorted(t * 1e3 for run in runs for t in run)
        p90 = times[int(0.9 * (len(times) - 1))]
        total = statistics.median(sum(run) for run in runs)
        extra = f"   {total + len(urls) * args.work:.2f} s" if label.startswith("get") else ""
        print(
            f"{label:30}{statistics.median(times):8.2f}{statistics.mean(times):8.2f}"
            f"{p90:8.2f}{times[-1]:8.2f}{extra}"
        )


def read_bytes(url: str) -> bytes:
    import fsspec.core  # type: ignore[import-untyped,unused-ignore]

    fs, path = fsspec.core.url_to_fs(url)
    return bytes(fs.cat_file(path))


def per_file(read: Callable[[str], Any], urls: list[str]) -> list[float]:
    times = []
    for url in urls:
        start = time.perf_counter()
        read(url)
        times.append(time.perf_counter() - start)
    return times


def loop_waits(urls: list[str], ahead: int | str, work: float) -> list[float]:
    """The user's loop over ``urls``: each get(n)'s wait, with ``work`` seconds per image."""
    waits = []
    with open_sequence(urls, as_array=True, ahead=ahead) as loader:
        for n in range(len(urls)):
            start = time.perf_counter()
            loader.get(n, timeout=600)
            waits.append(time.perf_counter() - start)
            time.sleep(work)  # the consumer's processing
    return waits


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.smb:
        smb_benchmark(args)
    else:
        decode_benchmark(args)


if __name__ == "__main__":
    main()
