"""The shared conformance set (``../shared/conformance``) as a pluggable store: the rollout data
the Split Synchronizer keeps, under a prefix, in its key layout, and the calls the comparison
makes.

**Layout.** Pluggable mode reads rollout data under exactly the keys Redis mode reads (spec:
storage-redis.md §7; OFFICIAL.md "Keys"): ``<prefix>.SPLITIO.split.<flag>``, ``.splits.till``,
``.rbsegment.<name>``, ``.rbsegments.till``, ``.segment.<name>`` (a set) and its ``.till``,
``.trafficType.<tt>``, ``.flagSet.<set>`` (a set), so names come from the package's own
:class:`RedisKeys`. What differs is the encoding (a wrapper hands out deserialised values, so a
store holds the flag as a JSON value, not as text) and the records the SDK writes (per-key
counters and ``::``-joined telemetry keys instead of Redis hashes), which are the SDK's
business, not this module's.

**Definitions.** The set's ``splits.json`` is a localhost file, and its expected answers come
from the localhost loader, which repairs definitions before use (conformance README, "Loading /
sanitizing the file"). Split's servers -- and so the Synchronizer -- only ever deliver repaired
definitions, so the store holds each flag as the loader leaves it: ``algo`` 2, traffic
allocation within 0..100, a blank default treatment as ``control``, an unknown status as
``ACTIVE``, missing ``sets`` / ``prerequisites`` as ``[]``, the ``default rule`` condition
appended when the last condition is not a ROLLOUT over ALL_KEYS; archived flags and rule-based
segments are absent, and rule-based segments get no default rule (the README's correction).
With that, the official SDK in pluggable mode gives exactly ``expected.jsonl``.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from typing import Any

from splitio_async.redis.keys import RedisKeys
from tests.conftest import CONFORMANCE
from tests.pluggable.wrappers import Snapshot
from tests.redis.test_official_compat import COUNTING_CALLS, DEBUG_CALLS

_STATUSES = ("ACTIVE", "ARCHIVED")


def _default_rule() -> dict[str, Any]:
    return {
        "conditionType": "ROLLOUT",
        "matcherGroup": {"combiner": "AND", "matchers": [{
            "keySelector": {"trafficType": "user", "attribute": None},
            "matcherType": "ALL_KEYS", "negate": False,
        }]},
        "partitions": [{"treatment": "on", "size": 0}, {"treatment": "off", "size": 100}],
        "label": "default rule",
    }


def _ends_with_default_rule(conditions: list[dict[str, Any]]) -> bool:
    if not conditions or conditions[-1].get("conditionType") != "ROLLOUT":
        return False
    matchers = conditions[-1].get("matcherGroup", {}).get("matchers") or ()
    return any(matcher.get("matcherType") == "ALL_KEYS" for matcher in matchers)


def _repaired_flag(raw: dict[str, Any]) -> dict[str, Any]:
    flag = copy.deepcopy(raw)
    flag["algo"] = 2
    allocation = flag.get("trafficAllocation")
    if not isinstance(allocation, int) or not 0 <= allocation <= 100:
        flag["trafficAllocation"] = 100
    default = flag.get("defaultTreatment")
    if not isinstance(default, str) or not default.strip():
        flag["defaultTreatment"] = "control"
    if flag.get("status") not in _STATUSES:
        flag["status"] = "ACTIVE"
    flag["sets"] = flag.get("sets") or []
    flag["prerequisites"] = flag.get("prerequisites") or []
    flag["conditions"] = flag.get("conditions") or []
    if not _ends_with_default_rule(flag["conditions"]):
        flag["conditions"].append(_default_rule())
    return flag


def _repaired_rule_based_segment(raw: dict[str, Any]) -> dict[str, Any]:
    rbs = copy.deepcopy(raw)
    if rbs.get("status") not in _STATUSES:
        rbs["status"] = "ACTIVE"
    return rbs


def definitions() -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """``(changes, flags, rule-based segments)``: the file, and its live definitions repaired
    as Split's servers would serve them."""
    changes = json.loads((CONFORMANCE / "splits.json").read_text())
    flags = [_repaired_flag(f) for f in changes["ff"]["d"] if f.get("status") != "ARCHIVED"]
    rbs = [
        _repaired_rule_based_segment(r) for r in changes["rbs"]["d"]
        if r.get("status") != "ARCHIVED"
    ]
    return changes, flags, rbs


def segments() -> dict[str, tuple[list[str], int]]:
    """Segment name -> (members: added minus removed, change number)."""
    out = {}
    for path in sorted((CONFORMANCE / "segments").glob("*.json")):
        data = json.loads(path.read_text())
        removed = set(data.get("removed") or ())
        members = [key for key in data.get("added") or () if key not in removed]
        out[data["name"]] = (members, data["till"])
    return out


def conformance_snapshot(prefix: str | None) -> Snapshot:
    """The store a Synchronizer would leave for the conformance set under ``prefix``."""
    keys = RedisKeys(prefix)
    changes, flags, rule_based = definitions()
    store: Snapshot = {}
    traffic: Counter[str] = Counter()
    flag_sets: dict[str, set[str]] = {}
    for flag in flags:
        store[keys.split(flag["name"])] = {"value": flag}
        traffic[flag["trafficTypeName"]] += 1
        for name in flag["sets"]:
            flag_sets.setdefault(name, set()).add(flag["name"])
    store[keys.splits_till] = {"value": changes["ff"]["t"]}
    for tt, count in traffic.items():
        store[keys.traffic_type(tt)] = {"value": count}
    for name, flag_names in flag_sets.items():
        store[keys.flag_set(name)] = {"set": sorted(flag_names)}
    for rbs in rule_based:
        store[keys.rule_based_segment(rbs["name"])] = {"value": rbs}
    store[keys.prefix + "SPLITIO.rbsegments.till"] = {"value": changes["rbs"]["t"]}
    for name, (members, till) in segments().items():
        if members:  # an empty set is no key, in Redis as in the dict store
            store[keys.segment(name)] = {"set": sorted(members)}
        store[keys.segment(name) + ".till"] = {"value": till}
    return dict(sorted(store.items()))


# ------------------------------------------------------------------------------- the calls

FLAG_NAMES = [flag["name"] for flag in definitions()[1]]

# The manager: every view, names, and single views of flags with each feature (killed,
# prerequisites, configurations, impressions disabled) and of names that find nothing.
MANAGER_CALLS: list[dict[str, Any]] = [
    {"target": "manager", "method": "split_names", "args": []},
    {"target": "manager", "method": "splits", "args": []},
    *({"target": "manager", "method": "split", "args": [name]} for name in (
        "ff_000_cache", "ff_001_onboarding", "ff_012_dark_mode", "ff_058_reports",
        "no_such_flag", " ff_000_cache ", "", None, 42,
    )),
]

# DEBUG: the 2,100 conformance cases, every flag set, tracks; then the manager.
DEBUG_RUN = [*DEBUG_CALLS, *MANAGER_CALLS]
CONFORMANCE_CASES = len([line for line in (CONFORMANCE / "cases.jsonl").read_text().splitlines()
                         if line])
# OPTIMIZED and NONE: repeated single-flag cases, so impressions are deduplicated into counts.
COUNTING_RUN = COUNTING_CALLS
