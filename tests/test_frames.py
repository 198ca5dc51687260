"""FrameStack: a loader as a read-only numpy-like array, checked against np.stack of its frames."""

from __future__ import annotations

import doctest
import queue
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from conftest import WriteImage

from prefetcher import FrameStack, PrefetchingLoader, open_sequence

TIMEOUT = 30

FRAMES = [np.arange(12, dtype=np.uint16).reshape(3, 4) * 10 + n for n in range(7)]
EXPECTED = np.stack(FRAMES)


def _same(frame: object) -> object:
    return frame


@pytest.fixture
def loader() -> Iterator[PrefetchingLoader[Any, Any]]:
    with PrefetchingLoader(_same, FRAMES) as frames:
        yield frames


@pytest.fixture
def stack(loader: PrefetchingLoader[Any, Any]) -> FrameStack:
    return FrameStack(loader)


INDEXES: list[Any] = [
    pytest.param(0, id="int"),
    pytest.param(np.int64(3), id="numpy-int"),
    pytest.param(-1, id="negative-int"),
    pytest.param((2, 1), id="int-int"),
    pytest.param((2, 1, 3), id="int-int-int"),
    pytest.param((2, slice(1, 3), slice(0, 4, 2)), id="int-crop"),
    pytest.param(slice(1, 4), id="slice"),
    pytest.param(slice(None, None, -2), id="slice-backward-step"),
    pytest.param(slice(3, 4), id="slice-of-one"),
    pytest.param((slice(3, 4), slice(None), slice(None)), id="slice-of-one-as-napari-asks"),
    pytest.param(slice(5, 2), id="empty-slice"),
    pytest.param((slice(0, 0), 1), id="empty-slice-int"),
    pytest.param((slice(1, 5), slice(0, 2), 3), id="slice-crop"),
    pytest.param((slice(1, 3), None), id="slice-newaxis"),
    pytest.param(Ellipsis, id="ellipsis"),
    pytest.param((Ellipsis, 1), id="ellipsis-int"),
    pytest.param((1, Ellipsis), id="int-ellipsis"),
    pytest.param((), id="empty-tuple"),
    pytest.param([4, 1, 4], id="list"),
    pytest.param(np.array([6, 0]), id="int-array"),
    pytest.param(np.array([True, False, True, False, False, True, False]), id="bool-mask"),
    pytest.param((slice(0, 3), [0, 2]), id="slice-then-list"),
    pytest.param((1, slice(None), [0, 2]), id="int-slice-list"),
    pytest.param((np.array([4, 1]), [0, 2]), id="array-array"),
    pytest.param(
        (slice(0, 3), slice(None), np.array([True, False, True, False])), id="bool-in-frame"
    ),
]


@pytest.mark.parametrize("index", INDEXES)
def test_indexing_matches_np_stack_of_the_frames(stack: FrameStack, index: Any) -> None:
    got = np.asarray(stack[index])

    expected = EXPECTED[index]
    assert got.shape == expected.shape
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


def test_shape_dtype_ndim_size_and_len_look_like_the_stacked_array(stack: FrameStack) -> None:
    assert (stack.shape, stack.dtype, stack.ndim, stack.size, len(stack), stack.nbytes) == (
        EXPECTED.shape,
        EXPECTED.dtype,
        EXPECTED.ndim,
        EXPECTED.size,
        len(EXPECTED),
        EXPECTED.nbytes,
    )


def test_shape_and_dtype_come_from_the_first_frame_alone() -> None:
    with PrefetchingLoader(_same, FRAMES, ahead=0) as frames:
        FrameStack(frames)

        stats = frames.stats()
    assert (stats.requests, stats.loads_started) == (1, 1)


def test_np_asarray_reads_every_frame_in_order() -> None:
    order: list[int] = []

    def load(n: int) -> npt.NDArray[Any]:
        order.append(n)
        return FRAMES[n]

    with PrefetchingLoader(load, range(len(FRAMES)), ahead=0) as frames:
        array = np.asarray(FrameStack(frames))

    np.testing.assert_array_equal(array, EXPECTED)
    assert order == list(range(len(FRAMES)))


def test_np_asarray_with_a_dtype_converts(stack: FrameStack) -> None:
    assert np.asarray(stack, dtype=np.float32).dtype == np.float32


def test_an_integer_index_returns_the_loaders_frame_without_a_copy(
    stack: FrameStack, loader: PrefetchingLoader[Any, Any]
) -> None:
    assert stack[2] is loader.get(2)


def test_a_slice_of_one_frame_is_a_view_of_that_frame(stack: FrameStack) -> None:
    assert np.shares_memory(stack[5:6, :, :], FRAMES[5])


def test_a_slice_of_one_frame_requests_only_that_frame() -> None:
    with PrefetchingLoader(_same, FRAMES, ahead=0) as frames:
        stack = FrameStack(frames)
        stack[4:5, :, :]

        stats = frames.stats()
    assert (stats.requests, stats.loads_started) == (2, 2)


