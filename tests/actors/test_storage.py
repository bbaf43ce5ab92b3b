"""The storage actor and its writer: every write goes through one inbox and is applied in the
order it entered; a sender may wait for the reply; compare-and-set messages are refused when the
data moved; synchronous writes on the loop thread apply the inbox first."""

from __future__ import annotations

import anyio
import pytest

from splitio_async.actors.messages import ApplyFlags, ApplySegment, KillFlag, MarkReady
from splitio_async.actors.storage import StorageActor
from splitio_async.lifecycle import FactoryState
from splitio_async.models.splits import parse_split
from splitio_async.sdk_events import SdkEventsHub
from splitio_async.storage.snapshot import FlagChanges
from tests.actors.fakes import WAIT, Storage
from tests.helpers import rollout_flag, segment_flag

pytestmark = pytest.mark.anyio


def flags(*raws: dict[str, object], till: int | None = None) -> FlagChanges:
    return FlagChanges(flags=tuple(parse_split(raw) for raw in raws), flags_till=till)


async def test_writes_are_applied_in_the_order_they_entered_the_inbox() -> None:
    storage = Storage()
    for number in (1, 2, 3):  # queued before the actor runs
        await storage.writer.post(
            ApplyFlags(flags(rollout_flag("f", changeNumber=number), till=number)))
    assert storage.snapshot.flags_change_number == -1  # nothing applied yet
    async with anyio.create_task_group() as tg:
        await tg.start(storage.run)
        with anyio.fail_after(WAIT):
            assert await storage.writer.apply(MarkReady())
        assert storage.snapshot.flags_change_number == 3
        assert storage.snapshot.flags["f"].change_number == 3
        tg.cancel_scope.cancel()


async def test_apply_waits_for_the_new_snapshot_and_says_whether_it_was_applied() -> None:
    storage = Storage()
    async with anyio.create_task_group() as tg:
        await tg.start(storage.run)
        with anyio.fail_after(WAIT):
            assert await storage.writer.apply(
                ApplyFlags(flags(rollout_flag("f", changeNumber=5), till=5)))
            assert storage.snapshot.flags["f"].change_number == 5
            # a kill older than the flag is refused
            assert not await storage.writer.apply(KillFlag("f", "off", 4))
            assert await storage.writer.apply(KillFlag("f", "off", 6))
            assert storage.snapshot.flags["f"].killed
        tg.cancel_scope.cancel()


async def test_a_compare_and_set_write_is_refused_once_the_data_moved() -> None:
    storage = Storage()
    async with anyio.create_task_group() as tg:
        await tg.start(storage.run)
        with anyio.fail_after(WAIT):
            await storage.writer.apply(ApplyFlags(flags(rollout_flag("f"), till=100)))
            instant = ApplyFlags(flags(rollout_flag("f", changeNumber=150), till=150),
                                 expect_flags=100)
            assert await storage.writer.apply(instant)
            # a page fetched since 100 lands after the instant update: refused, not applied
            stale = ApplyFlags(flags(rollout_flag("f", changeNumber=120), till=120),
                               expect_flags=100, expect_rbs=-1)
            assert not await storage.writer.apply(stale)
            assert storage.snapshot.flags_change_number == 150
            assert storage.snapshot.flags["f"].change_number == 150
            rbs_moved = ApplyFlags(FlagChanges(rule_based_segments_till=3), expect_rbs=2)
            assert not await storage.writer.apply(rbs_moved)
        tg.cancel_scope.cancel()


async def test_apply_now_applies_what_is_queued_first_then_its_own_message() -> None:
    storage = Storage()
    await storage.writer.post(ApplyFlags(flags(rollout_flag("f", changeNumber=1), till=1)))
    assert storage.snapshot.flags_change_number == -1  # queued; the actor is not running
    applied = storage.writer.apply_now(
        ApplyFlags(flags(rollout_flag("g", changeNumber=2), till=2), expect_flags=1))
    assert applied  # the queued write went first: the change number it expects is there
    assert set(storage.snapshot.flags) == {"f", "g"}
    assert storage.snapshot.flags_change_number == 2


async def test_a_fetched_segment_no_flag_references_is_dropped() -> None:
    storage = Storage()
    writer = storage.writer
    assert writer.apply_now(ApplyFlags(flags(segment_flag("f", "vip"))))
    assert writer.apply_now(ApplySegment("vip", frozenset({"a"}), frozenset(), 5,
                                         if_referenced=True))
    assert writer.apply_now(ApplyFlags(flags(rollout_flag("f"))))  # vip unused: dropped
    assert "vip" not in storage.snapshot.segments
    assert not writer.apply_now(ApplySegment("vip", frozenset({"b"}), frozenset(), 6,
                                             if_referenced=True))
    assert "vip" not in storage.snapshot.segments


async def test_ready_is_reported_once() -> None:
    storage = Storage()
    assert storage.writer.apply_now(MarkReady())
    assert storage.writer.apply_now(MarkReady())
    assert storage.ready_calls == 1


async def test_a_bad_message_does_not_stop_the_only_writer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    storage = Storage()
    async with anyio.create_task_group() as tg:
        await tg.start(storage.run)
        with anyio.fail_after(WAIT):
            assert not await storage.writer.apply(ApplyFlags(None))  # type: ignore[arg-type]
            assert await storage.writer.apply(ApplyFlags(flags(rollout_flag("f"), till=1)))
        tg.cancel_scope.cancel()
    assert "could not apply ApplyFlags" in caplog.text


async def test_senders_wait_for_room_in_a_full_inbox() -> None:
    state = FactoryState()
    actor = StorageActor(state, SdkEventsHub(), None, lambda: None, inbox_size=2)
    sent: list[int] = []

    async def send(number: int) -> None:
        await actor.writer.post(ApplyFlags(FlagChanges(flags_till=number)))
        sent.append(number)

    async with anyio.create_task_group() as tg:
        for number in range(4):
            tg.start_soon(send, number)
        await anyio.wait_all_tasks_blocked()
        assert len(sent) == 2  # two in the inbox, two senders waiting
        await tg.start(actor.run)
        with anyio.fail_after(WAIT):
            while len(sent) < 4 or state.snapshot.flags_change_number != sent[-1]:
                await anyio.wait_all_tasks_blocked()
        tg.cancel_scope.cancel()


async def test_once_the_actor_stopped_a_write_fails_instead_of_hanging() -> None:
    storage = Storage()
    async with anyio.create_task_group() as tg:
        await tg.start(storage.run)
        tg.cancel_scope.cancel()
    with anyio.fail_after(WAIT), pytest.raises(anyio.BrokenResourceError):
        await storage.writer.apply(MarkReady())
