"""Deterministic data set for the evaluation benchmark.

Both SDKs must evaluate *identical* flag definitions, otherwise the timings compare different
work.  So the data set is generated once, written as a localhost spec-1.3 JSON file plus segment
files, and the fake Split server serves exactly the same objects.  Everything is derived from a
fixed seed so runs are comparable over time.

Only the standard library is used: this module is imported by the parent (project venv) and by the
workers (the official SDK's venv).
"""

from __future__ import annotations

import json
import random
import uuid
from pathlib import Path
from typing import Any, NamedTuple

CHANGE_NUMBER = 1_700_000_000_000
SEED = 20_240_601
USER_COUNT = 1000
BIG_SEGMENT = "bench_beta_users"
BIG_SEGMENT_SIZE = 10_000

Json = dict[str, Any]

_FIRST = ["ana", "bob", "chen", "dana", "emre", "fatima", "gus", "hiro", "ines", "jon", "kai"]
_LAST = ["smith", "garcia", "muller", "rossi", "tanaka", "silva", "kowalski", "dubois", "okafor"]
_DOMAINS = ["gmail.com", "acme.io", "outlook.com", "corp.example.org", "mail.net", "yahoo.co.uk"]
_COUNTRIES = ["US", "DE", "FR", "GB", "ES", "JP", "IN", "NL"]
_PERMISSIONS = ["read", "write", "comment", "share", "export", "invite"]
_PLANS = ["pro_monthly", "pro_annual", "enterprise_2024", "enterprise_trial"]
_VERSIONS = ["1.9.3", "2.0.0", "2.1.4", "2.4.0-beta.2", "3.0.1"]

# Shape name -> call description; the order is the table order.
SHAPES: dict[str, Json] = {
    "rollout_50_50": {"method": "get_treatment", "flag": "bench_rollout_5050", "attrs": False},
    "segment_10k": {"method": "get_treatment", "flag": "bench_segment_beta", "attrs": False},
    "attributes_5": {"method": "get_treatment", "flag": "bench_attributes", "attrs": True},
    "dependency_chain": {"method": "get_treatment", "flag": "bench_dep_d1", "attrs": False},
    "get_treatments_50": {"method": "get_treatments", "attrs": True},  # flags filled in below
    "track": {"method": "track"},
}


def _key_selector(attribute: str | None = None) -> Json:
    return {"trafficType": "user", "attribute": attribute}


def _matcher(kind: str, attribute: str | None = None, **data: Any) -> Json:
    return {"keySelector": _key_selector(attribute), "matcherType": kind, "negate": False, **data}


def _condition(matchers: list[Json], partitions: list[tuple[str, int]], label: str) -> Json:
    return {
        "conditionType": "ROLLOUT",
        "matcherGroup": {"combiner": "AND", "matchers": matchers},
        "partitions": [{"treatment": t, "size": s} for t, s in partitions],
        "label": label,
    }


def _default_rule(partitions: list[tuple[str, int]]) -> Json:
    # A trailing ROLLOUT/ALL_KEYS rule keeps the localhost sanitizer from appending its own.
    return _condition([_matcher("ALL_KEYS")], partitions, "default rule")


def _flag(rng: random.Random, name: str, conditions: list[Json], **extra: Any) -> Json:
    flag: Json = {
        "name": name,
        "trafficTypeName": "user",
        "trafficAllocation": 100,
        "trafficAllocationSeed": rng.randint(1, 2**31 - 1) * rng.choice([-1, 1]),
        "seed": rng.randint(1, 2**31 - 1) * rng.choice([-1, 1]),
        "status": "ACTIVE",
        "killed": False,
        "defaultTreatment": "off",
        "changeNumber": CHANGE_NUMBER,
        "algo": 2,
        "configurations": {},
        "sets": [],
        "conditions": conditions,
    }
    flag.update(extra)
    return flag


def _in_segment(name: str) -> Json:
    return _matcher("IN_SEGMENT", userDefinedSegmentMatcherData={"segmentName": name})


def _depends_on(flag: str, treatments: list[str]) -> Json:
    return _matcher(
        "IN_SPLIT_TREATMENT", dependencyMatcherData={"split": flag, "treatments": treatments}
    )


