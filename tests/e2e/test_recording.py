"""Impressions, counts, unique keys and events reach a real HTTP server exactly once, in every
impressions mode, through faults and shutdown (issue: recorded, bounded, flushed, never lost)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from splitio_async import SplitFactory, get_factory_async
from splitio_sync_shim import get_factory
from tests.conftest import REPO
from tests.e2e.test_standalone import FAST
from tests.fakes.split_server import FakeSplitServer
from tests.helpers import rollout_flag

KEYS = [f"user-{i}" for i in range(30)]


@pytest.fixture
def server() -> Iterator[FakeSplitServer]:
    with FakeSplitServer() as fake:
        fake.set_flags([rollout_flag("a", (("on", 100),)), rollout_flag("b", (("off", 100),))])
        yield fake


def impressions(server: FakeSplitServer) -> list[dict[str, Any]]:
    return [dict(i, f=group["f"]) for body in server.accepted("/api/testImpressions/bulk")
            for group in body for i in group["i"]]


def counts(server: FakeSplitServer) -> int:
    return sum(entry["rc"] for body in server.accepted("/api/testImpressions/count")
               for entry in body["pf"])


def events(server: FakeSplitServer) -> list[dict[str, Any]]:
    return [e for body in server.accepted("/api/events/bulk") for e in body]


async def run_calls(factory: SplitFactory, evaluations: int, tracks: int) -> None:
    """Evaluations cycle over KEYS and both flags; the loop yields now and then, as apps do."""
    client = factory.client()
    for i in range(evaluations):
        await client.get_treatment(KEYS[i % len(KEYS)], "a" if i % 2 else "b")
        if i % 100 == 99:
            await anyio.lowlevel.checkpoint()
    for i in range(tracks):
        assert await client.track(KEYS[i % len(KEYS)], "user", "checkout", i, {"n": i})
        if i % 100 == 99:
            await anyio.lowlevel.checkpoint()


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["DEBUG", "OPTIMIZED", "NONE"])
@pytest.mark.parametrize("failing", [False, True], ids=["healthy", "failing_first"])
async def test_every_mode_delivers_exactly(
    server: FakeSplitServer, mode: str, failing: bool
) -> None:
    """K evaluations over M keys and E tracks, then destroy: exactly what each mode promises, also
    when the server refuses posts for a while first."""
    if failing:
        for path in ("/api/testImpressions", "/api/events", "/api/v1/keys"):
            server.fail(path, 500, times=3)
    factory = await get_factory_async(
        "SDK-KEY-0001", config={**FAST, "impressionsMode": mode}, **server.url_kwargs()
    )
    assert factory is not None
    await factory.block_until_ready(5)
    evaluations, tracks = 600, 90
    await run_calls(factory, evaluations, tracks)
    with anyio.fail_after(10):
        await factory.destroy()
    sent = impressions(server)
    distinct = len(KEYS)  # key index and flag share their parity: one flag per key
    if mode == "DEBUG":
        assert len(sent) == evaluations
        assert counts(server) == 0
    elif mode == "OPTIMIZED":
        assert len(sent) == distinct
        assert len(sent) + counts(server) == evaluations
    else:
        assert sent == []
        assert counts(server) == evaluations
        keys = {(entry["f"], k) for body in server.accepted("/api/v1/keys/ss")
                for entry in body["keys"] for k in entry["ks"]}
        assert len(keys) == distinct
    assert len(events(server)) == tracks
    assert sorted(e["value"] for e in events(server)) == list(range(tracks))
    if sent:
        request = server.requests_to("/api/testImpressions/bulk")[-1]
        assert request.headers["SplitSDKImpressionsMode"] == mode
        assert set(sent[0]) >= {"k", "t", "m", "c", "r", "b", "pt", "f"}
    assert factory.delivery_counts()["impressions_lost"] == 0


@pytest.mark.anyio
async def test_burst_larger_than_the_queues_is_not_lost(server: FakeSplitServer) -> None:
    """12,000 evaluations and 12,000 tracks between two scheduled flushes with the default
    10,000 queue sizes: buffers flush at their bulk size instead of dropping."""
    factory = await get_factory_async(
        "SDK-KEY-0001", config={**FAST, "impressionsMode": "DEBUG"}, **server.url_kwargs()
    )
    assert factory is not None
    await factory.block_until_ready(5)
    await run_calls(factory, 12_000, 12_000)
    with anyio.fail_after(20):
        await factory.destroy()
    assert len(impressions(server)) == 12_000
    assert len(events(server)) == 12_000
    assert factory.delivery_counts()["impressions_dropped"] == 0


@pytest.mark.anyio
async def test_timeout_then_failure_is_retried_without_duplicates(
    server: FakeSplitServer,
) -> None:
    """A post that times out, then one that fails, then success: everything once."""
    server.delay("/api/events/bulk", 1.0, times=1)
    factory = await get_factory_async(
        "SDK-KEY-0001", config={**FAST, "connectionTimeout": 300, "eventsPushRate": 0.05},
        **server.url_kwargs(),
    )
    assert factory is not None
    await factory.block_until_ready(5)
    await run_calls(factory, 0, 50)
    await anyio.to_thread.run_sync(server.wait_for_requests, "/api/events/bulk", 1, 10)
    server.fail("/api/events/bulk", 503, times=1)  # the retry of the timed-out post fails too
    await anyio.to_thread.run_sync(server.wait_for_requests, "/api/events/bulk", 3, 10)
    with anyio.fail_after(10):
        await factory.destroy()
    values = [e["value"] for e in events(server)]
    # Every event arrives. The timed-out attempt may also have been processed by the server
    # (the client cannot know), so at-least-once is the contract here, as for any HTTP client.
    assert set(values) == set(range(50))
    assert len(values) in (50, 100)


@pytest.mark.anyio
async def test_backend_failing_at_destroy_retries_until_the_deadline(
    server: FakeSplitServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Posts failing at shutdown are retried until ``destroyTimeout``, then counted and logged."""
    factory = await get_factory_async(
        "SDK-KEY-0001", config={**FAST, "impressionsMode": "DEBUG", "destroyTimeout": 0.5},
        **server.url_kwargs(),
    )
    assert factory is not None
    await factory.block_until_ready(5)
    await run_calls(factory, 40, 0)
    server.fail("/api/testImpressions", 500)
    started = time.monotonic()
    with anyio.fail_after(5):
        await factory.destroy()
    assert time.monotonic() - started < 3
    assert len(server.requests_to("/api/testImpressions/bulk")) >= 2
    assert factory.delivery_counts()["impressions_lost"] == 40
    assert "could not be delivered before the shutdown deadline" in caplog.text


