"""Estimate how many bytes an item keeps alive, without importing numpy or Pillow."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

__all__ = ["checked_size", "default_sizeof"]

# Bytes per band of the Pillow modes that are not one byte per band.
_PIL_BYTES_PER_BAND = {"I": 4, "F": 4, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2, "1": 1}


def default_sizeof(item: Any) -> int:
    """Return the approximate size of ``item`` in bytes.

    Knows numpy arrays (``nbytes``), Pillow images (width x height x bands x bytes per band),
    ``bytes``, ``bytearray`` and ``memoryview``; anything else falls back to
    :func:`sys.getsizeof`, which does not follow references.

    Example:
        >>> default_sizeof(b"abc")
        3
    """
    if isinstance(item, (bytes, bytearray)):
        return len(item)
    if isinstance(item, memoryview):
        return item.nbytes
    module = type(item).__module__
    if module.startswith("numpy"):
        nbytes = getattr(item, "nbytes", None)
        if isinstance(nbytes, int):
            return nbytes
    if module.startswith("PIL.") and hasattr(item, "getbands"):
        width, height = item.size
        per_band = _PIL_BYTES_PER_BAND.get(item.mode, 1)
        return int(width * height * len(item.getbands()) * per_band)
    return sys.getsizeof(item)


def checked_size(sizeof: Callable[[Any], int], item: Any, index: int) -> int | BaseException:
    """Return ``sizeof(item)``, or the error to give item ``index``'s waiters instead.

    Whatever ``sizeof`` raises is returned, and so is a result that is not an int >= 0.

    Example:
        >>> checked_size(len, b"abc", 0)
        3
        >>> checked_size(lambda item: -1, b"abc", 7)
        ValueError('sizeof() must return an int >= 0, got -1 for item 7')
    """
    try:
        size = sizeof(item)
    except BaseException as exc:
        return exc
    if isinstance(size, bool) or not isinstance(size, int):
        return TypeError(
            f"sizeof() must return an int >= 0, got {type(size).__name__} {size!r:.40} "
            f"for item {index}"
        )
    if size < 0:
        return ValueError(f"sizeof() must return an int >= 0, got {size} for item {index}")
    return size
