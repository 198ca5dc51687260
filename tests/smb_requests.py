"""Count the SMB2 requests a client sends, read off the wire at the faulty link's tap.

The link (tests/faulty_link.py) shows a reader every chunk a client sends; this module reassembles
the stream of each connection into its messages (a 4-byte length, then the message: RFC 1002
session framing, as SMB2 over TCP uses it), walks the chain of each compound request and counts
every request by command, and the files the CREATE requests open, by name. Nothing is changed on
the way::

    requests = SmbRequests()
    with FaultyLink(("127.0.0.1", smbd_port), tap=requests.stream) as link:
        ...  # read through link.port
    requests.opens({"run\\\\0.png"})  # CREATE requests naming that file

A signed message is plain text; an encrypted one (a transform header) hides its commands and is
only counted as such.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
from collections.abc import Callable, Collection

__all__ = ["CREATE", "READ", "SmbCounts", "SmbRequests"]

#: SMB2 command numbers (MS-SMB2 2.2.1.2).
CREATE, CLOSE, READ = 0x0005, 0x0006, 0x0008

_SMB2 = b"\xfeSMB"
_ENCRYPTED = b"\xfdSMB"
_HEADER = 64
# In a CREATE request: NameOffset (from the start of the SMB2 header) and NameLength, each 2
# bytes, at this offset of the request's body (MS-SMB2 2.2.13).
_CREATE_NAME = _HEADER + 44


@dataclasses.dataclass(frozen=True)
class SmbCounts:
    """What the clients have sent so far."""

    connections: int
    commands: dict[int, int]  # command number -> requests
    opened: dict[str, int]  # file name of a CREATE (as the client sent it) -> requests
    encrypted: int  # messages whose commands cannot be read


class SmbRequests:
    """A counter of SMB2 requests, fed by :meth:`stream` (a tap of :class:`FaultyLink`)."""

    def __init__(self) -> None:
        # Guards every counter below; held only to add to them.
        self._lock = threading.Lock()
        self._connections = 0
        self._commands: collections.Counter[int] = collections.Counter()
        self._opened: collections.Counter[str] = collections.Counter()
        self._encrypted = 0

    def stream(self) -> Callable[[bytes], None]:
        """A reader of one new connection's upstream bytes: give it every chunk, in order."""
        with self._lock:
            self._connections += 1
        pending = bytearray()

        def feed(chunk: bytes) -> None:
            pending.extend(chunk)
            start = 0
            while len(pending) - start >= 4:
                length = int.from_bytes(pending[start + 1 : start + 4], "big")
                if len(pending) - start - 4 < length:
                    break
                self._message(bytes(pending[start + 4 : start + 4 + length]))
                start += 4 + length
            del pending[:start]

        return feed

    def counts(self) -> SmbCounts:
        """A snapshot of the counts."""
        with self._lock:
            return SmbCounts(
                self._connections, dict(self._commands), dict(self._opened), self._encrypted
            )

    def opens(self, names: Collection[str]) -> int:
        """How many CREATE requests named one of ``names`` (as the client sends them: the path
        inside the share, with backslashes)."""
        with self._lock:
            return sum(count for name, count in self._opened.items() if name in names)

    def _message(self, message: bytes) -> None:
        if message[:4] == _ENCRYPTED:
            with self._lock:
                self._encrypted += 1
            return
        offset = 0
        # A compound request is a chain: each header says where the next one starts (0: last).
        while message[offset : offset + 4] == _SMB2:
            command = int.from_bytes(message[offset + 12 : offset + 14], "little")
            following = int.from_bytes(message[offset + 20 : offset + 24], "little")
            name = None
            if command == CREATE:
                at = offset + _CREATE_NAME
                name_offset = int.from_bytes(message[at : at + 2], "little")
                name_length = int.from_bytes(message[at + 2 : at + 4], "little")
                begin = offset + name_offset
                name = message[begin : begin + name_length].decode("utf-16-le", "replace")
            with self._lock:
                self._commands[command] += 1
                if name is not None:
                    self._opened[name] += 1
            if following == 0:
                break
            offset += following
