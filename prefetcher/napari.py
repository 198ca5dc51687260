"""napari: show a numbered sequence as an image layer that reads ahead as the slider moves.

Needs the ``napari`` extra (``pip install '.[napari]'``). Three ways in:

- Python: ``prefetcher.napari.view("/mnt/share/run7")`` adds the layer and returns it;
- napari's File > Open Folder (or ``napari --plugin prefetcher /mnt/share/run7``): the reader
  this package registers with napari (``napari.yaml``);
- :func:`run`: a napari window on a source until it is closed.

The layer's data is a :class:`prefetcher.FrameStack`, so napari reads one frame per step through
the loader, which reads ahead in the direction the slider moves. In a napari window, napari's GUI
thread never waits for the share: a step to a frame that is still loading shows the last frame
until the new one arrives, and then the layer is refreshed (see ``docs/napari.rst`` for why this,
rather than napari's experimental asynchronous slicing).
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from prefetcher._errors import LoaderClosedError
from prefetcher._frames import FrameStack, describe_key
from prefetcher._loader import PrefetchingLoader
from prefetcher._remote import display_name, is_url
from prefetcher._sequence import open_sequence
from prefetcher._tiff import TIFF_EXTENSIONS

if TYPE_CHECKING:
    import napari  # type: ignore[import-untyped,import-not-found,unused-ignore]
    import napari.layers  # type: ignore[import-untyped,import-not-found,unused-ignore]

__all__ = ["contrast_limits", "napari_get_reader", "run", "view"]

_Source = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


def view(
    source_or_loader: _Source | PrefetchingLoader[Any, Any] | FrameStack,
    viewer: napari.components.ViewerModel | None = None,
    **layer_options: Any,
) -> napari.layers.Image:
    """Add an image layer over a sequence of frames to a napari viewer and return the layer.

    Args:
        source_or_loader: What :func:`prefetcher.open_sequence` opens (a directory, glob,
            list of paths, multi-page TIFF file, or fsspec URL; frames come as numpy arrays), a
            loader with keys, or a :class:`~prefetcher.FrameStack`. A loader opened here is
            closed when the layer is removed from the viewer; one passed in is the caller's.
        viewer: The viewer to add the layer to; a new :class:`napari.Viewer` by default.
            A :class:`napari.components.ViewerModel` (no window) works too: its steps then read
            the frame in the calling thread.
        **layer_options: Passed to ``viewer.add_image`` (``name``, ``colormap``,
            ``contrast_limits`` ...). ``contrast_limits`` defaults to :func:`contrast_limits`
            of the first frame, so napari never reads the whole stack to compute them.

    Returns:
        The new :class:`napari.layers.Image`; ``layer.data`` is the :class:`FrameStack`, and
        ``layer.data.loader.stats()`` shows how many frames came from memory.

    Example:
        >>> import napari  # doctest: +SKIP
        >>> layer = prefetcher.napari.view("/mnt/share/run7", napari.Viewer())  # doctest: +SKIP
        >>> napari.run()  # doctest: +SKIP
    """
    import napari  # type: ignore[import-untyped,import-not-found,unused-ignore]

    owned = not isinstance(source_or_loader, (PrefetchingLoader, FrameStack))
    if isinstance(source_or_loader, FrameStack):
        loader = source_or_loader.loader
    elif isinstance(source_or_loader, PrefetchingLoader):
        loader = source_or_loader
    else:
        loader = open_sequence(source_or_loader, as_array=True)
    try:
        if viewer is None:
            viewer = napari.Viewer()
        # Only a viewer with a window has a Qt event loop to deliver frames that arrive later.
        data = _LiveFrames(loader, in_window=getattr(viewer, "window", None) is not None)
        options = {"name": _layer_name(source_or_loader), **layer_options}
        options.setdefault("contrast_limits", contrast_limits(data.frame(0)))
        layer = viewer.add_image(data, **options)
    except BaseException:
        if owned:
            loader.close(wait=False)
        raise
    data.attach(layer)
    if owned:
        _close_with_layer(viewer, layer, loader)
    return layer


def run(
    source: _Source, *, start: int = 0, ahead: int | str = "auto", workers: int | None = None
) -> int:
    """Open a napari window on ``source`` and run napari until the window is closed.

    The arguments are ``prefetcher view``'s.

    Args:
        source: What :func:`prefetcher.open_sequence` takes, with known frames (not a template).
        start: The frame shown first.
        ahead: The loader's read-ahead (an int, or ``"auto"``).
        workers: Loader threads (``max_workers``); ``None`` for the loader's default.

    Returns:
        0, once the window is closed.

    Raises:
        Whatever :func:`prefetcher.open_sequence` raises for a bad source, and ``ValueError``
        for an open-ended one, before any window opens.
    """
    import napari  # type: ignore[import-untyped,import-not-found,unused-ignore]

    with open_sequence(source, as_array=True, ahead=ahead, max_workers=workers) as loader:
        stack = FrameStack(loader)  # before the window: a bad source fails with no window open
        viewer = napari.Viewer()
        view(stack, viewer, name=_layer_name(source))
        stack.frame(start)  # IndexError for a start outside the frames, before the window opens
        viewer.dims.set_current_step(0, start % len(stack))
        napari.run()
    return 0


def contrast_limits(frame: npt.NDArray[Any]) -> tuple[float, float]:
    """Contrast limits from one frame, so that napari need not read the stack to guess them.

    ``uint8`` (and ``bool``) frames get their dtype's full range, as napari gives them; any
    other dtype gets the range of values in ``frame`` (a 12-bit camera's ``uint16`` frames, say,
    which the dtype's range 0-65535 would show almost black). A frame of one value gets the
    dtype's range (``(v, v + 1)`` for floats).
    """
    if frame.dtype in (np.uint8, np.bool_):
        return (0.0, 1.0) if frame.dtype == np.bool_ else (0.0, 255.0)
    low, high = float(np.min(frame)), float(np.max(frame))
    if low < high:
        return low, high
    if np.issubdtype(frame.dtype, np.integer):
        info = np.iinfo(frame.dtype)
        return float(info.min), float(info.max)
    return (low, low + 1.0) if np.isfinite(low) else (0.0, 1.0)


def napari_get_reader(path: str | list[str]) -> Callable[..., list[Any]] | None:
    """napari's reader hook: a folder of numbered frames, or one multi-page TIFF file.

    napari calls it for File > Open Folder, File > Open on a ``.tif``, and ``napari PATH``;
    it returns ``None`` for anything else, leaving it to other readers.
    """
    if isinstance(path, list):
        if len(path) != 1:
            return None
        path = path[0]
    name = os.fspath(path)
    if is_url(name) or os.path.isdir(name) or name.lower().endswith(TIFF_EXTENSIONS):
        return _read
    return None


def _read(path: str | list[str]) -> list[tuple[Any, dict[str, Any], str]]:
    source = path[0] if isinstance(path, list) else path
    loader = open_sequence(source, as_array=True)
    try:
        data = _LiveFrames(loader, in_window=_has_qt_application())
    except BaseException:
        loader.close(wait=False)
        raise
    options = {"name": _layer_name(source), "contrast_limits": contrast_limits(data.frame(0))}
    return [(data, options, "image")]


class _LiveFrames(FrameStack):
    """A FrameStack whose single-frame reads never block a napari window's GUI thread.

    napari asks for one frame as ``data[i : i + 1, ...]``. In a window, that request goes to
    ``loader.request(i)``: a frame in memory is returned at once; a frame still loading returns
    the last frame shown, and the layer is refreshed when the frame arrives (in the GUI thread).
    A frame that fails, or does not fit the stack, is reported in napari's notification area
    with its file, and the last frame stays on screen. Without a window (a ``ViewerModel``),
    frames are read as a plain FrameStack reads them.
    """

    def __init__(self, loader: PrefetchingLoader[Any, Any], *, in_window: bool) -> None:
        super().__init__(loader)
        self._shown = self.frame(0)
        # Guards _wanted: napari may slice from its own threads (asynchronous slicing).
        self._lock = threading.Lock()
        self._wanted = 0
        self._layers: weakref.WeakSet[Any] = weakref.WeakSet()
        self._relay = _make_relay(self._arrived) if in_window else None

    def attach(self, layer: Any) -> None:
        """Refresh ``layer`` when a frame it waits for arrives."""
        self._layers.add(layer)

    def __getitem__(self, key: Any) -> Any:
        single = _single_frame(key, len(self))
        if single is None:
            return super().__getitem__(key)  # several frames (3-D view, np.asarray): read them
        index, rest, as_slice = single
        with self._lock:
            self._wanted = index
        if self._relay is None:
            try:
                frame = self.frame(index)
            except Exception as exc:
                _notify(self._failure(index, exc))
                frame = self._shown
        else:
            future = self.loader.request(index)
            if future.done():
                frame = self._take(index, future)
            else:
                relay = self._relay
                future.add_done_callback(lambda done: relay.arrived.emit(index, done))
                frame = self._shown
        cropped = frame[rest]
        return cropped[np.newaxis] if as_slice else cropped

    def _take(self, index: int, future: Future[Any]) -> npt.NDArray[Any]:
        """The frame from a finished load, or the last frame shown after reporting the error."""
        exc = future.exception()
        if exc is None:
            try:
                self._shown = self.check_frame(index, future.result())
            except ValueError as mismatch:
                exc = mismatch
        if exc is not None:
            _notify(self._failure(index, exc))
        return self._shown

    def _arrived(self, index: int, future: Future[Any]) -> None:
        """In the GUI thread: a frame some slice was waiting for has loaded (or failed)."""
        exc = future.exception()
        if isinstance(exc, LoaderClosedError):
            return  # the layer is gone (its loader closed with it): nothing to show or say
        if exc is not None:
            _notify(self._failure(index, exc))
            return
        with self._lock:
            current = index == self._wanted
        if current:
            for layer in self._showing():
                layer.refresh()

    def _showing(self) -> list[Any]:
        if not self._layers:
            # Added by napari from the reader: find the layer in the current viewer.
            import napari  # type: ignore[import-untyped,import-not-found,unused-ignore]

            viewer = napari.current_viewer()
            for layer in viewer.layers if viewer is not None else ():
                if layer.data is self:
                    self._layers.add(layer)
        return list(self._layers)

    def _failure(self, index: int, exc: BaseException | None) -> str:
        key = self.loader.keys[index] if self.loader.keys is not None else index
        return f"cannot show frame {index} ({describe_key(key)}): {type(exc).__name__}: {exc}"


def _single_frame(key: Any, length: int) -> tuple[int, tuple[Any, ...], bool] | None:
    """``(frame, index into it, whether asked as a slice)`` for a request of one frame."""
    parts = key if isinstance(key, tuple) else (key,)
    if not parts:
        return None
    first, rest = parts[0], parts[1:]
    if not all(part is None or isinstance(part, slice) or _is_int(part) for part in rest):
        return None
    if isinstance(first, slice):
        frames = range(*first.indices(length))
        return (frames[0], rest, True) if len(frames) == 1 else None
    if _is_int(first):
        index = int(first)
        index = index + length if index < 0 else index
        return (index, rest, False) if 0 <= index < length else None
    return None


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _make_relay(arrived: Callable[[int, Future[Any]], None]) -> Any:
    """A QObject in the GUI thread whose signal, emitted from a worker, calls ``arrived`` there."""
    from qtpy.QtCore import QObject, Qt, Signal  # type: ignore[attr-defined]

    class _Relay(QObject):
        arrived = Signal(int, object)

    relay = _Relay()
    # Queued: `arrived` runs in the GUI thread from its event loop, never inside the emit -- not
    # even when a load finishes just as napari's slice adds the callback (which then runs at once,
    # in the GUI thread, in the middle of that slice).
    relay.arrived.connect(arrived, Qt.ConnectionType.QueuedConnection)  # type: ignore[call-arg]
    return relay


def _has_qt_application() -> bool:
    try:
        from qtpy.QtWidgets import QApplication
    except ImportError:
        return False
    return QApplication.instance() is not None


def _notify(message: str) -> None:
    from napari.utils.notifications import (  # type: ignore[import-untyped,import-not-found,unused-ignore]
        show_error,
    )

    show_error(f"prefetcher: {message}")


def _layer_name(source: object) -> str | None:
    if isinstance(source, FrameStack):
        source = source.loader
    if isinstance(source, PrefetchingLoader):
        return None
    if isinstance(source, (str, os.PathLike)):
        name = display_name(os.fspath(source)).rstrip("/\\")
        return name.replace("\\", "/").rsplit("/", 1)[-1] or name
    return None


def _close_with_layer(viewer: Any, layer: Any, loader: PrefetchingLoader[Any, Any]) -> None:
    def removed(event: Any) -> None:
        if event.value is layer:
            viewer.layers.events.removed.disconnect(removed)
            # Not waiting: a load stuck on the share must not freeze napari.
            loader.close(wait=False)

    viewer.layers.events.removed.connect(removed)
