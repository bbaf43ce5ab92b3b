"""Telemetry in standalone mode against the fake Split server (spec: recording.md §4): the config
payload once after ready (never delaying readiness), usage at shutdown with the calls made and
the HTTP results seen (the actor alone, on a fake clock: tests/actors/test_telemetry.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from splitio_async import SdkEvent, TimeoutException, get_factory_async
from splitio_async.lifecycle import FactoryState
from splitio_async.lowlevel import EvaluationCore, internals
from splitio_async.models.telemetry import (
    CallRecord,
)
from splitio_async.runtime.intake import Intake
from splitio_sync_shim import get_factory
from tests.e2e.test_standalone import FAST, start
from tests.fakes.split_server import FakeSplitServer
from tests.helpers import rollout_flag, write_split_changes

pytestmark = pytest.mark.anyio

CONFIG = "/api/v1/metrics/config"
USAGE = "/api/v1/metrics/usage"


@pytest.fixture
def server() -> Iterator[FakeSplitServer]:
    with FakeSplitServer() as fake:
        fake.set_flags([
            rollout_flag("a", (("on", 100),), sets=["s1"]),
            rollout_flag("b", (("off", 100),)),
        ])
        fake.set_segment("seg", ["k1", "k2", "k3"])
        yield fake


async def wait_for(server: FakeSplitServer, path: str, count: int) -> None:
    await anyio.to_thread.run_sync(server.wait_for_requests, path, count, 5)


async def test_config_is_posted_once_after_ready_with_the_configuration(
    server: FakeSplitServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    factory = await start(server, impressionsMode="DEBUG", eventsQueueSize=777,
                          metricsRefreshRate=30, flagSetsFilter=["s1", "Bad Set"])
    try:
        await factory.block_until_ready(5)
        await wait_for(server, CONFIG, 1)
    finally:
        with anyio.fail_after(10):
            await factory.destroy()
    [body] = server.posted(CONFIG)
    assert body == {
        "oM": 0, "sT": "memory", "sE": False,
        "rR": {"sp": 0, "se": 0, "im": 60, "ev": 10, "te": 3600},  # 30 s is below the minimum
        "uO": {"s": True, "e": True, "a": True, "st": True, "t": True},
        "iQ": 10000, "eQ": 777, "iM": 1, "iL": False, "hp": False, "aF": 1, "rF": 0,
        "fsT": 2, "fsI": 1, "bT": 0, "nR": 0, "tR": body["tR"], "t": [],
    }
    assert isinstance(body["tR"], int) and body["tR"] >= 0


async def test_readiness_never_waits_for_the_config_post(server: FakeSplitServer) -> None:
    server.delay(CONFIG, 2)
    factory = await start(server, connectionTimeout=5000)
    try:
        with anyio.fail_after(1.5):
            await factory.block_until_ready(1)
        assert factory.ready
        await wait_for(server, CONFIG, 1)
    finally:
        with anyio.fail_after(10):
            await factory.destroy()
    assert len(server.posted(CONFIG)) == 1  # posted once, and the slow answer was awaited
    assert len(server.posted(USAGE)) == 1


async def test_a_failed_config_post_is_not_retried(server: FakeSplitServer) -> None:
    server.fail(CONFIG, 500)
    factory = await start(server)
    try:
        await factory.block_until_ready(5)
        await wait_for(server, CONFIG, 1)
    finally:
        with anyio.fail_after(10):
            await factory.destroy()
    assert len(server.posted(CONFIG)) == 1
    [usage] = server.posted(USAGE)
    assert usage["hE"]["te"] == {"500": 1}  # the usage post itself goes out after it


async def test_not_ready_calls_timeouts_and_time_to_ready(server: FakeSplitServer) -> None:
    server.delay("/api/splitChanges", 0.6, times=1)
    factory = await start(server, connectionTimeout=5000)
    try:
        with pytest.raises(TimeoutException):
            await factory.block_until_ready(0.1)
        client = factory.client()
        assert await client.get_treatment("k1", "a") == "control"
        assert await client.track("k1", "user", "early") is True
        await factory.block_until_ready(5)
        await wait_for(server, CONFIG, 1)
    finally:
        with anyio.fail_after(10):
            await factory.destroy()
    [config] = server.posted(CONFIG)
    assert (config["bT"], config["nR"]) == (1, 2)
    assert config["tR"] >= 500
    [usage] = server.posted(USAGE)
    assert sum(usage["mL"]["t"]) == 1 and sum(usage["mL"]["tr"]) == 1


async def test_usage_at_shutdown_counts_every_call_and_the_storage(
    server: FakeSplitServer,
) -> None:
    factory = await start(server)
    try:
        await factory.block_until_ready(5)
        client = factory.client()
        for i in range(7):
            await client.get_treatment(f"k{i}", "a")
        for _ in range(3):
            await client.get_treatments("k1", ["a", "b"])
        await client.get_treatment_with_config("k1", "a")
        await client.get_treatments_with_config("k1", ["a"])
        await client.get_treatments_by_flag_set("k1", "s1")
        await client.get_treatments_by_flag_sets("k1", ["s1"])
        await client.get_treatments_with_config_by_flag_set("k1", "s1")
        await client.get_treatments_with_config_by_flag_sets("k1", ["s1"])
        for i in range(4):
            assert await client.track(f"k{i}", "user", "clicked")
        assert not server.posted(USAGE)  # the period is 3600 s
    finally:
        with anyio.fail_after(10):
            await factory.destroy()
    await client.get_treatment("k1", "a")  # destroyed: control, and nothing more is measured
    [usage] = server.posted(USAGE)
    calls = {code: sum(buckets) for code, buckets in usage["mL"].items()}
    assert calls == {"t": 7, "ts": 3, "tc": 1, "tcs": 1, "tf": 1, "tfs": 1, "tcf": 1, "tcfs": 1,
                     "tr": 4}
    assert sum(usage["mE"].values()) == 0
    assert (usage["spC"], usage["seC"], usage["skC"]) == (2, 0, 0)  # no flag uses "seg"
    # the recorders flushed before the final usage post: their final counts are in it
    assert usage["iQ"] >= 1 and usage["eQ"] == 4 and usage["eD"] == 0 and usage["iDr"] == 0
    assert usage["lS"]["sp"] > 0 and usage["lS"]["ev"] > 0
    assert sum(usage["hL"]["sp"]) >= 1 and sum(usage["hL"]["ev"]) >= 1
    assert usage["hE"] == {r: {} for r in ("sp", "se", "im", "ic", "ev", "te", "to")}
    assert usage["sL"] > 0


async def test_http_errors_and_latencies_per_resource(server: FakeSplitServer) -> None:
    server.fail("/api/splitChanges", 500, times=2)
    server.fail("/api/events/bulk", 503, times=1)
    factory = await start(server, eventsPushRate=0.05)
    try:
        await factory.block_until_ready(5)
        assert await factory.client().track("k1", "user", "clicked")
        await wait_for(server, "/api/events/bulk", 2)
    finally:
        with anyio.fail_after(10):
            await factory.destroy()
    [usage] = server.posted(USAGE)
    assert usage["hE"]["sp"] == {"500": 2}
    assert usage["hE"]["ev"] == {"503": 1}
    assert sum(usage["hL"]["sp"]) >= 3  # two failures and at least one success
    assert sum(usage["hL"]["ev"]) == 2
    assert usage["lS"]["sp"] > 0 and usage["lS"]["ev"] > 0 and usage["lS"]["to"] == 0


async def test_localhost_mode_has_no_telemetry(tmp_path: Any) -> None:
    path = write_split_changes(tmp_path / "flags.json", [rollout_flag("a")])
    factory = await get_factory_async("localhost", config={"splitFile": str(path)})
    assert factory is not None
    try:
        assert internals(factory).core._telemetry is None  # localhost mode: calls not timed
    finally:
        await factory.destroy()


def test_calls_from_threads_reach_the_usage_post(server: FakeSplitServer) -> None:
    """The sync shim evaluates in the callers' threads: their records still arrive."""
    factory = get_factory("SDK-KEY-0001", config=FAST, **server.url_kwargs())
    assert factory is not None
    factory.block_until_ready(5)
    client = factory.client()
    threads = [threading.Thread(target=lambda: [client.get_treatment("k", "a")
                                                for _ in range(250)]) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done = threading.Event()
    factory.destroy(done)
    assert done.wait(10)
    [usage] = server.posted(USAGE)
    assert sum(usage["mL"]["t"]) == 1000


# ------------------------------------------------------------------------- the hot path


def test_a_core_given_telemetry_times_its_calls() -> None:
    from splitio_async.engine.evaluator import Evaluator  # noqa: PLC0415

    calls: Intake[CallRecord] = Intake(10, 5)
    measured = EvaluationCore(FactoryState(), Evaluator(), Intake(10, 5), Intake(10, 5),
                              telemetry=calls)
    measured.treatment("k", "missing", None, None, "get_treatment")  # not ready: nR + latency
    assert [code for code, _ in calls.drain()] == ["nR", "t"]
    measured.treatment("", "missing", None, None, "get_treatment")  # refused: not timed
    assert [code for code, _ in calls.drain()] == ["nR"]


async def test_streaming_reports_its_events(server: FakeSplitServer) -> None:
    """With streaming on, the usage post carries the connection, occupancy, sync-mode and token
    events, the token refresh count, and the updates applied from SSE payloads."""
    factory = await start(server, streamingEnabled=True)
    await factory.block_until_ready(5)
    await anyio.to_thread.run_sync(server.wait_for_streams, 1, 5)
    fetches = len(server.requests_to("/api/splitChanges"))
    server.push_occupancy("control_pri", 1)  # the first event: streaming is up, a full sync runs
    await wait_for(server, "/api/splitChanges", fetches + 1)
    updated = anyio.Event()

    async def on_update(_: Any) -> None:
        updated.set()

    await factory.client().on(SdkEvent.SDK_UPDATE, on_update)
    old = server.flags_change_number
    flag = rollout_flag("a", (("v2", 100),))
    cn = server.upsert_flag(flag)
    server.push_split_update(cn, flag, pcn=old, compression=1)
    with anyio.fail_after(5):
        await updated.wait()
    assert await factory.client().get_treatment("k", "a") == "v2"
    await factory.destroy()
    usage = server.posted(USAGE)[-1]
    kinds = {event["e"] for event in usage["sE"]}
    assert {0, 10, 50, 70} <= kinds  # connected, occupancy pri, token refresh, sync mode
    assert usage["tR"] >= 1
    assert usage["ufs"]["sp"] == 1
