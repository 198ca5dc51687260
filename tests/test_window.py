"""The read-ahead window: what it queues as the consumer steps on, deeper or shallower."""

from __future__ import annotations

import random

import pytest

from prefetcher._entries import Entry, EntryState, EntryTable
from prefetcher._window import ReadAheadWindow


def queued(table: EntryTable) -> list[int]:
    return [entry.index for entry in table.queue]


def start(table: EntryTable, entry: Entry) -> None:
    """Start a queued entry's load, as the scheduler starts it."""
    table.dequeue(entry)
    entry.start_attempt(0.0)
    table.running[entry.index] = entry


def request(
    table: EntryTable,
    window: ReadAheadWindow,
    position: int,
    ahead: int,
    direction: int = 1,
    length: int | None = None,
) -> list[int]:
    """A request as the scheduler makes it: its queued item starts, the window is planned
    around it. Returns the queued prefetches the window dropped."""
    entry = table.get(position)
    if entry is not None and entry.state is EntryState.QUEUED:
        start(table, entry)
    dropped = window.plan(position, direction, ahead, 0, length, now=0.0)
    return [entry.index for entry in dropped]


def walk(table: EntryTable, window: ReadAheadWindow, depths: list[int], direction: int) -> None:
    """Requests for 10, 11, ... (or 10, 9, ... backward), with these depths."""
    for step, ahead in enumerate(depths):
        request(table, window, 10 + direction * step, ahead, direction)


def test_a_step_on_queues_the_one_item_the_window_gains() -> None:
    table = EntryTable()
    window = ReadAheadWindow(table)
    walk(table, window, [3, 3], direction=1)
    assert queued(table) == [12, 13, 14]
    assert window.indices == {12, 13, 14}


def test_a_window_that_deepens_on_a_step_queues_its_new_far_items_nearest_first() -> None:
    table = EntryTable()
    window = ReadAheadWindow(table)
    walk(table, window, [2, 5], direction=1)
    assert queued(table) == [12, 13, 14, 15, 16]
    assert window.indices == {12, 13, 14, 15, 16}


def test_a_window_that_gets_shallower_drops_its_queued_far_items() -> None:
    table = EntryTable()
    window = ReadAheadWindow(table)
    request(table, window, 10, ahead=5)
    assert request(table, window, 11, ahead=2) == [14, 15]
    assert queued(table) == [12, 13]
    assert window.indices == {12, 13}
    assert table.get(15) is None


def test_a_far_item_already_loading_stays_in_the_table_when_the_window_gets_shallower() -> None:
    table = EntryTable()
    window = ReadAheadWindow(table)
    request(table, window, 10, ahead=5)
    loading = table.get(15)
    assert loading is not None
    start(table, loading)  # the prefetch of 15 starts
    assert request(table, window, 11, ahead=3) == []  # 15 is loading: nothing queued to drop
    assert table.get(15) is loading and loading.state is EntryState.RUNNING
    assert 15 not in window.indices  # out of the window: the first to go if room is needed


def test_the_far_end_stops_at_the_first_item() -> None:
    table = EntryTable()
    window = ReadAheadWindow(table)
    request(table, window, 3, ahead=2, direction=-1)
    request(table, window, 2, ahead=4, direction=-1)  # deeper, but only 1 and 0 lie ahead
    assert window.indices == {1, 0}
    assert queued(table) == [1, 0]


def test_the_far_end_stops_at_the_last_item() -> None:
    table = EntryTable()
    window = ReadAheadWindow(table)
    request(table, window, 6, ahead=2, length=10)
    request(table, window, 7, ahead=4, length=10)
    assert window.indices == {8, 9}
    assert queued(table) == [8, 9]


@pytest.mark.parametrize("direction", [1, -1])
def test_stepping_with_changing_depths_queues_what_planning_afresh_would(direction: int) -> None:
    rng = random.Random(direction)
    depths = [rng.randint(0, 9) for _ in range(8)]
    stepped_table = EntryTable()
    stepped = ReadAheadWindow(stepped_table)
    walk(stepped_table, stepped, depths, direction)
    fresh_table = EntryTable()
    fresh = ReadAheadWindow(fresh_table)
    last = 10 + direction * (len(depths) - 1)
    request(fresh_table, fresh, last, depths[-1], direction)
    assert stepped.indices == fresh.indices
    assert queued(stepped_table) == queued(fresh_table)
