"""Feature flags, parsed and compiled once.

A flag that cannot be compiled (unknown matcher type, bad regex, malformed field) keeps its other
fields and gets the official "unsupported" template condition, so it alone degrades to ``control``
while every other flag of the same payload keeps working.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .conditions import Condition, parse_condition, unsupported_template
from .matchers import UnsupportedMatcherError
from .matchers.keys import Dependency, InRuleBasedSegment, InSegment

_LOGGER = logging.getLogger("splitio_async.models")

LEGACY = 1
MURMUR = 2


@dataclass(frozen=True, slots=True)
class Prerequisite:
    feature_flag_name: str
    treatments: tuple[str, ...]  # in definition order: the manager shows them so (official)


@dataclass(frozen=True, slots=True)
class Split:
    name: str
    traffic_type: str | None  # None where the definition says null (the manager shows it)
    seed: int  # taken modulo 2**32, as the hash wants it
    traffic_allocation: int
    traffic_allocation_seed: int | None
    active: bool
    killed: bool
    default_treatment: str
    change_number: int
    algo: int
    conditions: tuple[Condition, ...]
    configurations: dict[str, str | None]
    sets: frozenset[str]
    impressions_disabled: bool
    prerequisites: tuple[Prerequisite, ...]
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)  # as fetched

    @property
    def treatments(self) -> list[str]:
        """Distinct treatments of all partitions, in first-seen order (for the manager)."""
        seen: dict[str, None] = {}
        for condition in self.conditions:
            for partition in condition.partitions:
                seen.setdefault(partition.treatment, None)
        return list(seen)

    @property
    def segment_names(self) -> frozenset[str]:
        return frozenset(referenced_segments(self.conditions))

    @property
    def rule_based_segment_names(self) -> frozenset[str]:
        return frozenset(referenced_rule_based_segments(self.conditions))

    @property
    def dependency_names(self) -> frozenset[str]:
        """Flags this one needs to evaluate: dependency matchers and prerequisites."""
        names = {
            m.flag_name for c in self.conditions for m in c.matchers if isinstance(m, Dependency)
        }
        names.update(p.feature_flag_name for p in self.prerequisites)
        return frozenset(names)

    def killed_copy(self, default_treatment: str, change_number: int) -> Split:
        """The same flag killed locally (streaming SPLIT_KILL) until the fetch catches up."""
        return _replace(self, killed=True, default_treatment=default_treatment,
                        change_number=change_number)


def _replace(split: Split, **changes: Any) -> Split:
    from dataclasses import replace  # noqa: PLC0415 - only used on the rare kill path

    return replace(split, **changes)


def referenced_segments(conditions: Iterable[Condition]) -> Iterator[str]:
    for condition in conditions:
        for matcher in condition.matchers:
            if isinstance(matcher, InSegment):
                yield matcher.segment_name


def referenced_rule_based_segments(conditions: Iterable[Condition]) -> Iterator[str]:
    for condition in conditions:
        for matcher in condition.matchers:
            if isinstance(matcher, InRuleBasedSegment):
                yield matcher.segment_name


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _traffic_type(raw: Any) -> str | None:
    return None if raw is None else str(raw)


def _configurations(raw: Any) -> dict[str, str | None]:
    if not isinstance(raw, dict):
        return {}
    return {k: v for k, v in raw.items() if isinstance(k, str) and (v is None or
                                                                     isinstance(v, str))}


def _prerequisites(raw: Any) -> tuple[Prerequisite, ...]:
    result = []
    for entry in raw or ():
        if not isinstance(entry, dict) or not isinstance(entry.get("n"), str):
            raise ValueError("prerequisite without a flag name")
        treatments = entry.get("ts") or []
        result.append(Prerequisite(entry["n"], tuple(t for t in treatments
                                                     if isinstance(t, str))))
    return tuple(result)


def parse_split(raw: Any) -> Split:
    """Compile a flag from its API JSON.

    Raises ValueError only when there is no usable ``name`` (nothing to store it under); every
    other problem degrades this flag to the unsupported template and is logged.
    """
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise ValueError("feature flag without a name")
    name: str = raw["name"]
    try:
        conditions = tuple(parse_condition(c) for c in raw.get("conditions") or ())
    except UnsupportedMatcherError as exc:
        _LOGGER.error("%s", exc)
        conditions = (unsupported_template(),)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        _LOGGER.error("feature flag %s has a malformed definition (%s); it evaluates to control",
                      name, exc)
        conditions = (unsupported_template(),)
    try:
        prerequisites = _prerequisites(raw.get("prerequisites"))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        _LOGGER.error("feature flag %s has malformed prerequisites (%s); it evaluates to control",
                      name, exc)
        conditions, prerequisites = (unsupported_template(),), ()
    allocation = raw.get("trafficAllocation")
    if not isinstance(allocation, int) or isinstance(allocation, bool) or \
            not 0 <= allocation <= 100:
        allocation = 100
    allocation_seed = raw.get("trafficAllocationSeed")
    default = raw.get("defaultTreatment")
    sets = raw.get("sets")
    sets = sets if isinstance(sets, list | tuple) else ()
    return Split(
        name=name,
        traffic_type=_traffic_type(raw.get("trafficTypeName")),
        seed=_int(raw.get("seed"), 0) & 0xFFFFFFFF,
        traffic_allocation=allocation,
        traffic_allocation_seed=_int(allocation_seed, 0) & 0xFFFFFFFF
        if allocation_seed is not None else None,
        active=raw.get("status") == "ACTIVE",
        killed=raw.get("killed") is True,
        default_treatment=default if isinstance(default, str) else "control",
        change_number=_int(raw.get("changeNumber"), -1),
        algo=MURMUR if raw.get("algo") == MURMUR else LEGACY,
        conditions=conditions,
        configurations=_configurations(raw.get("configurations")),
        sets=frozenset(s for s in sets if isinstance(s, str)),
        impressions_disabled=raw.get("impressionsDisabled") is True,
        prerequisites=prerequisites,
        raw=raw,
    )
