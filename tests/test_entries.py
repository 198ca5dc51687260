"""The entry table: states, the queue, loads in flight, and the order of eviction."""

from __future__ import annotations

import pytest

from prefetcher._entries import Entry, EntryState, EntryTable, InvalidTransitionError


def ready(index: int, size: int, *, requested: bool) -> Entry:
    entry = Entry(index, requested=requested)
    entry.start_attempt(0.0)
    entry.move_to(EntryState.DONE)
    entry.size = size
    return entry


def test_an_entry_starts_queued_and_cannot_skip_loading() -> None:
    entry = Entry(3, requested=False)
    assert entry.state is EntryState.QUEUED
    with pytest.raises(InvalidTransitionError, match="entry 3: cannot go from queued to ready"):
        entry.move_to(EntryState.DONE)


def test_a_ready_entry_never_changes_state_again() -> None:
    entry = ready(1, 10, requested=True)
    for state in EntryState:
        with pytest.raises(InvalidTransitionError):
            entry.move_to(state)


def test_each_attempt_gets_a_new_number() -> None:
    entry = Entry(0, requested=True)
    assert entry.start_attempt(1.0) == 1
    entry.move_to(EntryState.RETRY_WAIT)
    assert entry.start_attempt(2.0) == 2


def test_the_table_counts_requested_entries_and_held_bytes() -> None:
    table = EntryTable()
    table.add(ready(0, 10, requested=True))
    table.add(ready(1, 5, requested=False))
    assert (table.requested_count, table.held_bytes) == (1, 15)
    table.touch(table.get(1))  # type: ignore[arg-type]
    assert table.requested_count == 2
    table.remove(table.get(0))  # type: ignore[arg-type]
    assert (table.requested_count, table.held_bytes, len(table)) == (1, 5, 1)


def test_queued_entries_leave_the_queue_with_the_table() -> None:
    table = EntryTable()
    entries = [Entry(n, requested=False) for n in range(3)]
    for entry in entries:
        table.add(entry)
    table.remove(entries[0])
    assert table.first_queued(3) == entries[1:]


def test_requeue_drops_queued_entries_outside_the_window() -> None:
    table = EntryTable()
    old = [Entry(n, requested=False) for n in (1, 2, 3)]
    for entry in old:
        table.add(entry)
    new = Entry(9, requested=False)
    table.add(new)
    dropped = table.requeue([new, old[2]], keep={3, 9})
    assert dropped == old[:2]
    assert table.get(1) is None and table.get(3) is old[2]
    assert table.first_queued(2) == [new, old[2]]


def test_the_least_recently_requested_entries_go_first_beyond_cache_size() -> None:
    table = EntryTable()
    for n in range(4):
        table.add(ready(n, 1, requested=True))
    table.touch(table.get(0))  # type: ignore[arg-type]
    victims = table.victims(
        cache_size=2, max_entries=10, max_bytes=None, window=set(), protect=None
    )
    assert [v.index for v in victims] == [1, 2]


def test_beyond_max_entries_stale_prefetches_go_before_old_requests() -> None:
    table = EntryTable()
    table.add(ready(0, 1, requested=True))
    table.add(ready(1, 1, requested=False))  # in the window
    table.add(ready(2, 1, requested=False))  # stale
    table.add(ready(3, 1, requested=True))
    victims = table.victims(cache_size=5, max_entries=2, max_bytes=None, window={1}, protect=None)
    assert [v.index for v in victims] == [2, 0]


def test_the_byte_bound_evicts_stale_prefetches_then_old_requests_then_the_window() -> None:
    table = EntryTable()
    table.add(ready(0, 10, requested=True))
    table.add(ready(1, 10, requested=False))  # in the window
    table.add(ready(2, 10, requested=False))  # stale
    table.add(ready(3, 10, requested=True))
    protect = table.get(3)
    victims = table.victims(cache_size=5, max_entries=9, max_bytes=5, window={1}, protect=protect)
    assert [v.index for v in victims] == [2, 0, 1]
    assert table.held_bytes == 10


def test_an_entry_evicted_while_it_loads_stays_among_the_loads_in_flight() -> None:
    table = EntryTable()
    entry = Entry(4, requested=True)
    entry.start_attempt(0.0)
    table.add(entry)
    table.running[4] = entry
    table.remove(entry)
    assert table.get(4) is None
    assert table.running[4] is entry
