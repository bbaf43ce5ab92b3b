"""Sanitizers of the localhost JSON files: a ``splitChanges`` document and segment files.

A hand-written JSON file is full of omissions a real Split backend never sends, so the official SDK
fills in defaults (and fixes some out-of-range values) before the flags reach storage; these
functions apply the same rules so the same file evaluates the same way. Where the official loader
crashes on a harmless omission (no ``rbs`` section, an empty old-style ``splits`` list) the file is
accepted instead. Values that cannot be repaired (a flag that is not an object, a ``till`` that is
text) raise ``LocalhostFileError``; the inputs are never mutated.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any

from splitio_async import bounded_json
from splitio_async.errors import LocalhostFileError
from splitio_async.limits import Limits
from splitio_async.localhost._common import LOGGER
from splitio_async.localhost._flag_sets import validate_flag_sets

_STATUSES = ("ACTIVE", "ARCHIVED")
_SINCE_TILL = ("since", "till")
_SINCE_TILL_LABELS = ("'since'", "'till'")


@dataclass(frozen=True)
class SplitChangesFile:
    """The sanitized content of a ``splitChanges`` file: flags and rule-based segments."""

    flags: list[dict[str, Any]]
    flags_since: int
    flags_till: int
    rbs: list[dict[str, Any]]
    rbs_since: int
    rbs_till: int


@dataclass(frozen=True)
class SegmentFile:
    """The sanitized content of a localhost ``<segment name>.json`` file."""

    name: str
    added: list[str]
    removed: list[str]
    since: int
    till: int


def _default_rule() -> dict[str, Any]:
    """The catch-all the official loader appends so that a flag always ends on a ROLLOUT rule."""
    matcher_data = (
        "userDefinedSegmentMatcherData", "whitelistMatcherData", "unaryNumericMatcherData",
        "betweenMatcherData", "dependencyMatcherData", "booleanMatcherData", "stringMatcherData",
    )  # fmt: skip
    matcher: dict[str, Any] = {
        "keySelector": {"trafficType": "user", "attribute": None},
        "matcherType": "ALL_KEYS",
        "negate": False,
    }
    matcher.update(dict.fromkeys(matcher_data))
    return {
        "conditionType": "ROLLOUT",
        "matcherGroup": {"combiner": "AND", "matchers": [matcher]},
        "partitions": [{"treatment": "on", "size": 0}, {"treatment": "off", "size": 100}],
        "label": "default rule",
    }


def _optional_int(value: Any, what: str, source: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise LocalhostFileError(source, f"{what} must be an integer, not {value!r}")
    return value


def _optional_number(value: Any, what: str, source: str) -> int | float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LocalhostFileError(source, f"{what} must be a number, not {value!r}")
    return value


def _since_till(
    container: dict[str, Any],
    keys: tuple[str, str],
    labels: tuple[str, str],
    source: str,
    *,
    zero_is_unset: bool = False,
) -> tuple[int, int]:
    """Normalise a since/till pair; bad values fall back to -1, "no change number yet"."""
    since_key, till_key = keys
    since_label, till_label = labels
    till = _optional_int(container.get(till_key), till_label, source)
    if till is None or till < -1 or (zero_is_unset and till == 0):
        till = -1
    since = _optional_int(container.get(since_key), since_label, source)
    if since is None or since < -1 or since > till or (zero_is_unset and since == 0):
        since = till
    return since, till


def _objects(items: Any, what: str, source: str) -> list[dict[str, Any]]:
    if items is None:
        return []
    if not isinstance(items, list):
        raise LocalhostFileError(source, f"{what} must be a list, not {type(items).__name__}")
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise LocalhostFileError(
                source, f"{what}[{index}] must be an object, not {type(item).__name__}"
            )
    return items


def _section(doc: dict[str, Any], key: str, source: str) -> tuple[list[dict[str, Any]], int, int]:
    section = doc.get(key)
    if section is None:
        return [], -1, -1
    if not isinstance(section, dict):
        raise LocalhostFileError(
            source, f"'{key}' must be an object with 'd', 's' and 't', not {type(section).__name__}"
        )
    items = _objects(section.get("d"), f"'{key}.d'", source)
    since, till = _since_till(section, ("s", "t"), (f"'{key}.s'", f"'{key}.t'"), source)
    return items, since, till


def _has_name(raw: dict[str, Any]) -> bool:
    name = raw.get("name")
    return isinstance(name, str) and bool(name.strip())


def _common_fields(item: dict[str, Any], where: str, source: str) -> None:
    """Defaults that flags and rule-based segments share."""
    if item.get("trafficTypeName") is None:
        item["trafficTypeName"] = "user"
    if item.get("status") not in _STATUSES:
        item["status"] = "ACTIVE"
    change_number = _optional_int(item.get("changeNumber"), f"{where}: changeNumber", source)
    if change_number is None or change_number < 0:
        item["changeNumber"] = 0


def _conditions(item: dict[str, Any], where: str, source: str) -> list[Any]:
    conditions = item.get("conditions")
    if conditions is None:
        conditions = item["conditions"] = []
    if not isinstance(conditions, list):
        raise LocalhostFileError(source, f"{where}: conditions must be a list")
    return conditions


def _ends_with_catch_all(conditions: list[Any]) -> bool:
    """Whether the last condition is a ROLLOUT with an ALL_KEYS matcher, so no key falls through."""
    if not conditions or not isinstance(conditions[-1], dict):
        return False
    last = conditions[-1]
    group = last.get("matcherGroup")
    matchers = group.get("matchers") if isinstance(group, dict) else None
    return (
        last.get("conditionType") == "ROLLOUT"
        and isinstance(matchers, list)
        and any(isinstance(m, dict) and m.get("matcherType") == "ALL_KEYS" for m in matchers)
    )


def _flag(raw: dict[str, Any], now: int, source: str) -> dict[str, Any] | None:
    if not _has_name(raw):
        LOGGER.warning(
            "A feature flag in json file does not have (Name) or property is empty, skipping."
        )
        return None
    flag = copy.deepcopy(raw)
    where = f"feature flag {flag['name']!r}"
    _common_fields(flag, where, source)
    allocation = _optional_number(
        flag.get("trafficAllocation"), f"{where}: trafficAllocation", source
    )
    if allocation is None or not 0 <= allocation <= 100:
        flag["trafficAllocation"] = 100
    for seed_field in ("trafficAllocationSeed", "seed"):
        # A missing seed must not be 0: every such flag would then bucket keys identically.
        if not _optional_int(flag.get(seed_field), f"{where}: {seed_field}", source):
            flag[seed_field] = now
    if flag.get("killed") is None:
        flag["killed"] = False
    default = flag.get("defaultTreatment")
    if default is None or (isinstance(default, str) and not default.strip()):
        flag["defaultTreatment"] = "control"
    flag["algo"] = 2  # localhost files are always hashed with murmur3, whatever they say
    conditions = _conditions(flag, where, source)
    if not _ends_with_catch_all(conditions):
        conditions.append(_default_rule())
    flag["sets"] = validate_flag_sets(flag.get("sets"))
    if flag.get("prerequisites") is None:
        flag["prerequisites"] = []
    return flag


def _rule_based_segment(raw: dict[str, Any], source: str) -> dict[str, Any] | None:
    """Sanitize an RBS; unlike the official loader, no default rule is appended.

    Appending one would make the segment contain every key that is not excluded, which is not how
    the same segment behaves when it comes from Split's API.
    """
    if not _has_name(raw):
        LOGGER.warning(
            "A rule based segment in json file does not have (Name) or property is empty, skipping."
        )
        return None
    segment = copy.deepcopy(raw)
    where = f"rule-based segment {segment['name']!r}"
    _common_fields(segment, where, source)
    for condition in _conditions(segment, where, source):
        if isinstance(condition, dict):
            condition.pop("partitions", None)
    return segment


def sanitize_split_changes(doc: Any, source: str) -> SplitChangesFile:
    """Sanitize a parsed localhost JSON flag file, spec 1.3 (``ff``/``rbs``) or older (``splits``).

    ARCHIVED flags are kept: applying them is what deletes them from storage.
    """
    if not isinstance(doc, dict):
        raise LocalhostFileError(
            source, f"expected a JSON object like a splitChanges response, not {type(doc).__name__}"
        )
    if "ff" in doc or "rbs" in doc:
        raw_flags, flags_since, flags_till = _section(doc, "ff", source)
        raw_rbs, rbs_since, rbs_till = _section(doc, "rbs", source)
    elif "splits" in doc:
        raw_flags = _objects(doc["splits"], "'splits'", source)
        flags_since, flags_till = _since_till(doc, _SINCE_TILL, _SINCE_TILL_LABELS, source)
        raw_rbs, rbs_since, rbs_till = [], -1, -1
    else:
        raise LocalhostFileError(
            source,
            'expected an \'ff\' section ({"ff": {"d": [...], "s": ..., "t": ...}}) '
            "or an old-style 'splits' list",
        )
    now = int(time.time())
    flags = [flag for raw in raw_flags if (flag := _flag(raw, now, source)) is not None]
    rbs = [seg for raw in raw_rbs if (seg := _rule_based_segment(raw, source)) is not None]
    return SplitChangesFile(flags, flags_since, flags_till, rbs, rbs_since, rbs_till)


def _segment_keys(value: Any, what: str, source: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(key, str) for key in value):
        raise LocalhostFileError(source, f"{what} must be a list of strings")
    return list(value)


def sanitize_segment(doc: Any, source: str) -> SegmentFile:
    """Sanitize a parsed localhost segment file; a segment without a name cannot be stored."""
    if not isinstance(doc, dict):
        raise LocalhostFileError(
            source,
            f"expected a JSON object with 'name', 'added' and 'removed', not {type(doc).__name__}",
        )
    name = doc.get("name")
    if not isinstance(name, str) or not name.strip():
        raise LocalhostFileError(source, "the segment has no 'name' or it is empty")
    since, till = _since_till(doc, _SINCE_TILL, _SINCE_TILL_LABELS, source, zero_is_unset=True)
    added = _segment_keys(doc.get("added"), "'added'", source)
    removed = _segment_keys(doc.get("removed"), "'removed'", source)
    return SegmentFile(name, added, removed, since, till)


_MAX_DEPTH = Limits().json_max_depth


def _decode(text: str, source: str, max_depth: int) -> Any:
    try:
        return bounded_json.parse(text, max_depth)
    except bounded_json.MalformedJSON as exc:
        raise LocalhostFileError(
            source, f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except ValueError as exc:  # past jsonMaxDepth, NaN, an integer of 5,000 digits...
        raise LocalhostFileError(source, f"invalid JSON: {exc}") from None


def parse_split_changes(text: str, source: str, max_depth: int = _MAX_DEPTH) -> SplitChangesFile:
    """Decode and sanitize the text of a localhost JSON flag file."""
    return sanitize_split_changes(_decode(text, source, max_depth), source)


def parse_segment(text: str, source: str, max_depth: int = _MAX_DEPTH) -> SegmentFile:
    """Decode and sanitize the text of a localhost segment file."""
    return sanitize_segment(_decode(text, source, max_depth), source)