def _whitelist(attribute: str | None, values: list[str], kind: str = "WHITELIST") -> Json:
    return _matcher(kind, attribute, whitelistMatcherData={"whitelist": values})


def _in_rule_based_segment(name: str) -> Json:
    return _matcher("IN_RULE_BASED_SEGMENT", userDefinedSegmentMatcherData={"segmentName": name})


def rollout_flag(name: str, partitions: list[tuple[str, int]], **extra: Any) -> Json:
    """A flag whose only rule splits everybody by ``partitions`` (seeds derived from the name)."""
    return _flag(random.Random(name), name, [_default_rule(partitions)], **extra)


def segment_flag(name: str, segment: str, inside: str = "in", outside: str = "out") -> Json:
    """Members of ``segment`` get ``inside``, everybody else ``outside`` (the default rule)."""
    rules = [_condition([_in_segment(segment)], [(inside, 100)], f"in segment {segment}"),
             _default_rule([(outside, 100)])]
    return _flag(random.Random(name), name, rules, defaultTreatment=outside)


def rbs_flag(name: str, rbs: str, inside: str = "in", outside: str = "out") -> Json:
    """Keys in rule-based segment ``rbs`` get ``inside``, everybody else ``outside``."""
    rules = [_condition([_in_rule_based_segment(rbs)], [(inside, 100)], f"in rbs {rbs}"),
             _default_rule([(outside, 100)])]
    return _flag(random.Random(name), name, rules, defaultTreatment=outside)


def rule_based_segment(name: str, matchers: list[Json] | None = None,
                       excluded_keys: list[str] | None = None,
                       excluded_segments: list[str] | None = None) -> Json:
    """A rule-based segment of the keys that match every matcher (default: everybody) and are
    neither excluded by key nor members of an excluded standard segment."""
    return {
        "name": name, "trafficTypeName": "user", "changeNumber": CHANGE_NUMBER,
        "status": "ACTIVE",
        "excluded": {"keys": excluded_keys or [],
                     "segments": [{"name": s, "type": "standard"}
                                  for s in excluded_segments or []]},
        "conditions": [{"matcherGroup": {"combiner": "AND",
                                         "matchers": matchers or [_matcher("ALL_KEYS")]}}],
    }


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _users(rng: random.Random) -> list[Json]:
    users = []
    for _ in range(USER_COUNT):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        attrs = {
            "email": f"{first}.{last}{rng.randint(1, 99)}@{rng.choice(_DOMAINS)}",
            "age": rng.randint(18, 64),
            "country": rng.choice(_COUNTRIES),
            "permissions": rng.sample(_PERMISSIONS, rng.randint(1, 4)),
            "plan": rng.choice(_PLANS),
            "app_version": rng.choice(_VERSIONS),
            "beta_opt_in": rng.random() < 0.3,
            "signup_ts": rng.randint(1_600_000_000, 1_700_000_000),
        }
        users.append({"key": _uuid(rng), "attributes": attrs})
    return users


def _attribute_flag(rng: random.Random, name: str) -> Json:
    """Five attribute rules; for every benchmark user only the fifth one matches."""
    rules = [
        _condition(
            [_matcher("MATCHES_STRING", "email", stringMatcherData=r".*@example\.com.*")],
            [("premium_ui", 100)],
            "internal staff",
        ),
        _condition(
            [
                _matcher(
                    "GREATER_THAN_OR_EQUAL_TO",
                    "age",
                    unaryNumericMatcherData={"dataType": "NUMBER", "value": 65},
                )
            ],
            [("premium_ui", 100)],
            "seniors",
        ),
        _condition(
            [_whitelist("country", ["BR", "AR", "CL", "MX"])], [("premium_ui", 100)], "latam"
        ),
        _condition(
            [_whitelist("permissions", ["admin", "billing_admin"], "CONTAINS_ANY_OF_SET")],
            [("premium_ui", 100)],
            "admins",
        ),
        _condition(
            [_whitelist("plan", ["pro", "enterprise"], "STARTS_WITH")],
            [("new_ui", 50), ("old_ui", 50)],
            "paying customers",
        ),
        _default_rule([("old_ui", 100)]),
    ]
    return _flag(rng, name, rules, defaultTreatment="old_ui")


