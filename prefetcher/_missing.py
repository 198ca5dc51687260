"""Indices whose file was found missing a moment ago, which read-ahead leaves alone for a while.

Near the end of an open-ended sequence the read-ahead window reaches past the last file; without
a memory of what was missing, every request that plans the window afresh (a turn, a jump, a
change of depth) would open those files again. A file that appears later (a live acquisition) is
read ahead once its index has been left alone for ``MISSING_FOR`` seconds, and a request for it
always loads it.
"""

from __future__ import annotations

__all__ = ["MISSING_FOR", "RecentlyMissing"]

#: Seconds read-ahead leaves alone an index whose file was missing.
MISSING_FOR = 1.0
# Expired indices are dropped once this many are remembered.
_PRUNE_AT = 256


class RecentlyMissing(dict[int, float]):
    """Indices found missing, each remembered for ``seconds`` (``perf_counter()`` times).

    A dict of index to when read-ahead may try it again, so that whether any is remembered
    (asked on every request that slides the window, and every completed load) is a check in C.

    Example:
        >>> missing = RecentlyMissing(seconds=1.0)
        >>> missing.add(12, now=100.0)
        >>> missing.holds(12, now=100.5), missing.holds(12, now=101.0)
        (True, False)
        >>> bool(missing)
        False
    """

    __slots__ = ("_seconds",)

    def __init__(self, seconds: float = MISSING_FOR) -> None:
        super().__init__()
        self._seconds = seconds

    def add(self, index: int, now: float) -> None:
        """Remember that the file of ``index`` was missing at ``now``."""
        if len(self) >= _PRUNE_AT:
            for expired in [i for i, until in self.items() if until <= now]:
                del self[expired]
        self[index] = now + self._seconds

    def discard(self, index: int) -> None:
        """Forget ``index`` (its file was read after all)."""
        self.pop(index, None)

    def holds(self, index: int, now: float) -> bool:
        """Whether read-ahead must still leave ``index`` alone at ``now``."""
        until = self.get(index)
        if until is None:
            return False
        if until > now:
            return True
        del self[index]
        return False
