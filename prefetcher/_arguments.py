"""Checks of the loader's arguments: each error names the argument and the bad value."""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from concurrent.futures import Executor
from typing import Any

__all__ = [
    "check_callable",
    "check_exceptions",
    "check_executor",
    "check_int",
    "check_keys",
    "check_seconds",
    "normalize_index",
    "window_cap",
]

# With ahead="auto" and no max_ahead: deep enough to hide a 100 ms share behind 10 ms of work per
# item (8 reached only 1.34x the lower bound there, 16 reached 1.11x; benchmarks/run.py
# --latency 0.1). The window only grows as deep as the measured latency needs.
DEFAULT_MAX_AHEAD = 16


def check_callable(name: str, value: object, *, optional: bool = False) -> None:
    """Raise ``TypeError`` naming ``name`` unless ``value`` is callable (or optional and None)."""
    if not callable(value) and not (optional and value is None):
        raise TypeError(f"{name} must be callable, got {value!r}")


def check_keys(keys: object) -> None:
    """Refuse keys that are not a sequence, and a ``str``, which is one of characters."""
    if isinstance(keys, str) or (keys is not None and not isinstance(keys, Sequence)):
        raise TypeError(f"keys must be a sequence (not a str) or None, got {keys!r:.80}")


def check_executor(executor: object) -> None:
    if executor is not None and not isinstance(executor, Executor):
        raise TypeError(
            f"executor must be a concurrent.futures.Executor, got {type(executor).__name__}"
        )


def check_int(name: str, value: object, minimum: int) -> int:
    """Return ``value`` if it is an int (not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_seconds(name: str, value: object) -> float | None:
    """Return ``value`` if it is ``None`` or a finite, non-negative number of seconds."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"{name} must be None or a number of seconds, got {type(value).__name__} {value!r}"
        )
    if not value >= 0 or math.isinf(value):  # `not >=` also refuses NaN
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def check_exceptions(name: str, value: object) -> tuple[type[BaseException], ...]:
    """Return ``value`` as a tuple of exception classes (one class is accepted too)."""
    classes = (value,) if isinstance(value, type) else value
    if not isinstance(classes, tuple) or not all(
        isinstance(c, type) and issubclass(c, BaseException) for c in classes
    ):
        raise TypeError(f"{name} must be an exception class or a tuple of them, got {value!r}")
    return classes


def window_cap(ahead: object, max_ahead: object) -> int:
    """Validate ``ahead``/``max_ahead``; return the largest read-ahead window they allow."""
    if ahead == "auto":
        if max_ahead is None:
            return DEFAULT_MAX_AHEAD
        return check_int("max_ahead", max_ahead, minimum=1)
    if isinstance(ahead, str):
        raise ValueError(f"ahead must be an int >= 0 or 'auto', got {ahead!r}")
    cap = check_int("ahead", ahead, minimum=0)
    if max_ahead is not None:
        raise ValueError(f"max_ahead applies only to ahead='auto', got ahead={ahead!r}")
    return cap


def normalize_index(index: Any, length: int | None) -> int:
    """Return ``index`` as a position in ``0 <= position < length`` (no end without length)."""
    if isinstance(index, bool):
        raise TypeError(f"index must be an integer, got bool {index!r}")
    try:
        position = operator.index(index)
    except TypeError:
        raise TypeError(f"index must be an integer, got {type(index).__name__} {index!r}") from None
    if length is None:
        if position < 0:
            raise IndexError(f"index {position} is below 0 (an open-ended loader has no end)")
        return position
    if position < 0:
        position += length
    if not 0 <= position < length:
        raise IndexError(f"index {index} is out of range for {length} keys")
    return position
