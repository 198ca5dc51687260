"""open_sequence over local files: every source form, natural order, and every error."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from conftest import WriteImage
from PIL import Image

from prefetcher._sequence import natural_sort_key, open_sequence

TIMEOUT = 30


def _value(item: object) -> int:
    """The pixel value of a generated frame (every pixel holds the frame's number)."""
    return int(np.asarray(item).flat[0])


def _names(paths: object) -> list[str]:
    assert paths is not None
    return [Path(str(path)).name for path in paths]  # type: ignore[attr-defined]


# -- natural order -----------------------------------------------------------------------------


def test_natural_sort_puts_2_before_10() -> None:
    assert sorted(["10.png", "2.png", "1.png"], key=natural_sort_key) == [
        "1.png",
        "2.png",
        "10.png",
    ]


def test_natural_sort_puts_img9_before_img10() -> None:
    assert sorted(["img10.tif", "img9.tif"], key=natural_sort_key) == ["img9.tif", "img10.tif"]


def test_natural_sort_compares_every_number_in_the_path() -> None:
    paths = ["run10/frame2.png", "run2/frame10.png", "run2/frame9.png"]

    assert sorted(paths, key=natural_sort_key) == [
        "run2/frame9.png",
        "run2/frame10.png",
        "run10/frame2.png",
    ]


def test_natural_sort_ignores_case() -> None:
    assert sorted(["B1.png", "a2.png"], key=natural_sort_key) == ["a2.png", "B1.png"]


def test_natural_sort_orders_zero_padded_numbers_by_value() -> None:
    assert sorted(["010.png", "9.png", "0011.png"], key=natural_sort_key) == [
        "9.png",
        "010.png",
        "0011.png",
    ]


# -- source forms ------------------------------------------------------------------------------


def test_directory_gives_its_images_in_natural_order(
    tmp_path: Path, write_image: WriteImage
) -> None:
    for n in (10, 2, 1):
        write_image(tmp_path / f"{n}.png", n)

    with open_sequence(tmp_path) as loader:
        assert _names(loader.keys) == ["1.png", "2.png", "10.png"]
        assert [_value(loader.get(i, timeout=TIMEOUT)) for i in range(3)] == [1, 2, 10]


def test_directory_skips_files_that_are_not_images_and_dot_files(
    tmp_path: Path, write_image: WriteImage
) -> None:
    write_image(tmp_path / "1.png", 1)
    write_image(tmp_path / "._2.png", 2)  # a macOS resource fork on a share
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "sub.png").mkdir()

    with open_sequence(tmp_path) as loader:
        assert _names(loader.keys) == ["1.png"]


def test_directory_given_as_str(tmp_path: Path, write_image: WriteImage) -> None:
    write_image(tmp_path / "frame_1.tif", 1)

    with open_sequence(str(tmp_path)) as loader:
        assert loader.keys == (str(tmp_path / "frame_1.tif"),)


def test_directory_with_glob_characters_in_its_name_is_a_directory(
    tmp_path: Path, write_image: WriteImage
) -> None:
    directory = tmp_path / "run[1]"
    write_image(directory / "1.png", 1)

    with open_sequence(directory) as loader:
        assert _names(loader.keys) == ["1.png"]


def test_glob_gives_the_matches_in_natural_order(tmp_path: Path, write_image: WriteImage) -> None:
    for n in (10, 9, 1):
        write_image(tmp_path / f"frame_{n}.tif", n)
    write_image(tmp_path / "dark_1.tif", 200)

    with open_sequence(str(tmp_path / "frame_*.tif")) as loader:
        assert _names(loader.keys) == ["frame_1.tif", "frame_9.tif", "frame_10.tif"]
        assert _value(loader.get(2, timeout=TIMEOUT)) == 10


def test_glob_with_double_star_recurses(tmp_path: Path, write_image: WriteImage) -> None:
    write_image(tmp_path / "run10" / "1.png", 3)
    write_image(tmp_path / "run2" / "1.png", 2)

    with open_sequence(str(tmp_path / "**" / "*.png")) as loader:
        assert [Path(key).parent.name for key in loader.keys or ()] == ["run2", "run10"]


