"""Importing prefetcher imports no Qt binding: the core stays usable without the qt extra."""

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
