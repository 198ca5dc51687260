"""Soak: many threads of random gets against a share that fails, hangs and crawls.

Run on demand (not in the test suite)::

    python benchmarks/soak.py            # 8 threads x 100,000 gets, a few minutes
    python benchmarks/soak.py --quick    # 8 threads x 2,000 gets

Every get must return its own item or raise its own error. The script prints what went wrong
(wrong items, errors attributed to another index), the most entries the loader ever held, the
most threads ever alive, and the process's resident memory at the start, middle and end.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import threading
import time
from dataclasses import dataclass, field

from prefetcher import PrefetchingLoader


class ShareError(OSError):
    """A read that failed."""


@dataclass
class Tally:
    """What the consumers saw; guarded by ``lock``."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    gets: int = 0
    items: int = 0
    errors: int = 0
    timeouts: int = 0
    wrong_items: int = 0
    misattributed: int = 0
    most_held: int = 0
    most_threads: int = 0
    examples: list[str] = field(default_factory=list)


def rss_mb() -> float:
    """Resident memory in MB now (Linux: from /proc; elsewhere the peak)."""
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
        return pages * resource.getpagesize() / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--gets", type=int, default=100_000, help="gets per thread")
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--load-timeout", type=float, default=0.05)
    parser.add_argument("--read", type=float, default=0.002, help="seconds of a normal read")
    parser.add_argument("--quick", action="store_true", help="2,000 gets per thread")
    args = parser.parse_args(argv)
    gets = 2_000 if args.quick else args.gets
    rng = random.Random(args.seed)
    rng_lock = threading.Lock()
    tally = Tally()
    release = threading.Event()

    def load(n: int) -> tuple[str, int]:
        with rng_lock:
            chance = rng.random()
        if chance < 0.01:
            release.wait(args.load_timeout * 2)  # stuck: past load_timeout, then returns late
        elif chance < 0.02:
            time.sleep(args.load_timeout / 2)  # slow, but in time
        else:
            time.sleep(args.read)
        if chance > 0.9:
            raise ShareError(f"item {n}: the share failed")
        return ("item", n)

    loader = PrefetchingLoader(
        load, cache_size=8, ahead=4, max_workers=8, load_timeout=args.load_timeout
    )

    def consumer(seed: int) -> None:
        local = random.Random(args.seed * 1000 + seed)
        for _ in range(gets):
            n = local.randrange(args.items)
            outcome = "item"
            try:
                item = loader.get(n, timeout=30)
                wrong = item != ("item", n)
                mine = True
            except ShareError as error:
                outcome, wrong = "error", False
                mine = str(error).startswith(f"item {n}:") and _noted(error, n)
            except TimeoutError as error:
                outcome, wrong = "timeout", False
                mine = f"item {n} " in str(error) or f"item {n}:" in str(error)
            _count(tally, outcome, wrong, mine, n, loader)

    print(f"soak: {args.threads} threads x {gets:,} gets over {args.items} items, seed {args.seed}")
    print(
        f"share: reads of {args.read * 1000:g} ms; 10% fail, 1% stuck past load_timeout="
        f"{args.load_timeout:g} s, 1% slow"
    )
    rss = [rss_mb()]
    started = time.perf_counter()
    threads = [threading.Thread(target=consumer, args=(s,)) for s in range(args.threads)]
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        threads[0].join(0.5)
        with tally.lock:
            if len(rss) == 1 and tally.gets >= args.threads * gets // 2:
                rss.append(rss_mb())
    elapsed = time.perf_counter() - started
    rss.append(rss_mb())
    stats = loader.stats()
    loader.close(timeout=1)
    release.set()

    print(f"gets: {tally.gets:,} in {elapsed:.1f} s ({tally.gets / elapsed:,.0f}/s)")
    print(f"items: {tally.items:,}  errors: {tally.errors:,}  timeouts: {tally.timeouts:,}")
    print(f"wrong items: {tally.wrong_items}")
    print(f"mis-attributed errors: {tally.misattributed}")
    print(f"most entries ever held: {tally.most_held} (bound {8 + 4})")
    print(f"most threads ever alive: {tally.most_threads}")
    print("RSS MB at start, middle, end: " + ", ".join(f"{m:.1f}" for m in rss))
    print(
        f"loader: {stats.loads_started:,} loads, {stats.loads_failed:,} failed, "
        f"{stats.loads_stuck:,} stuck, {stats.hits:,} hits"
    )
    for example in tally.examples:
        print("  e.g.", example)
    return 1 if tally.wrong_items or tally.misattributed else 0


def _noted(error: BaseException, n: int) -> bool:
    notes = [x for x in getattr(error, "__notes__", []) if x.startswith("prefetcher: ")]
    return len(notes) == 1 and f"index {n} " in notes[0]


def _count(
    tally: Tally,
    outcome: str,
    wrong: bool,
    mine: bool,
    n: int,
    loader: PrefetchingLoader[int, tuple[str, int]],
) -> None:
    held = None
    if n % 64 == 0:  # sampled: stats() takes the loader's lock
        stats = loader.stats()
        held = stats.cached + stats.pending
    alive = threading.active_count()
    with tally.lock:
        tally.gets += 1
        tally.items += outcome == "item"
        tally.errors += outcome == "error"
        tally.timeouts += outcome == "timeout"
        tally.wrong_items += wrong
        tally.misattributed += not mine
        if (wrong or not mine) and len(tally.examples) < 5:
            tally.examples.append(f"get({n}) -> {outcome}")
        if held is not None:
            tally.most_held = max(tally.most_held, held)
        tally.most_threads = max(tally.most_threads, alive)


if __name__ == "__main__":
    sys.exit(main())