def test_template_gives_file_n_for_get_n(tmp_path: Path, write_image: WriteImage) -> None:
    for n in (1, 2, 10):
        write_image(tmp_path / f"{n}.png", n)

    with open_sequence(str(tmp_path / "{}.png")) as loader:
        assert loader.keys is None
        assert _value(loader.get(10, timeout=TIMEOUT)) == 10
        assert _value(loader.get(1, timeout=TIMEOUT)) == 1


def test_zero_padded_template(tmp_path: Path, write_image: WriteImage) -> None:
    write_image(tmp_path / "frame_00007.tif", 7)

    with open_sequence(str(tmp_path / "frame_{:05d}.tif")) as loader:
        assert _value(loader.get(7, timeout=TIMEOUT)) == 7


def test_template_file_not_there_yet_raises_file_not_found(
    tmp_path: Path, write_image: WriteImage
) -> None:
    write_image(tmp_path / "1.png", 1)

    with (
        open_sequence(str(tmp_path / "{}.png"), ahead=0) as loader,
        pytest.raises(FileNotFoundError, match=r"2\.png"),
    ):
        loader.get(2, timeout=TIMEOUT)


def test_template_file_that_arrives_after_a_failed_get_loads_on_the_next_get(
    tmp_path: Path, write_image: WriteImage
) -> None:
    with open_sequence(str(tmp_path / "{}.png")) as loader:
        with pytest.raises(FileNotFoundError):
            loader.get(3, timeout=TIMEOUT)
        write_image(tmp_path / "3.png", 3)  # the acquisition writes it now

        assert _value(loader.get(3, timeout=TIMEOUT)) == 3


def test_sequence_of_paths_keeps_the_given_order(tmp_path: Path, write_image: WriteImage) -> None:
    paths = [write_image(tmp_path / f"{n}.png", n) for n in (5, 1, 3)]

    with open_sequence(paths) as loader:
        assert loader.keys == tuple(str(path) for path in paths)
        assert [_value(item) for item in loader] == [5, 1, 3]


def test_sequence_of_str_paths(tmp_path: Path, write_image: WriteImage) -> None:
    path = write_image(tmp_path / "1.png", 1)

    with open_sequence([str(path)]) as loader:
        assert _value(loader.get(0, timeout=TIMEOUT)) == 1


# -- options -----------------------------------------------------------------------------------


def test_mode_converts_every_item(tmp_path: Path, write_image: WriteImage) -> None:
    write_image(tmp_path / "1.png", 1, mode="L")

    with open_sequence(tmp_path, mode="RGB") as loader:
        image = loader.get(0, timeout=TIMEOUT)
        assert isinstance(image, Image.Image)
        assert image.mode == "RGB"


def test_as_array_gives_numpy_arrays(tmp_path: Path, write_image: WriteImage) -> None:
    write_image(tmp_path / "1.png", 1, size=(8, 6))

    with open_sequence(tmp_path, as_array=True) as loader:
        array = loader.get(0, timeout=TIMEOUT)
        assert isinstance(array, np.ndarray)
        assert array.shape == (6, 8)


def test_loader_options_reach_the_loader(tmp_path: Path, write_image: WriteImage) -> None:
    write_image(tmp_path / "1.png", 1)

    with open_sequence(tmp_path, ahead=3) as loader:
        assert loader.stats().ahead == 3


def test_items_load_in_a_process_pool(tmp_path: Path, write_image: WriteImage) -> None:
    for n in (1, 2):
        write_image(tmp_path / f"{n}.png", n)
    # spawn: a fresh interpreter, so the load callable really crosses a pickle.
    context = multiprocessing.get_context("spawn")

    with (
        ProcessPoolExecutor(max_workers=1, mp_context=context) as pool,
        open_sequence(str(tmp_path / "{}.png"), executor=pool) as loader,
    ):
        assert _value(loader.get(2, timeout=TIMEOUT)) == 2


# -- errors ------------------------------------------------------------------------------------


