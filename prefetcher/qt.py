"""Qt signals for a :class:`~prefetcher.PrefetchingLoader`: request, never block the GUI thread.

Needs the ``qt`` extra (``pip install '.[qt]'`` from the checkout): written against qtpy, so
PyQt5 (tested) and PySide6 both work. Importing :mod:`prefetcher` itself never imports a Qt
binding; only this submodule (and :mod:`prefetcher.viewer`) does.

Which thread runs what:

- :meth:`QtPrefetcher.request` runs in the thread the object lives in (the GUI thread): it only
  looks up or submits a load and returns at once.
- Loads run in the loader's worker threads. When one finishes, the worker posts the result to the
  GUI thread's event loop (a queued connection, which Qt makes thread-safe) and goes on.
- Every signal of :class:`QtPrefetcher` is emitted in the GUI thread, from its event loop, never
  from inside :meth:`~QtPrefetcher.request` (not even for an item that was already in memory).

Stale results: every signal carries its index. ``loaded``/``failed`` report every completed
request; ``current_loaded``/``current_failed`` only the latest one (:attr:`QtPrefetcher.current`
when the result arrives). Connect the view to ``current_loaded``: a slow result for a frame the user
has already left then never replaces the newer frame.
"""

from __future__ import annotations

import functools
import logging
import threading
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

# qtpy binds Signal/Slot inside an if/else on the binding, which mypy does not count as an export.
from qtpy.QtCore import QObject, Qt, Signal, Slot  # type: ignore[attr-defined]

from prefetcher._errors import LoaderClosedError

if TYPE_CHECKING:
    import os
    from collections.abc import Sequence

    from prefetcher._loader import PrefetchingLoader

__all__ = ["QtPrefetcher", "describe_error"]

_log = logging.getLogger("prefetcher")


def describe_error(exc: BaseException) -> str:
    """A one-line message for a failed load: exception type, message, and any notes.

    >>> describe_error(FileNotFoundError("no such file: '7.png'"))
    "FileNotFoundError: no such file: '7.png'"
    """
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    notes = getattr(exc, "__notes__", None)
    if notes:
        text += " (" + "; ".join(str(note) for note in notes) + ")"
    return text


class _Bridge(QObject):
    """The part of a :class:`QtPrefetcher` that worker threads and its ``destroyed`` signal touch.

    Workers emit ``finished`` on it, never on the prefetcher, and it has no Qt parent: it lives
    until it has closed, so a worker can always emit on it, even while the prefetcher is being
    deleted. It holds no reference to the prefetcher.
    """

    finished = Signal(object, object)  # (index, future); emitted from worker threads

    def __init__(self, loader: PrefetchingLoader[Any, Any]) -> None:
        super().__init__()
        self.loader = loader
        # Guards closed and every finished.emit(): once close() has set closed under it, no
        # worker is emitting and none will. Never held while calling the loader or user code.
        self.lock = threading.Lock()
        self.closed = False

    def on_future_done(self, index: int, future: Future[Any]) -> None:
        """Done-callback of a requested future: runs in the worker thread that finished the load
        (or in the caller, if the item was already in memory)."""
        with self.lock:
            if self.closed:
                return
            # A queued emit only posts an event to the GUI thread: quick, and no user code runs.
            self.finished.emit(index, future)

    @Slot()
    def close(self) -> None:
        """Close the loader (waiting for running loads); idempotent."""
        with self.lock:
            if self.closed:
                return
            self.closed = True
        # Outside the lock: closing cancels queued loads, whose done-callbacks take the lock.
        self.loader.close(wait=True)
        _OPEN.discard(self)
        # Deleted by the event loop of the thread it lives in, never by a worker dropping the
        # last reference to a future whose done-callback refers to it.
        self.deleteLater()


# The bridges of open prefetchers. Holding them here keeps each bridge, and so the slot that
# closes it on the prefetcher's `destroyed` signal, alive until it has closed. Otherwise a
# prefetcher caught in a reference cycle with its window is deleted by the garbage collector
# together with everything it refers to, and Qt calls the `destroyed` slot on a collected
# object: our tests crashed that way with a lambda as the slot.
_OPEN: set[_Bridge] = set()


