"""Importing prefetcher imports no Qt binding, numpy, Pillow or tqdm: the core stays cheap."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

QT_MODULES = ("PyQt5", "PyQt6", "PySide2", "PySide6", "qtpy", "sip", "shiboken6")

REPORT = "import json, sys; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"


def modules_after(statement: str) -> list[str]:
    """Top-level modules loaded by a fresh interpreter after ``statement``."""
    done = subprocess.run(
        [sys.executable, "-c", f"{statement}\n{REPORT}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return list(json.loads(done.stdout.splitlines()[-1]))


def test_import_prefetcher_imports_no_qt_binding() -> None:
    loaded = modules_after("import prefetcher")
    assert "prefetcher" in loaded
    assert [name for name in QT_MODULES if name in loaded] == []


@pytest.mark.skipif(importlib.util.find_spec("qtpy") is None, reason="needs the qt extra")
def test_the_check_sees_a_qt_import_when_there_is_one() -> None:
    # Guards the test above against passing because the check itself is broken.
    assert "qtpy" in modules_after("import prefetcher.qt")


def test_import_prefetcher_imports_neither_numpy_nor_pillow_nor_tqdm() -> None:
    loaded = modules_after("import prefetcher")
    assert [name for name in ("numpy", "PIL", "tqdm") if name in loaded] == []


def test_the_check_sees_numpy_and_pillow_once_an_image_is_decoded() -> None:
    # Guards the test above: the same check finds them when they are imported.
    statement = (
        "import io, prefetcher\n"
        "from PIL import Image\n"
        "buffer = io.BytesIO(); Image.new('L', (2, 2)).save(buffer, 'PNG')\n"
        "from prefetcher._images import decode_image\n"
        "decode_image(buffer.getvalue(), 'x.png', as_array=True)"
    )
    loaded = modules_after(statement)
    assert [name for name in ("numpy", "PIL") if name in loaded] == ["numpy", "PIL"]


def test_open_sequence_of_a_template_imports_no_numpy() -> None:
    # A loader over a template decodes in its workers; opening it must not need numpy yet.
    loaded = modules_after("import prefetcher\nprefetcher.open_sequence('{}.png', ahead=0).close()")
    assert "numpy" not in loaded
