"""The immutable snapshot every evaluation reads, and the pure functions that derive the next one.

Only the storage actor calls ``apply_*``; it then swaps one reference, so a reader (any thread)
sees either the old snapshot or the new one, never a mix, and never needs a lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from ..models.rule_based_segments import RuleBasedSegment
from ..models.splits import Split
from .segment_keys import SegmentKeys

_EMPTY: frozenset[str] = frozenset()


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

    def in_segment(self, segment_name: str, key: str) -> bool:
        return key in self.segments.get(segment_name, _EMPTY)

    def rule_based_segment(self, name: str) -> RuleBasedSegment | None:
        return self.rule_based_segments.get(name)

    def referenced_segments(self) -> frozenset[str]:
        """Standard segments that some flag or rule-based segment reads."""
        names: set[str] = set()
        for split in self.flags.values():
            names |= split.segment_names
        for rbs in self.rule_based_segments.values():
            names |= rbs.segment_names
        return frozenset(names)


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


def _flag_sets_index(flags: Iterable[Split]) -> Mapping[str, frozenset[str]]:
    index: dict[str, set[str]] = {}
    for split in flags:
        for name in split.sets:
            index.setdefault(name, set()).add(split.name)
    return MappingProxyType({k: frozenset(v) for k, v in index.items()})


def apply_flag_changes(
    snapshot: Snapshot, changes: FlagChanges, flag_sets_filter: frozenset[str] | None = None
) -> tuple[Snapshot, frozenset[str]]:
    """The next snapshot and the names of the flags that changed.

    ACTIVE flags inside the flag-set filter are upserted, anything else is removed.
    """
    flags = {} if changes.replace_flags else dict(snapshot.flags)
    changed = set(snapshot.flags) - {s.name for s in changes.flags} if changes.replace_flags \
        else set()
    for split in changes.flags:
        held = flags.get(split.name)
        if held is not None and held.change_number > split.change_number and (
            not changes.source_of_truth
        ):
            continue  # an older version (a fetch answered before a kill or an instant update)
        keep = split.active and (flag_sets_filter is None or bool(split.sets & flag_sets_filter))
        if keep:
            flags[split.name] = split
            changed.add(split.name)
        elif flags.pop(split.name, None) is not None:
            changed.add(split.name)
    rbs = {} if changes.replace_flags else dict(snapshot.rule_based_segments)
    for segment in changes.rule_based_segments:
        if segment.active:
            rbs[segment.name] = segment
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
        flag_sets=_flag_sets_index(flags.values()),
        traffic_types=frozenset(s.traffic_type for s in flags.values() if s.traffic_type),
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
    segments = dict(snapshot.segments)
    if replace_members:
        segments[name] = added - removed if removed else added
    elif added or removed:
        current = segments.get(name, _EMPTY)
        keys = current if isinstance(current, SegmentKeys) else SegmentKeys(current)
        segments[name] = keys.changed(added, removed)
    else:
        segments.setdefault(name, _EMPTY)
    numbers = dict(snapshot.segment_change_numbers)
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
    flags = dict(snapshot.flags)
    flags[name] = split.killed_copy(default_treatment, change_number)
    return replace(snapshot, flags=MappingProxyType(flags))
