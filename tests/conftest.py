"""Shared pytest fixtures."""

from __future__ import annotations

import os

# Without a display Qt aborts the process unless it renders offscreen; set before any QApplication.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import importlib.util
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import servers
from PIL import Image

# --- images, sequences and real file servers (HTTP, Samba) ---------------------------------------

WriteImage = Callable[..., Path]


def _write_image(
    path: Path, value: int = 0, *, size: tuple[int, int] = (8, 6), mode: str = "L"
) -> Path:
    """Write an image, every pixel ``value``, as a ``mode`` image; creates its directory."""
    pixels = np.full((size[1], size[0]), value % 256, dtype=np.uint8)
    image = Image.fromarray(pixels).convert(mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


@pytest.fixture
def write_image() -> WriteImage:
    """``write_image(path, value=0, size=(8, 6), mode="L")``: a generated image file, every pixel
    ``value`` (so a test can tell which file it got); the format follows the extension."""
    return _write_image


@pytest.fixture(scope="session")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.HttpServer]:
    """A ``python -m http.server`` on 127.0.0.1 over a temporary directory, for the session.

    Tests write their files into a subdirectory of their own under ``http_server.root``.
    """
    root = tmp_path_factory.mktemp("http-root")
    log_path = tmp_path_factory.mktemp("http-log") / "requests.log"
    with servers.http_server(root, log_path) as server:
        yield server


@pytest.fixture(scope="session")
def samba_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.SambaServer]:
    """A real ``smbd`` on 127.0.0.1 sharing a temporary directory, for the session.

    Tests write their files into a subdirectory of their own under ``samba_server.share_dir`` and
    read them through ``samba_server.url``. Skips when smbd is not installed.
    """
    reason = servers.smbd_missing_reason()
    if reason is not None:
        pytest.skip(reason)
    share_dir = tmp_path_factory.mktemp("smb-share")
    work_dir = tmp_path_factory.mktemp("smb-work")
    with servers.samba_server(share_dir, work_dir) as server:
        yield server


# --- end of the file-server fixtures -----------------------------------------------------------


# --- the example programs -------------------------------------------------------------------------

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load_example(name: str) -> Any:
    """Import ``examples/<name>.py`` as a module (the examples are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
