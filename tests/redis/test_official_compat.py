"""Redis consumer mode side by side with the official SDK (issue #6).

One real ``redis-server`` holds, under one key prefix per SDK run, the cache the Split
Synchronizer would write for the shared conformance flags (``../shared/conformance``: every
matcher, rule-based segments with excluded keys and segments, dependencies, prerequisites, killed
flags, traffic allocation, configurations, flag sets, legacy hashing ...). The same calls -- the
2,100 conformance cases, flag-set evaluations and ``track`` events -- go through
``splitio_client`` 10.7.0 (its blocking API, in its own venv, benchmarks/.venv-official, created
on first use) and through ours: the async API on asyncio and trio, and the blocking shim with the
local cache on and off. Every treatment and configuration must be equal, and so must what each
SDK wrote for the Synchronizer: impressions (DEBUG and OPTIMIZED), events, impression counts and
unique keys (every mode: impressionsDisabled flags are counted in DEBUG and OPTIMIZED too), the
telemetry records' layout, and the TTLs (3600 s, set when a write creates the key).

Differences allowed, each checked as narrowly as possible:
* timestamps; the SDK version in ``m.s`` (``python-10.7.0`` / ``python-<our version>``); the
  machine address and name (the official SDK reads the source address of a route, ours resolves
  the host name: both ``ip-a-b-c-d`` from their own address); the hour timeframe of count fields;
  the order of one multi-flag call's impressions (the official's is a ``set``'s);
* the legacy hash (``algo`` 1) of keys outside the Basic Multilingual Plane: ours hashes UTF-16
  code units like Split's other SDKs, the official code points (spec: evaluation.md §5.2);
* a flag reading a missing rule-based segment: both return control, ours records a ``control`` /
  ``exception`` impression (the spec's recommendation, the official asyncio client's behaviour)
  where the official blocking client records none, and its flag-set methods even raise the
  ``AttributeError`` (an official bug); ours returns control for every flag of the sets.

Without ``redis-server`` or when the official SDK cannot be installed (offline), the tests skip,
unless ``SPLITIO_REQUIRE_REDIS`` is set (CI), in which case they fail (tests/redis/conftest.py).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

from splitio_async import Key, open_factory
from splitio_async._version import SDK_WIRE_VERSION
from splitio_sync_shim import get_factory
from tests.conftest import CONFORMANCE, REPO
from tests.redis.conftest import _start, _unavailable
from tests.redis_cache import key_of, read_list, write_cache
from tests.redis_servers import RedisServer

if not (CONFORMANCE / "cases.jsonl").exists():  # the module reads the set when imported
    pytest.skip("shared conformance set not present", allow_module_level=True)

WORKER = Path(__file__).with_name("official_worker.py")
SDK_KEY = "redis-compat"
TTL = 3600
HOUR_MS = 3_600_000
OFFICIAL_VERSION = "python-10.7.0"
OUR_VERSION = SDK_WIRE_VERSION

Call = dict[str, Any]


# ------------------------------------------------------------------------------- the data


def _jsonl(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (CONFORMANCE / name).read_text().splitlines() if line]


def _cache_contents() -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, list[str]]]:
    """Flags, rule-based segments and segments as the Synchronizer would store them: archived
    definitions are deleted rather than stored, a segment is its added minus removed keys."""
    changes = json.loads((CONFORMANCE / "splits.json").read_text())
    flags = [f for f in changes["ff"]["d"] if f.get("status") != "ARCHIVED"]
    rbs = [r for r in changes["rbs"]["d"] if r.get("status") != "ARCHIVED"]
    segments = {}
    for path in sorted((CONFORMANCE / "segments").glob("*.json")):
        data = json.loads(path.read_text())
        removed = set(data.get("removed") or ())
        segments[data["name"]] = [k for k in data.get("added") or () if k not in removed]
    return flags, rbs, segments


FLAGS, RULE_BASED_SEGMENTS, SEGMENTS = _cache_contents()
FLAG_SETS = sorted({name for flag in FLAGS for name in flag.get("sets") or ()})


def _needs(flag: dict[str, Any]) -> tuple[set[str], set[str]]:
    """The flags (dependencies, prerequisites) and rule-based segments a definition reads."""
    flags = {p["n"] for p in flag.get("prerequisites") or ()}
    segments = {
        s["name"] for s in (flag.get("excluded") or {}).get("segments") or ()
        if s.get("type") == "rule-based"
    }
    for condition in flag.get("conditions") or ():
        for matcher in condition["matcherGroup"]["matchers"]:
            if matcher["matcherType"] == "IN_SPLIT_TREATMENT":
                flags.add(matcher["dependencyMatcherData"]["split"])
            elif matcher["matcherType"] == "IN_RULE_BASED_SEGMENT":
                segments.add(matcher["userDefinedSegmentMatcherData"]["segmentName"])
    return flags, segments


def _closure(seeds: set[str], spreads: dict[str, set[str]]) -> frozenset[str]:
    """``seeds`` plus every name whose ``spreads`` entry reaches one of them."""
    found = set(seeds)
    grown = True
    while grown:
        grown = False
        for name, needs in spreads.items():
            if name not in found and needs & found:
                found.add(name)
                grown = True
    return frozenset(found)


def _broken_flags() -> frozenset[str]:
    """Flags that read (through dependencies, prerequisites and rule-based segments) a
    rule-based segment missing from the cache: their evaluation fails, control either way."""
    rbs = {r["name"]: _needs(r)[1] for r in RULE_BASED_SEGMENTS}
    referenced = {n for needs in rbs.values() for n in needs}
    referenced |= {n for flag in FLAGS for n in _needs(flag)[1]}
    broken_rbs = _closure(referenced - set(rbs), rbs)
    uses = {}
    for flag in FLAGS:
        flags, segments = _needs(flag)
        uses[flag["name"]] = flags | {f"rbs:{n}" for n in segments}
    return _closure({f"rbs:{n}" for n in broken_rbs}, uses) - {f"rbs:{n}" for n in broken_rbs}


BROKEN_FLAGS = _broken_flags()


def _evaluation_calls() -> list[Call]:
    """The conformance cases, then every flag set for a few keys, then a multi-set call."""
    calls: list[Call] = []
    cases = _jsonl("cases.jsonl")
    for case in cases:
        flag = case["flags"] if case["method"] == "get_treatments_with_config" else case.get("flag")
        calls.append({
            "method": case["method"], "mk": case.get("mk"), "bk": case.get("bk"),
            "key_obj": bool(case.get("key_obj")), "args": [flag, case.get("attrs")],
        })
    attributed = [case for case in cases if isinstance(case.get("attrs"), dict)]
    for index, name in enumerate(FLAG_SETS):
        for offset in range(3):
            case = attributed[(7 * index + offset) % len(attributed)]
            calls.append({
                "method": "get_treatments_with_config_by_flag_set", "mk": f"user_{index}{offset}",
                "bk": f"bk_{offset}" if offset == 2 else None, "args": [name, case["attrs"]],
            })
    calls.append({
        "method": "get_treatments_by_flag_sets", "mk": "user_sets",
        "args": [[*FLAG_SETS[:3], "no_such_set"], attributed[0]["attrs"]],
    })
    return calls


def _flags_of(call: Call) -> set[str]:
    """The flag names a call evaluates (trimmed), a flag-set call's sets' members."""
    if call["method"].endswith(("_by_flag_set", "_by_flag_sets")):
        sets = call["args"][0]
        names = {sets} if isinstance(sets, str) else set(sets)
        return {f["name"] for f in FLAGS if names & set(f.get("sets") or ())}
    if call["method"] == "track":
        return set()
    flags = call["args"][0]
    flags = flags if isinstance(flags, list) else [flags]
    return {f.strip() for f in flags if isinstance(f, str)}


TRACKS: list[Call] = [
    {"method": "track", "mk": "user_1", "args": ["user", "purchase", 10.5,
                                                 {"plan": "gold", "n": 3, "ok": True, "x": None}]},
    {"method": "track", "mk": "user_2", "args": ["user", "page_view", None, None]},
    {"method": "track", "mk": "user_3", "args": ["USER", "click", 7, {}]},
    {"method": "track", "mk": "user_4", "args": ["account", "signup", -1.25, {"list": [1, 2]}]},
    {"method": "track", "mk": "ñandú", "args": ["user", "ev.with-dots_and:colons", 0, None]},
    {"method": "track", "mk": "", "args": ["user", "rejected_empty_key", None, None]},
    {"method": "track", "mk": "user_5", "args": ["user", "bad event!", None, None]},
    {"method": "track", "mk": "user_6", "args": ["", "rejected_empty_traffic_type", None, None]},
    {"method": "track", "mk": "user_7", "args": ["user", "bad_value", "12", None]},
]

DEBUG_CALLS = [*_evaluation_calls(), *TRACKS]
# Counting modes: the first 400 single-flag cases, three times over (so repeats are deduplicated
# into counts) with some left out of the repeats to vary the counts; without the flags whose
# evaluation fails (the DEBUG tests cover them), whose impressions only we record (see
# _without_exception_impressions).
_SINGLE = [
    c for c in _evaluation_calls()
    if c["method"] != "get_treatments_with_config" and not _flags_of(c) & BROKEN_FLAGS
][:400]
COUNTING_CALLS = [*_SINGLE, *_SINGLE[::2], *_SINGLE[::3]]


# --------------------------------------------------------------------- what an SDK wrote


@dataclass
class Written:
    """One SDK run: its call results and everything it wrote under its prefix."""

    results: list[Any]
    impressions: list[dict[str, Any]]
    events: list[dict[str, Any]]
    counts: dict[str, str]
    unique_keys: list[dict[str, Any]]
    init: dict[str, str]
    latencies: dict[str, str]
    exceptions: dict[str, str]
    ttls: dict[str, int] = field(default_factory=dict)


def _collect(server: RedisServer, prefix: str, results: list[Any]) -> Written:
    client = server.client(decode_responses=True)
    try:
        def key(name: str) -> str:
            return key_of(prefix, name)

        written = Written(
            results=json.loads(json.dumps(results)),  # tuples -> lists, as the worker's JSON
            impressions=read_list(client, "SPLITIO.impressions", prefix),
            events=read_list(client, "SPLITIO.events", prefix),
            counts=client.hgetall(key("SPLITIO.impressions.count")),
            unique_keys=read_list(client, "SPLITIO.uniquekeys", prefix),
            init=client.hgetall(key("SPLITIO.telemetry.init")),
            latencies=client.hgetall(key("SPLITIO.telemetry.latencies")),
            exceptions=client.hgetall(key("SPLITIO.telemetry.exceptions")),
        )
        for name in ("SPLITIO.impressions", "SPLITIO.events", "SPLITIO.impressions.count",
                     "SPLITIO.uniquekeys"):
            written.ttls[name] = client.ttl(key(name))
        return written
    finally:
        client.close()


def _write_cache(server: RedisServer, prefix: str) -> None:
    client = server.client()
    try:
        write_cache(client, FLAGS, SEGMENTS, RULE_BASED_SEGMENTS, prefix=prefix)
    finally:
        client.close()


def _config(server: RedisServer, prefix: str, mode: str, cache: bool = True) -> dict[str, Any]:
    return {
        "redisHost": server.host, "redisPort": server.port, "redisPrefix": prefix,
        "impressionsMode": mode, "redisLocalCacheEnabled": cache,
    }


# ----------------------------------------------------------------------------- the SDKs


def _load_bench_venv() -> Any:
    spec = importlib.util.spec_from_file_location(
        "_bench_venv", REPO / "benchmarks" / "_bench_venv.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Official:
    """splitio_client 10.7.0 in its own venv; each impressions mode is run once per module."""

    def __init__(self, python: Path, server: RedisServer, work: Path) -> None:
        self.python = python
        self.server = server
        self.work = work
        self._runs: dict[str, Written] = {}

    def run(self, mode: str, calls: list[Call]) -> Written:
        if mode not in self._runs:
            prefix = f"official-{mode.lower()}"
            _write_cache(self.server, prefix)
            job, out = self.work / f"{prefix}.json", self.work / f"{prefix}.out.json"
            job.write_text(json.dumps({
                "sdk_key": SDK_KEY, "config": _config(self.server, prefix, mode), "calls": calls,
            }))
            env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
            done = subprocess.run(
                [str(self.python), str(WORKER), str(job), str(out)], capture_output=True,
                text=True, timeout=120, env=env, cwd=self.work, check=False,
            )
            assert done.returncode == 0, f"official worker failed:\n{done.stderr[-3000:]}"
            results = json.loads(out.read_text())["results"]
            self._runs[mode] = _collect(self.server, prefix, results)
        return self._runs[mode]


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    """One server for the module; every SDK run uses its own key prefix."""
    redis = _start(RedisServer)
    with redis:
        yield redis


@pytest.fixture(scope="module")
def official(server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Official:
    try:
        python = _load_bench_venv().ensure_official(
            REPO / "benchmarks" / ".venv-official", redis=True
        )
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        _unavailable(f"splitio_client[redis] 10.7.0 could not be installed: {exc}")
    return Official(Path(python), server, tmp_path_factory.mktemp("official"))


def _our_key(call: Call) -> Any:
    if call.get("key_obj") or call.get("bk") is not None:
        return Key(call.get("mk"), call.get("bk"))
    return call.get("mk")


def _run_shim(server: RedisServer, prefix: str, mode: str, calls: list[Call],
              cache: bool = True) -> Written:
    _write_cache(server, prefix)
    factory = get_factory(SDK_KEY, config=_config(server, prefix, mode, cache))
    assert factory is not None
    try:
        factory.block_until_ready(10)
        results = call_all(factory.client(), calls)
    finally:
        factory.destroy()
    return _collect(server, prefix, results)


def call_all(client: Any, calls: list[Call]) -> list[Any]:
    """Each call's result through the blocking API (``{"error": ...}`` for one that raised)."""
    results: list[Any] = []
    for call in calls:
        try:
            results.append(getattr(client, call["method"])(_our_key(call), *call["args"]))
        except Exception as exc:
            results.append({"error": f"{type(exc).__name__}: {exc}"})
    return results


