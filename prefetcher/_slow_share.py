"""A simulated slow network share, for the demo, the examples and the benchmarks."""

from __future__ import annotations

import os
import threading
import time

__all__ = ["SimulatedShare"]


class SimulatedShare:
    """Make reads cost what they cost on a slow network share.

    Every read first pays ``latency`` seconds (a round trip; reads from several threads overlap, as
    they do on a real network), then its bytes cross one shared link of ``bandwidth`` bytes per
    second (transfers serialize: two reads at once each take twice as long to transfer).

    Args:
        latency: Seconds each read waits before its bytes start to flow. Must be >= 0.
        bandwidth: Bytes per second of the shared link, or ``None`` for an infinitely fast link.

    Example:
        >>> share = SimulatedShare(latency=0.001)
        >>> share.delay(1000)  # what a read of 1000 bytes costs, without a file
        >>> share.reads
        1
    """

    def __init__(self, latency: float = 0.04, bandwidth: float | None = None) -> None:
        if latency < 0:
            raise ValueError(f"latency must be >= 0, got {latency!r}")
        if bandwidth is not None and bandwidth <= 0:
            raise ValueError(f"bandwidth must be > 0 or None, got {bandwidth!r}")
        self.latency = latency
        self.bandwidth = bandwidth
        # Guards the counters and _link_free_at; never held while sleeping.
        self._lock = threading.Lock()
        self._link_free_at = 0.0
        self._reads = 0
        self._bytes = 0

    @property
    def reads(self) -> int:
        """How many reads the share has served."""
        with self._lock:
            return self._reads

    @property
    def bytes_read(self) -> int:
        """How many bytes the share has served."""
        with self._lock:
            return self._bytes

    def delay(self, nbytes: int) -> None:
        """Block for as long as reading ``nbytes`` bytes from the share would take."""
        time.sleep(self.latency)
        transfer = 0.0 if self.bandwidth is None else nbytes / self.bandwidth
        with self._lock:
            self._reads += 1
            self._bytes += nbytes
            # Book the link: this transfer starts when the previous one has finished.
            start = max(time.perf_counter(), self._link_free_at)
            self._link_free_at = start + transfer
            finish = self._link_free_at
        remaining = finish - time.perf_counter()
        if remaining > 0:
            time.sleep(remaining)

    def read_bytes(self, path: str | os.PathLike[str]) -> bytes:
        """Read a whole local file as if it sat on the share."""
        with open(path, "rb") as file:
            data = file.read()
        self.delay(len(data))
        return data

    def __repr__(self) -> str:
        return (
            f"<SimulatedShare latency={self.latency:g}s bandwidth={self.bandwidth!r} "
            f"reads={self.reads}>"
        )
