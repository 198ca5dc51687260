"""Exceptions raised by the loader itself (a load's own exceptions pass through unchanged)."""

__all__ = ["LoaderClosedError"]


class LoaderClosedError(RuntimeError):
    """Raised by a call on a :class:`~prefetcher.PrefetchingLoader` after :meth:`close`.

    Also set on a load that was still queued when the loader closed, so a thread waiting for it
    wakes up instead of waiting forever.
    """
