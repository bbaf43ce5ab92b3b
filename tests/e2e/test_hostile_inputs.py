"""Hostile input from the application itself, on asyncio, trio and the shim: numbers JSON cannot
carry (NaN, infinities, a 5,000-digit integer), values nested a thousand levels deep. Every call
answers (``control`` / ``False``) with the usual log line, never an exception; an event the
service refuses does not take the good ones of its bulk down with it; a factory that never
reached Split does not hold ``destroy()`` for the whole ``destroyTimeout``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from splitio_async import Client, EvaluationOptions, Key, open_factory
from splitio_sync_shim import get_factory
from tests.fakes.split_server import FakeSplitServer
from tests.helpers import rollout_flag, write_split_changes

pytestmark = pytest.mark.anyio

HUGE = 10**5000  # past Python's 4,300-digit limit for int -> str


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"x": value}
    return value


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    path = write_split_changes(tmp_path / "flags.json", [rollout_flag("f", (("on", 100),))])
    async with open_factory("localhost", config={"splitFile": str(path)}) as factory:
        yield factory.client()


@pytest.mark.parametrize("key", [HUGE, Key(HUGE, "b"), Key("m", HUGE), float("inf")],
                         ids=["huge", "huge matching key", "huge bucketing key", "inf"])
async def test_keys_python_cannot_print_are_invalid_keys(
    client: Client, key: Any, caplog: pytest.LogCaptureFixture
) -> None:
    assert await client.get_treatment(key, "f") == "control"
    assert await client.get_treatments(key, ["f"]) == {"f": "control"}
    assert "you passed an invalid" in caplog.text


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), HUGE],
                         ids=["nan", "inf", "-inf", "huge"])
async def test_track_refuses_values_json_cannot_carry(
    client: Client, value: Any, caplog: pytest.LogCaptureFixture
) -> None:
    assert await client.track("k", "user", "click", value) is False
    assert "track: value must be a number." in caplog.text


@pytest.mark.parametrize("value", [float("nan"), float("inf"), HUGE], ids=["nan", "inf", "huge"])
async def test_track_refuses_properties_json_cannot_carry(
    client: Client, value: Any, caplog: pytest.LogCaptureFixture
) -> None:
    assert await client.track("k", "user", "click", 1, {"ok": 1, "bad": value}) is False
    assert "track: Property 'bad' must be a finite number" in caplog.text
    assert "Event not queued" in caplog.text


async def test_properties_nested_a_thousand_deep_are_logged_briefly(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    assert await client.track("k", "user", "click", 1, {"deep": nested(1000)}) is True
    [line] = [r.getMessage() for r in caplog.records if "is of invalid type" in r.getMessage()]
    assert len(line) < 200
    options = EvaluationOptions({"deep": nested(1000), "bad": float("nan")})
    assert await client.get_treatment("k", "f", evaluation_options=options) == "on"


async def test_attributes_python_cannot_print_never_raise(client: Client) -> None:
    attributes = {"n": HUGE, "f": float("nan"), "deep": nested(1000), "s": {HUGE}}
    assert await client.get_treatment("k", "f", attributes) == "on"


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_shim_answers_too(tmp_path: Path, backend: str) -> None:
    path = write_split_changes(tmp_path / "flags.json", [rollout_flag("f", (("on", 100),))])
    factory = get_factory("localhost", config={"splitFile": str(path)}, async_backend=backend)
    assert factory is not None
    try:
        client = factory.client()
        assert client.get_treatment(HUGE, "f") == "control"
        assert client.track("k", "user", "click", float("nan")) is False
        assert client.track("k", "user", "click", 1, {"p": float("inf")}) is False
        assert client.track("k", "user", "click", 1, {"p": nested(1000)}) is True
    finally:
        factory.destroy()


# ---------------------------------------------------------------------------------- delivery

CONFIG: dict[str, Any] = {
    "streamingEnabled": False, "machineIp": "127.0.0.1", "machineName": "test",
    "syncRetryBackoffBase": 0.02, "syncRetryBackoffMax": 0.1, "eventsPushRate": 3600,
}


def has_poison(body: Any) -> bool:
    return isinstance(body, list) and any(e.get("eventTypeId") == "poison" for e in body)


async def test_a_refused_bulk_is_split_to_deliver_every_good_event(
    server: FakeSplitServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A strict API answers 400 to a bulk with one bad record: the SDK sends halves until the
    bad ones are alone, drops (and counts) those and delivers the other 100."""
    server.set_flags([rollout_flag("f", (("on", 100),))])
    server.reject_posts("/api/events/bulk", has_poison)
    async with open_factory("SDK-KEY-0001", CONFIG, **server.url_kwargs()) as factory:
        await factory.block_until_ready(5)
        client = factory.client()
        for n in range(100):
            assert await client.track("k", "user", "good", n)
            if n in (10, 77):
                assert await client.track("k", "user", "poison", n)
    delivered = [e for body in server.accepted("/api/events/bulk") for e in body]
    assert sorted(e["value"] for e in delivered) == list(range(100))
    assert {e["eventTypeId"] for e in delivered} == {"good"}
    counts = factory.delivery_counts()
    assert (counts["events_delivered"], counts["events_dropped"]) == (100, 2)
    assert factory.status().dropped["events"] == 2
    refused = [r for r in caplog.records if "the service refused records" in r.getMessage()]
    assert len(refused) == 1 and refused[0].levelno == logging.ERROR


