"""Round trips and time of one bare load (read + decode) from a real SMB share with latency.

Run from the repository root (needs smbd: ``apt-get install samba``; run as root)::

    python benchmarks/smb_roundtrips.py                 # 10 ms each way, 40 frames, 5 rounds
    python benchmarks/smb_roundtrips.py --delay-ms 30   # a slower link

Starts ``smbd`` on 127.0.0.1 (tests/servers.py) behind the faulty link of the tests
(tests/faulty_link.py) delaying every chunk ``--delay-ms`` each way, shares ``--frames`` generated
1024x768 RGB PNGs, and loads each frame once per round in two ways, taking turns frame by frame:

- ``three round trips``: CREATE, READ and CLOSE one after another (fsspec's and smbclient's usual
  way: ``fs.cat_file(path, start=0)``);
- ``one round trip``: the three sent as one related compound request (what ``load_image`` and
  ``open_sequence`` do for a whole-file read: ``fs.cat_file(path)``).

Each load reads a frame not read before on that connection in that round and decodes it. Reported
per way: the median bare load, the median read alone, and the round trips per read counted at the
link (request chunks that follow a response). The session is set up before timing.
"""

from __future__ import annotations

import argparse
import platform
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Benchmark the checkout this script sits in; tests/ holds the Samba server and the faulty link.
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from prefetcher._images import decode_image  # noqa: E402
from prefetcher._smb import smb_server  # noqa: E402


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/smb_roundtrips.py",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--delay-ms", type=float, default=10.0, help="one-way delay of the link")
    parser.add_argument("--frames", type=int, default=40, help="frames per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (medians over all loads)")
    return parser.parse_args(argv)


def write_frames(directory: Path, count: int) -> None:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:768, 0:1024]
    base = np.stack([(x // 4) % 256, (y // 3) % 256, ((x + y) // 8) % 256], axis=-1)
    for n in range(count):
        # A gradient with noise: about 1.5 MB a frame, not compressible to nothing.
        noise = rng.integers(0, 24, base.shape)
        Image.fromarray(((base + noise + n) % 256).astype(np.uint8)).save(directory / f"{n}.png")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    import servers
    from faulty_link import FaultyLink

    reason = servers.smbd_missing_reason()
    if reason is not None:
        print(f"skipped: {reason}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        share, work = Path(tmp) / "share", Path(tmp) / "work"
        (share / "run").mkdir(parents=True)
        work.mkdir()
        write_frames(share / "run", args.frames)
        size = statistics.median((share / "run" / f"{n}.png").stat().st_size for n in range(3))
        with (
            servers.samba_server(share, work) as smbd,
            FaultyLink(("127.0.0.1", smbd.port)) as link,
        ):
            url = f"smb://{smbd.user}:{smbd.password}@127.0.0.1:{link.port}/{smbd.share}/run"
            server, directory = smb_server(url)
            server.call(lambda fs: fs.ls(directory, detail=False), "run")  # log on, untimed
            link.set_delay(args.delay_ms / 1000, args.delay_ms / 1000)

            ways: dict[str, Callable[[Any, str], bytes]] = {
                "three round trips": lambda fs, path: fs.cat_file(path, start=0),
                "one round trip": lambda fs, path: fs.cat_file(path),
            }
            loads: dict[str, list[float]] = {way: [] for way in ways}
            reads: dict[str, list[float]] = {way: [] for way in ways}
            turns: dict[str, list[int]] = {way: [] for way in ways}
            for round_ in range(args.rounds):
                for n in range(args.frames):
                    order = list(ways) if (n + round_) % 2 == 0 else list(reversed(ways))
                    for way in order:
                        path = f"{directory}/{n}.png"
                        before = link.counts().turns
                        started = time.perf_counter()
                        data = server.call(lambda fs, p=path, w=way: ways[w](fs, p), path)
                        read = time.perf_counter()
                        decode_image(data, path)
                        finished = time.perf_counter()
                        turns[way].append(link.counts().turns - before)
                        reads[way].append(read - started)
                        loads[way].append(finished - started)
            server.close()  # log off while the link still carries the connection

    print(
        f"bare load from smbd on 127.0.0.1 through a link of {args.delay_ms:g} ms each way; "
        f"{args.frames} PNG frames 1024x768 RGB ({size / 1e6:.2f} MB), {args.rounds} rounds"
    )
    print(f"{'':20} {'load ms':>9} {'read ms':>9} {'round trips/read':>17}")
    for way in ways:
        print(
            f"{way:20} {statistics.median(loads[way]) * 1000:9.1f} "
            f"{statistics.median(reads[way]) * 1000:9.1f} {statistics.median(turns[way]):17g}"
        )
    ratio = statistics.median(loads["three round trips"]) / statistics.median(
        loads["one round trip"]
    )
    print(f"one round trip: a bare load {ratio:.2f}x faster")
    print(
        f"machine: {platform.platform()}, Python {platform.python_version()}; command: "
        + shlex.join(["python", "benchmarks/smb_roundtrips.py", *(argv or sys.argv[1:])])
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