async def _run_async(server: RedisServer, prefix: str, mode: str, calls: list[Call]) -> Written:
    await anyio.to_thread.run_sync(_write_cache, server, prefix)
    results: list[Any] = []
    with anyio.fail_after(60):
        async with open_factory(SDK_KEY, config=_config(server, prefix, mode)) as factory:
            await factory.block_until_ready(10)
            client = factory.client()
            for call in calls:
                try:
                    method = getattr(client, call["method"])
                    results.append(await method(_our_key(call), *call["args"]))
                except Exception as exc:
                    results.append({"error": f"{type(exc).__name__}: {exc}"})
    return await anyio.to_thread.run_sync(_collect, server, prefix, results)


# ---------------------------------------------------------------------------- comparing


def _describe(call: Call) -> str:
    key = call.get("mk") if call.get("bk") is None else (call.get("mk"), call.get("bk"))
    return f"{call['method']}({key!r}, {', '.join(repr(a) for a in call['args'])})"


def _legacy_flags() -> frozenset[str]:
    """Flags whose treatment may depend on the legacy hash (``algo`` not 2, spec: evaluation.md
    §5), directly or through a dependency or prerequisite."""
    uses = {flag["name"]: _needs(flag)[0] for flag in FLAGS}
    return _closure({flag["name"] for flag in FLAGS if flag.get("algo") != 2}, uses)


