"""Indices found missing are left alone for a while, then tried again."""

from __future__ import annotations

from prefetcher._missing import RecentlyMissing


def test_a_missing_index_is_held_for_its_seconds_then_let_go() -> None:
    missing = RecentlyMissing(seconds=2.0)
    missing.add(5, now=10.0)
    assert missing.holds(5, now=11.9)
    assert not missing.holds(5, now=12.0)
    assert not missing  # let go once found expired


def test_an_index_never_found_missing_is_not_held() -> None:
    missing = RecentlyMissing(seconds=2.0)
    missing.add(5, now=10.0)
    assert not missing.holds(6, now=10.0)


def test_discard_forgets_an_index_at_once() -> None:
    missing = RecentlyMissing(seconds=2.0)
    missing.add(5, now=10.0)
    missing.discard(5)
    assert not missing.holds(5, now=10.0)
    missing.discard(5)  # forgetting twice is harmless


def test_expired_indices_are_dropped_once_many_are_remembered() -> None:
    missing = RecentlyMissing(seconds=1.0)
    for index in range(1_000):
        missing.add(index, now=float(index))  # each expires a second after it was added
    assert len(missing) < 300  # never read again, yet not all kept
    assert missing.holds(999, now=999.5)
