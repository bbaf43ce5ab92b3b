"""Health figures move with what the backend does: ``status()``, the OpenTelemetry instruments of
``register_metrics`` (collected by the SDK's in-memory reader) and the Prometheus collector, on
asyncio, trio and the blocking shim, against the fake Split server on 127.0.0.1.

Three things happen to the SDK: event posts fail then succeed, the stream drops and comes back,
and the server serves a change. Waits are bounded; SDK-side conditions without an event are
polled with a tiny sleep, server-side waits run in a worker thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from prometheus_client import CollectorRegistry, generate_latest

from splitio_async import FactoryStatus, SplitFactory
from splitio_async.opentelemetry import register_metrics
from splitio_async.prometheus import StatusCollector
from splitio_sync_shim import get_factory
from tests.e2e.test_status import FAST, start
from tests.fakes.split_server import FakeSplitServer
from tests.helpers import rollout_flag, until

EVENTS_FAST = {"eventsPushRate": 0.05}

Points = dict[tuple[str, frozenset[tuple[str, Any]]], float]


class Metrics:
    """The OpenTelemetry SDK's in-memory reader over a meter provider of its own."""

    def __init__(self) -> None:
        self.reader = InMemoryMetricReader()
        self.provider = MeterProvider(metric_readers=[self.reader])

    def points(self) -> Points:
        """``(instrument, attributes) -> value`` of one collection."""
        data = self.reader.get_metrics_data()
        found: Points = {}
        if data is None:
            return found
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    for point in metric.data.data_points:
                        attributes = frozenset((point.attributes or {}).items())
                        found[(metric.name, attributes)] = point.value  # type: ignore[union-attr]
        return found

    def value(self, name: str, **attributes: Any) -> float | None:
        return self.points().get((name, frozenset(attributes.items())))

    def close(self) -> None:
        self.provider.shutdown()


@pytest.fixture
def metrics() -> Iterator[Metrics]:
    collected = Metrics()
    yield collected
    collected.close()


def prometheus_text(factory: Any) -> str:
    registry = CollectorRegistry()
    registry.register(StatusCollector(factory, labels={"app": "test"}))
    return generate_latest(registry).decode()


@pytest.mark.anyio
async def test_failed_posts_move_the_figures(
    server: FakeSplitServer, factories: list[SplitFactory], metrics: Metrics
) -> None:
    server.set_flags([rollout_flag("f")])
    factory = await start(server, factories, **EVENTS_FAST)
    register_metrics(factory, meter_provider=metrics.provider, attributes={"app": "test"})
    status = factory.status()
    assert status.post_failures == {"impressions": 0, "events": 0}
    assert status.last_delivery == {"impressions": None, "events": None}
    assert status.streaming == {"enabled": False, "connected": False, "connections": 0,
                                "reconnects": 0}
    assert metrics.value("splitio.ready", app="test") == 1

    server.fail("/api/events/bulk", 500)
    client = factory.client()
    assert await client.track("alice", "user", "checkout")
    await until(lambda: factory.status().post_failures["events"] >= 2)
    status = factory.status()
    assert status.delivered["events"] == 0 and status.queue_depths["events"] == 1
    assert status.queued["events"] == 1 and status.last_delivery["events"] is None
    assert "events" in status.last_errors
    failed = metrics.value("splitio.posts.failed", app="test", **{"splitio.record.kind": "events"})
    assert failed is not None and failed >= 2
    assert metrics.value("splitio.records.waiting", app="test",
                         **{"splitio.record.kind": "events"}) == 1
    text = prometheus_text(factory)
    assert 'splitio_posts_failed_total{app="test",kind="events"}' in text

    before = int(time.time() * 1000)
    server.clear_faults()
    await until(lambda: factory.status().delivered["events"] == 1)
    status = factory.status()
    assert status.last_delivery["events"] is not None and status.last_delivery["events"] >= before
    assert "events" not in status.last_errors
    assert metrics.value("splitio.records.sent", app="test",
                         **{"splitio.record.kind": "events"}) == 1
    assert 'splitio_records_sent_total{app="test",kind="events"} 1.0' in prometheus_text(factory)


