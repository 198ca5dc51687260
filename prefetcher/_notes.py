"""The one note the loader adds to an exception it hands back, naming the index and the key."""

from __future__ import annotations

import sys

__all__ = ["NOTE_PREFIX", "set_loader_note"]

NOTE_PREFIX = "prefetcher: "


def set_loader_note(exc: BaseException, note: str) -> None:
    """Make ``note`` the loader's only note on ``exc``; keep everybody else's notes.

    An exception object can be raised for several indices (an error a load re-raises, or a
    broken process pool setting one on every pending future): one note per raise would pile up
    notes naming other indices.

    Example:
        >>> error = ValueError("bad")
        >>> set_loader_note(error, "prefetcher: while loading index 1")
        >>> set_loader_note(error, "prefetcher: while loading index 2")
        >>> error.__notes__
        ['prefetcher: while loading index 2']
    """
    notes = [n for n in getattr(exc, "__notes__", ()) if not _is_loader_note(n)]
    notes.append(note)
    if sys.version_info >= (3, 11):
        exc.__notes__ = notes
    else:  # pragma: no cover - Python 3.10 has no add_note; keep the note where 3.11 puts it.
        setattr(exc, "__notes__", notes)  # noqa: B010


def _is_loader_note(note: object) -> bool:
    return isinstance(note, str) and note.startswith(NOTE_PREFIX)