LEGACY_FLAGS = _legacy_flags()


def _astral(value: Any) -> bool:
    return isinstance(value, str) and any(ord(ch) > 0xFFFF for ch in value)


def _hash_deviation(bucketing_key: Any, flag: Any) -> bool:
    """The one deliberate deviation (spec: evaluation.md §5.2): the legacy hash of a key with
    characters outside the Basic Multilingual Plane. The official SDK hashes code points, ours
    UTF-16 code units, as Split's other SDKs do, so treatments may differ."""
    return _astral(bucketing_key) and isinstance(flag, str) and flag.strip() in LEGACY_FLAGS


def _official_raised_on_missing_rbs(call: Call, mine: Any, theirs: Any) -> bool:
    """Official bug: ``get_treatments*_by_flag_set(s)`` lets the ``AttributeError`` of a flag
    whose rule-based segment is missing escape to the caller (the other methods catch it and
    return control for every flag: spec client-api.md §4.1 "outer guard"). Ours must give what
    the guard gives: control for every flag of the sets."""
    if not (isinstance(theirs, dict) and "excluded" in str(theirs.get("error"))):
        return False
    control: Any = ["control", None] if "with_config" in call["method"] else "control"
    assert mine == dict.fromkeys(_flags_of(call), control), (_describe(call), mine)
    return True