def test_empty_directory_raises_file_not_found_naming_it(tmp_path: Path) -> None:
    empty = tmp_path / "empty_run"
    empty.mkdir()

    with pytest.raises(FileNotFoundError, match=r"No image files in directory.*empty_run"):
        open_sequence(empty)


def test_directory_without_images_raises_file_not_found_naming_it(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("no images here")

    with pytest.raises(FileNotFoundError, match="No image files in directory"):
        open_sequence(tmp_path)


def test_missing_directory_raises_file_not_found_naming_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"No such directory.*not_there"):
        open_sequence(tmp_path / "not_there")


def test_glob_matching_nothing_raises_file_not_found_naming_the_pattern(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"No files match.*frame_\*\.tif"):
        open_sequence(str(tmp_path / "frame_*.tif"))


def test_single_file_raises_value_error(tmp_path: Path, write_image: WriteImage) -> None:
    path = write_image(tmp_path / "1.png", 1)

    with pytest.raises(ValueError, match="is a file"):
        open_sequence(path)


def test_empty_sequence_raises_value_error() -> None:
    with pytest.raises(ValueError, match="empty sequence"):
        open_sequence([])


def test_template_with_a_named_field_reads_file_n(tmp_path: Path, write_image: WriteImage) -> None:
    write_image(tmp_path / "3.png", 3)
    with open_sequence(str(tmp_path / "{n}.png")) as loader:
        assert _value(loader.get(3, timeout=TIMEOUT)) == 3


@pytest.mark.parametrize(
    "field", ["{0.__class__.__name__}{0}", "{0[0]}", "{:>50000000}", "{}{}", "{!r}", "{:s}"]
)
def test_unsafe_template_raises_value_error_naming_it_before_reading(
    tmp_path: Path, field: str
) -> None:
    template = str(tmp_path / f"{field}.png")
    with pytest.raises(ValueError, match="template") as raised:
        open_sequence(template)
    assert repr(template)[1:-1] in str(raised.value)


def test_printf_template_that_finds_nothing_says_how_to_write_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"\{:05d\}, not %05d"):
        open_sequence(str(tmp_path / "%05d.png"))


def test_glob_that_matches_nothing_names_the_directory_it_looked_in(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=f"looked in {tmp_path}"):
        open_sequence(str(tmp_path / "*.png"))


# -- numbering ---------------------------------------------------------------------------------


def test_template_numbering_starts_at_its_lowest_existing_file(
    tmp_path: Path, write_image: WriteImage
) -> None:
    for n in (1, 2, 3):
        write_image(tmp_path / f"{n}.png", n)
    with open_sequence(str(tmp_path / "{}.png")) as loader:
        assert (loader.numbering.first_position, loader.numbering.last_position) == (1, 3)


def test_template_numbering_lists_the_missing_numbers(
    tmp_path: Path, write_image: WriteImage
) -> None:
    for n in (1, 2, 5, 7):
        write_image(tmp_path / f"{n:03d}.png", n)
    with open_sequence(str(tmp_path / "{:03d}.png")) as loader:
        assert loader.numbering.missing == ((3, 4), (6, 6))


def test_directory_numbering_names_file_and_number_of_each_position(
    tmp_path: Path, write_image: WriteImage
) -> None:
    for n in (1, 2, 4):
        write_image(tmp_path / f"{n}.png", n)
    with open_sequence(str(tmp_path)) as loader:
        numbering = loader.numbering
        assert [numbering.label(i) for i in range(3)] == [
            "1.png (file 1, position 0)",
            "2.png (file 2, position 1)",
            "4.png (file 4, position 2)",
        ]
        assert numbering.missing == ((3, 3),)


def test_bytes_source_raises_type_error() -> None:
    with pytest.raises(TypeError, match="bytes"):
        open_sequence(b"/data/run")  # type: ignore[arg-type]


def test_path_in_sequence_that_is_not_a_path_raises_type_error() -> None:
    with pytest.raises(TypeError, match="every path"):
        open_sequence([1, 2])  # type: ignore[list-item]
