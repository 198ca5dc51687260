"""Microbenchmarks: what a cache hit costs, and what a jump costs compared with one bare load.

Run from the repository root::

    python benchmarks/micro.py            # also part of python benchmarks/run.py
    python benchmarks/micro.py --quick

* cache hit: the median time of ``loader.get(n)`` for an item that is ready in memory, called again
  and again, and of a forward walk over a range that is entirely cached; next to a dict lookup and a
  ``functools.lru_cache`` hit doing the same (median of 7 timeit repeats, in ns per call).
* jump: on a loader that is busy prefetching (a forward walk of 12 items with ``--work`` seconds
  of consumer work after each has filled its read-ahead window), the time of ``get`` of an item
  far away, next to one bare load from the same kind of simulated share with nothing else going
  on (median of several trials each).
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
import timeit
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if __name__ == "__main__":
    sys.path[:0] = [str(HERE), str(HERE.parent)]

from prefetcher import SimulatedShare  # noqa: E402  (after the sys.path line above)


def _loader_class() -> Any:
    from prefetcher import PrefetchingLoader

    return PrefetchingLoader


def _ns_per_call(stmt: str, namespace: dict[str, Any], calls_per_stmt: int, quick: bool) -> float:
    """Median over 7 repeats (3 when quick) of the time of one call, in nanoseconds."""
    timer = timeit.Timer(stmt, globals=namespace)
    number, _ = timer.autorange()  # enough loops for >= 0.2 s
    if quick:
        number = max(1, number // 10)
    times = timer.repeat(repeat=3 if quick else 7, number=number)
    return statistics.median(times) / number / calls_per_stmt * 1e9


def _wait_idle(loader: Any, timeout: float = 10.0) -> None:
    """Wait until no load is queued or running (a benchmark helper, not a test: polling is fine)."""
    deadline = time.monotonic() + timeout
    while loader.stats().pending and time.monotonic() < deadline:
        time.sleep(0.001)


def cache_hits(quick: bool = False) -> dict[str, float]:
    """ns per call of a cache-hit get, a cached forward walk, a dict and an lru_cache hit."""
    loader_class = _loader_class()
    item = b"x" * 1000
    walk = 50

    def load(key: int) -> bytes:
        return item

    cached = functools.lru_cache(maxsize=walk)(load)
    table = {n: item for n in range(walk)}
    out: dict[str, float] = {}
    with loader_class(load, range(1000), cache_size=10) as loader:
        loader.get(5)
        _wait_idle(loader)
        cached(5)
        out["get_hit_ns"] = _ns_per_call("get(5)", {"get": loader.get}, 1, quick)
        out["dict_hit_ns"] = _ns_per_call("d[5]", {"d": table}, 1, quick)
        out["lru_hit_ns"] = _ns_per_call("f(5)", {"f": cached}, 1, quick)
    with loader_class(load, range(walk), cache_size=walk) as loader:
        for n in range(walk):
            loader.get(n)
        _wait_idle(loader)
        misses_before = loader.stats().misses
        walk_stmt = "for n in r: get(n)"
        out["walk_get_ns"] = _ns_per_call(
            walk_stmt, {"get": loader.get, "r": range(walk)}, walk, quick
        )
        out["walk_dict_ns"] = _ns_per_call(
            "for n in r: d[n]", {"d": table, "r": range(walk)}, walk, quick
        )
        for n in range(walk):
            cached(n)
        out["walk_lru_ns"] = _ns_per_call(
            "for n in r: f(n)", {"f": cached, "r": range(walk)}, walk, quick
        )
        # The timed walks must all have been hits, or they measured something else.
        out["walk_misses"] = loader.stats().misses - misses_before
    return out


def _jump(
    loader_options: dict[str, Any],
    latency: float,
    transfer: float,
    item_size: int,
    work: float,
    trials: int,
) -> tuple[float, float, float]:
    """Median seconds of a far get on a busy loader, of one bare load, and mean pending loads."""
    loader_class = _loader_class()
    bandwidth = item_size / transfer if transfer > 0 else None
    jumps, bares, pending = [], [], []
    filler = bytes(item_size - 8)
    for trial in range(trials):
        share = SimulatedShare(latency=latency, bandwidth=bandwidth)

        def load(key: int, share: SimulatedShare = share) -> bytes:
            share.delay(item_size)
            return key.to_bytes(8, "little") + filler

        with loader_class(load, range(10_000), **loader_options) as loader:
            for n in range(12):  # a forward walk, as the consumer of run.py does it
                loader.get(n, timeout=60)
                if work > 0:
                    time.sleep(work)
            pending.append(loader.stats().pending)
            start = time.perf_counter()
            item = loader.get(5000, timeout=60)
            jumps.append(time.perf_counter() - start)
            assert item[:8] == (5000).to_bytes(8, "little")
        # The same load, alone on an idle share: what a plain loop would pay for this item.
        idle = SimulatedShare(latency=latency, bandwidth=bandwidth)
        start = time.perf_counter()
        idle.delay(item_size)
        load_alone = (5000).to_bytes(8, "little") + filler
        bares.append(time.perf_counter() - start)
        del load_alone
        if trial == 0:
            del jumps[0], bares[0], pending[0]  # warm-up: first thread starts, first allocations
    return statistics.median(jumps), statistics.median(bares), statistics.fmean(pending)


def jumps(
    latency: float,
    transfer: float,
    item_size: int,
    work: float = 0.01,
    fixed_ahead: int = 4,
    quick: bool = False,
) -> dict[str, Any]:
    """A jump on a busy loader (ahead='auto' and a fixed ahead) against one bare load."""
    trials = 3 if quick else 15  # the jump races prefetches for the link: it varies a lot
    out: dict[str, Any] = {"latency": latency, "transfer": transfer, "work": work}
    variants: Sequence[tuple[str, dict[str, Any]]] = (
        ("auto", {"ahead": "auto"}),
        (f"ahead={fixed_ahead}", {"ahead": fixed_ahead}),
    )
    for name, options in variants:
        try:
            jump, bare, pending = _jump(options, latency, transfer, item_size, work, trials)
        except (TypeError, ValueError) as exc:
            out[f"jump_{name}"] = f"not available: {exc}"
            continue
        out[f"jump_{name}_s"] = jump
        out[f"bare_load_{name}_s"] = bare
        out[f"jump_{name}_ratio"] = jump / bare
        out[f"jump_{name}_pending"] = pending
    if "jump_auto_ratio" in out:
        out["jump_ratio"] = out["jump_auto_ratio"]
    return out


def run_all(
    latency: float = 0.03,
    transfer: float = 0.005,
    item_size: int = 1_000_000,
    work: float = 0.01,
    fixed_ahead: int = 4,
    quick: bool = False,
) -> dict[str, Any]:
    """Every microbenchmark, as one dict (the JSON of run.py keeps it under "micro")."""
    out: dict[str, Any] = {}
    out.update(cache_hits(quick))
    out.update(jumps(latency, transfer, item_size, work, fixed_ahead, quick))
    return out


def format_results(r: dict[str, Any]) -> str:
    """The microbenchmarks as lines of text, with the ratios."""
    lines = ["microbenchmarks (median):"]

    def hit(what: str, get: str, dict_: str, lru: str) -> None:
        lines.append(
            f"  {what:28} get {r[get]:7.0f} ns   dict {r[dict_]:5.0f} ns "
            f"(get/dict {r[get] / r[dict_]:5.1f}x)   lru_cache {r[lru]:5.0f} ns "
            f"(get/lru {r[get] / r[lru]:4.1f}x)"
        )

    hit("cache hit, same item", "get_hit_ns", "dict_hit_ns", "lru_hit_ns")
    hit("forward walk, all cached", "walk_get_ns", "walk_dict_ns", "walk_lru_ns")
    if r.get("walk_misses"):
        lines.append(f"  (the cached walk had {r['walk_misses']} misses: not all hits)")
    for key in [k for k in r if k.startswith("jump_") and k.endswith("_s")]:
        name = key[len("jump_") : -len("_s")]
        lines.append(
            f"  jump, ahead={name.removeprefix('ahead='):5}        get(far) "
            f"{r[key] * 1e3:6.1f} ms   one bare load {r[f'bare_load_{name}_s'] * 1e3:6.1f} ms   "
            f"ratio {r[f'jump_{name}_ratio']:.2f}x   ({r[f'jump_{name}_pending']:.1f} loads "
            f"pending at the jump; latency {r['latency'] * 1e3:g} ms, "
            f"transfer {r['transfer'] * 1e3:g} ms, work {r['work'] * 1e3:g} ms)"
        )
    for key in [k for k in r if k.startswith("jump_") and isinstance(r[k], str)]:
        lines.append(f"  {key}: {r[key]}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python benchmarks/micro.py", description=__doc__)
    parser.add_argument("--latency", type=float, default=0.03)
    parser.add_argument("--transfer", type=float, default=0.005)
    parser.add_argument("--item-size", type=int, default=1_000_000)
    parser.add_argument("--work", type=float, default=0.01, help="seconds between walk steps")
    parser.add_argument("--fixed-ahead", type=int, default=4)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    results = run_all(
        args.latency, args.transfer, args.item_size, args.work, args.fixed_ahead, args.quick
    )
    print(format_results(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
