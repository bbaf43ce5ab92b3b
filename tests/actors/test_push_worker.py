"""The push worker alone: an update whose payload follows the change number held is applied
at once (no fetch); anything else, or a payload that cannot be used, is fetched up to the
notified change number; an instant update that loses a race with a fetch falls back to one."""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from splitio_async.actors.flag_syncer import FlagSyncer
from splitio_async.actors.messages import ApplyFlags
from splitio_async.actors.push_worker import PushWorker, Update
from splitio_async.actors.segment_syncer import SegmentSyncer
from splitio_async.limits import Limits
from splitio_async.models.notifications import (
    FlagKill,
    FlagUpdate,
    RuleBasedSegmentUpdate,
    SegmentUpdate,
)
from splitio_async.models.splits import parse_split
from splitio_async.storage.snapshot import FlagChanges
from splitio_async.transport.errors import APIError
from tests.actors.fakes import (
    FakeChangesAPI,
    FakeClock,
    Storage,
    eventually,
    page,
    running,
    segment_page,
)
from tests.helpers import in_rbs_flag, rollout_flag, segment_flag, staff_rbs

pytestmark = pytest.mark.anyio


def encoded(obj: dict[str, Any], compression: int = 0) -> str:
    raw = json.dumps(obj).encode()
    return base64.b64encode(zlib.compress(raw) if compression == 2 else raw).decode()


class Fixture:
    def __init__(self, limits: Limits | None = None) -> None:
        self.api, self.storage, self.clock = FakeChangesAPI(), Storage(), FakeClock()
        self.instant: list[str] = []
        state, writer = self.storage.state, self.storage.writer
        flags = FlagSyncer(self.api, state, writer, None, 1.0, 8.0, clock=self.clock)
        segments = SegmentSyncer(self.api, state, writer, 1.0, 8.0, clock=self.clock)
        self.send, inbox = anyio.create_memory_object_stream[Update](10)
        self.worker = PushWorker(state, writer, flags, segments, inbox, limits,
                                 on_instant_update=self.instant.append)
        writer.apply_now(ApplyFlags(FlagChanges(
            flags=(parse_split(rollout_flag("f", changeNumber=100)),), flags_till=100)))

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        with self.send:
            async with running(self.storage, self.worker):
                yield

    async def handled(self, *updates: Update) -> None:
        for update in updates:
            await self.send.send(update)
        await self.clock.settle()


async def test_an_update_that_follows_what_is_held_is_applied_without_a_fetch() -> None:
    f = Fixture()
    flag = rollout_flag("f", (("new", 100),), changeNumber=200)
    async with f.running():
        await f.handled(FlagUpdate(200, 100, 2, encoded(flag, 2)))
        assert f.storage.snapshot.flags["f"].change_number == 200
        assert f.storage.snapshot.flags_change_number == 200
    assert f.api.split_calls == [] and f.instant == ["sp"] and f.worker.instant_updates == 1


async def test_an_update_that_skips_a_change_is_fetched_up_to_its_change_number() -> None:
    f = Fixture()
    f.api.split_answers = [page([rollout_flag("f", changeNumber=300)], 100, 300)]
    async with f.running():
        await f.handled(FlagUpdate(300, 200, 0, encoded(rollout_flag("f", changeNumber=300))))
    assert f.api.split_calls[0].since == 100 and f.instant == []
    assert f.storage.snapshot.flags_change_number == 300


async def test_an_unusable_payload_is_fetched_instead(caplog: pytest.LogCaptureFixture) -> None:
    f = Fixture()
    f.api.split_answers = [page([], 100, 200)]
    async with f.running():
        await f.handled(FlagUpdate(200, 100, 0, base64.b64encode(b"{nope").decode()))
    assert len(f.api.split_calls) == 1 and f.instant == []
    assert "Instant update not applicable" in caplog.text


async def test_a_payload_over_the_limit_is_refused_and_shown_until_one_applies() -> None:
    f = Fixture(Limits(streaming_max_payload_bytes=2000))
    big = rollout_flag("f", changeNumber=200, configurations={"on": "x" * 5000})
    f.api.split_answers = [page([], 100, 200)]
    async with f.running():
        await f.handled(FlagUpdate(200, 100, 0, encoded(big)))
        assert "Instant update refused" in (f.worker.last_problem or "")
        await f.handled(FlagUpdate(300, 200, 0, encoded(rollout_flag("f", changeNumber=300))))
        assert f.worker.last_problem is None


async def test_an_instant_update_that_lost_a_race_with_a_fetch_falls_back_to_one() -> None:
    f = Fixture()
    async with f.running():
        # a fetch moved the data on between the notification and its application
        f.storage.writer.apply_now(ApplyFlags(FlagChanges(flags_till=150)))
        f.api.split_answers = [page([], 150, 200)]
        await f.handled(FlagUpdate(200, 100, 0, encoded(rollout_flag("f", changeNumber=200))))
    assert f.instant == [] and f.api.split_calls[0].since == 150
    assert f.storage.snapshot.flags["f"].change_number == 100


async def test_a_rule_based_segment_update_is_applied_and_one_it_needs_is_fetched() -> None:
    f = Fixture()
    async with f.running():
        await f.handled(RuleBasedSegmentUpdate(5, -1, 0, encoded(staff_rbs("k"))))
        assert "staff" in f.storage.snapshot.rule_based_segments and f.instant == ["rbs"]
        assert f.api.split_calls == []
        # a flag reading a rule-based segment not held: applied, then fetched for it
        flag = in_rbs_flag("g", "other") | {"changeNumber": 200}
        await f.handled(FlagUpdate(200, 100, 0, encoded(flag)))
        assert f.instant == ["rbs", "sp"] and len(f.api.split_calls) == 1


async def test_segment_updates_and_kills_fetch_up_to_their_change_number() -> None:
    f = Fixture()
    f.storage.writer.apply_now(ApplyFlags(FlagChanges(
        flags=(parse_split(segment_flag("s", "vip")),), flags_till=100)))
    f.api.segment_answers["vip"] = [segment_page("vip", ["a"], -1, 7)]
    f.api.split_answers = [page([rollout_flag("f", changeNumber=120, killed=True)], 100, 120)]
    async with f.running():
        await f.handled(SegmentUpdate(7, "vip"), FlagKill(120, "f", "off"))
    assert f.storage.snapshot.segments["vip"] == {"a"}
    assert [c.since for c in f.api.split_calls][:1] == [100]
    assert f.storage.snapshot.flags_change_number == 120


async def test_a_failed_fetch_is_shown_until_an_update_is_handled() -> None:
    f = Fixture()
    f.api.split_answers = [APIError("splitChanges: HTTP 500", 500)]
    async with f.running():
        await f.handled(FlagUpdate(300, 200, None, None))
        assert "HTTP 500" in (f.worker.last_problem or "")
        await f.handled(FlagUpdate(200, 100, 0, encoded(rollout_flag("f", changeNumber=200))))
        await eventually(lambda: f.worker.last_problem is None)