def _comparable(call: Call, result: Any) -> Any:
    """The result without the flags the hash deviation may change."""
    bucketing_key = call.get("bk") if call.get("bk") is not None else call.get("mk")
    if not _astral(bucketing_key):
        return result
    if isinstance(result, dict) and "error" not in result:
        return {k: v for k, v in result.items() if not _hash_deviation(bucketing_key, k)}
    return "skipped: legacy hash" if _hash_deviation(bucketing_key, call["args"][0]) else result


def _assert_same_results(ours: Written, official: Written, calls: list[Call]) -> None:
    assert len(ours.results) == len(official.results) == len(calls)
    wrong = []
    for call, mine, theirs in zip(calls, ours.results, official.results, strict=True):
        if mine == theirs or _official_raised_on_missing_rbs(call, mine, theirs):
            continue
        if _comparable(call, mine) != _comparable(call, theirs):
            wrong.append(f"{_describe(call)}: ours {mine!r}, official {theirs!r}")
    assert not wrong, f"{len(wrong)} of {len(calls)} results differ:\n" + "\n".join(wrong[:15])


def _check_meta(meta: dict[str, Any], version: str) -> None:
    """``m`` of an impression or event: the version, and the machine's address and name (which
    may differ between the SDKs: the official reads the source address of a route to a private
    address, ours resolves the host name; either way the name is derived from the address)."""
    assert set(meta) == {"s", "n", "i"}, meta
    assert meta["s"] == version
    assert isinstance(meta["i"], str) and meta["i"]
    assert meta["n"] == "ip-" + meta["i"].replace(".", "-"), meta


