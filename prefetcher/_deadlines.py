"""A daemon thread that calls its owner back when the next deadline comes (stuck loads, retries)."""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable

from ._waiting import join_all

__all__ = ["DeadlineThread"]


class DeadlineThread:
    """Calls ``on_deadline(now)`` when the earliest deadline it was told of has come.

    ``on_deadline`` is a bound method; it acts on what is due and returns the next deadline, or
    ``None``. The thread holds it weakly, so an owner dropped without ``stop()`` is still
    collected and the thread ends. Times are ``time.perf_counter()`` seconds.
    """

    def __init__(
        self, on_deadline: Callable[[float], float | None], name: str = "prefetcher-deadlines"
    ) -> None:
        self._on_deadline = weakref.WeakMethod(on_deadline)
        # Guards _next and _stopped; never held while calling the owner.
        self._changed = threading.Condition(threading.Lock())
        self._next: float | None = None
        self._stopped = False
        self._thread: threading.Thread | None = None
        self._name = name

    def wake_at(self, when: float) -> None:
        """Make sure the owner is called at ``when`` at the latest."""
        with self._changed:
            if self._stopped:
                return
            if self._next is None or when < self._next:
                self._next = when
                self._changed.notify()
            start = self._thread is None
            if start:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        if start:
            assert self._thread is not None
            self._thread.start()

    def stop(self) -> None:
        """End the thread; later ``wake_at`` calls do nothing."""
        with self._changed:
            self._stopped = True
            self._changed.notify()

    def join(self, timeout: float | None) -> bool:
        """After :meth:`stop`: wait up to ``timeout`` seconds for the thread to end.

        Returns whether it ended (or never started). Never waits for the calling thread itself.
        """
        with self._changed:
            thread = self._thread
        return thread is None or join_all([thread], timeout)

    def _wait_for_due(self) -> float | None:
        """Wait until the next deadline; return the time, or ``None`` to end."""
        with self._changed:
            while not self._stopped:
                now = time.perf_counter()
                if self._next is not None and self._next <= now:
                    self._next = None
                    return now
                self._changed.wait(None if self._next is None else self._next - now)
            return None

    def _run(self) -> None:
        while (now := self._wait_for_due()) is not None:
            on_deadline = self._on_deadline()
            if on_deadline is None:
                return
            upcoming = on_deadline(now)
            del on_deadline  # hold no strong reference while waiting
            if upcoming is not None:
                self.wake_at(upcoming)
