"""The immutable storage snapshot and its pure update functions (evaluation.md §1, §1.3, §8)."""

from __future__ import annotations

from typing import Any

from splitio_async.models.rule_based_segments import parse_rule_based_segment
from splitio_async.models.splits import parse_split
from splitio_async.storage.snapshot import (
    FlagChanges,
    Snapshot,
    apply_flag_changes,
    apply_segment_change,
    drop_segments,
    kill_flag,
)

from .builders import condition, flag_json, in_segment, rbs_json


def _flags(*raws: dict[str, Any]) -> FlagChanges:
    return FlagChanges(flags=tuple(parse_split(r) for r in raws))


def _apply(
    snap: Snapshot, *raws: dict[str, Any], filter_sets: frozenset[str] | None = None
) -> tuple[Snapshot, frozenset[str]]:
    return apply_flag_changes(snap, _flags(*raws), filter_sets)


def test_empty_snapshot() -> None:
    """A new snapshot holds nothing and change numbers are -1."""
    snap = Snapshot()
    assert dict(snap.flags) == {}
    assert snap.flags_change_number == -1
    assert snap.rule_based_segments_change_number == -1
    assert snap.in_segment("s", "k") is False
    assert snap.rule_based_segment("r") is None


def test_active_flag_upserted() -> None:
    """ACTIVE flags are stored, and a newer version replaces the old one (§1)."""
    snap, changed = _apply(Snapshot(), flag_json("a", changeNumber=1))
    assert snap.flags["a"].change_number == 1
    assert changed == {"a"}
    snap, changed = _apply(snap, flag_json("a", changeNumber=2))
    assert snap.flags["a"].change_number == 2
    assert changed == {"a"}


def test_archived_flag_removed() -> None:
    """ARCHIVED (or any non-ACTIVE status) removes the flag (§1)."""
    snap, _ = _apply(Snapshot(), flag_json("a"), flag_json("b"))
    snap, changed = _apply(snap, flag_json("a", status="ARCHIVED"), flag_json("b", status="X"))
    assert "a" not in snap.flags
    assert "b" not in snap.flags
    assert changed == {"a", "b"}


def test_archived_unknown_flag_no_change() -> None:
    """Archiving a flag that is not stored changes nothing."""
    snap, changed = _apply(Snapshot(), flag_json("ghost", status="ARCHIVED"))
    assert dict(snap.flags) == {}
    assert changed == frozenset()


def test_apply_does_not_mutate_previous_snapshot() -> None:
    """Snapshots are immutable: the old one still sees the old data."""
    first, _ = _apply(Snapshot(), flag_json("a"))
    second, _ = _apply(first, flag_json("a", status="ARCHIVED"), flag_json("b"))
    assert set(first.flags) == {"a"}
    assert set(second.flags) == {"b"}


def test_flag_sets_filter_keeps_intersecting() -> None:
    """With flagSetsFilter, only ACTIVE flags whose sets intersect it are stored (§8)."""
    snap, _ = _apply(
        Snapshot(),
        flag_json("in", sets=["x", "y"]),
        flag_json("out", sets=["z"]),
        flag_json("none"),
        filter_sets=frozenset({"y"}),
    )
    assert set(snap.flags) == {"in"}


def test_flag_sets_filter_removes_flag_leaving_filter() -> None:
    """A stored flag whose sets no longer intersect the filter is removed (§8)."""
    allowed = frozenset({"y"})
    snap, _ = _apply(Snapshot(), flag_json("f", sets=["y"]), filter_sets=allowed)
    snap, changed = _apply(snap, flag_json("f", sets=["z"]), filter_sets=allowed)
    assert "f" not in snap.flags
    assert changed == {"f"}


def test_no_filter_stores_every_active_flag() -> None:
    """Without a filter every ACTIVE flag is stored (§8)."""
    snap, _ = _apply(Snapshot(), flag_json("a", sets=["q"]), flag_json("b"))
    assert set(snap.flags) == {"a", "b"}


