"""The loader's table of entries: one per index it holds, in least-recently-requested order.

Nothing here starts threads or calls user code; every method is called with the loader's lock
held, so the table is plain bookkeeping and is tested without threads.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any

from ._pool import PoolCall

__all__ = ["NO_KEY", "Entry", "EntryState", "EntryTable", "InvalidTransitionError"]


class _NoKey:
    """The key of an entry before it is looked up, and after a lookup that failed."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<no key>"


#: What :attr:`Entry.key` holds until ``keys[n]`` has returned (``None`` may be a real key).
NO_KEY: Any = _NoKey()


class EntryState(enum.Enum):
    """Where an entry is in its life; the value is what ``repr`` shows."""

    #: A prefetch waiting in the loader's queue for a free worker.
    QUEUED = "queued"
    #: Handed to the executor; its load is queued there or running.
    RUNNING = "running"
    #: An attempt failed with an error worth retrying; no worker is held until ``retry_at``.
    RETRY_WAIT = "waiting to retry"
    #: The item is ready in memory.
    DONE = "ready"

    # Members are compared by identity; hashing them so too keeps the check of every move
    # (a dict and a set lookup, twice an item) in C instead of in Enum's Python __hash__.
    __hash__ = object.__hash__


# A failed or abandoned load leaves the table instead of taking a state of its own.
_ALLOWED: dict[EntryState, frozenset[EntryState]] = {
    EntryState.QUEUED: frozenset({EntryState.RUNNING}),
    EntryState.RUNNING: frozenset({EntryState.DONE, EntryState.RETRY_WAIT}),
    EntryState.RETRY_WAIT: frozenset({EntryState.RUNNING, EntryState.QUEUED}),
    EntryState.DONE: frozenset(),
}


class InvalidTransitionError(RuntimeError):
    """An entry was moved to a state it cannot reach from its current one (a loader bug)."""


class Entry:
    """One index the loader holds or loads.

    ``attempt`` numbers the loads started for this entry; a result that comes back for an older
    attempt (one given up as stuck, or abandoned at close) is dropped.
    """

    __slots__ = (
        "attempt",
        "future",
        "index",
        "key",
        "requested",
        "retry_at",
        "size",
        "started_at",
        "state",
        "submission",
        "value",
    )

    def __init__(self, index: int, *, requested: bool) -> None:
        self.index = index
        self.state = EntryState.QUEUED
        self.requested = requested
        self.key: Any = NO_KEY
        self.value: Any = None
        self.size = 0
        self.attempt = 0
        self.started_at = 0.0  # when the current attempt was handed to the executor
        self.retry_at = 0.0  # with RETRY_WAIT: when the next attempt is due
        # The executor's handle on this attempt: its future, or the loader's own pool's call.
        self.submission: Future[Any] | PoolCall | None = None
        # Created only when a caller waits or asks for a Future: a prefetch nobody waits for
        # costs no Future.
        self.future: Future[Any] | None = None

    def move_to(self, state: EntryState) -> None:
        """Change state, refusing a move the life of an entry does not have."""
        if state not in _ALLOWED[self.state]:
            raise InvalidTransitionError(
                f"entry {self.index}: cannot go from {self.state.value} to {state.value}"
            )
        self.state = state

    def start_attempt(self, now: float) -> int:
        """Move to RUNNING for a new attempt; return its number."""
        self.move_to(EntryState.RUNNING)
        self.attempt += 1
        self.started_at = now
        self.submission = None
        return self.attempt

    def __repr__(self) -> str:
        kind = "requested" if self.requested else "prefetch"
        return f"<Entry {self.index} {self.state.value} {kind} attempt={self.attempt}>"


