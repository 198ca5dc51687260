"""The loader under concurrent random access, and against a model of what it may hold."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from loader_support import WAIT, wait_until

from prefetcher import PrefetchingLoader

ITEMS = 50
CACHE_SIZE = 6
AHEAD = 3


class FlakyError(Exception):
    pass


@pytest.mark.timeout(60)
def test_eight_threads_of_random_gets_get_the_right_items_and_errors() -> None:
    held_at_most = 0
    calls = 0
    counter_lock = threading.Lock()
    loader: PrefetchingLoader[int, tuple[str, int]]

    def load(n: int) -> tuple[str, int]:
        nonlocal held_at_most, calls
        with loader._lock:  # a consistent view: what any other thread could see
            entries = len(loader._entries)
        with counter_lock:
            calls += 1
            held_at_most = max(held_at_most, entries)
        chance = random.random()
        if chance < 0.2:
            time.sleep(0.001)
        if chance > 0.9:
            raise FlakyError(f"item {n} failed")
        return ("item", n)

    mistakes: list[str] = []
    results = {"ok": 0, "failed": 0}
    results_lock = threading.Lock()

    def consumer(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(400):
            n = rng.randrange(ITEMS) if rng.random() < 0.5 else (seed * 7 + _) % ITEMS
            try:
                item = loader.get(n, timeout=WAIT)
            except FlakyError as error:
                with results_lock:
                    results["failed"] += 1
                notes = getattr(error, "__notes__", [])
                if str(error) != f"item {n} failed" or not any(f"index {n}" in x for x in notes):
                    mistakes.append(f"get({n}) raised {error!r} {notes}")
            else:
                with results_lock:
                    results["ok"] += 1
                if item != ("item", n):
                    mistakes.append(f"get({n}) returned {item!r}")

    started = time.monotonic()
    with PrefetchingLoader(load, cache_size=CACHE_SIZE, ahead=AHEAD) as loader:
        threads = [threading.Thread(target=consumer, args=(seed,)) for seed in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT * 3)
        assert not any(thread.is_alive() for thread in threads)
        # Prefetches may still be running after the last get: let them land.
        wait_until(
            lambda: (s := loader.stats()).loads_started == s.loads_completed + s.loads_failed
        )
        stats = loader.stats()
    elapsed = time.monotonic() - started

    assert mistakes == []
    assert results["ok"] + results["failed"] == 8 * 400
    assert results["failed"] > 0 and results["ok"] > 0
    assert 0 < held_at_most <= CACHE_SIZE + AHEAD
    assert stats.requests == 8 * 400 == stats.hits + stats.waits + stats.misses
    assert stats.loads_started == calls == stats.loads_completed + stats.loads_failed
    assert elapsed < 30


operations = st.lists(
    st.tuples(st.sampled_from(["get", "request"]), st.integers(min_value=-20, max_value=19)),
    min_size=1,
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(
    operations=operations,
    cache_size=st.integers(min_value=1, max_value=4),
    ahead=st.integers(min_value=0, max_value=3),
)
def test_held_items_match_a_model_of_recent_requests(
    operations: list[tuple[str, int]], cache_size: int, ahead: int
) -> None:
    """Whatever the order of requests, the loader holds the most recently requested items
    (up to cache_size), plus at most `ahead` items read ahead, and returns the right ones."""
    keys = [f"k{n}" for n in range(20)]
    recent: list[int] = []  # the model: distinct requested indices, most recent last
    with PrefetchingLoader(str.upper, keys, cache_size=cache_size, ahead=ahead) as loader:
        for operation, index in operations:
            position = index % 20
            if operation == "get":
                assert loader.get(index, timeout=WAIT) == keys[position].upper()
            else:
                assert loader.request(index).result(WAIT) == keys[position].upper()
            if position in recent:
                recent.remove(position)
            recent.append(position)
            wait_until(lambda: loader.stats().pending == 0)
            with loader._lock:
                requested = {i for i, e in loader._entries.items() if e.requested}
                total = len(loader._entries)
            assert requested == set(recent[-cache_size:])
            assert total <= cache_size + ahead
        stats: Any = loader.stats()
    assert stats.requests == len(operations)