def _mix_flags(rng: random.Random, users: list[Json]) -> tuple[list[Json], dict[str, list[str]]]:
    """Fifty flags of five kinds, plus the two extra segments they reference."""
    keys = [u["key"] for u in users]
    segments = {
        "bench_employees": rng.sample(keys, 100) + [_uuid(rng) for _ in range(400)],
        "bench_eu_pilot": rng.sample(keys, 300) + [_uuid(rng) for _ in range(2700)],
    }
    seg_names = [BIG_SEGMENT, *segments]
    attr_pool = [
        _matcher("GREATER_THAN_OR_EQUAL_TO_SEMVER", "app_version", stringMatcherData="2.1.0"),
        _matcher("EQUAL_TO_BOOLEAN", "beta_opt_in", booleanMatcherData=True),
        _matcher(
            "BETWEEN", "age", betweenMatcherData={"dataType": "NUMBER", "start": 25, "end": 40}
        ),
        _whitelist("email", ["@gmail.com", "@outlook.com"], "ENDS_WITH"),
        _whitelist("permissions", ["export", "invite"], "CONTAINS_ANY_OF_SET"),
        _whitelist("country", ["DE", "FR", "ES", "NL"]),
    ]
    flags: list[Json] = []
    for i in range(50):
        kind = ["rollout", "segment", "attrs", "dep", "whitelist"][i % 5]
        name = f"bench_mix_{i:02d}_{kind}"
        if kind == "rollout":
            parts = [[("on", 50), ("off", 50)], [("on", 10), ("off", 90)]]
            parts.append([("a", 34), ("b", 33), ("c", 33)])
            extra: Json = {"trafficAllocation": 80} if i % 3 == 0 else {}
            flags.append(_flag(rng, name, [_default_rule(parts[i % 3])], **extra))
        elif kind == "segment":
            seg = seg_names[i % 3]
            conds = [
                _condition([_whitelist(None, rng.sample(keys, 5))], [("on", 100)], "whitelisted"),
                _condition([_in_segment(seg)], [("on", 100)], f"in segment {seg}"),
                _default_rule([("off", 100)]),
            ]
            conds[0]["conditionType"] = "WHITELIST"
            flags.append(_flag(rng, name, conds))
        elif kind == "attrs":
            picked = enumerate(rng.sample(attr_pool, 3))
            conds = [_condition([m], [("on", 50), ("off", 50)], f"rule {j}") for j, m in picked]
            flags.append(_flag(rng, name, [*conds, _default_rule([("off", 100)])]))
        elif kind == "dep":
            parent = flags[i - 3]["name"]
            conds = [_condition([_depends_on(parent, ["on", "a"])], [("on", 100)], "dependency")]
            flags.append(_flag(rng, name, [*conds, _default_rule([("off", 100)])]))
        else:
            testers = _whitelist(None, rng.sample(keys, 20))
            allow = _condition([testers], [("on", 100)], "beta testers")
            allow["conditionType"] = "WHITELIST"
            conds = [allow, _default_rule([("on", 25), ("off", 75)])]
            extra = {"killed": True} if i == 9 else {}
            if i == 19:
                extra = {"prerequisites": [{"n": flags[i - 4]["name"], "ts": ["on", "off"]}]}
            flags.append(_flag(rng, name, conds, **extra))
    return flags, segments


class DataSet(NamedTuple):
    flags: list[Json]
    segments: dict[str, list[str]]  # name -> keys
    users: list[Json]  # {"key", "attributes"}
    shapes: dict[str, Json]  # see SHAPES


