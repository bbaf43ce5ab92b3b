"""Rule-based segments: a key is in one when it is not excluded and one condition matches."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .conditions import Condition, conditions_match, parse_condition, unsupported_template
from .matchers import Attributes, MatchContext

_LOGGER = logging.getLogger("splitio_async.models")


@dataclass(frozen=True, slots=True)
class RuleBasedSegment:
    name: str
    traffic_type: str
    change_number: int
    active: bool
    conditions: tuple[Condition, ...]
    excluded_keys: frozenset[str]
    excluded_segments: tuple[tuple[str, bool], ...]  # (name, is_rule_based)
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)  # as fetched

    def conditions_match(
        self, mk: str, bk: str, attributes: Attributes | None, ctx: MatchContext
    ) -> bool:
        return conditions_match(self.conditions, mk, bk, attributes, ctx)

    @property
    def segment_names(self) -> frozenset[str]:
        """Standard segments this one reads (for fetching and Redis gathering)."""
        from .splits import referenced_segments  # noqa: PLC0415 - avoid an import cycle

        names = set(referenced_segments(self.conditions))
        names.update(name for name, is_rbs in self.excluded_segments if not is_rbs)
        return frozenset(names)

    @property
    def rule_based_segment_names(self) -> frozenset[str]:
        from .splits import referenced_rule_based_segments  # noqa: PLC0415

        names = set(referenced_rule_based_segments(self.conditions))
        names.update(name for name, is_rbs in self.excluded_segments if is_rbs)
        return frozenset(names)


def parse_rule_based_segment(raw: dict[str, Any]) -> RuleBasedSegment:
    """Compile a rule-based segment; a malformed or unsupported condition makes it match every
    non-excluded key (the official template), logged as an error."""
    name = raw["name"]
    if not isinstance(name, str):
        raise ValueError("rule-based segment name is not a string")
    try:
        conditions = tuple(parse_condition(c) for c in raw.get("conditions") or ())
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        _LOGGER.error("rule-based segment %s cannot be parsed (%s); using the template", name, exc)
        conditions = (unsupported_template(),)
    excluded = raw.get("excluded")
    excluded = excluded if isinstance(excluded, dict) else {}
    keys = excluded.get("keys")
    keys = keys if isinstance(keys, list) else []
    raw_segments = excluded.get("segments")
    segments = []
    for entry in raw_segments if isinstance(raw_segments, list) else ():
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            segments.append((entry["name"], entry.get("type") == "rule-based"))
    change_number = raw.get("changeNumber")
    return RuleBasedSegment(
        name=name,
        traffic_type=str(raw.get("trafficTypeName") or ""),
        change_number=change_number if isinstance(change_number, int) else -1,
        active=raw.get("status") == "ACTIVE",
        conditions=conditions,
        excluded_keys=frozenset(k for k in keys if isinstance(k, str)),
        excluded_segments=tuple(segments),
        raw=raw,
    )
