"""Access patterns for the benchmarks: the order in which a consumer asks for item numbers.

Every pattern is a plain list of indices into ``range(n_items)``, made from a seed so that every
contender (and every re-run) sees exactly the same order.
"""

from __future__ import annotations

import random
from collections.abc import Callable

__all__ = ["PATTERNS", "backward", "forward", "make_pattern", "random_order", "viewer"]

#: Runs of the viewer pattern are this many steps long (inclusive bounds).
RUN_MIN, RUN_MAX = 8, 25


def forward(n_items: int, rng: random.Random) -> list[int]:
    """0, 1, 2, ... n_items - 1: a batch job walking the frames in order."""
    return list(range(n_items))


def backward(n_items: int, rng: random.Random) -> list[int]:
    """n_items - 1, ... 1, 0: the same walk in reverse."""
    return list(range(n_items - 1, -1, -1))


def viewer(n_items: int, rng: random.Random) -> list[int]:
    """A person in an image viewer: runs of 8-25 steps forward or backward, separated by jumps.

    Each run starts with a jump to a place at least ``RUN_MAX + 1`` items away from where the last
    run ended (when the item count allows it), so a jump always lands outside any sensible
    read-ahead window. A run never leaves ``range(n_items)``. The pattern has ``n_items`` requests
    in total (the last run is cut short); items may be visited more than once.
    """
    if n_items <= 0:
        return []
    order: list[int] = []
    position: int | None = None
    while len(order) < n_items:
        length = min(rng.randint(RUN_MIN, RUN_MAX), n_items)
        step = rng.choice((1, -1))
        # Start where the whole run fits: forward runs start low enough, backward ones high enough.
        low, high = (0, n_items - length) if step == 1 else (length - 1, n_items - 1)
        candidates = list(range(low, high + 1))
        if position is not None:
            far = [s for s in candidates if abs(s - position) > RUN_MAX]
            candidates = far or candidates
        start = rng.choice(candidates)
        run = [start + step * i for i in range(length)]
        order.extend(run)
        position = run[-1]
    return order[:n_items]


def random_order(n_items: int, rng: random.Random) -> list[int]:
    """Every item exactly once, in a random order: no request can be guessed, none repeats."""
    order = list(range(n_items))
    rng.shuffle(order)
    return order


PATTERNS: dict[str, Callable[[int, random.Random], list[int]]] = {
    "forward": forward,
    "backward": backward,
    "viewer": viewer,
    "random": random_order,
}


def make_pattern(name: str, n_items: int, seed: int = 0) -> list[int]:
    """The request order called ``name`` over ``n_items`` items, the same for the same seed."""
    try:
        make = PATTERNS[name]
    except KeyError:
        raise ValueError(f"unknown pattern {name!r}; choose from {', '.join(PATTERNS)}") from None
    # One generator per pattern, seeded with the pattern's name too, so that adding or removing a
    # pattern from a run does not change the others.
    return make(n_items, random.Random(f"{seed}:{name}"))
