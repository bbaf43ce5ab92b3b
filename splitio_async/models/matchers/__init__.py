"""Compile matcher JSON into matcher objects, one family per module."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from ..semver import Semver
from .base import Attributes, KeyMatcher, MatchContext, Matcher, MissingRuleBasedSegment
from .keys import AllKeys, Dependency, InRuleBasedSegment, InSegment, Whitelist
from .numeric import (
    DAY,
    MINUTE,
    Between,
    EqualTo,
    GreaterThanOrEqualTo,
    LessThanOrEqualTo,
    matcher_data_value,
)
from .semver import (
    BetweenSemver,
    EqualToSemver,
    GreaterThanOrEqualToSemver,
    InListSemver,
    LessThanOrEqualToSemver,
)
from .sets import ContainsAllOfSet, ContainsAnyOfSet, EqualToSet, PartOfSet
from .strings import ContainsString, EndsWith, EqualToBoolean, MatchesString, StartsWith

__all__ = (
    "Attributes",
    "KeyMatcher",
    "MatchContext",
    "Matcher",
    "MissingRuleBasedSegment",
    "UnsupportedMatcherError",
    "build_matcher",
)

_LOGGER = logging.getLogger("splitio_async.models")


class UnsupportedMatcherError(ValueError):
    """A matcher type this SDK does not evaluate (as the official SDK: IN_LARGE_SEGMENT too)."""


def _whitelist(raw: dict[str, Any]) -> list[str]:
    data = raw.get("whitelistMatcherData") or {}
    values = data.get("whitelist")
    if values is None:
        return []
    if not isinstance(values, list):
        raise ValueError("whitelistMatcherData.whitelist is not a list")
    return [v for v in values if isinstance(v, str)]


def _segment_name(raw: dict[str, Any]) -> str:
    name = (raw.get("userDefinedSegmentMatcherData") or {}).get("segmentName")
    if not isinstance(name, str):
        raise ValueError("userDefinedSegmentMatcherData.segmentName is missing")
    return name


def _semver_data(raw: dict[str, Any], kind: str) -> Semver | None:
    text = raw.get("stringMatcherData")
    version = Semver.parse(text) if isinstance(text, str) else None
    if version is None:
        _LOGGER.error("stringMatcherData is required for %s matcher type", kind)
    return version


def _numeric(cls: type[Matcher], unit: int, field: str) -> Callable[[dict[str, Any], bool,
                                                                    str | None], Matcher]:
    def build(raw: dict[str, Any], negate: bool, attribute: str | None) -> Matcher:
        data = raw.get(field)
        if not isinstance(data, dict):
            raise ValueError(f"{field} is missing")
        data_type = str(data.get("dataType"))
        if field == "betweenMatcherData":
            low, time_unit = matcher_data_value(data_type, data.get("start"), unit)
            high, _ = matcher_data_value(data_type, data.get("end"), unit)
        else:
            value, time_unit = matcher_data_value(data_type, data.get("value"), unit)
            low = high = value
        return cls(negate, attribute, low, high, time_unit)  # type: ignore[call-arg]

    return build


def _between_semver(raw: dict[str, Any], negate: bool, attribute: str | None) -> Matcher:
    data = raw.get("betweenStringMatcherData") or {}
    start, end = data.get("start"), data.get("end")
    start_v = Semver.parse(start) if isinstance(start, str) else None
    end_v = Semver.parse(end) if isinstance(end, str) else None
    if start_v is None or end_v is None:
        _LOGGER.error("betweenStringMatcherData is required for BETWEEN_SEMVER matcher type")
    return BetweenSemver(negate, attribute, start_v, end_v)


def _dependency(raw: dict[str, Any], negate: bool, attribute: str | None) -> Matcher:
    data = raw.get("dependencyMatcherData")
    if not isinstance(data, dict) or not isinstance(data.get("split"), str):
        raise ValueError("dependencyMatcherData.split is missing")
    return Dependency(negate, attribute, data["split"], frozenset(data.get("treatments") or ()))


def _boolean(raw: dict[str, Any], negate: bool, attribute: str | None) -> Matcher:
    data = raw.get("booleanMatcherData")
    if not isinstance(data, bool):
        raise ValueError("booleanMatcherData is not a boolean")
    return EqualToBoolean(negate, attribute, data)


def _regex(raw: dict[str, Any], negate: bool, attribute: str | None) -> Matcher:
    pattern = raw.get("stringMatcherData")
    if not isinstance(pattern, str):
        raise ValueError("stringMatcherData is missing for MATCHES_STRING")
    try:
        return MatchesString(negate, attribute, pattern)
    except re.error as exc:  # not a ValueError: translate so the flag degrades alone
        raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from exc


_Builder = Callable[[dict[str, Any], bool, str | None], Matcher]

_BUILDERS: dict[str, _Builder] = {
    "ALL_KEYS": lambda raw, neg, attr: AllKeys(neg, attr),
    "IN_SEGMENT": lambda raw, neg, attr: InSegment(neg, attr, _segment_name(raw)),
    "IN_RULE_BASED_SEGMENT": lambda raw, neg, attr: InRuleBasedSegment(
        neg, attr, _segment_name(raw)
    ),
    "WHITELIST": lambda raw, neg, attr: Whitelist(neg, attr, frozenset(_whitelist(raw))),
    "EQUAL_TO": _numeric(EqualTo, DAY, "unaryNumericMatcherData"),
    "GREATER_THAN_OR_EQUAL_TO": _numeric(GreaterThanOrEqualTo, MINUTE, "unaryNumericMatcherData"),
    "LESS_THAN_OR_EQUAL_TO": _numeric(LessThanOrEqualTo, MINUTE, "unaryNumericMatcherData"),
    "BETWEEN": _numeric(Between, MINUTE, "betweenMatcherData"),
    "EQUAL_TO_SET": lambda raw, neg, attr: EqualToSet(neg, attr, frozenset(_whitelist(raw))),
    "CONTAINS_ANY_OF_SET": lambda raw, neg, attr: ContainsAnyOfSet(
        neg, attr, frozenset(_whitelist(raw))
    ),
    "CONTAINS_ALL_OF_SET": lambda raw, neg, attr: ContainsAllOfSet(
        neg, attr, frozenset(_whitelist(raw))
    ),
    "PART_OF_SET": lambda raw, neg, attr: PartOfSet(neg, attr, frozenset(_whitelist(raw))),
    "STARTS_WITH": lambda raw, neg, attr: StartsWith(neg, attr, tuple(_whitelist(raw))),
    "ENDS_WITH": lambda raw, neg, attr: EndsWith(neg, attr, tuple(_whitelist(raw))),
    "CONTAINS_STRING": lambda raw, neg, attr: ContainsString(neg, attr, tuple(_whitelist(raw))),
    "MATCHES_STRING": _regex,
    "EQUAL_TO_BOOLEAN": _boolean,
    "IN_SPLIT_TREATMENT": _dependency,
    "EQUAL_TO_SEMVER": lambda raw, neg, attr: EqualToSemver(
        neg, attr, _semver_data(raw, "EQUAL_TO_SEMVER")
    ),
    "GREATER_THAN_OR_EQUAL_TO_SEMVER": lambda raw, neg, attr: GreaterThanOrEqualToSemver(
        neg, attr, _semver_data(raw, "GREATER_THAN_OR_EQUAL_TO_SEMVER")
    ),
    "LESS_THAN_OR_EQUAL_TO_SEMVER": lambda raw, neg, attr: LessThanOrEqualToSemver(
        neg, attr, _semver_data(raw, "LESS_THAN_OR_EQUAL_TO_SEMVER")
    ),
    "BETWEEN_SEMVER": _between_semver,
    "IN_LIST_SEMVER": lambda raw, neg, attr: InListSemver(
        neg,
        attr,
        frozenset(
            v.normalized for v in (Semver.parse(s) for s in _whitelist(raw)) if v is not None
        ),
    ),
}


def build_matcher(raw: Any) -> Matcher:
    """Compile one matcher.

    Raises UnsupportedMatcherError for unknown types and ValueError/KeyError/TypeError for
    malformed data; the caller degrades the flag alone.
    """
    if not isinstance(raw, dict):
        raise ValueError("matcher is not an object")
    kind = raw.get("matcherType")
    builder = _BUILDERS.get(kind) if isinstance(kind, str) else None
    if builder is None:
        raise UnsupportedMatcherError(f"Invalid matcher type {kind}")
    negate = raw["negate"]
    if not isinstance(negate, bool):
        raise ValueError("negate is not a boolean")
    selector = raw.get("keySelector")
    attribute = selector.get("attribute") if isinstance(selector, dict) else None
    if attribute is not None and not isinstance(attribute, str):
        raise ValueError("keySelector.attribute is not a string")
    return builder(raw, negate, attribute)
