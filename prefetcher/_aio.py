"""asyncio front end of PrefetchingLoader: ``aget`` and ``aiterate``, built on ``request(n)``.

``request(n)`` never blocks and returns the item's :class:`concurrent.futures.Future`, shared by
everybody who asks for the item and impossible to cancel. Here the event loop awaits a wrapper of
that future, so it never blocks, and a coroutine that is cancelled (or times out) only stops
waiting: the load goes on for every other caller.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from prefetcher._loader import PrefetchingLoader

__all__ = ["aget", "aiterate"]

T = TypeVar("T")


async def aget(loader: PrefetchingLoader[Any, T], index: int, timeout: float | None = None) -> T:
    """Return item ``index`` without blocking the event loop; read ahead either way.

    The asyncio counterpart of :meth:`PrefetchingLoader.get`, with the same guarantees.
    Cancelling the awaiting task (or a timeout) stops this caller's wait only: the load goes on,
    another caller waiting for the item gets it, and a later ``aget`` returns it.

    Args:
        loader: The loader.
        index: The item's position; negative values count from the end when there are keys.
        timeout: Seconds to wait at most.

    Raises:
        IndexError: ``index`` is outside the keys, or below 0 without keys (before any load).
        TypeError: ``index`` is not an integer (before any load).
        TimeoutError: The builtin one: the item was not ready within ``timeout`` seconds.
        LoaderClosedError: The loader is closed, or closed while waiting.
        Exception: Whatever ``load`` raised for this item, unchanged, with the loader's note.

    Example:
        >>> import asyncio
        >>> from prefetcher import PrefetchingLoader
        >>> async def main():
        ...     with PrefetchingLoader(str.upper, ["a", "b"]) as loader:
        ...         return await loader.aget(1)
        >>> asyncio.run(main())
        'B'
    """
    # Raises IndexError, TypeError and LoaderClosedError here, before anything is loaded.
    shared = loader.request(index)
    waiter = asyncio.wrap_future(shared)
    # A caller that stopped waiting never reads the outcome: read it here, or asyncio logs
    # "exception was never retrieved" for a failed load nobody asked about any more.
    waiter.add_done_callback(_consume)
    # asyncio.wait never cancels what it waits on: cancelling this coroutine, or the timeout,
    # leaves the wrapper, and with it the shared future, alone.
    done, _ = await asyncio.wait((waiter,), timeout=timeout)
    if not done:
        # Not asyncio.TimeoutError, which on Python 3.10 is not the builtin; and not caught from
        # the load either: a load that raises TimeoutError itself comes out below, unchanged.
        raise TimeoutError(
            f"item {index} was not ready within {timeout} seconds; it is still loading"
        )
    return waiter.result()


def aiterate(loader: PrefetchingLoader[Any, T]) -> AsyncIterator[T]:
    """Yield the items in order without blocking the event loop, reading ahead; only with keys.

    The asyncio counterpart of ``iter(loader)``: ``async for item in loader``.

    Raises:
        TypeError: The loader has no keys (at once, not at the first item).
        LoaderClosedError: The loader is closed (at once), or closes during the iteration.
        Exception: Whatever ``load`` raised for an item, as :func:`aget` does.
    """
    length = len(loader)  # raises at once, as iter(loader) does, not at the first __anext__
    return _items(loader, length)


async def _items(loader: PrefetchingLoader[Any, T], length: int) -> AsyncIterator[T]:
    for index in range(length):
        yield await aget(loader, index)


def _consume(waiter: asyncio.Future[Any]) -> None:
    if not waiter.cancelled():
        waiter.exception()
