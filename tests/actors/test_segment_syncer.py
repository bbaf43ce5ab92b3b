"""The segment syncer alone: segment pages into storage, targets retried with backoff on the
clock and then past the CDN, several segments at once with their failures collected, segments
started while the flags' pages arrive, bootstrapped segments replaced."""

from __future__ import annotations

import anyio
import pytest

from splitio_async.actors.messages import ApplyFlags, ApplySegment
from splitio_async.actors.segment_syncer import ATTEMPTS, SegmentSyncer
from splitio_async.models.splits import parse_split
from splitio_async.storage.snapshot import FlagChanges
from splitio_async.transport.errors import APIError
from tests.actors.fakes import (
    WAIT,
    FakeChangesAPI,
    FakeClock,
    Storage,
    eventually,
    running,
    segment_page,
)
from tests.helpers import segment_flag

pytestmark = pytest.mark.anyio


def with_flags(storage: Storage, *segments: str) -> None:
    """Flags that reference ``segments`` (a fetched segment no flag uses is dropped)."""
    storage.writer.apply_now(ApplyFlags(FlagChanges(
        flags=tuple(parse_split(segment_flag(f"f_{name}", name)) for name in segments),
        flags_till=1)))


def syncer(api: FakeChangesAPI, storage: Storage, clock: FakeClock) -> SegmentSyncer:
    return SegmentSyncer(api, storage.state, storage.writer, retry_base=1.0, retry_cap=4.0,
                         clock=clock)


async def test_a_segment_is_fetched_whole_then_by_deltas() -> None:
    api, storage, clock = FakeChangesAPI(), Storage(), FakeClock()
    with_flags(storage, "vip")
    api.segment_answers["vip"] = [segment_page("vip", ["a", "b"], -1, 5),
                                  segment_page("vip", ["c"], 5, 8, removed=["a"])]
    async with running(storage):
        with anyio.fail_after(WAIT):
            assert await syncer(api, storage, clock).sync("vip") == 8
    assert api.segment_calls == [("vip", -1, None), ("vip", 5, None), ("vip", 8, None)]
    assert set(storage.snapshot.segments["vip"]) == {"b", "c"}
    assert storage.snapshot.segment_change_numbers["vip"] == 8


async def test_a_target_is_retried_with_backoff_then_asked_for_past_the_cdn() -> None:
    api, storage, clock = FakeChangesAPI(), Storage(), FakeClock()
    with_flags(storage, "vip")
    storage.writer.apply_now(ApplySegment("vip", frozenset({"a"}), frozenset(), 5, True))
    segments = syncer(api, storage, clock)
    reached: list[int] = []
    async with running(storage) as tg:

        async def sync_to_9() -> None:
            reached.append(await segments.sync("vip", 9))

        tg.start_soon(sync_to_9)
        await clock.settle()
        for _ in range(ATTEMPTS - 1):
            await clock.advance(clock.sleepers[0])
        assert [till for _, _, till in api.segment_calls] == [None] * ATTEMPTS + [5]
        api.segment_answers["vip"] = [segment_page("vip", ["z"], 5, 9)]
        await clock.advance(clock.sleepers[0])
        await eventually(lambda: reached == [9])
    assert set(storage.snapshot.segments["vip"]) == {"a", "z"}


async def test_every_segment_is_fetched_and_the_failures_are_returned() -> None:
    api, storage, clock = FakeChangesAPI(), Storage(), FakeClock()
    with_flags(storage, "a", "b", "c")
    api.segment_answers = {"a": [segment_page("a", ["1"], -1, 2)],
                           "b": [APIError("segmentChanges b: HTTP 500", 500)],
                           "c": [segment_page("c", ["3"], -1, 2)]}
    async with running(storage):
        with anyio.fail_after(WAIT):
            failures = await syncer(api, storage, clock).sync_all(["a", "b", "c"])
    assert [(name, error.status) for name, error in failures] == [("b", 500)]
    assert set(storage.snapshot.segments) == {"a", "c"}


async def test_segments_start_as_the_flag_pages_arrive_and_loaded_is_said_once() -> None:
    api, storage, clock = FakeChangesAPI(), Storage(), FakeClock()
    segments = syncer(api, storage, clock)
    loaded: list[bool] = []
    started_before_flags_ended: list[bool] = []

    async def flag_sync(kick: object) -> None:
        assert callable(kick)
        with_flags(storage, "vip")  # a first page referencing vip
        kick()
        await eventually(lambda: len(api.segment_calls) > 0)
        started_before_flags_ended.append(True)

    api.segment_answers["vip"] = [segment_page("vip", ["a"], -1, 3)]
    async with running(storage):
        with anyio.fail_after(WAIT):
            failures = await segments.sync_alongside(flag_sync, lambda: loaded.append(True))
    assert failures == [] and loaded == [True] and started_before_flags_ended == [True]
    assert storage.snapshot.segments["vip"] == {"a"}


async def test_a_failed_flag_sync_is_raised_and_its_segments_cancelled() -> None:
    api, storage, clock = FakeChangesAPI(), Storage(), FakeClock()
    segments = syncer(api, storage, clock)

    async def flag_sync(kick: object) -> None:
        raise APIError("splitChanges: HTTP 500", 500)

    async with running(storage):
        with anyio.fail_after(WAIT), pytest.raises(APIError):
            await segments.sync_alongside(flag_sync)


async def test_a_bootstrapped_segment_is_fetched_whole_and_replaced() -> None:
    api, storage, clock = FakeChangesAPI(), Storage(), FakeClock()
    with_flags(storage, "vip")
    storage.writer.apply_now(ApplySegment("vip", frozenset({"old"}), frozenset(), 50, True))
    segments = SegmentSyncer(api, storage.state, storage.writer, clock=clock,
                             fresh_names={"vip"})
    api.segment_answers["vip"] = [segment_page("vip", ["new"], -1, 40)]
    async with running(storage):
        with anyio.fail_after(WAIT):
            await segments.sync("vip")
    assert api.segment_calls[0] == ("vip", -1, None)
    assert storage.snapshot.segments["vip"] == {"new"}


async def test_only_segments_not_held_yet_are_fetched_by_sync_new() -> None:
    api, storage, clock = FakeChangesAPI(), Storage(), FakeClock()
    with_flags(storage, "held", "new")
    storage.writer.apply_now(ApplySegment("held", frozenset({"x"}), frozenset(), 5, True))
    async with running(storage):
        with anyio.fail_after(WAIT):
            assert await syncer(api, storage, clock).sync_new() == []
    assert {name for name, _, _ in api.segment_calls} == {"new"}
