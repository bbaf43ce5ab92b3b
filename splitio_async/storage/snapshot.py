"""The immutable snapshot every evaluation reads, and the pure functions that derive the next one.

Only the storage actor calls ``apply_*``; it then swaps one reference, so a reader (any thread)
sees either the old snapshot or the new one, never a mix, and never needs a lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TypeVar

from ..models.rule_based_segments import RuleBasedSegment
from ..models.splits import Split
from .segment_keys import SegmentKeys

_EMPTY: frozenset[str] = frozenset()
K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Flags, rule-based segments and segments at one point in time."""

    flags: Mapping[str, Split] = field(default_factory=lambda: MappingProxyType({}))
    rule_based_segments: Mapping[str, RuleBasedSegment] = field(
        default_factory=lambda: MappingProxyType({})
    )
    # a segment's members: a frozenset, or SegmentKeys once changed by deltas (storage.segment_keys)
    segments: Mapping[str, Set[str]] = field(default_factory=lambda: MappingProxyType({}))
    segment_change_numbers: Mapping[str, int] = field(
        default_factory=lambda: MappingProxyType({})
    )
    flags_change_number: int = -1
    rule_based_segments_change_number: int = -1
    flag_sets: Mapping[str, frozenset[str]] = field(default_factory=lambda: MappingProxyType({}))
    traffic_types: frozenset[str] = frozenset()
    # derived indices kept up to date change by change, so applying one flag change costs the
    # same with 50 flags or 5,000 (rebuilding them walked every flag's conditions: 8 ms at 5k):
    # how many flags and rule-based segments read each segment, how many flags per traffic type
    segment_refs: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    traffic_type_counts: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))

    def in_segment(self, segment_name: str, key: str) -> bool:
        return key in self.segments.get(segment_name, _EMPTY)

    def rule_based_segment(self, name: str) -> RuleBasedSegment | None:
        return self.rule_based_segments.get(name)

    def referenced_segments(self) -> frozenset[str]:
        """Standard segments that some flag or rule-based segment reads."""
        return frozenset(self.segment_refs)

    def references(self, segment_name: str) -> bool:
        """Whether some flag or rule-based segment reads this segment."""
        return segment_name in self.segment_refs


@dataclass(frozen=True, slots=True)
class FlagChanges:
    """One page of flag and rule-based segment changes (splitChanges, a file, a notification)."""

    flags: tuple[Split, ...] = ()
    rule_based_segments: tuple[RuleBasedSegment, ...] = ()
    flags_till: int | None = None
    rule_based_segments_till: int | None = None
    replace_flags: bool = False  # what this lacks is removed (legacy/YAML files, bootstrap)
    # the source is the truth (localhost files): a definition older than the one held still
    # replaces it, where a fetch's older answer (landing after a kill or an instant update) not
    source_of_truth: bool = False


def _thaw(mapping: Mapping[K, V]) -> dict[K, V]:
    """A mutable copy; a MappingProxyType copies its dict at C speed (``dict(proxy)`` goes key
    by key: 260 µs against 33 µs for 5,000 flags)."""
    return mapping.copy() if isinstance(mapping, MappingProxyType) else dict(mapping)


class _Indices:
    """The derived indices of one snapshot being built: copied once (their size is the number of
    segments, traffic types and flag sets, not of flags), then updated flag by flag."""

    __slots__ = ("refs", "set_members", "sets", "traffic")

    def __init__(self, snapshot: Snapshot | None) -> None:
        self.refs = _thaw(snapshot.segment_refs) if snapshot else {}
        self.traffic = _thaw(snapshot.traffic_type_counts) if snapshot else {}
        self.sets: dict[str, frozenset[str]] = _thaw(snapshot.flag_sets) if snapshot else {}
        self.set_members: dict[str, set[str]] = {}  # flag sets being changed, thawed

    def _members(self, name: str) -> set[str]:
        members = self.set_members.get(name)
        if members is None:
            members = self.set_members[name] = set(self.sets.get(name, _EMPTY))
        return members

    def segments(self, names: frozenset[str], step: int) -> None:
        _count(self.refs, names, step)

    def flag(self, split: Split, step: int) -> None:
        _count(self.refs, split.segment_names, step)
        if split.traffic_type:
            _count(self.traffic, (split.traffic_type,), step)
        for name in split.sets:
            if step > 0:
                self._members(name).add(split.name)
            else:
                self._members(name).discard(split.name)

    def flag_sets(self) -> Mapping[str, frozenset[str]]:
        for name, members in self.set_members.items():
            if members:
                self.sets[name] = frozenset(members)
            else:
                self.sets.pop(name, None)
        return MappingProxyType(self.sets)