def test_iteration_yields_every_frame(stack: FrameStack) -> None:
    np.testing.assert_array_equal(np.stack(list(stack)), EXPECTED)


def test_indexing_reads_ahead_in_the_direction_of_travel() -> None:
    loaded: queue.Queue[int] = queue.Queue()

    def load(n: int) -> npt.NDArray[Any]:
        loaded.put(n)
        return FRAMES[n]

    with PrefetchingLoader(load, range(len(FRAMES)), ahead=1) as frames:
        stack = FrameStack(frames)
        stack[5]
        stack[4:5]  # a step back: frame 3 is read ahead, unasked
        seen = set()
        while 3 not in seen:
            seen.add(loaded.get(timeout=TIMEOUT))


@pytest.mark.parametrize("index", [7, -8, (7, 0), [0, 7]])
def test_an_index_outside_the_stack_raises_index_error(stack: FrameStack, index: Any) -> None:
    with pytest.raises(IndexError, match="out of range for a stack of 7 frames"):
        stack[index]


@pytest.mark.parametrize("index", [1.5, None, "1", [[0, 1]]])
def test_an_index_that_is_no_frame_index_raises_type_error(stack: FrameStack, index: Any) -> None:
    with pytest.raises(TypeError):
        stack[index]


def test_a_frame_of_another_shape_raises_value_error_naming_the_file_and_both_shapes() -> None:
    arrays = {"a/1.png": np.zeros((3, 4), np.uint8), "a/2.png": np.zeros((5, 4), np.uint8)}
    with PrefetchingLoader(arrays.__getitem__, list(arrays)) as frames:
        stack = FrameStack(frames)

        with pytest.raises(ValueError) as caught:
            stack[1]
    message = str(caught.value)
    assert "'a/2.png'" in message and "(5, 4)" in message and "(3, 4)" in message


def test_a_frame_of_another_dtype_raises_value_error_naming_both_dtypes() -> None:
    arrays = {"1.tif": np.zeros((3, 4), np.uint8), "2.tif": np.zeros((3, 4), np.uint16)}
    with PrefetchingLoader(arrays.__getitem__, list(arrays)) as frames:
        stack = FrameStack(frames)

        with pytest.raises(ValueError, match=r"'2.tif'.*uint16.*uint8"):
            stack[0:2]


def test_an_error_message_hides_a_urls_password() -> None:
    keys = ["smb://me:secret@host/s/1.png", "smb://me:secret@host/s/2.png"]
    arrays = [np.zeros((3, 4), np.uint8), np.zeros((2, 2), np.uint8)]
    with PrefetchingLoader(lambda key: arrays[keys.index(key)], keys) as frames:
        stack = FrameStack(frames)

        with pytest.raises(ValueError) as caught:
            stack[1]
    assert "secret" not in str(caught.value) and "me:***@host" in str(caught.value)


def test_an_open_ended_loader_cannot_be_a_stack() -> None:
    with (
        PrefetchingLoader(str) as frames,
        pytest.raises(ValueError, match="needs a loader with keys"),
    ):
        FrameStack(frames)


def test_a_loader_with_no_keys_is_rejected() -> None:
    with (
        PrefetchingLoader[str, str](str, []) as frames,
        pytest.raises(ValueError, match="at least one frame"),
    ):
        FrameStack(frames)


def test_np_asarray_without_copy_is_refused(stack: FrameStack) -> None:
    with pytest.raises(ValueError, match="must copy"):
        stack.__array__(copy=False)


def test_pillow_images_come_out_as_arrays(tmp_path: Path, write_image: WriteImage) -> None:
    for n in range(3):
        write_image(tmp_path / f"{n}.png", value=n * 10, size=(5, 4))
    with open_sequence(tmp_path) as frames:
        stack = FrameStack(frames)

        frame = stack[2]
    assert isinstance(frame, np.ndarray)
    assert (stack.shape, frame.flat[0]) == ((3, 4, 5), 20)


def test_dask_from_array_reads_no_frame_until_computed() -> None:
    da = pytest.importorskip("dask.array")
    with PrefetchingLoader(_same, FRAMES, ahead=0) as frames:
        stack = FrameStack(frames)

        lazy = da.from_array(stack, chunks=(1, 3, 4))
        before = frames.stats().loads_started
        total = lazy[2:5].sum(axis=0).compute(scheduler="sync")
    assert before == 1
    np.testing.assert_array_equal(total, EXPECTED[2:5].sum(axis=0))


def test_repr_shows_shape_dtype_and_loader(stack: FrameStack) -> None:
    assert repr(stack).startswith("<FrameStack shape=(7, 3, 4) dtype=uint16 loader=<Prefetching")


def test_import_prefetcher_does_not_load_the_frame_stack_module() -> None:
    code = "import sys, prefetcher; print('prefetcher._frames' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT, check=True
    )
    assert result.stdout.strip() == "False"


def test_the_docstring_example_runs() -> None:
    from prefetcher import _frames

    result = doctest.testmod(_frames, optionflags=doctest.ELLIPSIS)

    assert (result.attempted > 0, result.failed) == (True, 0)