def build() -> DataSet:
    """Generate the whole data set (deterministic)."""
    rng = random.Random(SEED)
    users = _users(rng)
    big = [u["key"] for u in users]
    big += [_uuid(rng) for _ in range(BIG_SEGMENT_SIZE - len(big))]
    rng.shuffle(big)
    flags = [
        _flag(rng, "bench_rollout_5050", [_default_rule([("on", 50), ("off", 50)])]),
        _flag(
            rng,
            "bench_segment_beta",
            [
                _condition([_in_segment(BIG_SEGMENT)], [("on", 100)], f"in segment {BIG_SEGMENT}"),
                _default_rule([("off", 100)]),
            ],
        ),
        _attribute_flag(rng, "bench_attributes"),
        _flag(rng, "bench_dep_d3", [_default_rule([("on", 50), ("off", 50)])]),
    ]
    for child, parent in (("bench_dep_d2", "bench_dep_d3"), ("bench_dep_d1", "bench_dep_d2")):
        conds = [_condition([_depends_on(parent, ["on"])], [("on", 100)], f"depends on {parent}")]
        flags.append(_flag(rng, child, [*conds, _default_rule([("off", 100)])]))
    mix, segments = _mix_flags(rng, users)
    flags += mix
    segments[BIG_SEGMENT] = big
    shapes = json.loads(json.dumps(SHAPES))
    shapes["get_treatments_50"]["flags"] = [f["name"] for f in mix]
    return DataSet(flags, segments, users, shapes)


def split_changes(flags: list[Json], since: int, rb_since: int) -> Json:
    """A spec-1.3 splitChanges body: everything for since=-1, an empty page afterwards."""
    if since == -1:
        ff: Json = {"d": flags, "s": -1, "t": CHANGE_NUMBER}
    else:
        ff = {"d": [], "s": since, "t": since}
    return {"ff": ff, "rbs": {"d": [], "s": rb_since, "t": rb_since}}


def segment_changes(name: str, keys: list[str], since: int) -> Json:
    """A segmentChanges body in the same convention as split_changes."""
    if since == -1:
        return {"name": name, "added": keys, "removed": [], "since": -1, "till": CHANGE_NUMBER}
    return {"name": name, "added": [], "removed": [], "since": since, "till": since}


def write(directory: Path, data: DataSet) -> Path:
    """Write splits.json, segments/*.json and workload.json; return the workload path."""
    flags, segments, users, shapes = data
    seg_dir = directory / "segments"
    seg_dir.mkdir(parents=True, exist_ok=True)
    localhost = {
        "ff": {"d": flags, "s": -1, "t": CHANGE_NUMBER},
        "rbs": {"d": [], "s": -1, "t": -1},
    }
    (directory / "splits.json").write_text(json.dumps(localhost))
    for name, keys in segments.items():
        (seg_dir / f"{name}.json").write_text(json.dumps(segment_changes(name, keys, -1)))
    workload = {
        "split_file": str(directory / "splits.json"),
        "segment_dir": str(seg_dir),
        "users": users,
        "shapes": shapes,
    }
    path = directory / "workload.json"
    path.write_text(json.dumps(workload))
    return path


READY_SEGMENTS = 5
OUTSIDER = "bench-outsider"  # in no segment and no whitelist


class ReadyDataSet(NamedTuple):
    flags: list[Json]
    segments: dict[str, list[str]]  # name -> keys
    checks: list[tuple[str, str, str]]  # (key, flag, expected treatment)


def build_ready() -> ReadyDataSet:
    """The time-to-ready data set: the same 50-flag mix, its ten IN_SEGMENT flags re-pointed at
    five segments of BIG_SEGMENT_SIZE keys, so readiness has to download 50k segment keys.

    `checks` let a worker prove the SDK really holds the data when it says ready: a segment
    member must get "on" (only the segment rule can give it) and an outsider "off"."""
    rng = random.Random(SEED + 1)
    flags, _ = _mix_flags(rng, _users(rng))
    names = [f"bench_ready_seg_{j}" for j in range(READY_SEGMENTS)]
    segments = {name: [_uuid(rng) for _ in range(BIG_SEGMENT_SIZE)] for name in names}
    checks: list[tuple[str, str, str]] = []
    segment_flags = [flag for flag in flags if flag["name"].endswith("_segment")]
    for i, flag in enumerate(segment_flags):
        name = names[i % len(names)]
        rule = flag["conditions"][1]  # whitelist, IN_SEGMENT, default: see _mix_flags
        rule["matcherGroup"]["matchers"][0]["userDefinedSegmentMatcherData"]["segmentName"] = name
        rule["label"] = f"in segment {name}"
        if i < len(names):
            checks += [(segments[name][-1], flag["name"], "on"), (OUTSIDER, flag["name"], "off")]
    return ReadyDataSet(flags, segments, checks)


# ---------------------------------------------------------------------- scale (bench_scale.py)

