"""The read-ahead window: which indices are read ahead of the consumer, kept in the queue."""

from __future__ import annotations

from ._entries import Entry, EntryState, EntryTable
from ._missing import RecentlyMissing
from ._planning import window_targets

__all__ = ["ReadAheadWindow"]


class ReadAheadWindow:
    """The window around the last request, planned into ``table``; called under the lock.

    ``indices`` is the window in force: its entries are in the table, the QUEUED ones in the
    table's queue, nearest first, and nothing else is queued. ``missing`` holds the indices
    whose file was missing a moment ago, which the window leaves out.
    """

    def __init__(self, table: EntryTable) -> None:
        self._table = table
        self.indices: set[int] = set()
        self.missing = RecentlyMissing()
        self._shape = (-1, -1)  # (ahead, behind) of the window in force
        # (position, direction) the window was planned from; None: plan afresh.
        self._planned_from: tuple[int, int] | None = None

    def has_shape(self, ahead: int, behind: int) -> bool:
        """Whether the window in force reads ``ahead`` items ahead and ``behind`` behind."""
        return self._shape == (ahead, behind)

    def forget(self, position: int | None) -> None:
        """After ``position`` (every index for ``None``) was dropped: plan afresh next time.

        What was known missing there is forgotten too: the files may have been written since.
        """
        self._planned_from = None
        if position is None:
            self.missing = RecentlyMissing()
        else:
            self.missing.discard(position)

    def plan(
        self,
        position: int,
        direction: int,
        ahead: int,
        behind: int,
        length: int | None,
        now: float,
    ) -> list[Entry]:
        """Queue the window around ``position``; return the queued prefetches dropped from it."""
        if (
            behind == 0
            and self._shape[1] == 0
            and self._planned_from == (position - direction, direction)
        ):
            return self._slide(position, direction, ahead, length, now)
        self._shape = (ahead, behind)
        self._planned_from = (position, direction)
        targets = window_targets(position, direction, ahead, behind, length)
        if self.missing:
            targets = [target for target in targets if not self.missing.holds(target, now)]
        self.indices = set(targets)
        wanted: list[Entry] = []
        for target in targets:
            entry = self._entry(target)
            if entry.state is EntryState.QUEUED:
                wanted.append(entry)
        return self._table.requeue(wanted, keep=self.indices)

    def _slide(
        self, position: int, direction: int, ahead: int, length: int | None, now: float
    ) -> list[Entry]:
        """One step on in the direction of travel, ``ahead`` deep: the window gains the items
        its far end reaches now, or, shallower than before, loses those it no longer reaches.

        An adaptive window changes its depth by an item or two on many requests of a run: this
        touches only the items that enter or leave the window, not all of it. What the window
        held is already planned; what left it since (evicted, or failed) was dropped on purpose,
        so it is not loaded again until it is asked for. Returns the queued prefetches dropped.
        """
        was_ahead = self._shape[0]
        self._shape = (ahead, 0)
        self._planned_from = (position, direction)
        indices = self.indices
        indices.discard(position)
        dropped: list[Entry] = []
        for step in range(ahead + 1, was_ahead):  # shallower: the far end leaves the window
            target = position + direction * step
            if target in indices:
                indices.discard(target)
                entry = self._table.get(target)
                if entry is not None and entry.state is EntryState.QUEUED:
                    self._table.remove(entry)
                    dropped.append(entry)
        for step in range(max(was_ahead, 1), ahead + 1):  # as deep or deeper: the far end grows
            target = position + direction * step
            if target < 0 or (length is not None and target >= length):
                break
            if not (self.missing and self.missing.holds(target, now)):
                indices.add(target)
                self._entry(target)
        return dropped

    def _entry(self, target: int) -> Entry:
        """The entry for ``target`` of the window, added to the table (queued) if new."""
        table = self._table
        entry = table.get(target)
        if entry is None:
            entry = (
                table.running.get(target)
                or table.retrying.get(target)
                or Entry(target, requested=False)
            )
            table.add(entry)  # a load in flight rejoins the table instead of starting again
        return entry
