"""Pillow images and uint8 numpy arrays as QImages, for a Qt window to draw."""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image
from qtpy.QtGui import QImage

__all__ = ["to_qimage"]

_QIMAGE_FORMATS = {
    "L": QImage.Format.Format_Grayscale8,
    "RGB": QImage.Format.Format_RGB888,
    "RGBA": QImage.Format.Format_RGBA8888,
}


def to_qimage(item: Any) -> QImage:
    """A QImage (owning its pixels) of a Pillow image or a uint8 numpy array.

    Arrays may be ``(h, w)`` grey, ``(h, w, 3)`` RGB or ``(h, w, 4)`` RGBA. Pillow images in other
    modes are converted to RGBA (16-bit and float images are scaled to their own min..max first).

    Raises:
        TypeError: ``item`` is neither, or an array of another shape or dtype.
    """
    if isinstance(item, Image.Image):
        if item.mode not in _QIMAGE_FORMATS:
            if item.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
                item = _stretch_to_8_bits(np.asarray(item))
            else:
                item = item.convert("RGBA")
        array = np.asarray(item)
    elif isinstance(item, np.ndarray):
        array = item
    else:
        raise TypeError(f"cannot show a {type(item).__name__}: expected an image or an array")
    if array.dtype != np.uint8:
        raise TypeError(f"cannot show an array of {array.dtype}: expected uint8")
    if array.ndim == 2:
        mode = "L"
    elif array.ndim == 3 and array.shape[2] in (3, 4):
        mode = "RGB" if array.shape[2] == 3 else "RGBA"
    else:
        raise TypeError(f"cannot show an array of shape {array.shape}")
    array = np.ascontiguousarray(array)
    height, width = array.shape[:2]
    image = QImage(array.tobytes(), width, height, array.strides[0], _QIMAGE_FORMATS[mode])
    # copy(): the QImage above only borrows the bytes object's buffer.
    return image.copy()


def _stretch_to_8_bits(array: np.ndarray[Any, Any]) -> Image.Image:
    low, high = float(array.min()), float(array.max())
    scale = 255.0 / (high - low) if high > low else 0.0
    return Image.fromarray(((array.astype(np.float64) - low) * scale).astype(np.uint8))
