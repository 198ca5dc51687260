"""A loader of equally shaped frames as a read-only, numpy-like lazy array (for dask and napari)."""

from __future__ import annotations

import operator
import os
from collections.abc import Iterator, Sequence
from types import EllipsisType
from typing import Any

import numpy as np
import numpy.typing as npt

from prefetcher._loader import PrefetchingLoader
from prefetcher._remote import display_name

__all__ = ["FrameStack", "describe_key"]

# What may index the frame axis: one frame, a range of frames, or a list of frames.
_FrameIndex = int | slice | Sequence[int] | npt.NDArray[Any]


def describe_key(key: object) -> str:
    """A key as error messages show it: a path (password hidden) or the key's own ``str``."""
    if isinstance(key, (str, os.PathLike)):
        return repr(display_name(os.fspath(key)))
    return str(key)


class FrameStack:
    """The frames of a loader as one read-only array of shape ``(len(loader), *frame.shape)``.

    Nothing is read until a frame is indexed, except frame 0, whose shape and dtype are the
    stack's. Every frame comes through ``loader.get``, so stepping through the stack reads ahead
    in the direction of travel and keeps the loader's bounded cache. Items may be numpy arrays or
    anything ``np.asarray`` turns into one (Pillow images).

    Indexing follows numpy: ``stack[i]`` is frame ``i`` itself (the loader's read-only array, not a
    copy); ``stack[i, y0:y1, x0:x1]`` and other tuples index into the frame; ``stack[a:b:c]`` and
    ``stack[[i, j, k]]`` read the frames in that order and return a new array. A slice of one
    frame, ``stack[i : i + 1]`` (how napari and dask ask), reads just frame ``i`` and returns a
    view of it. ``np.asarray(stack)`` reads every frame in order.

    Thread-safe as far as the loader is: any thread may index the stack at any time.

    Args:
        loader: A loader with ``keys`` (so its length is known) whose items are equally shaped.

    Raises:
        ValueError: The loader is open-ended (no ``keys``) or has no items.
        Exception: Whatever ``loader.get(0)`` raises.

    Example:
        >>> import numpy as np
        >>> from prefetcher import FrameStack, PrefetchingLoader
        >>> frames = [np.full((2, 3), n, dtype=np.uint8) for n in range(5)]
        >>> with PrefetchingLoader(lambda frame: frame, frames) as loader:
        ...     stack = FrameStack(loader)
        ...     stack.shape, stack[4, 0, 0], stack[1:4, 0, 0].tolist()
        ((5, 2, 3), np.uint8(4), [1, 2, 3])
    """

    def __init__(self, loader: PrefetchingLoader[Any, Any]) -> None:
        keys = loader.keys
        if keys is None:
            raise ValueError(
                f"a FrameStack needs a loader with keys (a known number of frames); {loader!r} "
                "is open-ended: give it keys, e.g. open_sequence() of a directory, glob or list"
            )
        length = len(keys)
        if length == 0:
            raise ValueError("a FrameStack needs at least one frame; the loader's keys are empty")
        self._loader = loader
        self._keys = keys
        self._length = length
        first = np.asarray(loader.get(0))
        self._frame_shape: tuple[int, ...] = first.shape
        self._dtype: np.dtype[Any] = first.dtype

    @property
    def loader(self) -> PrefetchingLoader[Any, Any]:
        """The loader the frames come from (for ``stats()``, ``close()`` ...)."""
        return self._loader

    @property
    def shape(self) -> tuple[int, ...]:
        """``(number of frames, *shape of frame 0)``."""
        return (self._length, *self._frame_shape)

    @property
    def dtype(self) -> np.dtype[Any]:
        """The dtype of frame 0, which every frame must have."""
        return self._dtype

    @property
    def ndim(self) -> int:
        """``len(shape)``."""
        return 1 + len(self._frame_shape)

    @property
    def size(self) -> int:
        """The number of elements, as for a numpy array."""
        return self._length * int(np.prod(self._frame_shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        """The bytes the whole stack would take in memory."""
        return self.size * self._dtype.itemsize

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[npt.NDArray[Any]]:
        for index in range(self._length):
            yield self.frame(index)

    def __repr__(self) -> str:
        return f"<FrameStack shape={self.shape} dtype={self._dtype} loader={self._loader!r}>"

    def frame(self, index: int) -> npt.NDArray[Any]:
        """Frame ``index`` (negative counts from the end) through ``loader.get``.

        Raises:
            IndexError: ``index`` is outside the stack.
            ValueError: The frame's shape or dtype differs from frame 0's; the message names
                the file and both shapes.
            Exception: Whatever the loader's ``get`` raises for it.
        """
        position = self._position(index)
        return self.check_frame(position, self._loader.get(position))

    def check_frame(self, index: int, item: object) -> npt.NDArray[Any]:
        """``item``, loaded for frame ``index``, as an array; raise if it does not fit the stack.

        Raises:
            ValueError: Its shape or dtype differs from frame 0's.
        """
        array = np.asarray(item)
        if array.shape != self._frame_shape or array.dtype != self._dtype:
            raise ValueError(
                f"frame {index} ({describe_key(self._keys[index])}) has shape {array.shape} and "
                f"dtype {array.dtype}, but the stack's frames have shape {self._frame_shape} and "
                f"dtype {self._dtype} (from frame 0, {describe_key(self._keys[0])})"
            )
        return array

    def __getitem__(self, key: Any) -> Any:
        first, rest = _split_key(key)
        if isinstance(first, slice):
            positions: Sequence[int] = range(*first.indices(self._length))
        elif _is_integer(first):
            frame = self.frame(operator.index(first))  # type: ignore[arg-type]
            if not rest:
                return frame
            # Keep the int in its place so numpy places advanced indices exactly as it would.
            return frame[rest] if _is_basic(rest) else frame[np.newaxis][(0,) + rest]  # noqa: RUF005
        else:
            positions = self._positions(first)
        if len(positions) == 1 and isinstance(first, slice) and _is_basic(rest):
            # napari and dask ask for one frame as a slice of length 1: no copy.
            return self.frame(positions[0])[rest][np.newaxis]
        if _is_basic(rest):
            cropped = [self.frame(position)[rest] for position in positions]
            if not cropped:
                empty = np.broadcast_to(np.zeros((), self._dtype), self._frame_shape)[rest]
                return np.empty((0, *empty.shape), self._dtype)
            return np.stack(cropped)
        # Advanced indices into the frame: stack whole frames, then let numpy combine them.
        frames = [self.frame(position) for position in positions]
        stacked = np.stack(frames) if frames else np.empty((0, *self._frame_shape), self._dtype)
        along: slice | npt.NDArray[np.intp] = (
            slice(None) if isinstance(first, slice) else np.arange(len(positions))
        )
        return stacked[(along,) + rest]  # noqa: RUF005 - [a, *b] needs 3.11

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> npt.NDArray[Any]:
        """Every frame, read in order through the loader, as one new array."""
        if copy is False:
            raise ValueError("a FrameStack is not in memory: np.asarray must copy its frames")
        out = np.empty(self.shape, self._dtype)
        for index in range(self._length):
            out[index] = self.frame(index)
        return out if dtype is None else out.astype(dtype, copy=False)

    def _position(self, index: int) -> int:
        position = index + self._length if index < 0 else index
        if not 0 <= position < self._length:
            raise IndexError(
                f"frame index {index} is out of range for a stack of {self._length} frames"
            )
        return position

    def _positions(self, first: object) -> list[int]:
        chosen = np.asarray(first)
        if chosen.dtype == np.bool_:
            if chosen.shape != (self._length,):
                raise IndexError(
                    f"a boolean frame index must have shape ({self._length},), got {chosen.shape}"
                )
            return [int(i) for i in np.flatnonzero(chosen)]
        if chosen.ndim != 1 or not np.issubdtype(chosen.dtype, np.integer):
            if chosen.size == 0 and chosen.ndim == 1:
                return []
            raise TypeError(
                "a FrameStack's frame axis takes an int, a slice, or a 1-D list of ints or "
                f"booleans, not {first!r}"
            )
        return [self._position(int(i)) for i in chosen]


def _split_key(key: Any) -> tuple[object, tuple[Any, ...]]:
    """Split a numpy index into the frame-axis part and the index into each frame."""
    parts = key if isinstance(key, tuple) else (key,)
    if not parts:
        return slice(None), ()
    first, rest = parts[0], parts[1:]
    if first is Ellipsis:
        # stack[..., x] indexes the last axes of every frame: the frame axis is whole.
        return slice(None), parts
    if first is None:
        raise TypeError("a FrameStack cannot add an axis (None) before the frame axis")
    return first, rest


def _is_integer(value: object) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return False
    try:
        operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        return False
    return True


def _is_basic(parts: tuple[Any, ...]) -> bool:
    """Whether an index into a frame is basic indexing (ints, slices, ..., None): a view."""
    return all(
        part is None or isinstance(part, (slice, EllipsisType)) or _is_integer(part)
        for part in parts
    )
