"""Where the consumer is heading and which indices to read ahead: pure functions."""

from __future__ import annotations

__all__ = ["Travel", "next_travel", "window_targets"]

from typing import NamedTuple


class Travel(NamedTuple):
    """The consumer's last position and direction, and the step that led there."""

    #: The index requested last, or ``None`` before the first request.
    position: int | None
    #: +1 forward, -1 backward: the sign of the last step that moved.
    direction: int
    #: ``position`` minus the one before it; ``None`` for the first request.
    step: int | None


def next_travel(previous: Travel, position: int, length: int | None) -> Travel:
    """Return the travel after a request for ``position``.

    A repeated request (step 0) keeps the direction. A first request for the last of ``length``
    items can only go back, so it turns the direction backward.

    Example:
        >>> start = Travel(position=None, direction=1, step=None)
        >>> next_travel(next_travel(start, 5, None), 3, None)
        Travel(position=3, direction=-1, step=-2)
    """
    last = previous.position
    if last is not None and position != last:  # the common case first: a step that moves
        step = position - last
        return Travel(position, 1 if step > 0 else -1, step)
    if last is None:
        backward = length is not None and position == length - 1 and length > 1
        return Travel(position, -1 if backward else previous.direction, None)
    return Travel(position, previous.direction, 0)


def window_targets(
    position: int, direction: int, ahead: int, behind: int, length: int | None
) -> list[int]:
    """Return the indices to read around ``position``, nearest first.

    ``ahead`` items in ``direction``, interleaved with ``behind`` items the other way, all
    within ``0 <= index < length`` (``length`` ``None``: no upper end). Near an end of the
    sequence, the items the other way has no room for are read ahead instead: a first request
    for item 0 can only go on forward.

    Example:
        >>> window_targets(5, 1, ahead=3, behind=1, length=None)
        [6, 4, 7, 8]
        >>> window_targets(1, -1, ahead=3, behind=0, length=10)
        [0]
        >>> window_targets(0, 1, ahead=1, behind=1, length=None)
        [1, 2]
    """
    room_behind = _room(position, -direction, length, wanted=behind)
    if behind > room_behind:
        ahead += behind - room_behind
        behind = room_behind
    targets: list[int] = []
    for distance in range(1, ahead + 1):
        targets.append(position + direction * distance)
        if distance <= behind:
            targets.append(position - direction * distance)
    return [t for t in targets if t >= 0 and (length is None or t < length)]


def _room(position: int, direction: int, length: int | None, wanted: int) -> int:
    """How many items there are beyond ``position`` in ``direction`` (at most ``wanted``)."""
    if direction < 0:
        return min(wanted, position)
    return wanted if length is None else min(wanted, length - 1 - position)
