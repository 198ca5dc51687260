"""The loader under concurrent random access, and against a model of what it may hold."""

from __future__ import annotations

import os
import random
import re
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from loader_support import WAIT, loader_threads, wait_until

from prefetcher import PrefetchingLoader

ITEMS = 50
CACHE_SIZE = 6
AHEAD = 3


class FlakyError(Exception):
    pass


# A seed of its own each run, printed so a failure can be replayed with PREFETCHER_TEST_SEED.
SEED = int(os.environ.get("PREFETCHER_TEST_SEED", random.randrange(2**32)))


@pytest.mark.timeout(90)
@pytest.mark.parametrize(
    ("hung", "slow"),
    [(0.0, 0.0), (0.01, 0.01)],
    ids=["healthy share", "1% of loads hung, 1% slow"],
)
def test_eight_threads_of_random_gets_get_the_right_items_and_errors(
    hung: float, slow: float
) -> None:
    print(f"PREFETCHER_TEST_SEED={SEED}")
    chances = random.Random(SEED)
    held_at_most = 0
    calls = 0
    counter_lock = threading.Lock()
    release_hung = threading.Event()
    loader: PrefetchingLoader[int, tuple[str, int]]

    def load(n: int) -> tuple[str, int]:
        nonlocal held_at_most, calls
        stats = loader.stats()
        with counter_lock:
            calls += 1
            held_at_most = max(held_at_most, stats.cached + stats.pending)
            chance = chances.random()
        if chance < hung:
            release_hung.wait(1.0)  # far past load_timeout: given up as stuck, then returns late
        elif chance < hung + slow:
            time.sleep(0.05)
        if chance > 0.9:
            raise FlakyError(f"item {n} failed")
        return ("item", n)

    mistakes: list[str] = []
    outcomes: list[str] = []
    outcomes_lock = threading.Lock()

    def consumer(seed: int) -> None:
        rng = random.Random(SEED + seed)
        for step in range(400):
            n = rng.randrange(ITEMS) if rng.random() < 0.5 else (seed * 7 + step) % ITEMS
            try:
                item = loader.get(n, timeout=WAIT)
            except (FlakyError, TimeoutError) as error:
                outcome = type(error).__name__
                notes = getattr(error, "__notes__", [])
                # Its own error: the message names this item, and so does the one loader note
                # (a load refused because too many are stuck has no load, hence no note).
                names_item = re.search(rf"\bitem {n}\b", str(error)) is not None
                loader_notes = [x for x in notes if x.startswith("prefetcher: ")]
                refused = "loads are stuck" in str(error)
                if not names_item or not (
                    refused or (len(loader_notes) == 1 and f"index {n} " in loader_notes[0])
                ):
                    mistakes.append(f"get({n}) raised {error!r} {notes}")
            else:
                outcome = "ok"
                if item != ("item", n):
                    mistakes.append(f"get({n}) returned {item!r}")
            with outcomes_lock:
                outcomes.append(outcome)

    load_timeout = 0.2 if hung else None
    with PrefetchingLoader(
        load, cache_size=CACHE_SIZE, ahead=AHEAD, max_workers=8, load_timeout=load_timeout
    ) as loader:
        threads = [threading.Thread(target=consumer, args=(seed,)) for seed in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT * 6)
        assert not any(thread.is_alive() for thread in threads)
        # Prefetches may still be running after the last get: let them land.
        wait_until(lambda: loader.stats().pending == 0)
        stats = loader.stats()
    release_hung.set()

    assert mistakes == []
    assert len(outcomes) == 8 * 400
    assert {"ok", "FlakyError"} <= set(outcomes)
    assert 0 < held_at_most <= CACHE_SIZE + AHEAD
    assert stats.requests == 8 * 400 == stats.hits + stats.waits + stats.misses
    assert stats.loads_started == calls
    assert (stats.loads_stuck > 0) == (hung > 0)
    wait_until(lambda: not loader_threads())


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
            stats = loader.stats()
            assert stats.cached + stats.pending <= cache_size + ahead
        # The most recent requests are held, whatever came before: each is served from memory.
        expected = recent[-cache_size:]
        hits_before = loader.stats().hits
        for position in expected:
            assert loader.get(position, timeout=WAIT) == keys[position].upper()
        assert loader.stats().hits - hits_before == len(expected)
        assert loader.stats().requests == len(operations) + len(expected)
