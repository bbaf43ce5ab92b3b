"""Bootstrap then sync: serving at once from a snapshot file or the SDK's own cache file, then
switching to live data when the first sync completes (both anyio backends)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest

from splitio_async import SdkEvent, SplitFactory
from tests.e2e.test_standalone import start
from tests.fakes.split_server import FakeSplitServer
from tests.helpers import rollout_flag, write_split_changes

pytestmark = pytest.mark.anyio


async def test_serves_the_snapshot_until_live_data_replaces_it(
    server: FakeSplitServer, tmp_path: Path
) -> None:
    """With the API down the factory is ready at once from the file; once the API answers, the
    live data replaces the snapshot whole (a flag only in the snapshot disappears)."""
    snapshot = write_split_changes(tmp_path / "snap.json", [
        rollout_flag("f", (("cached", 100),)), rollout_flag("stale", (("old", 100),)),
    ])
    server.set_flags([rollout_flag("f", (("live", 100),))])
    server.fail("/api/splitChanges", 503)
    factory = await start(server, bootstrapFile=str(snapshot))
    try:
        with anyio.fail_after(2):
            await factory.block_until_ready(2)
        client = factory.client()
        assert factory.bootstrapped_from == str(snapshot)
        assert await client.get_treatment("k", "f") == "cached"
        assert await client.get_treatment("k", "stale") == "old"
        updated = anyio.Event()

        async def on_update(_: Any) -> None:
            updated.set()

        await client.on(SdkEvent.SDK_UPDATE, on_update)
        server.clear_faults()
        with anyio.fail_after(5):
            await updated.wait()
        assert await client.get_treatment("k", "f") == "live"
        assert await client.get_treatment("k", "stale") == "control"
        first = server.requests_to("/api/splitChanges")[0].query_string
        assert "since=-1&rbSince=-1" in first  # the first live fetch asks for everything
    finally:
        await factory.destroy()


async def test_cache_file_is_written_and_used_when_the_api_is_down(
    server: FakeSplitServer, tmp_path: Path
) -> None:
    cache = tmp_path / "split-cache.json"
    flags = [rollout_flag("f", (("on", 100),))]
    flags[0]["conditions"][0]["matcherGroup"]["matchers"][0] = {
        "keySelector": {"trafficType": "user", "attribute": None},
        "matcherType": "IN_SEGMENT", "negate": False,
        "userDefinedSegmentMatcherData": {"segmentName": "vip"},
    }
    server.set_flags(flags)
    server.set_segment("vip", ["alice"])
    first: SplitFactory = await start(server, cacheFile=str(cache))
    await first.block_until_ready(5)
    assert await first.client().get_treatment("alice", "f") == "on"
    await first.destroy()  # the final write happens at shutdown at the latest
    document = json.loads(cache.read_text())
    assert [f["name"] for f in document["ff"]["d"]] == ["f"]
    assert document["segments"]["vip"]["keys"] == ["alice"]

    server.fail("/api/splitChanges", 500)
    second = await start(server, cacheFile=str(cache))
    try:
        with anyio.fail_after(2):
            await second.block_until_ready(2)
        assert second.bootstrapped_from == str(cache)
        assert await second.client().get_treatment("alice", "f") == "on"
        assert await second.client().get_treatment("bob", "f") == "off"
    finally:
        await second.destroy()


async def test_an_unusable_snapshot_is_logged_and_ignored(
    server: FakeSplitServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{ nope")
    server.set_flags([rollout_flag("f", (("live", 100),))])
    factory = await start(server, bootstrapFile=str(bad))
    try:
        await factory.block_until_ready(5)
        assert factory.bootstrapped_from is None
        assert await factory.client().get_treatment("k", "f") == "live"
        assert "cannot be used" in caplog.text
    finally:
        await factory.destroy()
