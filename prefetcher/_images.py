"""Read an image file in one round trip and decode it completely, with errors that name the file."""

from __future__ import annotations

import io
import os
from typing import TYPE_CHECKING, Any, Literal, overload

from prefetcher._remote import display_name, is_url, read_url

if TYPE_CHECKING:
    import numpy.typing as npt
    from PIL import Image

# numpy and Pillow are imported by the functions that decode, not here: `import prefetcher` stays
# cheap for a program that only wants the generic loader (numpy alone takes most of 100 ms).

__all__ = ["decode_image", "load_image", "read_file"]


def read_file(path: str | os.PathLike[str]) -> bytes:
    """Read a whole local file or fsspec URL in one call.

    Raises:
        FileNotFoundError: The file does not exist (also for a URL, whatever the back end raised).
    """
    if isinstance(path, str) and is_url(path):
        return read_url(path)
    # One open, one read: on a network share each extra call is another round trip.
    with open(path, "rb") as file:
        return file.read()


@overload
def decode_image(
    data: bytes, name: str, *, mode: str | None = ..., as_array: Literal[False] = ...
) -> Image.Image: ...
@overload
def decode_image(
    data: bytes, name: str, *, mode: str | None = ..., as_array: Literal[True]
) -> npt.NDArray[Any]: ...
@overload
def decode_image(
    data: bytes, name: str, *, mode: str | None = ..., as_array: bool = ...
) -> Image.Image | npt.NDArray[Any]: ...
def decode_image(
    data: bytes, name: str, *, mode: str | None = None, as_array: bool = False
) -> Image.Image | npt.NDArray[Any]:
    """Decode the bytes of a whole image file completely, now, in the calling thread.

    Args:
        data: The file's contents.
        name: What to call the file in error messages (its path or URL).
        mode: A Pillow mode to convert to (``"L"``, ``"RGB"``, ...), or ``None`` to keep the
            file's own.
        as_array: Return a read-only numpy array instead of a Pillow image.

    Raises:
        PIL.UnidentifiedImageError: The data is not an image in a format Pillow reads.
        OSError: The image data is truncated or broken.
        PIL.Image.DecompressionBombError: The image has more than twice
            ``PIL.Image.MAX_IMAGE_PIXELS`` pixels (Pillow's own limit, left as the user set it).
    """
    from PIL import Image, UnidentifiedImageError

    # What Pillow raises for data it cannot decode. Each is re-raised as the same class with a
    # message that names the file (the original is kept as __cause__).
    decode_errors = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)
    shown = display_name(name)
    try:
        with Image.open(io.BytesIO(data)) as opened:
            # Image.open is lazy; load() decodes every pixel here so the consumer never pays for it.
            opened.load()
            image: Image.Image = opened
            if mode is not None and image.mode != mode:
                image = image.convert(mode)
    except UnidentifiedImageError as exc:
        # Pillow's message names an anonymous BytesIO object; name the file instead.
        raise UnidentifiedImageError(
            f"cannot identify image file {shown!r} ({len(data)} bytes): "
            "not an image, or in a format Pillow cannot read"
        ) from exc
    except decode_errors as exc:
        try:
            renamed = type(exc)(f"cannot decode image file {shown!r}: {exc}")
        except Exception:  # an exception class with an unusual constructor: raise it as it is
            raise exc from None
        raise renamed from exc
    if as_array:
        import numpy as np

        # Read-only: an array in the loader's cache is shared by every get(n) of that index, so it
        # must not be changed in place. (np.asarray of a Pillow image is read-only already, since
        # Pillow exports its pixels as bytes; say so explicitly rather than rely on it.)
        array = np.asarray(image)
        array.flags.writeable = False
        return array
    return image


@overload
def load_image(
    path: str | os.PathLike[str], *, mode: str | None = ..., as_array: Literal[False] = ...
) -> Image.Image: ...
@overload
def load_image(
    path: str | os.PathLike[str], *, mode: str | None = ..., as_array: Literal[True]
) -> npt.NDArray[Any]: ...
@overload
def load_image(
    path: str | os.PathLike[str], *, mode: str | None = ..., as_array: bool = ...
) -> Image.Image | npt.NDArray[Any]: ...
def load_image(
    path: str | os.PathLike[str], *, mode: str | None = None, as_array: bool = False
) -> Image.Image | npt.NDArray[Any]:
    """Read an image file in one call and decode it completely in the calling thread.

    The whole file is read with one open and one read (one round trip on a network share), then
    decoded at once, so the image returned never touches the file again: no lazy decode is left for
    the consumer. A string containing ``"://"`` is an fsspec URL (``http://``, ``smb://``, ``s3://``,
    ...) read through fsspec (needs the ``remote`` extra). Multi-frame files give their first frame.

    Args:
        path: A local path, or an fsspec URL.
        mode: A Pillow mode to convert to (``"L"``, ``"RGB"``, ``"I;16"``, ...), or ``None``.
        as_array: Return a read-only numpy array (``np.asarray`` of the image) instead of a Pillow
            image; ``.copy()`` it to change it in place.

    Returns:
        The decoded Pillow image, or a numpy array.

    Raises:
        FileNotFoundError: The file does not exist.
        PIL.UnidentifiedImageError: The file is not an image Pillow can read (an ``OSError``).
        OSError: The image data is truncated or broken.
        PIL.Image.DecompressionBombError: The image is larger than Pillow's decompression-bomb
            limit.

        Decode errors keep Pillow's own exception class; their message names the file and says what
        is wrong, and the original exception is chained as ``__cause__``.

    Example:
        >>> img = load_image("share/1.png", mode="L")  # doctest: +SKIP
    """
    name = os.fspath(path)
    data = read_file(path)
    return decode_image(data, name, mode=mode, as_array=as_array)
