"""The raw-bytes tier: chain() of two loaders; open_sequence keeps raw bytes behind frames."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import WriteImage

from prefetcher import (
    LoaderClosedError,
    LoaderStats,
    PrefetchingLoader,
    TieredLoader,
    TieredStats,
    chain,
    open_sequence,
)

TIMEOUT = 30


def _value(item: object) -> int:
    return int(np.asarray(item).flat[0])


def _wait_until(condition: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    """Poll ``condition`` every few milliseconds, at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met within the timeout")
        time.sleep(0.005)


def _settled(loader: TieredLoader[Any, Any]) -> bool:
    stats = loader.stats()
    return stats.pending == 0 and stats.raw.pending == 0


@pytest.fixture
def frames(tmp_path: Path, write_image: WriteImage) -> Path:
    for n in range(12):
        write_image(tmp_path / f"{n}.png", n)
    return tmp_path


# -- chain() ---------------------------------------------------------------------------------


def test_chain_gives_decode_of_the_fetch_stages_item_and_key() -> None:
    fetch: PrefetchingLoader[str, bytes] = PrefetchingLoader(
        lambda key: key.encode(), ["a", "bb", "ccc"], ahead=0
    )

    with chain(fetch, lambda data, key: (len(data), key), ahead=0) as loader:
        assert loader.get(2, timeout=TIMEOUT) == (3, "ccc")
        assert list(loader) == [(1, "a"), (2, "bb"), (3, "ccc")]
        assert len(loader) == 3
        assert loader.keys == ["a", "bb", "ccc"]


def test_chain_decodes_again_from_held_bytes_without_fetching() -> None:
    fetch: PrefetchingLoader[int, bytes] = PrefetchingLoader(
        lambda n: bytes([n]), ahead=0, cache_size=100
    )

    with chain(fetch, lambda data, key: data[0], ahead=0, cache_size=1) as loader:
        for n in range(5):
            loader.get(n, timeout=TIMEOUT)
        assert loader.get(0, timeout=TIMEOUT) == 0
        stats = loader.stats()

    assert (stats.misses, stats.raw.loads_started, stats.raw.hits) == (6, 5, 1)


def test_chain_stats_are_the_decode_stages_with_the_fetch_stages_as_raw() -> None:
    fetch: PrefetchingLoader[int, bytes] = PrefetchingLoader(lambda n: b"x", ahead=0)

    with chain(fetch, lambda data, key: data, ahead=0) as loader:
        loader.get(1, timeout=TIMEOUT)
        loader.get(1, timeout=TIMEOUT)
        stats = loader.stats()

    assert isinstance(stats, TieredStats) and isinstance(stats, LoaderStats)
    assert (stats.requests, stats.hits, stats.misses) == (2, 1, 1)
    assert (stats.raw.requests, stats.raw.misses) == (1, 1)


def test_chain_repr_shows_both_stages() -> None:
    fetch: PrefetchingLoader[int, bytes] = PrefetchingLoader(lambda n: b"x", ahead=0)
    loader = chain(fetch, lambda data, key: data, ahead=0)
    loader.get(1, timeout=TIMEOUT)
    loader.close()

    assert repr(loader) == (
        "<TieredLoader decoded=(cached=0 pending=0 ahead=0) "
        "raw=(cached=0 pending=0 ahead=0) closed=True>"
    )


def test_chain_repr_counts_ready_items_of_each_stage() -> None:
    fetch: PrefetchingLoader[int, bytes] = PrefetchingLoader(lambda n: b"x", ahead=0, cache_size=10)

    with chain(fetch, lambda data, key: data, ahead=0, cache_size=1) as loader:
        for n in range(3):
            loader.get(n, timeout=TIMEOUT)
        assert "decoded=(cached=1 " in repr(loader)
        assert "raw=(cached=3 " in repr(loader)


def test_chain_fetch_error_comes_out_of_get_with_notes_naming_the_index() -> None:
    def fetch_item(n: int) -> bytes:
        raise FileNotFoundError(f"no file {n}")

    with (
        chain(PrefetchingLoader(fetch_item, ahead=0), lambda d, k: d, ahead=0) as loader,
        pytest.raises(FileNotFoundError, match="no file 4") as caught,
    ):
        loader.get(4, timeout=TIMEOUT)

    assert any("index 4" in note for note in getattr(caught.value, "__notes__", []))


def test_chain_close_closes_both_stages() -> None:
    fetch: PrefetchingLoader[int, bytes] = PrefetchingLoader(lambda n: b"x", ahead=0)
    loader = chain(fetch, lambda data, key: data)

    loader.close()

    assert loader.closed and fetch.closed
    with pytest.raises(LoaderClosedError):
        loader.get(0)


def test_chain_invalidate_forgets_the_item_in_both_stages() -> None:
    version = {"n": 0}
    fetch: PrefetchingLoader[int, bytes] = PrefetchingLoader(
        lambda n: bytes([version["n"]]), ahead=0
    )

    with chain(fetch, lambda data, key: data[0], ahead=0) as loader:
        assert loader.get(0, timeout=TIMEOUT) == 0
        version["n"] = 1
        loader.invalidate(0)
        assert loader.get(0, timeout=TIMEOUT) == 1