async def test_destroy_does_not_wait_for_a_service_that_never_answered(
    caplog: pytest.LogCaptureFixture
) -> None:
    """Nothing listens on the port: the final flush is tried once, what is left counted as
    lost, and destroy() returns at once instead of after destroyTimeout (10 s)."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    await listener.aclose()  # a port nobody listens on
    url = f"http://127.0.0.1:{port}/api"
    urls = {f"{name}_api_base_url": url for name in ("sdk", "events", "auth", "telemetry")}
    factory_box: list[Any] = []
    started = 0.0
    async with open_factory("SDK-KEY-0001", {**CONFIG, "destroyTimeout": 10}, **urls) as factory:
        factory_box.append(factory)
        assert await factory.client().track("k", "user", "click")
        started = time.monotonic()
    assert time.monotonic() - started < 3
    assert factory_box[0].delivery_counts()["events_lost"] == 1


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_shim_destroys_at_once_too(backend: str) -> None:
    import socket  # noqa: PLC0415

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/api"
    urls = {f"{name}_api_base_url": url for name in ("sdk", "events", "auth", "telemetry")}
    factory = get_factory("SDK-KEY-0001", config={**CONFIG, "destroyTimeout": 10},
                          async_backend=backend, **urls)
    assert factory is not None
    assert factory.client().track("k", "user", "click") is True
    started = time.monotonic()
    factory.destroy()
    assert time.monotonic() - started < 3
    assert factory.delivery_counts()["events_lost"] == 1


def test_the_events_body_never_carries_nan() -> None:
    """The last line of defence: the encoder refuses NaN rather than sending a bare token."""
    from splitio_async.transport.http import _ENCODER  # noqa: PLC0415

    with pytest.raises(ValueError, match="JSON compliant"):
        _ENCODER.encode([{"value": float("nan")}])
    assert json.loads(_ENCODER.encode([{"value": 1.5}])) == [{"value": 1.5}]


# ---------------------------------------------------------------------------------- config

NUMERIC_KEYS = [
    "connectionTimeout", "featuresRefreshRate", "segmentsRefreshRate", "metricsRefreshRate",
    "impressionsRefreshRate", "impressionsBulkSize", "impressionsQueueSize", "eventsPushRate",
    "eventsBulkSize", "eventsQueueSize", "destroyTimeout", "syncRetryBackoffBase",
    "syncRetryBackoffMax", "streamingReconnectBackoffBase", "streamingKeepaliveTimeout",
]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), -1, 10**400],
                         ids=["nan", "inf", "-inf", "-1", "huge"])
async def test_absurd_numbers_in_the_config_never_stop_the_factory(
    server: FakeSplitServer, value: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Every numeric key at once, with a bad proxyUrl: logged, replaced by the defaults; the
    factory starts, syncs, streams, records, and is destroyed cleanly."""
    server.set_flags([rollout_flag("f", (("on", 100),))])
    config = {**dict.fromkeys(NUMERIC_KEYS, value), "proxyUrl": "not a url",
              "machineIp": "127.0.0.1", "machineName": "t"}
    async with open_factory("SDK-KEY-0001", config, **server.url_kwargs()) as factory:
        await factory.block_until_ready(5)
        await anyio.to_thread.run_sync(server.wait_for_streams, 1, 5)
        assert server.push_occupancy() == 1
        with anyio.fail_after(5):
            while factory.status().sync_mode != "streaming":  # noqa: ASYNC110
                await anyio.sleep(0.01)
        assert await factory.client().get_treatment("k", "f") == "on"
        assert await factory.client().track("k", "user", "click", 1)
        assert not factory.destroyed
    assert server.accepted("/api/events/bulk")
    assert "proxyUrl 'not a url'" in caplog.text
    assert caplog.text.count("is not a valid value") >= 10
