"""The async API starts no thread of its own: every actor is a task in the factory's task group
(``tests/test_architecture.py`` checks that no module creates a ``threading.Thread``). Work that
would block the loop (reading files, resolving the machine's address, loading CA certificates,
a plain listener or SDK-event callback) goes to anyio's worker threads, the loop's shared pool;
with none of that to do, a factory syncs, streams, records and is destroyed without any."""

from __future__ import annotations

import threading
from typing import Any

import anyio
import anyio.to_thread
import pytest

from splitio_async import open_factory
from tests.fakes.split_server import FakeSplitServer
from tests.helpers import rollout_flag

pytestmark = pytest.mark.anyio


def _threads() -> set[threading.Thread]:
    """This process's threads, but for the fake server's connection handlers."""
    return {t for t in threading.enumerate() if not t.name.startswith("fake-split")}


async def test_standalone_factory_runs_on_the_event_loop_thread_only(
    server: FakeSplitServer, anyio_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    handed_to_threads: list[object] = []
    run_sync = anyio.to_thread.run_sync

    async def spy(function: Any, *args: Any, **kwargs: Any) -> Any:
        handed_to_threads.append(function)
        return await run_sync(function, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", spy)
    server.set_flags([rollout_flag("f", (("on", 100),))])
    before = _threads()
    config = {"IPAddressesEnabled": False, "impressionsMode": "DEBUG", "destroyTimeout": 5}
    async with open_factory("SDK-KEY-0001", config, **server.url_kwargs()) as factory:
        await factory.block_until_ready(5)
        client = factory.client()
        assert await client.get_treatment("k", "f") == "on"
        assert await client.track("k", "user", "checkout")
        # streaming connected: the SSE actor is running too (waited in a thread of the test's)
        assert await run_sync(server.wait_for_streams, 1, 5.0) >= 1
        assert handed_to_threads == []
    assert handed_to_threads == []
    if anyio_backend == "asyncio":  # anyio's trio test runner starts a thread of its own
        assert _threads() == before
    assert [e["eventTypeId"] for body in server.accepted("/api/events/bulk") for e in body] == [
        "checkout"
    ]