def test_chain_rejects_a_fetch_stage_that_is_not_a_loader() -> None:
    with pytest.raises(TypeError, match="fetch must be a PrefetchingLoader"):
        chain(lambda n: n, lambda data, key: data)  # type: ignore[arg-type]


# -- open_sequence's raw tier ----------------------------------------------------------------


def test_going_back_decodes_from_held_bytes_without_reading_the_file(frames: Path) -> None:
    with open_sequence(frames, cache_size=2, ahead=0, raw_ahead=0) as loader:
        for n in range(8):
            loader.get(n, timeout=TIMEOUT)
        assert _value(loader.get(0, timeout=TIMEOUT)) == 0
        stats = loader.stats()

    assert stats.misses == 9  # decoded again ...
    assert (stats.raw.loads_started, stats.raw.hits) == (8, 1)  # ... from the bytes in memory


def test_raw_bytes_zero_reads_the_file_again_when_going_back(frames: Path) -> None:
    with open_sequence(frames, cache_size=2, ahead=0, raw_bytes=0) as loader:
        for n in range(8):
            loader.get(n, timeout=TIMEOUT)
        assert _value(loader.get(0, timeout=TIMEOUT)) == 0
        stats = loader.stats()

    assert (stats.raw.loads_started, stats.raw.hits, stats.raw.cached) == (9, 0, 0)


def test_raw_bytes_budget_bounds_the_bytes_held(frames: Path) -> None:
    size = (frames / "0.png").stat().st_size
    with open_sequence(frames, ahead=0, raw_ahead=0, raw_bytes=3 * size) as loader:
        for n in range(8):
            loader.get(n, timeout=TIMEOUT)
        assert loader.stats().raw.cached <= 3


def test_bytes_are_read_ahead_beyond_the_decoded_window(frames: Path) -> None:
    with open_sequence(frames, ahead=0, raw_ahead=4) as loader:
        for n in range(3):
            loader.get(n, timeout=TIMEOUT)
        _wait_until(lambda: _settled(loader))
        stats = loader.stats()

    # Decoded: the three requested; bytes: those and the four after the last.
    assert (stats.loads_started, stats.raw.loads_started) == (3, 7)


def test_sequence_repr_shows_both_tiers(frames: Path) -> None:
    with open_sequence(frames, ahead=0, raw_ahead=0) as loader:
        loader.get(0, timeout=TIMEOUT)
        assert repr(loader) == (
            "<ImageSequence decoded=(cached=1 pending=0 ahead=0) "
            "raw=(cached=1 pending=0 ahead=0) closed=False>"
        )


def test_raw_bytes_must_not_be_negative(frames: Path) -> None:
    with pytest.raises(ValueError, match="raw_bytes must be >= 0"):
        open_sequence(frames, raw_bytes=-1)


@pytest.mark.parametrize("raw_ahead", [-1, 1.5, "deep"])
def test_raw_ahead_must_be_an_int_or_auto(frames: Path, raw_ahead: object) -> None:
    with pytest.raises(ValueError, match="raw_ahead must be an int >= 0 or 'auto'"):
        open_sequence(frames, raw_ahead=raw_ahead)


def test_template_sequence_has_the_raw_tier_too(frames: Path) -> None:
    with open_sequence(str(frames / "{}.png"), cache_size=1, ahead=0, raw_ahead=0) as loader:
        assert [_value(loader.get(n, timeout=TIMEOUT)) for n in (3, 4, 3)] == [3, 4, 3]
        assert loader.stats().raw.hits == 1


def test_reads_run_in_a_process_pool_given_as_executor(frames: Path) -> None:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # spawn: a fresh interpreter, so the fetch stage's load really crosses a pickle.
    context = multiprocessing.get_context("spawn")
    with (
        ProcessPoolExecutor(max_workers=1, mp_context=context) as pool,
        open_sequence(str(frames / "{}.png"), executor=pool, ahead=0, raw_ahead=0) as loader,
    ):
        assert _value(loader.get(2, timeout=TIMEOUT)) == 2
        loader.refresh()  # the signatures noted in this process, from what the worker read
        assert loader.stats().raw.loads_completed == 1


@pytest.mark.parametrize("module", ["_tiers", "_diskcache"])
def test_docstring_examples_run(module: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(f"prefetcher.{module}"))
    assert result.attempted > 0
    assert result.failed == 0


@pytest.mark.slow
def test_tiers_benchmark_runs_and_the_disk_tier_halves_the_reads_of_a_second_run() -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    command = [
        sys.executable,
        str(root / "benchmarks" / "tiers.py"),
        "--only=scripts",
        "--frames=6",
        "--size=32x32",
        "--runs=1",
        "--latency=0.001",
        "--work=0",
    ]
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=50)
    assert done.returncode == 0, done.stdout + done.stderr

    reads = {
        " ".join(line.split()[:-4]): int(line.split()[-4])
        for line in done.stdout.splitlines()
        if line.startswith(("back30", "twice"))
    }
    assert reads["twice no tiers (raw_bytes=0)"] == 12
    assert reads["twice raw bytes + disk"] == 6
    assert reads["back30 raw bytes (default)"] == 6
