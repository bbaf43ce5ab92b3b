"""The streaming supervisor alone, on a fake auth, SSE source and clock: streaming when the
stream works and polling (through ``SyncControl``) whenever it does not, reconnecting with
backoff, renewing the token before it expires, and reacting to occupancy, control, Ably errors,
kills and update notifications."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest

from splitio_async.actors.messages import ApplyFlags
from splitio_async.actors.push import STABLE_AFTER, PushSupervisor
from splitio_async.actors.push_worker import Update
from splitio_async.models import telemetry
from splitio_async.models.notifications import FlagKill, FlagUpdate
from splitio_async.models.splits import parse_split
from splitio_async.storage.snapshot import FlagChanges
from splitio_async.transport.errors import APIError
from tests.actors.fakes import (
    Event,
    FakeAuth,
    FakeClock,
    FakeSSE,
    FakeSyncControl,
    FakeTelemetry,
    Storage,
    control,
    cut,
    disabled,
    eventually,
    notification,
    occupancy,
    running,
    token,
)
from tests.helpers import rollout_flag

pytestmark = pytest.mark.anyio


class Fixture:
    def __init__(self, *auth: Any, updates_size: int = 10) -> None:
        self.auth, self.sse, self.clock = FakeAuth(*auth), FakeSSE(), FakeClock()
        self.storage, self.control, self.telemetry = Storage(), FakeSyncControl(), FakeTelemetry()
        self.send, self.updates = anyio.create_memory_object_stream[Update](updates_size)
        self.push = PushSupervisor(self.auth, self.sse, self.storage.writer, self.send,
                                   reconnect_base=1.0, reconnect_cap=8.0, keepalive_timeout=70,
                                   telemetry=self.telemetry, clock=self.clock)

    async def run(self, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        try:
            await self.push.run(self.control)
        finally:
            self.updates.close()


async def test_the_first_event_means_streaming_is_up() -> None:
    f = Fixture()
    async with running(f.storage, f):
        connection = await f.sse.next_connection(1)
        assert not f.push.streaming
        await connection.send(occupancy(2))
        await eventually(lambda: f.push.streaming)
        assert f.control.full_syncs == 1 and not f.control.polling  # a full sync closes any gap
        assert f.push.connections == 1 and f.telemetry.token_refreshes == 1
        assert f.telemetry.of_type(telemetry.CONNECTION_ESTABLISHED) == [0]
        assert f.telemetry.of_type(telemetry.SYNC_MODE_UPDATE) == [0]


async def test_push_disabled_for_the_key_means_polling_for_good() -> None:
    f = Fixture(disabled())
    async with running(f.storage, f):
        await eventually(lambda: f.control.polling)
        await f.clock.advance(24 * 3600)
        assert f.auth.calls == 1 and f.sse.connections == []
        assert f.push.off_reason == "push disabled for this SDK key"


async def test_a_refused_auth_is_counted_and_retried_with_backoff_polling_meanwhile() -> None:
    f = Fixture(APIError("auth: HTTP 401", 401), APIError("auth: HTTP 500", 500))
    async with running(f.storage, f):
        await f.clock.settle()
        assert f.control.polling and f.telemetry.auth_rejections == 1
        assert "Streaming authentication failed" in (f.push.last_problem or "")
        [first] = f.clock.sleepers
        assert 0.5 <= first <= 1.0
        await f.clock.advance(first)
        assert f.auth.calls == 2 and f.telemetry.auth_rejections == 1  # a 500 is not a refusal
        [second] = f.clock.sleepers
        assert 1.0 <= second <= 2.0
        await f.clock.advance(second)
        connection = await f.sse.next_connection(1)
        await connection.send(occupancy(2))
        await eventually(lambda: f.push.streaming)
        assert not f.control.polling and f.control.stops == 1 and f.push.last_problem is None


async def test_a_cut_stream_is_reconnected_after_a_backoff_polling_meanwhile() -> None:
    f = Fixture()
    async with running(f.storage, f):
        first = await f.sse.next_connection(1)
        await first.send(occupancy(2))
        await eventually(lambda: f.push.streaming)
        await first.fail(cut())
        await eventually(lambda: f.control.polling)
        assert not f.push.streaming and first.closed
        assert f.telemetry.of_type(telemetry.SSE_CONNECTION_ERROR) == [1]
        await f.clock.advance(f.clock.sleepers[0])
        second = await f.sse.next_connection(2)
        await second.send(occupancy(2))
        await eventually(lambda: f.push.streaming)
        assert not f.control.polling and f.control.full_syncs == 3  # up, down, up again


async def test_a_connection_closed_by_the_server_is_reconnected() -> None:
    f = Fixture()
    async with running(f.storage, f):
        first = await f.sse.next_connection(1)
        await first.send(occupancy(2))
        await first.end()
        await eventually(lambda: f.control.polling)
        assert f.push.last_problem == "Streaming connection closed by the server"
        await f.clock.advance(f.clock.sleepers[0])
        await f.sse.next_connection(2)


async def test_no_publishers_means_polling_until_they_come_back() -> None:
    f = Fixture()
    async with running(f.storage, f):
        connection = await f.sse.next_connection(1)
        await connection.send(occupancy(2))
        await eventually(lambda: f.push.streaming)
        await connection.send(occupancy(0, timestamp=2),
                              occupancy(0, channel="control_sec", timestamp=2))
        await eventually(lambda: f.control.polling)
        await connection.send(occupancy(1, timestamp=3))
        await eventually(lambda: not f.control.polling)
        assert f.push.connections == 1  # the same connection all along
        assert f.telemetry.of_type(telemetry.STREAMING_STATUS) == [2, 0]


async def test_streaming_disabled_by_split_means_polling_for_good() -> None:
    f = Fixture()
    async with running(f.storage, f):
        connection = await f.sse.next_connection(1)
        await connection.send(occupancy(2), control("STREAMING_DISABLED", timestamp=5))
        await eventually(lambda: f.push.off_reason == "streaming disabled by Split")
        assert f.control.polling and connection.closed
        await f.clock.advance(24 * 3600)
        assert len(f.sse.connections) == 1 and f.auth.calls == 1


async def test_ably_token_errors_reconnect_and_other_ably_errors_end_streaming() -> None:
    f = Fixture()
    async with running(f.storage, f):
        first = await f.sse.next_connection(1)
        await first.send(Event("error", json.dumps({"code": 40142, "statusCode": 401,
                                                    "message": "Token expired"})))
        await eventually(lambda: first.closed)
        assert f.telemetry.of_type(telemetry.ABLY_ERROR) == [40142]
        await f.clock.advance(f.clock.sleepers[0])
        second = await f.sse.next_connection(2)
        await second.send(Event("error", json.dumps({"code": 60000, "message": "ignored"})))
        await second.send(Event("error", json.dumps({"code": 40000, "message": "bad"})))
        await eventually(lambda: f.push.off_reason is not None)
        assert f.telemetry.of_type(telemetry.ABLY_ERROR) == [40142, 40000]


async def test_the_token_is_renewed_ten_minutes_before_it_expires() -> None:
    f = Fixture(token(expires_in=3600), token(expires_in=3600))
    async with running(f.storage, f):
        first = await f.sse.next_connection(1)
        await first.send(occupancy(2))
        await f.clock.advance(3600 - 600 - 1)
        assert f.auth.calls == 1 and not first.closed
        await f.clock.advance(1)
        await f.sse.next_connection(2)
        assert first.closed and f.auth.calls == 2 and f.telemetry.token_refreshes == 2
        assert not f.control.polling  # a renewal is not an outage


async def test_a_kill_is_applied_at_once_and_passed_on_for_the_follow_up_fetch() -> None:
    f = Fixture()
    f.storage.writer.apply_now(ApplyFlags(FlagChanges(
        flags=(parse_split(rollout_flag("f", changeNumber=10)),), flags_till=10)))
    async with running(f.storage, f):
        connection = await f.sse.next_connection(1)
        await connection.send(notification({"type": "SPLIT_KILL", "changeNumber": 20,
                                            "splitName": "f", "defaultTreatment": "dead"}))
        await eventually(lambda: f.storage.snapshot.flags["f"].killed)
        assert f.storage.snapshot.flags["f"].default_treatment == "dead"
        assert f.updates.receive_nowait() == FlagKill(20, "f", "dead")


async def test_updates_go_to_the_worker_and_a_backlog_asks_for_a_full_sync() -> None:
    f = Fixture(updates_size=1)
    async with running(f.storage, f):
        connection = await f.sse.next_connection(1)
        await connection.send(occupancy(2))
        await eventually(lambda: f.push.streaming)
        syncs = f.control.full_syncs
        update = {"type": "SPLIT_UPDATE", "changeNumber": 30}
        await connection.send(notification(update), notification(update))
        await eventually(lambda: f.control.full_syncs == syncs + 1)
        assert f.updates.receive_nowait() == FlagUpdate(30, None, None, None)


async def test_garbage_on_the_stream_is_ignored() -> None:
    f = Fixture()
    async with running(f.storage, f):
        connection = await f.sse.next_connection(1)
        await connection.send(occupancy(2), Event("message", "{not json"),
                              Event("weird", "x"), Event("message", ""),
                              notification({"type": "NOPE"}))
        await f.clock.settle()
        assert f.push.streaming and not connection.closed


async def test_after_a_limit_breach_the_stream_is_trusted_again_once_it_held() -> None:
    f = Fixture()
    async with running(f.storage, f):
        first = await f.sse.next_connection(1)
        await first.send(occupancy(2))
        await first.fail(cut(limit=True))
        await eventually(lambda: f.control.polling)
        assert "raise the limit" in (f.push.last_problem or "")
        await f.clock.advance(f.clock.sleepers[0])
        second = await f.sse.next_connection(2)
        await second.send(occupancy(2))
        await eventually(lambda: f.push.streaming)
        assert f.push.last_problem is not None  # not trusted yet
        await f.clock.advance(min(STABLE_AFTER, 70))
        assert f.push.last_problem is None
