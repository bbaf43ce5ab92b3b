"""Segment members updated by deltas (``storage/segment_keys.py``): the same members as plain
set arithmetic after any sequence of changes, an exact length, and changes that never copy the
whole segment (counted through the layers, not timed)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from splitio_async.storage.segment_keys import SMALL, SegmentKeys
from splitio_async.storage.snapshot import Snapshot, apply_segment_change

KEYS = st.sampled_from([f"k{i}" for i in range(60)])
CHANGES = st.lists(st.tuples(st.frozensets(KEYS), st.frozensets(KEYS)), max_size=40)


@settings(max_examples=300, deadline=None)
@given(st.frozensets(KEYS), CHANGES)
def test_members_are_those_of_set_arithmetic(start: frozenset[str], changes: list) -> None:
    model = set(start)
    keys = SegmentKeys(start)
    for added, removed in changes:
        model = (model | added) - removed
        keys = keys.changed(added, removed)
        assert len(keys) == len(model)
        assert all((key in keys) == (key in model) for key in (f"k{i}" for i in range(60)))
    assert set(keys) == model and keys == model


def test_a_one_key_change_to_a_large_segment_adds_a_small_layer() -> None:
    big = frozenset(f"user-{i}" for i in range(100_000))
    snapshot = apply_segment_change(Snapshot(), "s", big, frozenset(), 1, True)
    for i in range(200):
        snapshot = apply_segment_change(snapshot, "s", {f"new-{i}"}, {f"user-{i}"}, 2 + i)
    keys = snapshot.segments["s"]
    assert isinstance(keys, SegmentKeys)
    assert keys._base is big  # never copied
    assert len(keys._layers) <= 9  # merged like a binary counter: log2(200) + 1
    assert len(keys) == 100_000
    assert "new-199" in keys and "user-5" not in keys and "user-500" in keys


def test_small_segments_and_large_changes_are_plain_sets_again() -> None:
    small = SegmentKeys(frozenset({"a"})).changed({"b"}, set())
    assert small._layers == () and set(small) == {"a", "b"}
    big = SegmentKeys(frozenset(f"u{i}" for i in range(2 * SMALL)))
    rebuilt = big.changed({f"n{i}" for i in range(SMALL + 1)}, set())
    assert rebuilt._layers == () and len(rebuilt) == 3 * SMALL + 1
    assert (rebuilt - {"u1"}) == set(rebuilt) - {"u1"}  # set operators give frozensets
