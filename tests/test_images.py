"""load_image and decode_image: one read, complete decode, errors that name the file."""

from __future__ import annotations

import builtins
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import WriteImage
from PIL import Image, UnidentifiedImageError

from prefetcher._images import decode_image, load_image


def _png_bytes(size: tuple[int, int] = (64, 48), seed: int = 0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0]), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


class _CountingFile:
    """Wraps a file object and counts read() calls on it."""

    def __init__(self, file: Any, counts: dict[str, int]) -> None:
        self._file = file
        self._counts = counts

    def read(self, *args: Any) -> Any:
        self._counts["reads"] += 1
        return self._file.read(*args)

    def __enter__(self) -> _CountingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


def _count_io(monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, int], list[str]]:
    """From now on, count every builtins.open (of any path) and every read() on what it opened."""
    counts = {"reads": 0}
    opened: list[str] = []
    real_open = builtins.open

    def counting_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(str(file))
        return _CountingFile(real_open(file, *args, **kwargs), counts)

    monkeypatch.setattr(builtins, "open", counting_open)
    return counts, opened


def test_load_image_opens_the_file_once_and_reads_it_in_one_call(
    tmp_path: Path, write_image: WriteImage, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_image(tmp_path / "1.png", 7)
    counts, opened = _count_io(monkeypatch)

    load_image(path)

    assert opened == [str(path)]
    assert counts["reads"] == 1


def test_load_image_decodes_completely_before_returning(
    tmp_path: Path, write_image: WriteImage
) -> None:
    path = write_image(tmp_path / "1.png", 7)

    image = load_image(path)
    path.unlink()  # a lazy image would need the file to get its pixels now

    assert image.getpixel((0, 0)) == 7
    assert image.size == (8, 6)


def test_load_image_keeps_the_file_mode_without_mode(
    tmp_path: Path, write_image: WriteImage
) -> None:
    path = write_image(tmp_path / "1.png", 7, mode="RGB")

    assert load_image(path).mode == "RGB"


def test_load_image_converts_to_mode(tmp_path: Path, write_image: WriteImage) -> None:
    path = write_image(tmp_path / "1.png", 7, mode="RGB")

    image = load_image(path, mode="L")

    assert image.mode == "L"
    assert image.getpixel((0, 0)) == 7


def test_load_image_as_array_returns_the_pixels(tmp_path: Path, write_image: WriteImage) -> None:
    path = write_image(tmp_path / "1.png", 7, size=(8, 6))

    array = load_image(path, as_array=True)

    assert isinstance(array, np.ndarray)
    assert array.shape == (6, 8)
    assert array.dtype == np.uint8
    assert (array == 7).all()


def test_load_image_as_array_with_mode_converts_first(
    tmp_path: Path, write_image: WriteImage
) -> None:
    path = write_image(tmp_path / "1.png", 7, size=(8, 6), mode="L")

    array = load_image(path, mode="RGB", as_array=True)

    assert array.shape == (6, 8, 3)
    assert (array == 7).all()


def test_load_image_array_is_read_only(tmp_path: Path, write_image: WriteImage) -> None:
    path = write_image(tmp_path / "1.png", 7)

    array = load_image(path, as_array=True)

    with pytest.raises(ValueError, match="read-only"):
        array[0, 0] = 1


def test_load_image_reads_16_bit_tiff(tmp_path: Path) -> None:
    path = tmp_path / "frame_00001.tif"
    Image.fromarray(np.full((6, 8), 40000, dtype=np.uint16)).save(path)

    array = load_image(path, as_array=True)

    assert array.dtype == np.uint16
    assert (array == 40000).all()


def test_load_image_accepts_a_str_path(tmp_path: Path, write_image: WriteImage) -> None:
    path = write_image(tmp_path / "1.png", 7)

    assert load_image(str(path)).getpixel((0, 0)) == 7


def test_missing_file_raises_file_not_found_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "missing.png"

    with pytest.raises(FileNotFoundError, match=r"missing\.png"):
        load_image(path)


def test_file_that_is_not_an_image_raises_unidentified_image_error_naming_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "notes.png"
    path.write_bytes(b"these are notes, not pixels\n" * 10)

    with pytest.raises(UnidentifiedImageError, match=r"notes\.png.*not an image"):
        load_image(path)


def test_truncated_png_raises_oserror_naming_it_and_saying_truncated(tmp_path: Path) -> None:
    data = _png_bytes()
    path = tmp_path / "cut.png"
    path.write_bytes(data[: len(data) // 2])

    with pytest.raises(OSError, match=r"cut\.png.*truncated"):
        load_image(path)


def test_truncated_tiff_raises_oserror_naming_it_and_saying_truncated(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.fromarray(np.full((48, 64), 9, dtype=np.uint8)).save(buffer, "TIFF")
    data = buffer.getvalue()
    path = tmp_path / "cut.tif"
    path.write_bytes(data[: len(data) // 2])

    with pytest.raises(OSError, match=r"cut\.tif.*truncated"):
        load_image(path)


def test_png_with_broken_pixel_data_raises_oserror_naming_it(tmp_path: Path) -> None:
    data = bytearray(_png_bytes())
    data[200:230] = b"\xff" * 30  # inside the compressed pixel data
    path = tmp_path / "broken.png"
    path.write_bytes(bytes(data))

    with pytest.raises(OSError, match=r"broken\.png.*broken data stream"):
        load_image(path)


def test_decode_error_keeps_pillow_error_as_cause(tmp_path: Path) -> None:
    data = _png_bytes()
    path = tmp_path / "cut.png"
    path.write_bytes(data[: len(data) // 2])

    with pytest.raises(OSError) as caught:
        load_image(path)

    assert isinstance(caught.value.__cause__, OSError)
    assert "truncated" in str(caught.value.__cause__)


def test_decompression_bomb_raises_decompression_bomb_error_naming_it(
    tmp_path: Path, write_image: WriteImage, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_image(tmp_path / "bomb.png", size=(100, 100))
    # Pillow refuses images over twice MAX_IMAGE_PIXELS; lower the limit instead of writing GBs.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)

    with pytest.raises(Image.DecompressionBombError, match=r"bomb\.png"):
        load_image(path)


def test_decode_image_names_the_given_name_in_errors() -> None:
    with pytest.raises(UnidentifiedImageError, match=r"share/frame_7\.png"):
        decode_image(b"not an image", "share/frame_7.png")


def test_decode_image_hides_the_password_of_a_url() -> None:
    with pytest.raises(UnidentifiedImageError) as caught:
        decode_image(b"not an image", "smb://user:secret@host/share/1.png")

    assert "secret" not in str(caught.value)
    assert "smb://user:***@host/share/1.png" in str(caught.value)


def test_decode_image_decodes_bytes_with_mode_and_as_array() -> None:
    array = decode_image(_png_bytes(size=(5, 4)), "x.png", mode="RGB", as_array=True)

    assert array.shape == (4, 5, 3)