class QtPrefetcher(QObject):
    """A :class:`~prefetcher.PrefetchingLoader` that reports finished items as Qt signals.

    Create it, call :meth:`request` and :meth:`close` in the GUI thread (the thread the object lives
    in, which must run an event loop). ``request(n)`` never blocks; when item ``n`` is ready,
    ``loaded(n, item)`` is emitted in the GUI thread; a failed load emits ``failed(n, message)``.
    ``current_loaded`` and ``current_failed`` are emitted as well when ``n`` is still the latest
    index requested, so a late result for a frame the user has left never overwrites a newer one.

    The prefetcher owns the loader: :meth:`close` closes it, waiting for running loads to finish,
    and so does deleting the object or its Qt parent. After that no signal is emitted.

    Args:
        loader: The loader to wrap. Its read-ahead works as with ``get``: requesting ``n`` also
            prefetches the next items in the direction of travel.
        parent: Qt parent; when it is deleted, the prefetcher closes.

    Example:
        >>> prefetcher = QtPrefetcher.open("share/{}.png", parent=window)  # doctest: +SKIP
        >>> prefetcher.current_loaded.connect(window.show_frame)  # doctest: +SKIP
        >>> prefetcher.request(1)  # doctest: +SKIP
    """

    #: ``(index, item)`` for every request whose load succeeded.
    loaded = Signal(int, object)
    #: ``(index, message)`` for every request whose load raised; the message names the exception.
    failed = Signal(int, str)
    #: Like ``loaded``, only for the latest request (:attr:`current`).
    current_loaded = Signal(int, object)
    #: Like ``failed``, only for the latest request (:attr:`current`).
    current_failed = Signal(int, str)

    def __init__(self, loader: PrefetchingLoader[Any, Any], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._loader = loader
        self._current: int | None = None
        # Futures requested and not reported yet, so that requesting an index again while it loads
        # reports it once. Only touched in the GUI thread.
        self._pending: dict[int, Future[Any]] = {}
        bridge = _Bridge(loader)
        bridge.moveToThread(self.thread())
        _OPEN.add(bridge)
        self._bridge = bridge
        # Queued even when the callback runs in this thread (an item already in memory), so a
        # signal never fires from inside request().
        # (PyQt5's stubs omit connect's connection-type argument.)
        bridge.finished.connect(self._deliver, Qt.ConnectionType.QueuedConnection)  # type: ignore[call-arg]
        # Deleting this object (or its parent, which deletes its children) closes the loader.
        # A decorated slot of another object: a plain Qt connection, no Python callable to
        # collect, and no wrapper made for the half-destroyed sender.
        self.destroyed.connect(bridge.close)

    @classmethod
    def open(
        cls,
        source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        *,
        parent: QObject | None = None,
        mode: str | None = None,
        as_array: bool = False,
        **loader_options: Any,
    ) -> QtPrefetcher:
        """A prefetcher over :func:`~prefetcher.open_sequence` ``(source, mode=..., ...)``.

        ``loader_options`` (``ahead``, ``cache_size``, ``max_workers``, ...) go to the loader.
        """
        from prefetcher._sequence import open_sequence

        return cls(open_sequence(source, mode=mode, as_array=as_array, **loader_options), parent)

    @property
    def loader(self) -> PrefetchingLoader[Any, Any]:
        """The wrapped loader (for ``stats()``, ``keys``, ``len``)."""
        return self._loader

    @property
    def current(self) -> int | None:
        """The index of the latest :meth:`request`, or ``None`` before the first."""
        return self._current

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run (or the object was deleted)."""
        return self._bridge.closed

    def request(self, n: int) -> Future[Any]:
        """Ask for item ``n`` and make it the current one; returns at once.

        The result arrives as ``loaded``/``current_loaded`` (or ``failed``/``current_failed``) from
        the event loop, after this method returns, even when the item is already in memory. Asking
        again for an index that is still loading reports it once.

        Returns:
            The loader's future for item ``n``; ``future.done()`` right after the call tells
            whether the item was already in memory.

        Raises:
            IndexError, TypeError: A bad index (as ``PrefetchingLoader.get``).
            LoaderClosedError: After :meth:`close`.
        """
        if self._bridge.closed:
            raise LoaderClosedError("the QtPrefetcher is closed")
        future = self._loader.request(n)
        self._current = n
        if self._pending.get(n) is not future:
            self._pending[n] = future
            # Binds the bridge, not self: a worker never touches the prefetcher.
            future.add_done_callback(functools.partial(self._bridge.on_future_done, n))
        return future

    def close(self) -> None:
        """Close the loader, waiting for running loads; no signal is emitted after this returns.

        Idempotent. Blocks the calling thread for at most the rest of the loads already running.
        """
        self._bridge.close()
        self._pending.clear()

    def __repr__(self) -> str:
        return (
            f"<QtPrefetcher current={self._current} pending={len(self._pending)} "
            f"closed={self._bridge.closed}>"
        )

    @Slot(object, object)
    def _deliver(self, index: int, future: Future[Any]) -> None:
        """Runs in the GUI thread: turns a finished future into signals."""
        if self._bridge.closed:
            return
        if self._pending.get(index) is future:
            del self._pending[index]
        if future.cancelled():
            # The loader's futures refuse cancel(), but a caller holding one may still try; here
            # future.exception() would raise in an event-loop slot, which aborts under PyQt5.
            self._emit_failure(index, f"loading item {index} was cancelled")
            return
        exc = future.exception()
        if exc is not None:
            self._emit_failure(index, describe_error(exc))
            return
        item = future.result()
        self.loaded.emit(index, item)
        # A slot connected to loaded may have closed us or requested another index.
        if not self._bridge.closed and index == self._current:
            self.current_loaded.emit(index, item)

    def _emit_failure(self, index: int, message: str) -> None:
        _log.debug("item %d failed: %s", index, message)
        self.failed.emit(index, message)
        if not self._bridge.closed and index == self._current:
            self.current_failed.emit(index, message)