def _count(counts: dict[str, int], names: Iterable[str], step: int) -> None:
    for name in names:
        left = counts.get(name, 0) + step
        if left > 0:
            counts[name] = left
        else:
            counts.pop(name, None)


def apply_flag_changes(
    snapshot: Snapshot, changes: FlagChanges, flag_sets_filter: frozenset[str] | None = None
) -> tuple[Snapshot, frozenset[str]]:
    """The next snapshot and the names of the flags that changed.

    ACTIVE flags inside the flag-set filter are upserted, anything else is removed. Costs time
    in proportion to the change, plus one copy of the flag mapping (no walk over every flag).
    """
    replacing = changes.replace_flags
    flags = {} if replacing else _thaw(snapshot.flags)
    index = _Indices(None if replacing else snapshot)
    changed = set(snapshot.flags) - {s.name for s in changes.flags} if replacing else set()
    for split in changes.flags:
        held = flags.get(split.name)
        if held is not None and held.change_number > split.change_number and (
            not changes.source_of_truth
        ):
            continue  # an older version (a fetch answered before a kill or an instant update)
        keep = split.active and (flag_sets_filter is None or bool(split.sets & flag_sets_filter))
        if held is not None:
            index.flag(held, -1)
        if keep:
            flags[split.name] = split
            index.flag(split, 1)
            changed.add(split.name)
        elif flags.pop(split.name, None) is not None:
            changed.add(split.name)
    rbs = {} if replacing else _thaw(snapshot.rule_based_segments)
    for segment in changes.rule_based_segments:
        held_rbs = rbs.get(segment.name)
        if held_rbs is not None:
            index.segments(held_rbs.segment_names, -1)
        if segment.active:
            rbs[segment.name] = segment
            index.segments(segment.segment_names, 1)
        else:
            rbs.pop(segment.name, None)
    result = replace(
        snapshot,
        flags=MappingProxyType(flags),
        rule_based_segments=MappingProxyType(rbs),
        flags_change_number=snapshot.flags_change_number
        if changes.flags_till is None else changes.flags_till,
        rule_based_segments_change_number=snapshot.rule_based_segments_change_number
        if changes.rule_based_segments_till is None else changes.rule_based_segments_till,
        flag_sets=index.flag_sets(),
        segment_refs=MappingProxyType(index.refs),
        traffic_type_counts=MappingProxyType(index.traffic),
        traffic_types=frozenset(index.traffic),
    )
    return result, frozenset(changed)


def apply_segment_change(
    snapshot: Snapshot,
    name: str,
    added: Iterable[str],
    removed: Iterable[str],
    till: int,
    replace_members: bool = False,
) -> Snapshot:
    """Add and remove keys of one segment (or replace its members outright). A change costs
    time in proportion to its size, not the segment's (``SegmentKeys``)."""
    if not isinstance(added, Set):
        added = frozenset(added)
    removed = removed if isinstance(removed, frozenset) else frozenset(removed)
    segments = _thaw(snapshot.segments)
    if replace_members:
        segments[name] = added - removed if removed else added
    elif added or removed:
        current = segments.get(name, _EMPTY)
        keys = current if isinstance(current, SegmentKeys) else SegmentKeys(current)
        segments[name] = keys.changed(added, removed)
    else:
        segments.setdefault(name, _EMPTY)
    numbers = _thaw(snapshot.segment_change_numbers)
    numbers[name] = till
    return replace(
        snapshot,
        segments=MappingProxyType(segments),
        segment_change_numbers=MappingProxyType(numbers),
    )


def drop_segments(snapshot: Snapshot, names: Iterable[str]) -> Snapshot:
    """Forget segments no flag reads any more."""
    gone = set(names)
    if not gone & set(snapshot.segments):
        return snapshot
    return replace(
        snapshot,
        segments=MappingProxyType({k: v for k, v in snapshot.segments.items() if k not in gone}),
        segment_change_numbers=MappingProxyType(
            {k: v for k, v in snapshot.segment_change_numbers.items() if k not in gone}
        ),
    )


def kill_flag(
    snapshot: Snapshot, name: str, default_treatment: str, change_number: int
) -> Snapshot | None:
    """The snapshot with one flag killed, or None when there is nothing newer to apply."""
    split = snapshot.flags.get(name)
    if split is None or split.change_number >= change_number or (
        snapshot.flags_change_number > change_number
    ):
        return None  # unknown flag, or the flag / our data already newer than the kill
    flags = _thaw(snapshot.flags)
    flags[name] = split.killed_copy(default_treatment, change_number)
    return replace(snapshot, flags=MappingProxyType(flags))
