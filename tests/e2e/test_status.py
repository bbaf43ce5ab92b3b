"""The status API end to end: ``factory.status()`` in localhost, polling and streaming modes, and
``factory.changes()``, on asyncio and trio against the fake Split server on 127.0.0.1.

Waits are bounded (``anyio.fail_after``); SDK-side conditions without an event are polled with a
tiny sleep, server-side waits run in a worker thread.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from splitio_async import Change, FactoryStatus, SplitFactory, get_factory_async, open_factory
from splitio_async.lowlevel import internals
from splitio_async.status import CHANGES_BUFFER, ChangeFeed
from tests.conftest import REPO
from tests.fakes.split_server import FakeSplitServer
from tests.helpers import rollout_flag, segment_flag, until, write_split_changes

pytestmark = pytest.mark.anyio

FAST: dict[str, Any] = {
    "streamingEnabled": False,
    "featuresRefreshRate": 0.05,
    "segmentsRefreshRate": 0.05,
    "streamingReconnectBackoffBase": 0.05,
    "syncRetryBackoffBase": 0.02,
    "syncRetryBackoffMax": 0.1,
    "connectionTimeout": 1500,
    "machineIp": "127.0.0.1",
    "machineName": "test",
}




async def start(
    server: FakeSplitServer, factories: list[SplitFactory], **config: Any
) -> SplitFactory:
    factory = await get_factory_async(
        "SDK-KEY-0001", config={**FAST, **config}, **server.url_kwargs()
    )
    assert factory is not None
    factories.append(factory)
    with anyio.fail_after(5):
        await factory.block_until_ready(5)
    return factory


async def in_thread(call: Callable[..., Any], *args: Any) -> Any:
    return await anyio.to_thread.run_sync(functools.partial(call, *args))


async def test_status_in_localhost_mode(tmp_path: Path) -> None:
    flags = write_split_changes(tmp_path / "flags.json", [rollout_flag("f", (("on", 100),))])
    async with open_factory("localhost", config={"splitFile": str(flags)}) as factory:
        await factory.block_until_ready(5)
        client = factory.client()
        for key in ("a", "b", "c"):
            assert await client.get_treatment(key, "f") == "on"
        assert await client.track("a", "user", "checkout")
        status = factory.status()
        assert isinstance(status, FactoryStatus)
        assert (status.ready, status.destroyed, status.mode) == (True, False, "localhost")
        assert status.sync_mode == "files"
        assert status.change_numbers["flags"] == 10
        assert status.queue_depths == {"impressions": 3, "events": 1}
        assert status.last_sync == {"flags": None, "segments": None}
        assert status.last_errors == {}
    status = factory.status()
    assert status.destroyed and not status.ready
    assert (status.sync_mode, status.sync_reason) == ("none", "factory destroyed")
    assert status.queue_depths == {"impressions": 0, "events": 0}
    assert status.delivered == {"impressions": 3, "events": 1}
    assert status.dropped == {"impressions": 0, "events": 0}
    assert status.lost == {"impressions": 0, "events": 0}


async def test_status_when_polling(server: FakeSplitServer, factories: list[SplitFactory]) -> None:
    cn = server.set_flags([segment_flag("f", "seg")])
    server.set_segment("seg", ["alice"])
    factory = await start(server, factories, eventsPushRate=0.05)
    status = factory.status()
    assert (status.mode, status.sync_mode) == ("standalone", "polling")
    assert status.sync_reason == "streamingEnabled is false"
    assert status.last_sync["flags"] is not None and status.last_sync["segments"] is not None
    assert status.change_numbers["flags"] == cn
    assert status.change_numbers["segments"] == {"seg": server.change_number}

    client = factory.client()
    assert await client.get_treatment("alice", "f") == "in"
    assert await client.track("alice", "user", "checkout")
    await until(lambda: factory.status().delivered["events"] == 1)  # impressions: every 60 s
    status = factory.status()
    assert status.queue_depths == {"impressions": 1, "events": 0}
    assert status.delivered == {"impressions": 0, "events": 1}

    server.fail("/api/splitChanges", 500)
    await until(lambda: "feature flags" in factory.status().last_errors)
    assert "500" in factory.status().last_errors["feature flags"]
    server.clear_faults()
    await until(lambda: "feature flags" not in factory.status().last_errors)


async def test_status_follows_streaming(
    server: FakeSplitServer, factories: list[SplitFactory]
) -> None:
    server.set_flags([rollout_flag("f")])
    factory = await start(server, factories, streamingEnabled=True)
    assert internals(factory).push is not None
    await in_thread(server.wait_for_streams, 1, 3.0)
    assert server.push_occupancy("control_pri", 1) >= 1
    await until(lambda: factory.status().sync_mode == "streaming")
    assert factory.status().sync_reason == "streaming up"
    server.close_streams()
    await until(lambda: factory.status().sync_mode == "polling")
    assert factory.status().sync_reason == "stream down, polling until it reconnects"


async def test_changes_yields_flag_and_segment_changes_and_ends_on_destroy(
    server: FakeSplitServer,
) -> None:
    server.set_flags([segment_flag("f", "seg")])
    server.set_segment("seg", ["alice"])
    factory = await get_factory_async("SDK-KEY-0001", config=FAST, **server.url_kwargs())
    assert factory is not None
    try:
        with anyio.fail_after(5):
            await factory.block_until_ready(5)
        changes = factory.changes()
        cn = server.upsert_flag(rollout_flag("g"))
        with anyio.fail_after(5):
            change = await changes.__anext__()
        assert change == Change("flags", frozenset({"g"}), cn)

        cn = server.update_segment("seg", added=["bob"])
        with anyio.fail_after(5):
            change = await changes.__anext__()
        assert change == Change("segments", frozenset({"seg"}), cn)
        assert changes.dropped == 0
    finally:
        with anyio.fail_after(10):
            await factory.destroy()
    seen: list[Change] = []
    with anyio.fail_after(5):
        async for change in changes:  # ends: the factory is destroyed
            seen.append(change)
    assert seen == []
    after = factory.changes()  # subscribing after destroy gives an ended iterator
    with anyio.fail_after(5):
        assert [change async for change in after] == []


async def test_a_slow_subscriber_loses_the_oldest_changes() -> None:
    feed = ChangeFeed()
    slow = feed.subscribe()
    for number in range(CHANGES_BUFFER + 5):
        feed.publish(Change("flags", frozenset({"f"}), number))
    assert slow.dropped == 5
    feed.close()
    with anyio.fail_after(5):
        numbers = [change.change_number async for change in slow]
    assert numbers == list(range(5, CHANGES_BUFFER + 5))


async def test_health_endpoint_example(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("health_asgi", REPO / "examples" /
                                                  "health_asgi.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    flags = write_split_changes(tmp_path / "flags.json", [rollout_flag("f")])
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/health", "headers": []}
    async with open_factory("localhost", config={"splitFile": str(flags)}) as factory:
        await factory.block_until_ready(5)
        await module.health_app(factory)(scope, receive, send)
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 200
    assert (b"content-type", b"application/json") in sent[0]["headers"]
    body = json.loads(sent[1]["body"])
    assert body["ready"] is True and body["mode"] == "localhost"

    sent.clear()
    await module.health_app(factory)(scope, receive, send)  # destroyed: 503
    assert sent[0]["status"] == 503