SCALE_SEGMENT = "scale_big"
SCALE_RBS = "scale_rbs_main"
SCALE_SMALL_SEGMENTS = 4
SCALE_SMALL_SIZE = 1000
SCALE_USERS = 200
SCALE_WATCH_KEY = "scale-watch-key"  # in no segment at first: the segment changes toggle it
# The flags every scale data set has, whatever its size: what is timed and watched.
SCALE_FLAGS = {"rollout": "scale_rollout", "segment": "scale_segment", "rbs": "scale_rbs",
               "watch": "scale_watch"}


class ScaleDataSet(NamedTuple):
    flags: list[Json]
    segments: dict[str, list[str]]
    rule_based_segments: list[Json]
    users: list[Json]  # {"key", "attributes"}: half of them in SCALE_SEGMENT


def _keys(rng: random.Random, count: int) -> list[str]:
    """UUID-shaped keys, fast enough for a million (uuid.UUID per key is several times slower)."""
    out = []
    for _ in range(count):
        h = f"{rng.getrandbits(128):032x}"
        out.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return out


def build_scale(flag_count: int, segment_keys: int) -> ScaleDataSet:
    """``flag_count`` flags of five kinds (rollout, segment, attributes, rule-based segment,
    dependency), one segment of ``segment_keys`` keys, a few small segments and one rule-based
    segment per 50 flags (at least three). Deterministic for given sizes."""
    rng = random.Random(SEED + 3)
    users = _users(rng)[:SCALE_USERS]
    inside = [u["key"] for u in users[: SCALE_USERS // 2]]
    big = inside + _keys(rng, max(segment_keys - len(inside), 0))
    small = {f"scale_small_{j}": _keys(rng, SCALE_SMALL_SIZE) for j in range(SCALE_SMALL_SEGMENTS)}
    plans = _matcher("STARTS_WITH", "plan", whitelistMatcherData={"whitelist": ["pro"]})
    rbs_names = [SCALE_RBS, *(f"scale_rbs_{k}" for k in range(1, max(3, flag_count // 50)))]
    rule_based = [
        rule_based_segment(name, [plans], excluded_keys=[u["key"] for u in users[k::40]],
                           excluded_segments=["scale_small_0"])
        for k, name in enumerate(rbs_names)
    ]
    flags = [
        rollout_flag(SCALE_FLAGS["rollout"], [("on", 50), ("off", 50)]),
        segment_flag(SCALE_FLAGS["segment"], SCALE_SEGMENT),
        rbs_flag(SCALE_FLAGS["rbs"], SCALE_RBS),
        rollout_flag(SCALE_FLAGS["watch"], [("w0", 100)]),
    ]
    attr_rules = [
        _matcher("GREATER_THAN_OR_EQUAL_TO_SEMVER", "app_version", stringMatcherData="2.1.0"),
        _matcher("BETWEEN", "age",
                 betweenMatcherData={"dataType": "NUMBER", "start": 25, "end": 40}),
        _whitelist("country", ["DE", "FR", "ES", "NL"]),
    ]
    segment_names = [SCALE_SEGMENT, *small]
    rollouts: list[str] = []
    for i in range(flag_count - len(flags)):
        name, kind = f"scale_{i:05d}", i % 5
        if kind == 0 or not rollouts:
            flags.append(rollout_flag(name, [("on", 10 + i % 80), ("off", 90 - i % 80)]))
            rollouts.append(name)
        elif kind == 1:
            flags.append(segment_flag(name, segment_names[i % len(segment_names)]))
        elif kind == 2:
            conds = [_condition([m], [("on", 50), ("off", 50)], f"rule {j}")
                     for j, m in enumerate(attr_rules)]
            flags.append(_flag(rng, name, [*conds, _default_rule([("off", 100)])]))
        elif kind == 3:
            flags.append(rbs_flag(name, rbs_names[i % len(rbs_names)]))
        else:
            parent = rollouts[-1]
            conds = [_condition([_depends_on(parent, ["on"])], [("on", 100)], "dependency")]
            flags.append(_flag(rng, name, [*conds, _default_rule([("off", 100)])]))
    return ScaleDataSet(flags, {SCALE_SEGMENT: big, **small}, rule_based, users)
