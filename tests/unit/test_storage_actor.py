"""The storage actor's rule for fetched segments: one that no flag references any more when it
is applied (a flag change overtook the fetch) is not brought back; data other sources define
(the testing kit, bootstrap files) is kept whether referenced yet or not."""

from __future__ import annotations

from splitio_async.actors.messages import ApplyFlags, ApplySegment
from splitio_async.actors.storage import StorageActor, StorageWriter
from splitio_async.lifecycle import FactoryState
from splitio_async.models.splits import parse_split
from splitio_async.sdk_events import SdkEventsHub
from splitio_async.storage.snapshot import FlagChanges
from tests.helpers import rollout_flag, segment_flag


def _actor() -> tuple[StorageWriter, FactoryState]:
    """A writer driven through ``apply_now`` only (the actor's task never runs)."""
    state = FactoryState()
    actor = StorageActor(state, SdkEventsHub(), None, lambda: None)
    return actor.writer, state


def _flags(*raw: dict[str, object]) -> ApplyFlags:
    return ApplyFlags(FlagChanges(flags=tuple(parse_split(f) for f in raw)))


def test_a_fetched_segment_no_flag_uses_is_not_brought_back() -> None:
    actor, state = _actor()
    actor.apply_now(_flags(segment_flag("f", "vip")))
    actor.apply_now(ApplySegment("vip", frozenset({"a"}), frozenset(), 5, True,
                                 if_referenced=True))
    assert state.snapshot.segments["vip"] == {"a"}
    actor.apply_now(_flags(rollout_flag("f")))  # no flag uses vip now: dropped
    assert "vip" not in state.snapshot.segments
    actor.apply_now(ApplySegment("vip", frozenset(), frozenset(), 6, if_referenced=True))
    assert "vip" not in state.snapshot.segments  # the fetch in flight does not revive it


def test_segments_from_other_sources_are_kept_before_any_flag_uses_them() -> None:
    actor, state = _actor()
    actor.apply_now(ApplySegment("beta", frozenset({"k"}), frozenset(), 1, True))
    assert state.snapshot.segments["beta"] == {"k"}