def test_flag_sets_index() -> None:
    """flag_sets maps each set to the names of the stored flags in it (§8)."""
    snap, _ = _apply(Snapshot(), flag_json("a", sets=["s1", "s2"]), flag_json("b", sets=["s2"]))
    assert snap.flag_sets["s1"] == {"a"}
    assert snap.flag_sets["s2"] == {"a", "b"}
    snap, _ = _apply(snap, flag_json("a", status="ARCHIVED"))
    assert "s1" not in snap.flag_sets
    assert snap.flag_sets["s2"] == {"b"}


def test_flag_sets_index_follows_set_changes() -> None:
    """A flag moved to another set leaves the old set's index."""
    snap, _ = _apply(Snapshot(), flag_json("a", sets=["s1"]))
    snap, _ = _apply(snap, flag_json("a", sets=["s2"]))
    assert "s1" not in snap.flag_sets
    assert snap.flag_sets["s2"] == {"a"}


def test_traffic_types() -> None:
    """traffic_types lists the traffic types of stored flags only (client-api track check)."""
    snap, _ = _apply(Snapshot(), flag_json("a", trafficTypeName="user"),
                     flag_json("b", trafficTypeName="account"))
    assert snap.traffic_types == {"user", "account"}
    snap, _ = _apply(snap, flag_json("b", status="ARCHIVED"))
    assert snap.traffic_types == {"user"}


def test_change_numbers() -> None:
    """flags_till / rule_based_segments_till update the change numbers; None keeps them."""
    snap, _ = apply_flag_changes(Snapshot(), FlagChanges(flags_till=10,
                                                         rule_based_segments_till=20))
    assert (snap.flags_change_number, snap.rule_based_segments_change_number) == (10, 20)
    snap, _ = apply_flag_changes(snap, FlagChanges(flags_till=11))
    assert (snap.flags_change_number, snap.rule_based_segments_change_number) == (11, 20)


def test_replace_flags_removes_absent() -> None:
    """replace_flags: flags not in the change set are removed and reported changed."""
    snap, _ = _apply(Snapshot(), flag_json("a"), flag_json("b"))
    snap, changed = apply_flag_changes(
        snap, FlagChanges(flags=(parse_split(flag_json("b")), parse_split(flag_json("c"))),
                          replace_flags=True))
    assert set(snap.flags) == {"b", "c"}
    assert {"a", "c"} <= changed


def test_rule_based_segments_upsert_and_remove() -> None:
    """ACTIVE RBSs are stored; ARCHIVED ones removed (§1.4)."""
    rbs = tuple(parse_rule_based_segment(r) for r in (rbs_json("r1"), rbs_json("r2")))
    snap, _ = apply_flag_changes(Snapshot(), FlagChanges(rule_based_segments=rbs))
    assert snap.rule_based_segment("r1") is not None
    archived = parse_rule_based_segment(rbs_json("r1", status="ARCHIVED"))
    snap, _ = apply_flag_changes(snap, FlagChanges(rule_based_segments=(archived,)))
    assert snap.rule_based_segment("r1") is None
    assert snap.rule_based_segment("r2") is not None


def test_rbs_changes_keep_flags() -> None:
    """An RBS-only change leaves stored flags untouched."""
    snap, _ = _apply(Snapshot(), flag_json("a"))
    snap, changed = apply_flag_changes(
        snap, FlagChanges(rule_based_segments=(parse_rule_based_segment(rbs_json("r")),)))
    assert set(snap.flags) == {"a"}
    assert changed == frozenset()


# --- segments §1.3 -----------------------------------------------------------------------


def test_segment_first_fetch_added_minus_removed() -> None:
    """First fetch: keys = added - removed (§1.3)."""
    snap = apply_segment_change(Snapshot(), "s", ["a", "b", "c"], ["b"], 100)
    assert snap.segments["s"] == {"a", "c"}
    assert snap.segment_change_numbers["s"] == 100