@pytest.mark.anyio
async def test_a_dropped_stream_moves_the_figures(
    server: FakeSplitServer, factories: list[SplitFactory], metrics: Metrics
) -> None:
    server.set_flags([rollout_flag("f")])
    server.greet_streams(server.occupancy_event("control_pri", 1))
    factory = await start(server, factories, streamingEnabled=True)
    register_metrics(factory, meter_provider=metrics.provider)
    await until(lambda: factory.status().streaming["connected"] is True)
    assert factory.status().streaming["reconnects"] == 0
    assert metrics.value("splitio.streaming.connected") == 1
    assert metrics.value("splitio.streaming.reconnects") == 0

    server.close_streams()
    await until(lambda: factory.status().streaming["connections"] == 2
                and factory.status().streaming["connected"] is True)
    status = factory.status()
    assert status.streaming["reconnects"] == 1
    assert metrics.value("splitio.streaming.reconnects") == 1
    assert 'splitio_streaming_reconnects_total{app="test"} 1.0' in prometheus_text(factory)

    server.set_push_enabled(False)  # the next connection is refused: polling for good
    server.close_streams()
    await until(lambda: factory.status().streaming["connected"] is False)
    assert metrics.value("splitio.streaming.connected") == 0


@pytest.mark.anyio
async def test_a_served_change_moves_the_figures(
    server: FakeSplitServer, factories: list[SplitFactory], metrics: Metrics
) -> None:
    first = server.set_flags([rollout_flag("f")])
    factory = await start(server, factories)
    register_metrics(factory, meter_provider=metrics.provider)
    assert metrics.value("splitio.change_number", **{"splitio.data.kind": "flags"}) == first
    age = metrics.value("splitio.sync.age", **{"splitio.sync.kind": "flags"})
    assert age is not None and 0 <= age < 5

    changed = server.upsert_flag(rollout_flag("g"))
    await until(lambda: factory.status().change_numbers["flags"] == changed)
    assert metrics.value("splitio.change_number", **{"splitio.data.kind": "flags"}) == changed
    text = prometheus_text(factory)
    assert f'splitio_change_number{{app="test",kind="flags"}} {float(changed)}' in text


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_shim_serves_the_same_figures(server: FakeSplitServer, backend: str) -> None:
    server.set_flags([rollout_flag("f")])
    server.fail("/api/events/bulk", 500)
    factory = get_factory("SDK-KEY-0001", config={**FAST, **EVENTS_FAST}, async_backend=backend,
                          **server.url_kwargs())
    assert factory is not None
    collected = Metrics()
    try:
        factory.block_until_ready(5)
        register_metrics(factory, meter_provider=collected.provider)
        assert factory.client().track("alice", "user", "checkout")
        deadline = time.monotonic() + 5
        while factory.status().post_failures["events"] < 1:
            assert time.monotonic() < deadline, factory.status()
            time.sleep(0.01)
        seen: list[FactoryStatus] = []
        reader = threading.Thread(target=lambda: seen.append(factory.status()))
        reader.start()  # status() from another plain thread, as a WSGI health check does
        reader.join(5)
        assert seen and seen[0].queued["events"] == 1
        assert collected.value("splitio.posts.failed",
                               **{"splitio.record.kind": "events"}) is not None
        server.clear_faults()
        while factory.status().delivered["events"] < 1:
            assert time.monotonic() < deadline, factory.status()
            time.sleep(0.01)
        assert factory.status().last_delivery["events"] is not None
        assert "splitio_records_sent_total{app=\"test\",kind=\"events\"} 1.0" in \
            prometheus_text(factory)
    finally:
        factory.destroy()
        collected.close()
