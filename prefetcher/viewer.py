"""A window that steps through numbered images with the keys (``prefetcher view SOURCE``).

Needs the ``qt`` extra. The GUI thread never waits for a load: a key press calls
:meth:`~prefetcher.qt.QtPrefetcher.request` and the frame is drawn when ``current_loaded``
arrives, so a slow share shows up as "waited N ms" in the status bar, never as a frozen window.

Example:
    >>> from prefetcher.viewer import run
    >>> run("share/{}.png")  # doctest: +SKIP
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any

from qtpy.QtCore import Qt, Signal, Slot  # type: ignore[attr-defined]
from qtpy.QtGui import QCloseEvent, QImage, QKeyEvent, QPixmap, QResizeEvent
from qtpy.QtWidgets import QApplication, QLabel, QMainWindow, QWidget

from prefetcher._cli_common import EXIT_INTERRUPTED
from prefetcher._loader import PrefetchingLoader
from prefetcher._numbering import Numbering
from prefetcher._qimage import to_qimage
from prefetcher._qt_interrupt import quit_on_ctrl_c
from prefetcher.qt import QtPrefetcher

# EXIT_INTERRUPTED: what run() returns after Ctrl-C in the terminal; to_qimage: how frames are
# drawn. Both are part of this module's interface.
__all__ = ["EXIT_INTERRUPTED", "PAGE", "ViewerWindow", "run", "to_qimage"]

#: How far PageUp / PageDown jump.
PAGE = 10
_QUIT_KEYS = (int(Qt.Key.Key_Escape), int(Qt.Key.Key_Q))


class ViewerWindow(QMainWindow):
    """A window that shows item ``n`` of a loader of images, moved with the keys.

    Right / Left: next / previous. PageDown / PageUp: 10 forward / back. Home: the first file.
    End: the last file (of a numbered template, the highest file number there was when it was
    opened). Esc, Q or Ctrl+Q: close the window.

    The status bar names the file and its number (see :class:`~prefetcher.Numbering`): a loader
    from :func:`~prefetcher.open_sequence` knows both.

    Holding Right moves as fast as frames arrive: a key auto-repeat is dropped while the current
    frame is still loading, so the view never runs ahead of the loads and every frame is shown.

    The window owns the loader (through a :class:`~prefetcher.qt.QtPrefetcher`): closing the
    window closes it, and no thread is left.

    Args:
        loader: Items are Pillow images or uint8 arrays (see :func:`to_qimage`).
        start: The position shown first; ``None``: the first file.
        name_of: The file name shown for position n; defaults to what ``loader.numbering`` says,
            or to the base name of ``loader.keys[n]``.

    Raises:
        ValueError: The loader has keys, and none.
    """

    #: ``(index)`` after a frame is drawn.
    frame_shown = Signal(int)
    #: ``(index, message)`` after a frame failed to load or to draw.
    frame_failed = Signal(int, str)

    def __init__(
        self,
        loader: PrefetchingLoader[Any, Any],
        *,
        start: int | None = None,
        name_of: Callable[[int], str] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        keys = loader.keys
        self._count = None if keys is None else len(keys)
        if self._count == 0:
            raise ValueError("the loader has no items to show (its keys are empty)")
        numbering: Numbering | None = getattr(loader, "numbering", None)
        if numbering is None and keys is not None:
            numbering = Numbering.of_keys(keys)  # file names and numbers from the keys
        self._numbering = numbering
        if numbering is not None:
            self._first = numbering.first_position
            self._last = numbering.last_position
        else:
            self._first = 0 if keys is not None else max(0, start or 0)
            self._last = None if self._count is None else self._count - 1
        if name_of is None:
            if numbering is not None:
                name_of = numbering.label
            else:
                name_of = _key_name(keys) if keys is not None else (lambda n: f"item {n}")
        self._name_of = name_of
        self._prefetcher = QtPrefetcher(loader, self)
        self._prefetcher.current_loaded.connect(self._show_frame)
        self._prefetcher.current_failed.connect(self._show_error)

        self._label = QLabel()
        self._label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._label.setMinimumSize(64, 48)
        self.setCentralWidget(self._label)
        self._status = QLabel()
        self._stats = QLabel()
        status_bar = self.statusBar()
        assert status_bar is not None  # QMainWindow creates one on first call
        status_bar.addWidget(self._status, 1)
        status_bar.addPermanentWidget(self._stats)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.resize(800, 600)

        self._pixmap: QPixmap | None = None
        self._index = self._first
        self._shown: int | None = None  # index of the frame on screen, or of its error
        self._requested_at = 0.0
        self._from_memory = False
        self.go_to(self._first if start is None else start)

    @property
    def index(self) -> int:
        """The index being shown, or loading to be shown."""
        return self._index

    @property
    def shown_index(self) -> int | None:
        """The index whose frame (or error) is on screen; not :attr:`index` while that loads."""
        return self._shown

    @property
    def count(self) -> int | None:
        """How many items there are, or ``None`` for an open-ended loader."""
        return self._count

    @property
    def prefetcher(self) -> QtPrefetcher:
        """The :class:`~prefetcher.qt.QtPrefetcher` that loads the frames."""
        return self._prefetcher

    def status_text(self) -> str:
        """The text of the status bar (index, file name, from memory / waited, or the error)."""
        return str(self._status.text())

    def displayed_image(self) -> QImage | None:
        """The frame on screen at its own size, or ``None`` when none is."""
        return None if self._pixmap is None else self._pixmap.toImage()

    def go_to(self, n: int) -> None:
        """Show item ``n`` (clamped to the valid range) as soon as it is loaded; never blocks."""
        n = max(0, n)
        if self._count is not None:
            n = min(n, self._count - 1)
        self._index = n
        self._requested_at = time.perf_counter()
        # done() right after request(): the item was already in memory.
        self._from_memory = self._prefetcher.request(n).done()
        if self._shown != n:
            self._status.setText(f"{self._where(n)} · loading…")

    def keyPressEvent(self, event: QKeyEvent | None) -> None:
        if event is None:
            return
        key = event.key()
        if key in _QUIT_KEYS:  # Esc, Q, and Ctrl+Q (the same key with a modifier)
            event.accept()
            self.close()
            return
        steps = {
            int(Qt.Key.Key_Right): 1,
            int(Qt.Key.Key_Left): -1,
            int(Qt.Key.Key_PageDown): PAGE,
            int(Qt.Key.Key_PageUp): -PAGE,
        }
        if key in steps:
            if event.isAutoRepeat() and self._shown != self._index:
                # Held key and the current frame is still loading: skip this repeat so the view
                # never runs ahead of the loads (and the queue of loads never grows).
                event.accept()
                return
            self.go_to(self._index + steps[key])
        elif key == Qt.Key.Key_Home:
            self.go_to(self._first)
        elif key == Qt.Key.Key_End:
            if self._last is None:
                self._status.setText(
                    f"{self._where(self._index)} · End: this sequence has no known last file"
                )
            else:
                self.go_to(self._last)
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    def resizeEvent(self, event: QResizeEvent | None) -> None:
        super().resizeEvent(event)
        self._fit_pixmap()

    def closeEvent(self, event: QCloseEvent | None) -> None:
        self._prefetcher.close()
        super().closeEvent(event)

    @Slot(int, object)
    def _show_frame(self, n: int, item: Any) -> None:
        try:
            image = to_qimage(item)
        except TypeError as exc:
            self._show_error(n, f"TypeError: {exc}")
            return
        self._pixmap = QPixmap.fromImage(image)
        self._fit_pixmap()
        if self._from_memory:
            how = "from memory"
        else:
            how = f"waited {(time.perf_counter() - self._requested_at) * 1000:.0f} ms"
        self._status.setText(f"{self._where(n)} · {image.width()}x{image.height()} · {how}")
        self._update_stats()
        self._shown = n
        self.frame_shown.emit(n)

    @Slot(int, str)
    def _show_error(self, n: int, message: str) -> None:
        self._pixmap = None
        self._label.setText(f"cannot show {self._name_of(n)}")
        self._status.setText(f"{self._where(n)} · error: {message}")
        self._update_stats()
        self._shown = n
        self.frame_failed.emit(n, message)

    def _where(self, n: int) -> str:
        # "7 of 199" counts files from 1, as people do; the label has the file's own number.
        of = "" if self._count is None else f" · {n + 1} of {self._count}"
        return f"{self._name_of(n)}{of}"

    def _update_stats(self) -> None:
        stats = self._prefetcher.loader.stats()
        self._stats.setText(
            f"hits {stats.hits} · waits {stats.waits} · misses {stats.misses} · "
            f"ahead {stats.ahead} · cached {stats.cached}"
        )

    def _fit_pixmap(self) -> None:
        """Show the frame at its own size, or scaled down to fit the window."""
        if self._pixmap is None:
            return
        room = self._label.contentsRect().size()
        pixmap = self._pixmap
        if pixmap.width() > room.width() or pixmap.height() > room.height():
            pixmap = pixmap.scaled(
                room,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        self._label.setPixmap(pixmap)


def _key_name(keys: Any) -> Callable[[int], str]:
    def name(n: int) -> str:
        return os.path.basename(str(keys[n]).rstrip("/")) or str(keys[n])

    return name


def run(
    source: str,
    *,
    start: int | None = None,
    ahead: int | str = "auto",
    workers: int | None = None,
) -> int:
    """Open a window on ``source`` (anything :func:`~prefetcher.open_sequence` takes) and run it.

    Creates the ``QApplication`` if there is none, and returns when the window is closed (Esc, Q,
    Ctrl+Q, the window's close button) or on Ctrl-C in the terminal.

    Args:
        source: Directory, glob pattern, numbered template, or URL.
        start: The position shown first; ``None``: the first file.
        ahead: Read-ahead of the loader (an int, or ``"auto"``).
        workers: Loader threads (``max_workers``); ``None`` for the loader's default.

    Returns:
        The exit code of the Qt event loop: 0 when the window was closed,
        :data:`EXIT_INTERRUPTED` (130) after Ctrl-C.

    Raises:
        Whatever :func:`~prefetcher.open_sequence` raises for a bad source (``FileNotFoundError``
        for a missing directory or a glob that matches nothing, ``ValueError`` for a bad
        template, ...), before any window opens.
    """
    from prefetcher._sequence import open_sequence

    app = QApplication.instance()
    if app is None:
        app = QApplication([sys.argv[0] if sys.argv else "prefetcher"])
    loader = open_sequence(source, ahead=ahead, max_workers=workers)
    window = ViewerWindow(loader, start=start)
    window.setWindowTitle(f"prefetcher view {source}")
    window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    prefetcher = window.prefetcher
    window.show()
    try:
        with quit_on_ctrl_c(app):
            return int(app.exec_())
    finally:
        # Closing the window closes the loader; this covers an event loop ended another way.
        prefetcher.close()