def test_segment_later_fetch_union_then_difference() -> None:
    """Later: keys = (keys | added) - removed (§1.3)."""
    snap = apply_segment_change(Snapshot(), "s", ["a", "b"], [], 1)
    snap = apply_segment_change(snap, "s", ["c", "d"], ["a", "d"], 2)
    assert snap.segments["s"] == {"b", "c"}
    assert snap.segment_change_numbers["s"] == 2


def test_segment_membership() -> None:
    """in_segment answers for the given segment only; unknown segments are empty."""
    snap = apply_segment_change(Snapshot(), "s", ["a"], [], 1)
    assert snap.in_segment("s", "a") is True
    assert snap.in_segment("s", "b") is False
    assert snap.in_segment("t", "a") is False


def test_segment_empty_change_registers_segment() -> None:
    """An empty change still records the segment and its till."""
    snap = apply_segment_change(Snapshot(), "s", [], [], 7)
    assert snap.segments["s"] == frozenset()
    assert snap.segment_change_numbers["s"] == 7


def test_segment_replace_members() -> None:
    """replace_members replaces the members outright."""
    snap = apply_segment_change(Snapshot(), "s", ["a", "b"], [], 1)
    snap = apply_segment_change(snap, "s", ["c"], [], 2, replace_members=True)
    assert snap.segments["s"] == {"c"}


def test_segment_change_keeps_other_segments() -> None:
    """Updating one segment leaves the others alone."""
    snap = apply_segment_change(Snapshot(), "s", ["a"], [], 1)
    snap = apply_segment_change(snap, "t", ["b"], [], 2)
    assert snap.segments["s"] == {"a"}
    assert snap.segments["t"] == {"b"}


def test_drop_segments() -> None:
    """drop_segments forgets members and change numbers of the given segments."""
    snap = apply_segment_change(Snapshot(), "s", ["a"], [], 1)
    snap = apply_segment_change(snap, "t", ["b"], [], 2)
    dropped = drop_segments(snap, ["s", "unknown"])
    assert "s" not in dropped.segments
    assert "s" not in dropped.segment_change_numbers
    assert dropped.segments["t"] == {"b"}
    assert dropped.in_segment("s", "a") is False


def test_drop_unknown_segments_is_noop() -> None:
    """Dropping segments that are not stored keeps the same snapshot."""
    snap = apply_segment_change(Snapshot(), "s", ["a"], [], 1)
    assert drop_segments(snap, ["x"]).segments == snap.segments


def test_referenced_segments() -> None:
    """referenced_segments lists segments read by flags and RBSs (incl. excluded ones)."""
    flag = flag_json("f", conditions=[condition([in_segment("s1")], [("on", 100)])])
    rbs = rbs_json("r", [condition([in_segment("s2")])],
                   excluded_segments=[{"name": "s3", "type": "standard"},
                                      {"name": "r9", "type": "rule-based"}])
    snap, _ = apply_flag_changes(Snapshot(), FlagChanges(
        flags=(parse_split(flag),), rule_based_segments=(parse_rule_based_segment(rbs),)))
    assert snap.referenced_segments() == {"s1", "s2", "s3"}


# --- kill --------------------------------------------------------------------------------


def test_kill_flag_newer() -> None:
    """kill_flag with a newer change number kills the flag with the given default."""
    snap, _ = _apply(Snapshot(), flag_json("a", changeNumber=5, defaultTreatment="off"))
    killed = kill_flag(snap, "a", "dflt", 6)
    assert killed is not None
    split = killed.flags["a"]
    assert (split.killed, split.default_treatment, split.change_number) == (True, "dflt", 6)
    assert snap.flags["a"].killed is False


def test_kill_flag_not_newer_or_missing() -> None:
    """kill_flag ignores stale notifications and unknown flags (returns None)."""
    snap, _ = _apply(Snapshot(), flag_json("a", changeNumber=5))
    assert kill_flag(snap, "a", "dflt", 5) is None
    assert kill_flag(snap, "a", "dflt", 4) is None
    assert kill_flag(snap, "zzz", "dflt", 100) is None


