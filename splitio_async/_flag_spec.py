"""The Split API flag JSON of what the testing kit's builders say about a flag
(``testing.FlagBuilder``): conditions, matchers and partitions, compiled by ``parse_split`` like
any flag from Split's API. Pure data, no I/O."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Treatments = str | Mapping[str, int]

# when_attribute kinds -> (matcherType, how the value is carried)
_LIST_KINDS = {
    "in": "WHITELIST",
    "not_in": "WHITELIST",
    "starts_with": "STARTS_WITH",
    "ends_with": "ENDS_WITH",
    "contains": "CONTAINS_STRING",
    "equal_to_set": "EQUAL_TO_SET",
    "contains_any": "CONTAINS_ANY_OF_SET",
    "contains_all": "CONTAINS_ALL_OF_SET",
    "part_of": "PART_OF_SET",
    "in_semver": "IN_LIST_SEMVER",
}
_NUMBER_KINDS = {"gte": "GREATER_THAN_OR_EQUAL_TO", "lte": "LESS_THAN_OR_EQUAL_TO"}
_STRING_KINDS = {
    "matches": "MATCHES_STRING",
    "semver_equals": "EQUAL_TO_SEMVER",
    "semver_gte": "GREATER_THAN_OR_EQUAL_TO_SEMVER",
    "semver_lte": "LESS_THAN_OR_EQUAL_TO_SEMVER",
}
KINDS = frozenset({"equals", "between", *_LIST_KINDS, *_NUMBER_KINDS, *_STRING_KINDS})


def partitions_of(treatments: Treatments) -> list[dict[str, Any]]:
    if isinstance(treatments, str):
        return [{"treatment": treatments, "size": 100}]
    sizes = dict(treatments)
    if not sizes or any(
        not isinstance(t, str) or isinstance(s, bool) or not isinstance(s, int) or s < 0
        for t, s in sizes.items()
    ) or sum(sizes.values()) != 100:
        raise ValueError(f"a rollout is treatment -> whole percentage, summing to 100: {sizes!r}")
    return [{"treatment": t, "size": s} for t, s in sizes.items()]


def whole_number(value: Any, kind: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"when_attribute {kind!r} compares whole numbers, not {value!r}")
    return value


def string_list(value: Any) -> list[str]:
    values = [value] if isinstance(value, str) or not isinstance(value, Iterable) else list(value)
    return [str(v) for v in values]


def matcher_json(
    traffic_type: str, matcher_type: str, attribute: str | None, negate: bool = False,
    **data: Any,
) -> dict[str, Any]:
    return {
        "keySelector": {"trafficType": traffic_type, "attribute": attribute},
        "matcherType": matcher_type,
        "negate": negate,
        **data,
    }


def attribute_matcher(traffic_type: str, attribute: str, kind: str, value: Any) -> dict[str, Any]:
    """The Split API matcher for ``when_attribute(attribute, kind, value, ...)``."""
    if kind in _LIST_KINDS:
        return matcher_json(traffic_type, _LIST_KINDS[kind], attribute, kind == "not_in",
                        whitelistMatcherData={"whitelist": string_list(value)})
    if kind in _NUMBER_KINDS:
        return matcher_json(traffic_type, _NUMBER_KINDS[kind], attribute, unaryNumericMatcherData={
            "dataType": "NUMBER", "value": whole_number(value, kind)})
    if kind in _STRING_KINDS:
        if not isinstance(value, str):
            raise ValueError(f"when_attribute {kind!r} takes a string, not {value!r}")
        return matcher_json(traffic_type, _STRING_KINDS[kind], attribute, stringMatcherData=value)
    if kind == "between":
        low, high = value
        return matcher_json(traffic_type, "BETWEEN", attribute, betweenMatcherData={
            "dataType": "NUMBER", "start": whole_number(low, kind),
            "end": whole_number(high, kind)})
    if kind == "equals":
        if isinstance(value, bool):
            return matcher_json(traffic_type, "EQUAL_TO_BOOLEAN", attribute,
                                booleanMatcherData=value)
        if isinstance(value, int):
            return matcher_json(traffic_type, "EQUAL_TO", attribute, unaryNumericMatcherData={
                "dataType": "NUMBER", "value": value})
        return matcher_json(traffic_type, "WHITELIST", attribute,
                        whitelistMatcherData={"whitelist": string_list(value)})
    raise ValueError(f"unknown when_attribute kind {kind!r}; one of {sorted(KINDS)}")


def seed_of(text: str) -> int:
    return zlib.crc32(text.encode("utf-8")) & 0x7FFFFFFF


@dataclass
class FlagSpec:
    """What the builder has said about one flag; ``to_json`` gives the Split API form."""

    traffic_type: str = "user"
    default_treatment: str = "off"
    default_rule: list[dict[str, Any]] = field(
        default_factory=lambda: [{"treatment": "off", "size": 100}]
    )
    targets: list[tuple[list[str], str]] = field(default_factory=list)  # WHITELIST conditions
    rules: list[tuple[dict[str, Any], list[dict[str, Any]], str]] = field(default_factory=list)
    configurations: dict[str, str] = field(default_factory=dict)
    sets: list[str] = field(default_factory=list)
    killed: bool = False

    def to_json(self, name: str, change_number: int, active: bool = True) -> dict[str, Any]:
        tt = self.traffic_type
        conditions = [
            {
                "conditionType": "WHITELIST",
                "matcherGroup": {"combiner": "AND", "matchers": [
                    matcher_json(tt, "WHITELIST", None, whitelistMatcherData={"whitelist": keys})]},
                "partitions": [{"treatment": treatment, "size": 100}],
                "label": "whitelisted",
            }
            for keys, treatment in self.targets
        ]
        conditions += [
            {
                "conditionType": "ROLLOUT",
                "matcherGroup": {"combiner": "AND", "matchers": [matcher]},
                "partitions": partitions,
                "label": label,
            }
            for matcher, partitions, label in self.rules
        ]
        conditions.append({
            "conditionType": "ROLLOUT",
            "matcherGroup": {"combiner": "AND", "matchers": [matcher_json(tt, "ALL_KEYS", None)]},
            "partitions": self.default_rule,
            "label": "default rule",
        })
        return {
            "name": name,
            "trafficTypeName": tt,
            "seed": seed_of(name),
            "trafficAllocation": 100,
            "trafficAllocationSeed": seed_of(name + "#traffic"),
            "status": "ACTIVE" if active else "ARCHIVED",
            "killed": self.killed,
            "defaultTreatment": self.default_treatment,
            "changeNumber": change_number,
            "algo": 2,
            "conditions": conditions,
            "configurations": dict(self.configurations),
            "sets": list(self.sets),
        }


def config_text(config: str | Mapping[str, Any]) -> str:
    if isinstance(config, str):
        return config
    return json.dumps(config)
