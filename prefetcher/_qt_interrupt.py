"""Ctrl-C in the terminal ends a running Qt event loop at once, not at the next event."""

from __future__ import annotations

import contextlib
import signal
import socket
from collections.abc import Iterator
from typing import Any

from qtpy.QtCore import QSocketNotifier

from prefetcher._cli_common import EXIT_INTERRUPTED

__all__ = ["quit_on_ctrl_c"]


@contextlib.contextmanager
def quit_on_ctrl_c(app: Any) -> Iterator[None]:
    """Within the block, Ctrl-C ends the event loop with :data:`EXIT_INTERRUPTED`.

    Python runs signal handlers only between bytecodes, and Qt's event loop runs no Python until
    the next event: without help, Ctrl-C waits for the next key press. The signal's wakeup fd
    (written by the C-level handler at once) wakes a socket notifier in the event loop, which
    runs Python, and with it the handler.
    """
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield  # SIGINT ignored (nohup, a background job) or handled by the caller: leave it
        return
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    # PyQt5's stubs say sip.voidptr; a file descriptor as an int is what it takes.
    notifier = QSocketNotifier(reader.fileno(), QSocketNotifier.Type.Read)  # type: ignore[arg-type,unused-ignore]

    def drain() -> None:
        with contextlib.suppress(OSError):
            reader.recv(64)

    def interrupted(signum: int, frame: object) -> None:
        app.exit(EXIT_INTERRUPTED)

    notifier.activated.connect(drain)
    previous_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    signal.signal(signal.SIGINT, interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.set_wakeup_fd(previous_fd)
        notifier.setEnabled(False)
        reader.close()
        writer.close()