@pytest.mark.anyio
async def test_queue_full_drops_are_counted(server: FakeSplitServer) -> None:
    server.fail("/api/events", 500)
    factory = await get_factory_async(
        "SDK-KEY-0001",
        # the intake is drained even while a post is in flight: the bound reached is the
        # pending one (queue + bulk size), so both are small here
        config={**FAST, "eventsQueueSize": 10, "eventsBulkSize": 5, "destroyTimeout": 0.2},
        **server.url_kwargs(),
    )
    assert factory is not None
    await factory.block_until_ready(5)
    client = factory.client()
    results = []
    for i in range(200):
        results.append(await client.track("k", "user", "e", i))
        if i % 10 == 9:
            await anyio.lowlevel.checkpoint()
    await factory.destroy()
    stats = factory.delivery_counts()
    refused = results.count(False)
    assert stats["events_dropped"] + stats.get("events_pending_dropped", 0) + refused > 0
    assert stats["events_delivered"] == 0
    assert stats["events_dropped"] >= refused


def test_shim_destroy_event_is_set_after_delivery(server: FakeSplitServer) -> None:
    factory = get_factory(
        "SDK-KEY-0001", config={**FAST, "impressionsMode": "DEBUG"}, **server.url_kwargs()
    )
    assert factory is not None
    factory.block_until_ready(5)
    client = factory.client()
    threads = [threading.Thread(target=lambda n=n: [
        client.get_treatment(f"t{n}-{i}", "a") for i in range(200)
    ]) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done = threading.Event()
    factory.destroy(done)
    assert done.wait(10)
    assert len(impressions(server)) == 800


def test_shim_flushes_at_interpreter_exit(server: FakeSplitServer) -> None:
    """A process that never calls destroy() still delivers what it queued."""
    script = (
        "import sys\n"
        "from splitio_sync_shim import get_factory\n"
        f"f = get_factory('SDK-KEY-0001', config={dict(FAST, impressionsMode='DEBUG')!r}, "
        f"**{server.url_kwargs()!r})\n"
        "f.block_until_ready(5)\n"
        "c = f.client()\n"
        "[c.get_treatment(f'u{i}', 'a') for i in range(25)]\n"
        "c.track('u', 'user', 'exit_event')\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=30, cwd=REPO)
    assert len(impressions(server)) == 25
    assert [e["eventTypeId"] for e in events(server)] == ["exit_event"]



BURST = {**FAST, "impressionsMode": "DEBUG", "impressionsQueueSize": 600,
         "impressionsBulkSize": 300, "impressionsRefreshRate": 60}
BURST_CALLS = 10000
QUEUE_FULL = "Impression queue is full"


def _every_impression_reached_the_recorder(
    factory: SplitFactory, server: FakeSplitServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The intake refused nothing; what the recorder took was delivered, or dropped and counted
    at its own bound when the service lagged that far behind (a loaded machine: the fake
    service shares this process's GIL)."""
    assert QUEUE_FULL not in caplog.text
    stats = factory.delivery_counts()
    assert stats["impressions_delivered"] + stats["impressions_dropped"] == BURST_CALLS
    assert len(impressions(server)) == stats["impressions_delivered"] > BURST_CALLS // 2


@pytest.mark.anyio
async def test_a_burst_keeps_every_impression_while_posts_are_in_flight(
    server: FakeSplitServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A loop that evaluates far faster than bulks are posted, yielding only every 100 calls:
    the intake is drained while a post is in flight (it was drained only between posts, and a
    burst filled it), and callers yield while a bulk's worth is still undelivered."""
    factory = await get_factory_async("SDK-KEY-0001", config=BURST, **server.url_kwargs())
    assert factory is not None
    await factory.block_until_ready(5)
    client = factory.client()
    for i in range(BURST_CALLS):
        await client.get_treatment(f"burst-{i}", "a")
        if i % 100 == 0:
            await anyio.lowlevel.checkpoint()
    await factory.destroy()
    _every_impression_reached_the_recorder(factory, server, caplog)


def test_shim_burst_keeps_every_impression(
    server: FakeSplitServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The same burst from the shim's caller thread (the recorder runs on the loop thread)."""
    factory = get_factory("SDK-KEY-0001", config=BURST, **server.url_kwargs())
    assert factory is not None
    factory.block_until_ready(5)
    client = factory.client()
    for i in range(BURST_CALLS):
        client.get_treatment(f"burst-{i}", "a")
    factory.destroy()
    _every_impression_reached_the_recorder(factory, server, caplog)
