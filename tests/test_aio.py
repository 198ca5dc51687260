"""The asyncio front end: aget and async iteration keep every guarantee of get, never block the
event loop, and a cancelled aget does not cancel a load another caller waits for.

The guarantees shared with get run over both front ends (``front``): get (in a worker thread, so
the test body is the same coroutine) and aget.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import anyio
import pytest
from loader_support import WAIT, RecordingLoad

from prefetcher import LoaderClosedError, PrefetchingLoader

pytestmark = pytest.mark.anyio

KEYS = ["a", "b", "c", "d", "e", "f"]


# The front end under test: the loader's own asyncio methods.
def aget(loader: PrefetchingLoader[Any, Any], index: Any, timeout: float | None = None) -> Any:
    return loader.aget(index, timeout)


def aiterate(loader: PrefetchingLoader[Any, Any]) -> AsyncIterator[Any]:
    return aiter(loader)


Front = Callable[..., Awaitable[Any]]


async def via_get(
    loader: PrefetchingLoader[Any, Any], index: Any, timeout: float | None = None
) -> Any:
    return await anyio.to_thread.run_sync(lambda: loader.get(index, timeout))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the front end is asyncio's (wrap_future), not trio's


@pytest.fixture(params=["get", "aget"])
def front(request: pytest.FixtureRequest) -> Front:
    return via_get if request.param == "get" else aget


@pytest.fixture
def load() -> RecordingLoad:
    return RecordingLoad(fail={"c"})


@pytest.fixture
def loader(load: RecordingLoad) -> Iterator[PrefetchingLoader[str, Any]]:
    with PrefetchingLoader(load, KEYS) as loader:
        yield loader


async def wait_for(condition: Callable[[], bool]) -> None:
    """Wait, without blocking the loop, for a state the test has no event for."""
    with anyio.fail_after(WAIT):
        while not condition():
            await anyio.sleep(0.001)


# -- the guarantees of get, over both front ends ------------------------------------------------


async def test_returns_the_item(front: Front, loader: PrefetchingLoader[str, Any]) -> None:
    assert await front(loader, 1) == ("item", "b")
    assert await front(loader, -1) == ("item", "f")


@pytest.mark.parametrize("index", [6, -7])
async def test_index_outside_the_keys_raises_index_error_before_loading(
    front: Front, loader: PrefetchingLoader[str, Any], index: int
) -> None:
    with pytest.raises(IndexError, match="out of range for 6 keys"):
        await front(loader, index)
    assert loader.stats().loads_started == 0


@pytest.mark.parametrize("index", ["1", 1.0, True])
async def test_non_integer_index_raises_type_error_before_loading(
    front: Front, loader: PrefetchingLoader[str, Any], index: Any
) -> None:
    with pytest.raises(TypeError, match="index must be an integer"):
        await front(loader, index)
    assert loader.stats().loads_started == 0


async def test_closed_loader_raises_loader_closed_error(
    front: Front, loader: PrefetchingLoader[str, Any]
) -> None:
    loader.close()

    with pytest.raises(LoaderClosedError):
        await front(loader, 0)


async def test_load_error_comes_out_unchanged_with_a_note_naming_index_and_key(
    front: Front, loader: PrefetchingLoader[str, Any]
) -> None:
    with pytest.raises(ValueError, match="cannot load 'c'") as caught:
        await front(loader, 2)

    assert any(
        "index 2" in note and "'c'" in note for note in getattr(caught.value, "__notes__", [])
    )


async def test_failure_is_not_kept_the_next_call_loads_again(
    front: Front, loader: PrefetchingLoader[str, Any], load: RecordingLoad
) -> None:
    for _ in range(2):
        with pytest.raises(ValueError):
            await front(loader, 2)

    assert load.count("c") == 2


async def test_timeout_raises_builtin_timeout_error_and_the_load_goes_on(
    front: Front, loader: PrefetchingLoader[str, Any], load: RecordingLoad
) -> None:
    gate = load.gate("a")

    with pytest.raises(TimeoutError, match=r"item 0 was not ready within 0\.01 seconds") as caught:
        await front(loader, 0, timeout=0.01)  # the load is held by the gate: it cannot be ready
    assert type(caught.value) is TimeoutError

    gate.set()
    assert await front(loader, 0, timeout=WAIT) == ("item", "a")
    assert load.count("a") == 1


async def test_a_load_that_raises_timeout_error_is_not_reported_as_a_timeout(
    front: Front,
) -> None:

    def stuck(key: str) -> str:
        raise TimeoutError(f"share did not answer for {key}")

    with (
        PrefetchingLoader(stuck, KEYS) as loader,
        pytest.raises(TimeoutError, match="share did not answer for a"),
    ):
        await front(loader, 0, timeout=WAIT)


async def test_closing_while_waiting_raises_loader_closed_error(
    front: Front, load: RecordingLoad
) -> None:
    gate = load.gate("a", "b")
    # One worker and the thread kept for requests, both held by the gate: item 2 waits in the
    # executor's queue.
    loader = PrefetchingLoader(load, KEYS, ahead=0, max_workers=1)
    try:
        first = loader.request(0)
        loader.request(1)
        async with anyio.create_task_group() as group:
            caught: list[BaseException] = []

            async def wait_for_third() -> None:
                try:
                    await front(loader, 2, timeout=WAIT)
                except LoaderClosedError as exc:
                    caught.append(exc)

            group.start_soon(wait_for_third)
            await wait_for(lambda: loader.stats().requests == 3)  # the third caller is waiting
            loader.close(wait=False)
        assert len(caught) == 1
    finally:
        gate.set()
        loader.close()
    with pytest.raises(LoaderClosedError):  # close() leaves no waiter behind, running or not
        first.result(WAIT)


# -- what only the asyncio front end promises --------------------------------------------------


async def test_aget_does_not_block_the_event_loop(
    loader: PrefetchingLoader[str, Any], load: RecordingLoad
) -> None:
    gate = load.gate("a")
    got: list[Any] = []

    async def consumer() -> None:
        got.append(await aget(loader, 0, timeout=WAIT))

    async with anyio.create_task_group() as group:
        group.start_soon(consumer)
        # This task runs while the consumer waits: were the loop blocked in aget, it could not
        # open the gate, and the load would fail after WAIT seconds.
        await wait_for(load.started("a").is_set)
        assert got == []
        gate.set()
    assert got == [("item", "a")]


async def test_cancelled_aget_does_not_cancel_a_load_another_caller_waits_for(
    loader: PrefetchingLoader[str, Any], load: RecordingLoad
) -> None:
    gate = load.gate("a")
    got: list[Any] = []

    async def patient() -> None:
        got.append(await aget(loader, 0, timeout=WAIT))

    async with anyio.create_task_group() as group:
        group.start_soon(patient)
        with anyio.CancelScope() as impatient:
            impatient.cancel()
            await aget(loader, 0)  # cancelled at its first wait
        assert impatient.cancelled_caught
        await wait_for(lambda: loader.stats().requests == 2)
        assert not loader.request(0).cancelled()
        gate.set()
    assert got == [("item", "a")]
    assert load.count("a") == 1


async def test_cancelled_aget_of_a_failing_load_logs_no_unretrieved_exception(
    loader: PrefetchingLoader[str, Any], load: RecordingLoad, caplog: pytest.LogCaptureFixture
) -> None:
    gate = load.gate("c")
    with anyio.CancelScope() as scope:
        scope.cancel()
        await aget(loader, 2)  # stops waiting at once; the load goes on and will fail
    shared = loader.request(2)
    # Done-callbacks run in the order they were added: once this one has run, aget's wrapper
    # has been handed the failure.
    failed = threading.Event()
    shared.add_done_callback(lambda _: failed.set())
    gate.set()
    await wait_for(failed.is_set)
    await anyio.sleep(0)  # the loop passes the failure to aget's wrapper
    del shared
    gc.collect()  # the wrapper is gone: had nobody read its exception, asyncio would report it

    assert "never retrieved" not in caplog.text


async def test_async_for_yields_the_items_in_order_reading_ahead(load: RecordingLoad) -> None:
    with PrefetchingLoader(load, ["a", "b", "d", "e", "f"]) as loader:
        items = [item async for item in aiterate(loader)]
        stats = loader.stats()

    assert items == [("item", key) for key in "abdef"]
    assert stats.misses == 1  # every item after the first was already loading


async def test_async_for_stops_at_a_failing_item_with_its_error(
    loader: PrefetchingLoader[str, Any],
) -> None:
    items: list[Any] = []
    with pytest.raises(ValueError, match="cannot load 'c'"):
        async for item in aiterate(loader):
            items.append(item)

    assert items == [("item", "a"), ("item", "b")]


def test_async_iteration_without_keys_raises_type_error_at_once() -> None:
    with PrefetchingLoader(str) as loader, pytest.raises(TypeError, match="no length"):
        aiterate(loader)


def test_async_iteration_of_a_closed_loader_raises_loader_closed_error_at_once(
    loader: PrefetchingLoader[str, Any],
) -> None:
    loader.close()

    with pytest.raises(LoaderClosedError):
        aiterate(loader)