def _impressions(written: Written, version: str, since_ms: int) -> list[dict[str, Any]]:
    """The impressions without their time (checked to be a plausible epoch-ms int)."""
    out = []
    now_ms = int(time.time() * 1000)
    for item in written.impressions:
        assert set(item) == {"m", "i"}, item
        _check_meta(item["m"], version)
        impression = dict(item["i"])
        moment = impression.pop("m")
        assert isinstance(moment, int) and since_ms <= moment <= now_ms, item
        if _hash_deviation(impression["b"] or impression["k"], impression["f"]):
            continue
        out.append(impression)
    return out


def _call_order(impressions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Impressions in call order, each call's own sorted: a multi-flag call's impressions follow
    the order of a de-duplicated name set, which the official SDK does not define (its ``set``
    order changes with every process's hash seed). Consecutive impressions for one key are taken
    as one call's."""
    out: list[dict[str, Any]] = []
    run: list[dict[str, Any]] = []
    for impression in [*impressions, None]:
        if run and (impression is None or (impression["k"], impression["b"]) != (
                run[0]["k"], run[0]["b"])):
            out.extend(sorted(run, key=lambda i: json.dumps(i, sort_keys=True)))
            run = []
        if impression is not None:
            run.append(impression)
    return out


def _without_exception_impressions(
    ours: list[dict[str, Any]], official: list[dict[str, Any]], calls: list[Call]
) -> list[dict[str, Any]]:
    """Ours minus the impressions of evaluations that failed (a flag reading a missing
    rule-based segment). The official blocking client records none for them (its "outer guard",
    spec: client-api.md §4.1); ours records ``control`` / ``exception`` as the spec recommends
    and as the official asyncio client does. Only flags of calls that evaluate a broken flag may
    carry that label."""
    assert not [i for i in official if i["r"] == "exception"]
    failing = set().union(*(_flags_of(c) for c in calls if _flags_of(c) & BROKEN_FLAGS))
    kept = []
    for impression in ours:
        if impression["r"] == "exception":
            assert impression["t"] == "control" and impression["c"] is None, impression
            assert impression["f"] in failing, impression
        else:
            kept.append(impression)
    return kept


def _events(written: Written, version: str, since_ms: int) -> list[dict[str, Any]]:
    out = []
    now_ms = int(time.time() * 1000)
    for item in written.events:
        assert set(item) == {"e", "m"}, item
        _check_meta(item["m"], version)
        event = dict(item["e"])
        moment = event.pop("timestamp")
        assert isinstance(moment, int) and since_ms <= moment <= now_ms, item
        out.append(event)
    return out


def _first_difference(ours: list[Any], official: list[Any]) -> str:
    mine = Counter(json.dumps(item, sort_keys=True) for item in ours)
    theirs = Counter(json.dumps(item, sort_keys=True) for item in official)
    if mine == theirs:
        for index, (a, b) in enumerate(zip(ours, official, strict=True)):
            if a != b:
                return f"same items, order differs from #{index}:\n  ours     {a}\n  official {b}"
    only_ours = "\n    ".join(list((mine - theirs).elements())[:8])
    only_theirs = "\n    ".join(list((theirs - mine).elements())[:8])
    return (f"{sum((mine - theirs).values())} only in ours:\n    {only_ours}\n"
            f"  {sum((theirs - mine).values())} only in the official's:\n    {only_theirs}")


def _assert_same_list(what: str, ours: list[Any], official: list[Any]) -> None:
    assert ours == official, f"{what} differ ({len(ours)} vs {len(official)}); " + (
        _first_difference(ours, official)
    )


def _counts(written: Written) -> Counter[str]:
    """``<flag>::<hour timeframe ms>`` -> count, checked, keyed by flag."""
    counts: Counter[str] = Counter()
    this_hour = int(time.time() * 1000) // HOUR_MS * HOUR_MS
    for name, value in written.counts.items():
        flag, sep, frame = name.rpartition("::")
        assert sep and re.fullmatch(r"\d+", frame), name
        assert int(frame) % HOUR_MS == 0 and this_hour - HOUR_MS <= int(frame) <= this_hour, name
        counts[flag] += int(value)
    return counts


def _unique_keys(written: Written) -> dict[str, list[str]]:
    keys: dict[str, set[str]] = {}
    for entry in written.unique_keys:
        assert set(entry) == {"f", "ks"} and isinstance(entry["ks"], list), entry
        keys.setdefault(entry["f"], set()).update(entry["ks"])
    return {flag: sorted(members) for flag, members in sorted(keys.items())}


def _assert_ttls(written: Written, keys: tuple[str, ...]) -> None:
    for name in keys:
        assert TTL - 120 < written.ttls[name] <= TTL, (name, written.ttls[name])


TELEMETRY_METHODS = frozenset((
    "treatment", "treatments", "treatment_with_config", "treatments_with_config",
    "treatments_by_flag_set", "treatments_by_flag_sets", "treatments_with_config_by_flag_set",
    "treatments_with_config_by_flag_sets", "track",
))


def _telemetry_layout(written: Written, version: str) -> tuple[list[Any], set[str]]:
    """What the Synchronizer parses (spec: recording.md §4.4): the init records (one, keyed
    ``<version>/<machine name>/<machine ip>``), and the latency (``.../<method>/<bucket>``) and
    exception (``.../<method>``) fields; returns the init values and the latencies' methods."""
    (machine,) = {name.split("/", 1)[1] for name in written.init} or {"?/?"}
    name, ip = machine.split("/")
    assert set(written.init) == {f"{version}/{machine}"} and name == "ip-" + ip.replace(".", "-")
    methods = set()
    for field_name in written.latencies:
        head, method, bucket = field_name.rsplit("/", 2)
        assert head == f"{version}/{machine}" and method in TELEMETRY_METHODS, field_name
        assert re.fullmatch(r"\d+", bucket) and int(bucket) < 23, field_name
        methods.add(method)
    for field_name in written.exceptions:
        head, method = field_name.rsplit("/", 1)
        assert head == f"{version}/{machine}" and method in TELEMETRY_METHODS, field_name
    return [json.loads(value) for value in written.init.values()], methods


def _assert_same_recording(
    ours: Written, official: Written, calls: list[Call], since_ms: int, mode: str
) -> None:
    theirs = _impressions(official, OFFICIAL_VERSION, since_ms)
    mine = _without_exception_impressions(
        _impressions(ours, OUR_VERSION, since_ms), theirs, calls
    )
    _assert_same_list(f"{mode} impressions", _call_order(mine), _call_order(theirs))
    assert _counts(ours) == _counts(official)
    assert _unique_keys(ours) == _unique_keys(official)
    mine_events = _events(ours, OUR_VERSION, since_ms)
    _assert_same_list("events", mine_events, _events(official, OFFICIAL_VERSION, since_ms))
    init, methods = _telemetry_layout(ours, OUR_VERSION)
    official_init, official_methods = _telemetry_layout(official, OFFICIAL_VERSION)
    assert init == official_init == [{"aF": 1, "rF": 0, "sT": "redis", "oM": 1, "t": []}]
    # latencies of the methods called; the official records none for a call that raised
    raised = {
        call["method"].removeprefix("get_")
        for call, result in zip(calls, official.results, strict=True)
        if isinstance(result, dict) and "error" in result
    }
    assert official_methods <= methods <= official_methods | raised, (methods, official_methods)


# ---------------------------------------------------------------------------- the tests


@pytest.fixture(scope="module")
def official_debug(official: Official) -> tuple[Written, int]:
    since = int(time.time() * 1000)
    return official.run("DEBUG", DEBUG_CALLS), since


def _check_debug(ours: Written, official: tuple[Written, int]) -> None:
    theirs, since = official
    _assert_same_results(ours, theirs, DEBUG_CALLS)
    assert len(theirs.impressions) > 2000  # the comparison is not vacuous
    assert len(theirs.events) >= 5
    _assert_same_recording(ours, theirs, DEBUG_CALLS, since, "DEBUG")
    # DEBUG counts and tracks unique keys of flags with impressionsDisabled only
    assert set(_counts(theirs)) == set(_unique_keys(theirs)) == {"ff_058_reports"}
    for written in (ours, theirs):
        _assert_ttls(written, ("SPLITIO.impressions", "SPLITIO.events", "SPLITIO.uniquekeys",
                               "SPLITIO.impressions.count"))


@pytest.mark.anyio
async def test_async_api_debug_matches_the_official_sdk(
    server: RedisServer, official_debug: tuple[Written, int], anyio_backend: Any
) -> None:
    backend = anyio_backend[0] if isinstance(anyio_backend, tuple) else anyio_backend
    ours = await _run_async(server, f"ours-{backend}-debug", "DEBUG", DEBUG_CALLS)
    _check_debug(ours, official_debug)


@pytest.mark.parametrize("cache", [True, False], ids=["local-cache", "no-local-cache"])
def test_shim_debug_matches_the_official_sdk(
    server: RedisServer, official_debug: tuple[Written, int], cache: bool
) -> None:
    ours = _run_shim(server, f"ours-shim-debug-{cache}", "DEBUG", DEBUG_CALLS, cache)
    _check_debug(ours, official_debug)


def test_optimized_mode_writes_what_the_official_sdk_writes(
    server: RedisServer, official: Official
) -> None:
    since = int(time.time() * 1000)
    theirs = official.run("OPTIMIZED", COUNTING_CALLS)
    ours = _run_shim(server, "ours-shim-optimized", "OPTIMIZED", COUNTING_CALLS)
    _assert_same_results(ours, theirs, COUNTING_CALLS)
    _assert_same_recording(ours, theirs, COUNTING_CALLS, since, "OPTIMIZED")
    assert 0 < len(theirs.impressions) < len(COUNTING_CALLS)  # deduplicated
    assert sum(_counts(theirs).values()) > 0
    assert set(_unique_keys(theirs)) == {"ff_058_reports"}  # impressionsDisabled
    for written in (ours, theirs):
        _assert_ttls(written, ("SPLITIO.impressions", "SPLITIO.impressions.count",
                               "SPLITIO.uniquekeys"))


def test_none_mode_writes_what_the_official_sdk_writes(
    server: RedisServer, official: Official
) -> None:
    theirs = official.run("NONE", COUNTING_CALLS)
    ours = _run_shim(server, "ours-shim-none", "NONE", COUNTING_CALLS)
    _assert_same_results(ours, theirs, COUNTING_CALLS)
    assert not ours.impressions and not theirs.impressions
    assert _unique_keys(theirs)  # not vacuous
    assert _unique_keys(ours) == _unique_keys(theirs)
    assert _counts(ours) == _counts(theirs)
    for written in (ours, theirs):
        _assert_ttls(written, ("SPLITIO.uniquekeys", "SPLITIO.impressions.count"))