def test_kill_keeps_other_fields() -> None:
    """A locally killed flag keeps its conditions, sets and configurations."""
    snap, _ = _apply(Snapshot(), flag_json("a", changeNumber=5, sets=["s"],
                                           configurations={"dflt": "{}"}))
    killed = kill_flag(snap, "a", "dflt", 6)
    assert killed is not None
    assert killed.flags["a"].sets == {"s"}
    assert killed.flags["a"].configurations == {"dflt": "{}"}
    assert killed.flags["a"].conditions == snap.flags["a"].conditions


def test_an_older_flag_version_never_replaces_a_newer_one() -> None:
    """A fetch answered before a streaming kill (or instant update) but applied after it does not
    undo it: a flag is only replaced by a version with a change number at least as new."""
    snap, _ = _apply(Snapshot(), flag_json("a", changeNumber=5))
    killed = kill_flag(snap, "a", "dflt", 7)
    assert killed is not None
    stale, changed = _apply(killed, flag_json("a", changeNumber=6))
    assert stale.flags["a"].killed and stale.flags["a"].change_number == 7
    assert "a" not in changed
    newer, changed = _apply(killed, flag_json("a", changeNumber=8))
    assert not newer.flags["a"].killed and "a" in changed


def _rebuilt(snap: Snapshot) -> tuple[dict[str, int], dict[str, frozenset[str]], frozenset[str]]:
    """The indices as a walk over every flag and rule-based segment gives them."""
    refs: dict[str, int] = {}
    sets: dict[str, set[str]] = {}
    for split in snap.flags.values():
        for name in split.segment_names:
            refs[name] = refs.get(name, 0) + 1
        for set_name in split.sets:
            sets.setdefault(set_name, set()).add(split.name)
    for rbs in snap.rule_based_segments.values():
        for name in rbs.segment_names:
            refs[name] = refs.get(name, 0) + 1
    traffic = frozenset(s.traffic_type for s in snap.flags.values() if s.traffic_type)
    return refs, {k: frozenset(v) for k, v in sets.items()}, traffic


def test_indices_kept_change_by_change_equal_a_rebuild() -> None:
    """The segment references, flag-set index and traffic types, updated per change (so a
    change costs the same with 5,000 flags), always equal a rebuild over every flag."""
    import random  # noqa: PLC0415

    rng = random.Random(14)
    snap = Snapshot()
    for step in range(300):
        flags = []
        for _ in range(rng.randint(0, 3)):
            name = f"f{rng.randint(0, 12)}"
            segments = rng.sample(["s1", "s2", "s3", "s4"], rng.randint(0, 2))
            conditions = [condition([in_segment(s)], [("on", 100)]) for s in segments]
            flags.append(parse_split(flag_json(
                name, conditions or None, changeNumber=step,
                status=rng.choice(["ACTIVE", "ACTIVE", "ARCHIVED"]),
                sets=rng.sample(["a", "b", "c"], rng.randint(0, 2)),
                trafficTypeName=rng.choice(["user", "account", None]))))
        rbs = [parse_rule_based_segment(rbs_json(
            f"r{rng.randint(0, 3)}", [condition([in_segment(rng.choice(["s4", "s5"]))])],
            status=rng.choice(["ACTIVE", "ARCHIVED"]),
            excluded_segments=[{"name": "s6", "type": "standard"}] if rng.random() < 0.5
            else []))
            for _ in range(rng.randint(0, 1))]
        snap, _ = apply_flag_changes(
            snap, FlagChanges(tuple(flags), tuple(rbs), replace_flags=rng.random() < 0.05),
            frozenset({"a", "b"}) if step % 50 == 49 else None)
        refs, sets, traffic = _rebuilt(snap)
        assert dict(snap.segment_refs) == refs, step
        assert dict(snap.flag_sets) == sets, step
        assert snap.traffic_types == traffic, step
        assert snap.referenced_segments() == frozenset(refs)