class EntryTable:
    """Entries by index, the prefetch queue, and the loads in flight.

    Invariants (kept by every method):

    - ``requested_count`` is the number of requested entries in the table;
    - ``held_bytes`` is the sum of ``size`` over DONE entries in the table;
    - the queue holds exactly the QUEUED entries of the table, nearest to the consumer first;
    - ``running`` holds every RUNNING entry whose attempt is still awaited, and ``retrying``
      every RETRY_WAIT entry, in the table or not: an entry evicted while it loads (or waits to
      be tried again) stays there, so a later request joins its load instead of starting it twice.
    """

    def __init__(self) -> None:
        # Requested entries move to the end when requested again, so the first requested
        # entry in iteration order is the least recently requested.
        self._entries: OrderedDict[int, Entry] = OrderedDict()
        #: ``get(index)``: the entry for ``index`` in the table, or ``None``. The dict's own
        #: method, as it is called on every request, twice.
        self.get: Callable[[int], Entry | None] = self._entries.get
        #: The QUEUED entries, nearest to the consumer first. Read it freely (every request and
        #: every completed load looks whether it is empty); change it only through the methods.
        self.queue: list[Entry] = []
        self.running: dict[int, Entry] = {}
        self.retrying: dict[int, Entry] = {}
        self.requested_count = 0
        self.held_bytes = 0
        #: The items (and their futures) of ready entries taken out of the table, not let go
        #: yet: the caller lets them go once the loader's lock is released (see
        #: :meth:`take_released`), as dropping the last reference to an item runs its finalizer,
        #: which is user code.
        self.released: list[Any] = []

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries.values())

    def holds(self, entry: Entry) -> bool:
        """Whether ``entry`` itself (not a newer one for its index) is in the table."""
        return self._entries.get(entry.index) is entry

    def ready_count(self) -> int:
        """How many entries are DONE."""
        return sum(1 for entry in self._entries.values() if entry.state is EntryState.DONE)

    def add(self, entry: Entry) -> None:
        """Put ``entry`` in the table as the most recent; queue it if it is QUEUED."""
        self._entries[entry.index] = entry
        if entry.requested:
            self.requested_count += 1
        if entry.state is EntryState.DONE:
            self.held_bytes += entry.size
        elif entry.state is EntryState.QUEUED:
            self.queue.append(entry)

    def touch(self, entry: Entry) -> None:
        """Mark ``entry`` requested and the most recently requested."""
        if not entry.requested:
            entry.requested = True
            self.requested_count += 1
        self._entries.move_to_end(entry.index)

    def remove(self, entry: Entry) -> None:
        """Take ``entry`` out of the table (and the queue).

        A ready entry gives up its item and its future to :attr:`released`: whatever still
        refers to the entry (a head start, say) keeps neither alive.
        """
        del self._entries[entry.index]
        if entry.requested:
            self.requested_count -= 1
        if entry.state is EntryState.DONE:
            self.held_bytes -= entry.size
            self.released.append(entry.value)
            entry.value = None
            if entry.future is not None:  # it holds the item too
                self.released.append(entry.future)
                entry.future = None
        elif entry.state is EntryState.QUEUED:
            self.queue.remove(entry)

    def take_released(self) -> list[Any]:
        """What :meth:`remove` took from ready entries since the last call, for the caller to
        let go once the loader's lock is released (it must not change the list)."""
        released = self.released
        if released:
            self.released = []
        return released

    def clear(self) -> list[Entry]:
        """Remove every entry; return them."""
        entries = list(self._entries.values())
        for entry in entries:
            self.remove(entry)
        return entries

    # -- the queue and the loads in flight ----------------------------------------------------

    def dequeue(self, entry: Entry) -> None:
        """Take a QUEUED entry out of the queue (it is about to start)."""
        self.queue.remove(entry)

    def requeue(self, wanted: list[Entry], keep: set[int]) -> list[Entry]:
        """Make ``wanted`` the queue; remove and return queued entries not in ``keep``."""
        dropped = [entry for entry in self.queue if entry.index not in keep]
        for entry in dropped:
            self.remove(entry)
        self.queue = wanted
        return dropped

    def queue_first(self, entry: Entry) -> None:
        """Put an entry that became QUEUED again at the head of the queue."""
        self.queue.insert(0, entry)

    def first_queued(self, count: int) -> list[Entry]:
        """The ``count`` nearest queued prefetches (fewer if fewer are queued), left queued."""
        return self.queue[: max(0, count)]

    def set_ready(self, entry: Entry, value: Any, size: int) -> None:
        """Record a completed load of an entry in the table."""
        entry.move_to(EntryState.DONE)
        entry.value = value
        entry.size = size
        self.held_bytes += size

    # -- eviction -------------------------------------------------------------------------------

    def victims(
        self,
        *,
        cache_size: int,
        max_entries: int,
        max_bytes: int | None,
        window: set[int],
        protect: Entry | None,
    ) -> list[Entry]:
        """Remove and return the entries that must go for the bounds to hold.

        First the requested entries beyond ``cache_size``, least recently requested first; then,
        while more than ``max_entries`` are held, prefetches left over from an earlier window
        before old requests; then, while more than ``max_bytes`` are held, ready items in the
        same order, and finally ready prefetches of the current window. ``protect`` (the entry
        being requested) is never chosen.
        """
        chosen: list[Entry] = []
        while self.requested_count > cache_size:
            # The common case: one request too many, and it is the oldest entry.
            entry = self._oldest_request(protect)
            if entry is None:
                break
            self.remove(entry)
            chosen.append(entry)
        if len(self._entries) <= max_entries and (
            max_bytes is None or self.held_bytes <= max_bytes
        ):
            return chosen  # the common case: the other bounds hold

        def take(entry: Entry | None) -> bool:
            if entry is None:
                return False
            self.remove(entry)
            chosen.append(entry)
            return True

        def stale(entry: Entry) -> bool:
            return not entry.requested and entry.index not in window

        def ready(entry: Entry) -> bool:
            return entry.state is EntryState.DONE and entry is not protect

        while len(self._entries) > max_entries and (
            take(self._oldest(stale)) or take(self._oldest_request(protect))
        ):
            pass
        while (
            max_bytes is not None
            and self.held_bytes > max_bytes
            and (
                take(self._oldest(lambda e: ready(e) and stale(e)))
                or take(self._oldest(lambda e: ready(e) and e.requested))
                or take(self._oldest(ready))
            )
        ):
            pass
        return chosen

    def _oldest_request(self, protect: Entry | None) -> Entry | None:
        """The least recently requested entry but ``protect``, or ``None``."""
        for entry in self._entries.values():
            if entry.requested and entry is not protect:
                return entry
        return None

    def _oldest(self, accept: Callable[[Entry], bool]) -> Entry | None:
        for entry in self._entries.values():
            if accept(entry):
                return entry
        return None
