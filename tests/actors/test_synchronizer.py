"""The synchronizer alone, on a scripted API and a fake clock: the first full sync retried until
it succeeds, then ready; a refused SDK key stops everything; polling at its two periods, failures
retried sooner with backoff and shown in ``problems()``; and what keeps data current (streaming)
switching polling and asking for full syncs through ``SyncControl``."""

from __future__ import annotations

import anyio
import pytest

from splitio_async.actors.flag_syncer import FlagSyncer
from splitio_async.actors.segment_syncer import SegmentSyncer
from splitio_async.actors.synchronizer import SyncControl, Synchronizer
from splitio_async.lifecycle import READY
from splitio_async.transport.errors import APIError, AuthError, URITooLongError
from tests.actors.fakes import (
    FakeChangesAPI,
    FakeClock,
    Storage,
    eventually,
    page,
    running,
    segment_page,
)
from tests.helpers import rollout_flag, segment_flag

pytestmark = pytest.mark.anyio

FLAGS_PERIOD, SEGMENTS_PERIOD = 30.0, 60.0


class Fixture:
    def __init__(self, keep_current: object = None) -> None:
        self.api, self.storage, self.clock = FakeChangesAPI(), Storage(), FakeClock()
        self.fatal: list[str] = []
        state, writer = self.storage.state, self.storage.writer
        flags = FlagSyncer(self.api, state, writer, None, 1.0, 8.0, clock=self.clock)
        segments = SegmentSyncer(self.api, state, writer, 1.0, 8.0, clock=self.clock)
        self.sync = Synchronizer(state, writer, flags, segments, FLAGS_PERIOD, SEGMENTS_PERIOD,
                                 self.fatal.append, 1.0, 8.0,
                                 keep_current=keep_current,  # type: ignore[arg-type]
                                 clock=self.clock)

    def flag_fetches(self) -> int:
        return len(self.api.split_calls)


async def test_the_first_full_sync_loads_flags_and_segments_then_says_ready() -> None:
    f = Fixture()
    f.api.split_answers = [page([segment_flag("f", "vip")], -1, 5)]
    f.api.segment_answers["vip"] = [segment_page("vip", ["a"], -1, 3)]
    async with running(f.storage, f.sync):
        await eventually(lambda: f.storage.state.status is READY)
        assert f.storage.snapshot.segments["vip"] == {"a"}
        assert f.storage.ready_calls == 1 and f.sync.problems() == {}


async def test_a_failed_first_sync_is_retried_with_backoff_and_shown_until_it_succeeds() -> None:
    f = Fixture()
    f.api.split_answers = [APIError("splitChanges: HTTP 500", 500),
                           APIError("splitChanges: HTTP 500", 500)]
    async with running(f.storage, f.sync):
        await f.clock.settle()
        assert "HTTP 500" in f.sync.problems()["initial sync"]
        [first] = f.clock.sleepers
        assert 0.5 <= first <= 1.0
        await f.clock.advance(first)
        [second] = f.clock.sleepers
        assert 1.0 <= second <= 2.0  # backing off
        await f.clock.advance(second)
        await eventually(lambda: f.storage.state.status is READY)
        assert f.sync.problems() == {}


async def test_a_refused_sdk_key_stops_all_fetching() -> None:
    f = Fixture()
    f.api.split_answers = [AuthError("splitChanges: the SDK key was refused (HTTP 401)", 401)]
    async with running(f.storage, f.sync):
        await f.clock.advance(10 * SEGMENTS_PERIOD)
        assert f.flag_fetches() == 1 and f.clock.sleepers == []
    assert len(f.fatal) == 1 and "will not retry" in f.fatal[0]
    assert f.storage.state.status is not READY


async def test_too_many_flag_sets_are_ready_without_data() -> None:
    f = Fixture()
    f.api.split_answers = [URITooLongError("splitChanges: URI too long (HTTP 414)", 414)]
    async with running(f.storage, f.sync):
        await eventually(lambda: f.storage.state.status is READY)
        assert f.storage.snapshot.flags == {}


async def test_flags_and_segments_are_polled_at_their_own_periods() -> None:
    f = Fixture()
    f.api.split_answers = [page([segment_flag("f", "vip")], -1, 5)]
    async with running(f.storage, f.sync):
        await eventually(lambda: f.storage.state.status is READY)
        flags_before, segments_before = f.flag_fetches(), len(f.api.segment_calls)
        await f.clock.advance(FLAGS_PERIOD)
        assert f.flag_fetches() == flags_before + 1
        assert len(f.api.segment_calls) == segments_before
        await f.clock.advance(FLAGS_PERIOD)  # 60 s: both
        assert f.flag_fetches() == flags_before + 2
        assert len(f.api.segment_calls) == segments_before + 1


async def test_a_failed_poll_is_retried_sooner_with_backoff_and_recovers() -> None:
    f = Fixture()
    async with running(f.storage, f.sync):
        await eventually(lambda: f.storage.state.status is READY)
        f.api.split_answers = [APIError("splitChanges: HTTP 503", 503)]
        await f.clock.advance(FLAGS_PERIOD)
        assert "feature flags: fetch failed" in f.sync.problems()["feature flags"]
        retry = min(f.clock.sleepers)
        assert 0.5 <= retry <= 1.0  # not a whole period
        fetches = f.flag_fetches()
        await f.clock.advance(retry)
        assert f.flag_fetches() == fetches + 1
        assert "feature flags" not in f.sync.problems()


async def test_what_keeps_data_current_runs_after_the_first_sync_and_drives_polling() -> None:
    controls: list[SyncControl] = []

    async def keep_current(control: SyncControl) -> None:
        controls.append(control)
        await anyio.sleep_forever()

    f = Fixture(keep_current)
    f.api.split_answers = [page([rollout_flag("f")], -1, 5)]
    async with running(f.storage, f.sync):
        await eventually(lambda: controls == [f.sync])
        fetches = f.flag_fetches()
        await f.clock.advance(FLAGS_PERIOD)
        assert f.flag_fetches() == fetches  # no polling while streaming
        f.sync.start_polling()
        f.sync.start_polling()  # idempotent
        await f.clock.advance(FLAGS_PERIOD)
        assert f.flag_fetches() == fetches + 1
        f.sync.stop_polling()
        await f.clock.advance(3 * FLAGS_PERIOD)
        assert f.flag_fetches() == fetches + 1


async def test_full_syncs_asked_for_while_one_runs_give_exactly_one_more() -> None:
    async def keep_current(control: SyncControl) -> None:
        await anyio.sleep_forever()

    f = Fixture(keep_current)
    async with running(f.storage, f.sync):
        await eventually(lambda: f.storage.state.status is READY)
        fetches = f.flag_fetches()
        f.api.hold()
        f.sync.sync_all_soon()
        await eventually(lambda: f.api.waiting == 1)
        f.sync.sync_all_soon()
        f.sync.sync_all_soon()
        f.api.release()
        await f.clock.settle()
        assert f.flag_fetches() == fetches + 2
