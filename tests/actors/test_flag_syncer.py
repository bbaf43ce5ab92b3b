"""The flag syncer alone, on a scripted Split API and a fake clock: the since/till loop, targets
reached with backoff and then past the CDN, the spec 1.1 fallback behind an old Split Proxy and
its retry a day later, and pages that lose a race with an instant update."""

from __future__ import annotations

import anyio
import pytest

from splitio_async.actors.flag_syncer import ATTEMPTS, FlagSyncer
from splitio_async.actors.messages import ApplyFlags
from splitio_async.models.splits import parse_split
from splitio_async.runtime.spec_version import SpecVersion
from splitio_async.storage.snapshot import FlagChanges
from splitio_async.transport.errors import APIError
from tests.actors.fakes import WAIT, FakeChangesAPI, FakeClock, Storage, eventually, page, running
from tests.helpers import rollout_flag

pytestmark = pytest.mark.anyio


def syncer(api: FakeChangesAPI, storage: Storage, clock: FakeClock,
           spec: SpecVersion | None = None) -> FlagSyncer:
    return FlagSyncer(api, storage.state, storage.writer, None, retry_base=1.0, retry_cap=4.0,
                      spec=spec, clock=clock)


async def test_pages_are_fetched_until_since_meets_till() -> None:
    api, storage, clock = FakeChangesAPI(), Storage(), FakeClock()
    api.split_answers = [page([rollout_flag("a", changeNumber=5)], -1, 5),
                         page([rollout_flag("b", changeNumber=9)], 5, 9)]
    flags = syncer(api, storage, clock)
    async with running(storage):
        with anyio.fail_after(WAIT):
            assert await flags.sync()
    assert [c.since for c in api.split_calls] == [-1, 5, 9]
    assert set(storage.snapshot.flags) == {"a", "b"} and storage.snapshot.flags_change_number == 9
    assert flags.last_success == 1_700_000_000_000  # the clock's wall time, in ms


async def test_an_unusable_flag_is_skipped_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    api, storage, clock = FakeChangesAPI(), Storage(), FakeClock()
    api.split_answers = [page([rollout_flag("a"), {"changeNumber": 3}], -1, 3)]
    async with running(storage):
        with anyio.fail_after(WAIT):
            await syncer(api, storage, clock).sync()
    assert set(storage.snapshot.flags) == {"a"}
    assert "a feature flag was skipped" in caplog.text


async def test_a_failed_request_is_raised_to_the_caller() -> None:
    api, storage, clock = FakeChangesAPI(), Storage(), FakeClock()
    api.split_answers = [APIError("splitChanges: HTTP 500", 500)]
    async with running(storage):
        with anyio.fail_after(WAIT), pytest.raises(APIError):
            await syncer(api, storage, clock).sync()


async def test_a_target_is_retried_with_backoff_then_asked_for_past_the_cdn() -> None:
    api, storage, clock = FakeChangesAPI(), Storage(), FakeClock()
    flags = syncer(api, storage, clock)
    reached: list[bool] = []
    async with running(storage) as tg:

        async def sync_to_20() -> None:
            reached.append(await flags.sync(till=20))

        tg.start_soon(sync_to_20)
        await clock.settle()
        for attempt in range(ATTEMPTS - 1):  # the CDN keeps answering "nothing new"
            assert len(api.split_calls) == attempt + 1
            [wait] = clock.sleepers
            assert 0.5 * min(2 ** attempt, 4) <= wait <= min(2 ** attempt, 4)  # jittered
            await clock.advance(wait)
        # the last attempt is not followed by a wait: the CDN is bypassed at once, with the
        # change number held as ``till``
        assert [call.till for call in api.split_calls] == [None] * ATTEMPTS + [-1]
        api.split_answers = [page([rollout_flag("a", changeNumber=20)], -1, 20)]
        await clock.advance(clock.sleepers[0])
        await eventually(lambda: reached == [True])
    assert api.split_calls[-1].till == -1
    assert storage.snapshot.flags_change_number == 20


async def test_an_old_split_proxy_gets_spec_1_1_and_spec_1_3_again_a_day_later() -> None:
    api, storage, clock = FakeChangesAPI(), Storage(), FakeClock()
    spec = SpecVersion(True, recheck_interval=86400, clock=clock.now)
    flags = syncer(api, storage, clock, spec)
    api.split_answers = [APIError("splitChanges: HTTP 400", 400),
                         page([rollout_flag("old", changeNumber=7)], -1, 7)]
    async with running(storage):
        with anyio.fail_after(WAIT):
            await flags.sync()
        assert [(c.spec, c.since) for c in api.split_calls] == [("1.3", -1), ("1.1", -1),
                                                                ("1.1", 7)]
        await clock.advance(86400)
        api.split_answers = [page([rollout_flag("new", changeNumber=9)], -1, 9)]
        with anyio.fail_after(WAIT):
            await flags.sync()
    assert (api.split_calls[3].spec, api.split_calls[3].since,
            api.split_calls[3].rb_since) == ("1.3", -1, -1)
    assert set(storage.snapshot.flags) == {"new"}  # the first 1.3 answer replaces everything


async def test_without_the_fallback_a_400_is_an_error() -> None:
    api, storage, clock = FakeChangesAPI(), Storage(), FakeClock()
    api.split_answers = [APIError("splitChanges: HTTP 400", 400)]
    async with running(storage):
        with anyio.fail_after(WAIT), pytest.raises(APIError):
            await syncer(api, storage, clock).sync()  # Split's own API: no downgrade


async def test_a_page_that_lost_a_race_with_an_instant_update_is_fetched_again() -> None:
    api, storage, clock = FakeChangesAPI(), Storage(), FakeClock()
    storage.writer.apply_now(ApplyFlags(FlagChanges(flags_till=100)))
    flags = syncer(api, storage, clock)
    api.split_answers = [page([rollout_flag("f", changeNumber=120)], 100, 120)]
    async with running(storage) as tg:
        api.hold()
        tg.start_soon(flags.sync)
        await eventually(lambda: api.waiting == 1)
        instant = ApplyFlags(FlagChanges(flags=(parse_split(rollout_flag("f", changeNumber=150)),),
                                         flags_till=150), expect_flags=100)
        assert await storage.writer.apply(instant)  # lands while the page is in flight
        api.release()
        await eventually(lambda: len(api.split_calls) == 2)
    assert api.split_calls[1].since == 150  # the answer to "since 100" was not applied
    assert storage.snapshot.flags["f"].change_number == 150
    assert storage.snapshot.flags_change_number == 150


async def test_bootstrapped_data_is_replaced_by_the_first_fetch() -> None:
    api, storage, clock = FakeChangesAPI(), Storage(), FakeClock()
    storage.writer.apply_now(ApplyFlags(FlagChanges(
        flags=(parse_split(rollout_flag("from_file", changeNumber=50)),), flags_till=50)))
    flags = FlagSyncer(api, storage.state, storage.writer, None, clock=clock, fresh_start=True)
    api.split_answers = [page([rollout_flag("live", changeNumber=40)], -1, 40)]
    async with running(storage):
        with anyio.fail_after(WAIT):
            await flags.sync()
    assert api.split_calls[0].since == -1
    assert set(storage.snapshot.flags) == {"live"} and storage.snapshot.flags_change_number == 40
