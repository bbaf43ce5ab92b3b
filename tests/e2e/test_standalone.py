"""Standalone (in-memory) mode against a real HTTP server on 127.0.0.1, on asyncio and trio:
readiness, polling, and every fault of the issue, through the public API.

Waits are events (SDK_UPDATE, server-side request counts) under ``anyio.fail_after``, never bare
sleeps. Retry backoff is shortened with our ``syncRetryBackoffBase``/``Max`` keys.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import anyio
import pytest

from splitio_async import SdkEvent, SplitFactory, TimeoutException, get_factory_async
from splitio_async.lowlevel import internals
from tests.fakes.split_server import FakeSplitServer
from tests.helpers import rollout_flag, segment_flag, write_segment, write_split_changes

pytestmark = pytest.mark.anyio

FAST = {
    "streamingEnabled": False,
    "featuresRefreshRate": 0.1,
    "segmentsRefreshRate": 0.1,
    "syncRetryBackoffBase": 0.02,
    "syncRetryBackoffMax": 0.1,
    "connectionTimeout": 500,
    "machineIp": "127.0.0.1",
    "machineName": "test",
}





async def start(server: FakeSplitServer, **config: Any) -> SplitFactory:
    factory = await get_factory_async(
        "SDK-KEY-0001", config={**FAST, **config}, **server.url_kwargs()
    )
    assert factory is not None
    return factory




def data_set() -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """50 flags (rollouts with varied splits, segment flags, a dependency) and 5 segments of
    10,000 keys each."""
    rng = random.Random(7)
    segments = {f"seg_{i}": [f"user_{j}" for j in range(i * 2000, i * 2000 + 10_000)]
                for i in range(5)}
    flags = []
    for i in range(50):
        if i % 5 == 0:
            flag = segment_flag(f"flag_{i:02d}", f"seg_{i % 25 // 5}")
        else:
            share = rng.randint(0, 100)
            flag = rollout_flag(f"flag_{i:02d}", (("on", share), ("off", 100 - share)),
                                seed=rng.randint(-2**31, 2**31 - 1))
        flags.append(flag)
    return flags, segments


async def test_large_data_set_evaluates_like_localhost(
    server: FakeSplitServer, tmp_path: Path, factories: list[SplitFactory]
) -> None:
    """50 flags and 5 segments of 10k keys: ready, and every evaluation equals localhost mode's
    for the same definitions; then a changed flag and a changed segment are seen within one
    refresh period (awaited through SDK_UPDATE)."""
    flags, segments = data_set()
    server.set_flags(flags)
    for name, keys in segments.items():
        server.set_segment(name, keys)
    factory = await start(server)
    factories.append(factory)
    with anyio.fail_after(10):
        await factory.block_until_ready(10)
    write_split_changes(tmp_path / "flags.json", server.flags() and list(server.flags().values()))
    for name, keys in segments.items():
        write_segment(tmp_path, name, keys)
    local = await get_factory_async("localhost", config={
        "splitFile": str(tmp_path / "flags.json"), "segmentDirectory": str(tmp_path),
    })
    assert local is not None
    factories.append(local)
    keys = [f"user_{j}" for j in range(0, 20_000, 97)]
    names = [f["name"] for f in flags]
    remote_client, local_client = factory.client(), local.client()
    for key in keys:
        assert await remote_client.get_treatments(key, names) == (
            await local_client.get_treatments(key, names)
        )
    assert sorted(await factory.manager().split_names()) == sorted(names)

    updated = anyio.Event()
    seen: list[Any] = []

    async def on_update(metadata: Any) -> None:
        seen.append(metadata)
        if {m.get_type().name for m in seen} >= {"FLAG_UPDATE", "SEGMENTS_UPDATE"}:
            updated.set()

    await remote_client.on(SdkEvent.SDK_UPDATE, on_update)
    server.upsert_flag(rollout_flag("flag_01", (("changed", 100),)))
    server.update_segment("seg_0", added=["newcomer"])
    with anyio.fail_after(5):
        await updated.wait()
    assert await remote_client.get_treatment("anyone", "flag_01") == "changed"
    assert await remote_client.get_treatment("newcomer", "flag_00") == "in"


async def test_requests_carry_the_official_query_and_headers(
    server: FakeSplitServer, factories: list[SplitFactory]
) -> None:
    server.set_flags([rollout_flag("f", sets=["backend"]), rollout_flag("g", sets=["web"])])
    factory = await start(server, flagSetsFilter=["web", "Backend"])
    factories.append(factory)
    await factory.block_until_ready(5)
    first = server.requests_to("/api/splitChanges")[0]
    assert first.query_string == "s=1.3&since=-1&rbSince=-1&sets=backend,web"
    assert first.headers["Authorization"] == "Bearer SDK-KEY-0001"
    assert first.headers["SplitSDKMachineIP"] == "127.0.0.1"
    assert first.headers["SplitSDKVersion"].startswith("python-")


async def test_flag_set_filter_keeps_only_matching_flags(
    server: FakeSplitServer, factories: list[SplitFactory]
) -> None:
    server.set_flags([rollout_flag("f", sets=["backend"]), rollout_flag("g", sets=["web"])])
    factory = await start(server, flagSetsFilter=["web"])
    factories.append(factory)
    await factory.block_until_ready(5)
    assert await factory.manager().split_names() == ["g"]


async def test_uri_too_long_stops_retrying_and_is_ready_without_data(
    server: FakeSplitServer, factories: list[SplitFactory], caplog: pytest.LogCaptureFixture
) -> None:
    server.set_flags([rollout_flag("f")])
    server.fail("/api/splitChanges", 414)
    factory = await start(server, flagSetsFilter=["a"])
    factories.append(factory)
    with anyio.fail_after(5):
        await factory.block_until_ready(5)
    assert "the amount of flag sets provided are too big" in caplog.text
    assert "URI too long exception caught, aborting retries" in caplog.text
    assert await factory.client().get_treatment("k", "f") == "control"


async def test_not_ready_until_synced(
    server: FakeSplitServer, factories: list[SplitFactory]
) -> None:
    """Before the first sync completes, evaluations give control with the ``not ready`` label."""
    labels: list[str | None] = []

    class Listener:
        def log_impression(self, data: dict[str, Any]) -> None:
            labels.append(data["impression"].label)

    server.set_flags([rollout_flag("f", (("on", 100),))])
    server.fail("/api/splitChanges", 503)
    factory = await start(server, impressionListener=Listener())
    factories.append(factory)
    client = factory.client()
    assert await client.get_treatment("k", "f") == "control"
    assert labels == ["not ready"]
    with pytest.raises(TimeoutException):
        await factory.block_until_ready(0.2)
    server.clear_faults()
    with anyio.fail_after(5):
        await factory.block_until_ready(5)
    assert await client.get_treatment("k", "f") == "on"


async def test_ready_once_loaded_without_waiting_for_the_confirming_requests(
    server: FakeSplitServer, factories: list[SplitFactory]
) -> None:
    """The first page of flags and of each segment holds everything; the requests after them
    (``since`` = the page's ``till``) only confirm nothing changed, so readiness does not wait
    for them: here they take 3 s, and the factory is ready long before."""
    server.set_flags([segment_flag("f", "beta")])
    server.set_segment("beta", ["k"])
    server.delay("/api/splitChanges", 3.0, times=1, skip=1)
    server.delay("/api/segmentChanges/beta", 3.0, times=1, skip=1)
    factory = await start(server, connectionTimeout=10_000)  # the delays are no timeouts
    factories.append(factory)
    with anyio.fail_after(2):
        await factory.block_until_ready(2)
    assert await factory.client().get_treatment("k", "f") == "in"
    sinces = [r.query_string for r in server.requests_to("/api/segmentChanges/beta")]
    assert sinces[0] == "since=-1"  # the confirmation, if sent yet, is still being answered


@pytest.mark.parametrize(
    "fault",
    ["5xx", "timeout", "dropped", "malformed", "truncated", "unknown_fields"],
)
async def test_faults_keep_the_last_good_data_and_recover(
    server: FakeSplitServer, factories: list[SplitFactory], fault: str
) -> None:
    """While the API misbehaves the last good data is served; once it recovers, changes flow."""
    server.set_flags([rollout_flag("f", (("v1", 100),))])
    factory = await start(server)
    factories.append(factory)
    await factory.block_until_ready(5)
    client = factory.client()
    if fault == "5xx":
        server.fail("/api/splitChanges", 500)
    elif fault == "timeout":
        server.delay("/api/splitChanges", 1.0)
    elif fault == "dropped":
        server.drop_connection("/api/splitChanges")
    elif fault == "malformed":
        server.fail_with_body("/api/splitChanges", b'{"ff": {"d": [}')
    elif fault == "truncated":
        server.truncate_response("/api/splitChanges")
    else:
        current = server.change_number
        server.fail_with_body("/api/splitChanges", json.dumps({
            "ff": {"d": [], "s": current, "t": current, "extra": 1}, "rbs": {"d": []},
            "unknown": {"a": 1},
        }).encode(), times=3)
    before = len(server.requests_to("/api/splitChanges"))
    await anyio.to_thread.run_sync(server.wait_for_requests, "/api/splitChanges", before + 3, 5)
    assert await client.get_treatment("k", "f") == "v1"
    server.clear_faults()
    updated = anyio.Event()

    async def on_update(_: Any) -> None:
        updated.set()

    await client.on(SdkEvent.SDK_UPDATE, on_update)
    server.upsert_flag(rollout_flag("f", (("v2", 100),)))
    with anyio.fail_after(5):
        await updated.wait()
    assert await client.get_treatment("k", "f") == "v2"


async def test_a_refused_sdk_key_stops_retrying(
    server: FakeSplitServer, factories: list[SplitFactory], caplog: pytest.LogCaptureFixture
) -> None:
    server.fail("/api/splitChanges", 401)
    factory = await start(server)
    factories.append(factory)
    with pytest.raises(TimeoutException):
        await factory.block_until_ready(0.5)
    assert len(server.requests_to("/api/splitChanges")) == 1
    assert factory.last_error is not None and "401" in factory.last_error
    assert "the SDK key was refused (HTTP 401)" in caplog.text


async def test_failures_are_logged_once_per_backoff_cycle(
    server: FakeSplitServer, factories: list[SplitFactory], caplog: pytest.LogCaptureFixture
) -> None:
    server.fail("/api/splitChanges", 500)
    factory = await start(server)
    factories.append(factory)
    await anyio.to_thread.run_sync(server.wait_for_requests, "/api/splitChanges", 5, 5)
    lines = [r for r in caplog.records if "HTTP 500" in r.getMessage()]
    assert len(lines) == 1


async def test_new_segment_is_fetched_and_unused_segments_dropped(
    server: FakeSplitServer, factories: list[SplitFactory]
) -> None:
    server.set_flags([rollout_flag("f")])
    server.set_segment("vip", ["alice"])
    factory = await start(server)
    factories.append(factory)
    await factory.block_until_ready(5)
    assert not server.requests_to("/api/segmentChanges")
    updated = anyio.Event()

    async def on_update(metadata: Any) -> None:
        if metadata.get_type().name == "SEGMENTS_UPDATE":
            updated.set()

    await factory.client().on(SdkEvent.SDK_UPDATE, on_update)
    server.upsert_flag(segment_flag("f", "vip"))
    with anyio.fail_after(5):
        await updated.wait()
    assert await factory.client().get_treatment("alice", "f") == "in"
    assert "vip" in internals(factory).state.snapshot.segments
    server.upsert_flag(rollout_flag("f"))
    with anyio.fail_after(5):
        while "vip" in internals(factory).state.snapshot.segments:
            await anyio.to_thread.run_sync(
                server.wait_for_requests, "/api/splitChanges",
                len(server.requests_to("/api/splitChanges")) + 1, 5,
            )


async def test_destroy_during_start_up_is_prompt(server: FakeSplitServer) -> None:
    """A destroy while the first sync hangs returns at once and closes the HTTP client."""
    server.delay("/api/splitChanges", 5)
    factory = await start(server, connectionTimeout=10_000)
    await anyio.to_thread.run_sync(server.wait_for_requests, "/api/splitChanges", 1, 5)
    with anyio.fail_after(2):
        await factory.destroy()
    assert factory.destroyed



async def test_an_unexpected_error_in_a_sync_is_retried_not_fatal(
    server: FakeSplitServer, factories: list[SplitFactory],
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    """A bug (not an API error) during the first sync is logged and retried: the SDK still
    becomes ready, nothing crashes silently."""
    from splitio_async.actors import flag_syncer  # noqa: PLC0415

    real = flag_syncer._compile_flags
    calls = {"n": 0}

    def flaky(raws: Any, *rest: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("injected bug")
        return real(raws, *rest)

    monkeypatch.setattr(flag_syncer, "_compile_flags", flaky)
    server.set_flags([rollout_flag("f", (("on", 100),))])
    factory = await start(server)
    factories.append(factory)
    with anyio.fail_after(5):
        await factory.block_until_ready(5)
    assert await factory.client().get_treatment("k", "f") == "on"
    assert "Unexpected error during a full sync" in caplog.text


async def test_a_bug_in_the_streaming_supervisor_restarts_it(
    server: FakeSplitServer, factories: list[SplitFactory],
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    """An unexpected error while handling a stream message falls back to polling and restarts
    streaming (a new stream), instead of ending syncing."""
    from splitio_async.actors import push  # noqa: PLC0415

    real = push.parse_message
    calls = {"n": 0}

    def flaky(data: str) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("injected bug")
        return real(data)

    monkeypatch.setattr(push, "parse_message", flaky)
    server.set_flags([rollout_flag("f", (("on", 100),))])
    factory = await start(server, streamingEnabled=True, streamingReconnectBackoffBase=0.02)
    factories.append(factory)
    await factory.block_until_ready(5)
    await anyio.to_thread.run_sync(server.wait_for_streams, 1, 5)
    server.push_occupancy("control_pri", 1)
    await anyio.to_thread.run_sync(server.wait_for_requests, "/event-stream", 2, 5)
    assert "Streaming supervisor failed" in caplog.text
    assert internals(factory).push is not None
