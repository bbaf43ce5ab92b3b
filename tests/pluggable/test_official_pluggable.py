"""Pluggable storage (``storageType: 'pluggable'``) side by side with the official SDK (issue 13).

The harness: a store holding the shared conformance set in the Split Synchronizer's layout
(``conformance_store.py``), behind a wrapper with the official method set (``wrappers.py``: a
dict-backed one and one on a real ``redis-server``, blocking and ``async def`` flavours), driven
by one call list (``driver.py``: the 2,100 conformance cases, every flag set, ``track`` events,
the manager). ``splitio_client`` 10.7.0 runs it in its own venv (benchmarks/.venv-official,
created on first use; ``official_worker.py``); what it answers and everything it leaves in the
store is what ours must answer and write.

The harness's own tests prove it can tell: through pluggable mode the official SDK gives
exactly ``expected.jsonl`` (both APIs, both wrappers), every impression its listener saw is in
the store, events, counts, unique keys and telemetry land under the keys OFFICIAL.md documents,
with their TTLs, the rollout data is left untouched, the Redis-backed wrapper makes it answer and
write exactly what the dict-backed one does, its reads, writes and wrapper validation are those
OFFICIAL.md describes, and a run differing in one answer or record is rejected. Then ours
(``test_ours_*``): the blocking API over a blocking wrapper, the async API on asyncio and trio
over an ``async def`` wrapper (a blocking Redis-backed one in worker threads on trio), in DEBUG,
OPTIMIZED and NONE modes, give the official answers and write the official records; and the
wrapper check refuses what the official one refuses, with its messages.

Differences the comparison allows, each as narrowly as possible (as the Redis comparison does;
spec: client-api.md §4.1): times (``m`` of impressions, ``timestamp`` of events, latency
buckets, the hour of count keys); the order of one multi-flag call's impressions and labels (the
official's is a ``set``'s); a flag reading a missing rule-based segment, which the official
blocking client answers with no impression (its flag-set methods even raise) where ours records a
``control`` / ``exception`` impression like the official asyncio client; and the telemetry of
those calls. Machine name and address are configured, so they must be equal.

Without ``redis-server`` or when the official SDK cannot be installed (offline), the tests skip,
unless ``SPLITIO_REQUIRE_REDIS`` is set (CI), in which case they fail.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread
import pytest

from splitio_async import Key, open_factory
from splitio_async._version import SDK_WIRE_VERSION
from splitio_sync_shim import get_factory
from tests.conftest import REPO
from tests.pluggable.conformance_store import (
    CONFORMANCE_CASES,
    COUNTING_RUN,
    DEBUG_RUN,
    MANAGER_CALLS,
    conformance_snapshot,
)
from tests.pluggable.driver import (
    Answer,
    AsyncLabelListener,
    Call,
    LabelListener,
    run_calls,
    run_calls_async,
)
from tests.pluggable.wrappers import (
    AsyncDictWrapper,
    AsyncRedisWrapper,
    DictWrapper,
    RedisWrapper,
    Snapshot,
    broken_wrapper,
    load_snapshot,
)
from tests.redis.conftest import _unavailable
from tests.redis.test_official_compat import (
    BROKEN_FLAGS,
    TRACKS,
    _call_order,
    _flags_of,
    _load_bench_venv,
    _official_raised_on_missing_rbs,
)
from tests.redis_servers import RedisServer
from tests.test_conformance import _load, _matches, _shape

WORKER = Path(__file__).with_name("official_worker.py")
SDK_KEY = "pluggable-compat"
MACHINE = {"machineName": "pluggable-box", "machineIp": "10.1.2.3"}
OFFICIAL_VERSION = "python-10.7.0"
TTL = 3600
HOUR_MS = 3_600_000
INIT = {"aF": 1, "rF": 0, "sT": "pluggable", "oM": 1, "t": []}
TELEMETRY_METHODS = frozenset((
    "treatment", "treatments", "treatment_with_config", "treatments_with_config",
    "treatments_by_flag_set", "treatments_by_flag_sets", "treatments_with_config_by_flag_set",
    "treatments_with_config_by_flag_sets", "track",
))
IMPRESSIONS_DISABLED = {"ff_058_reports"}  # the set's only flag with impressionsDisabled


def _config(prefix: str | None, mode: str) -> dict[str, Any]:
    """The JSON part of both SDKs' config; each side adds its wrapper and listener."""
    config: dict[str, Any] = {"storageType": "pluggable", "impressionsMode": mode, **MACHINE}
    if prefix is not None:
        config["storagePrefix"] = prefix
    return config


def _machine_fields(name: str, version: str) -> list[str]:
    """The components after ``<version>/<machine name>/<machine ip>`` of a telemetry key."""
    head = f"{version}/{MACHINE['machineName']}/{MACHINE['machineIp']}"
    assert name == head or name.startswith(head + "/"), name
    return name[len(head) + 1:].split("/") if name != head else []


# ------------------------------------------------------------------- one run, what it wrote


@dataclass
class Run:
    """One SDK run: the store before and after, the answers, and when it ran."""

    prefix: str | None
    initial: Snapshot
    answers: list[Answer]
    store: Snapshot
    since_ms: int
    until_ms: int
    journal: list[tuple[str, list[Any]]] | None = None

    def name(self, key: str) -> str:
        """``key`` without the run's prefix."""
        head = f"{self.prefix}." if self.prefix is not None else ""
        assert key.startswith(head), (key, self.prefix)
        return key[len(head):]


@dataclass
class Records:
    """What a run wrote, parsed and checked for shape (OFFICIAL.md §6)."""

    impressions: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    unique_keys: dict[str, list[str]] = field(default_factory=dict)
    init: dict[str, Any] = field(default_factory=dict)
    latencies: Counter[str] = field(default_factory=Counter)
    exceptions: Counter[str] = field(default_factory=Counter)


def _json_list(key: str, entry: dict[str, Any]) -> list[dict[str, Any]]:
    assert set(entry) == {"list", "ttl"}, (key, entry)
    return [json.loads(item) for item in entry["list"]]


def _assert_ttl(key: str, entry: dict[str, Any]) -> None:
    """Every record key expires within the hour: the TTL is set when a write creates the key."""
    assert TTL - 120 < entry.get("ttl", -1) <= TTL, (key, entry)


def _meta_and_time(item: dict[str, Any], body: str, moment: str, run: Run, version: str
                   ) -> dict[str, Any]:
    """``item[body]`` without its time, after checking the time and the metadata ``m``."""
    assert set(item) == {"m", body}, item
    assert item["m"] == {"s": version, "n": MACHINE["machineName"], "i": MACHINE["machineIp"]}
    out = dict(item[body])
    when = out.pop(moment)
    assert isinstance(when, int) and run.since_ms <= when <= run.until_ms, item
    return out


def records(run: Run, version: str) -> Records:
    """Parse and check every key the run added; fails on a changed rollout key or a key that is
    no record of OFFICIAL.md §6."""
    for key, entry in run.initial.items():
        assert run.store.get(key) == entry, f"rollout key {key} changed: {run.store.get(key)}"
    out = Records()
    hours = range(run.since_ms - run.since_ms % HOUR_MS, run.until_ms + 1, HOUR_MS)
    for key, entry in run.store.items():
        if key in run.initial:
            continue
        name = run.name(key)
        head, sep, tail = name.partition("::")
        if name == "SPLITIO.impressions":
            _assert_ttl(key, entry)
            for item in _json_list(key, entry):
                impression = _meta_and_time(item, "i", "m", run, version)
                assert set(impression) == {"k", "b", "f", "t", "r", "c", "properties"}, item
                out.impressions.append(impression)
        elif name == "SPLITIO.events":
            _assert_ttl(key, entry)
            out.events = [_meta_and_time(e, "e", "timestamp", run, version)
                          for e in _json_list(key, entry)]
        elif name == "SPLITIO.uniquekeys":
            _assert_ttl(key, entry)
            for item in _json_list(key, entry):
                assert set(item) == {"f", "ks"} and isinstance(item["ks"], list), item
                out.unique_keys.setdefault(item["f"], []).extend(item["ks"])
        elif sep and head.startswith("SPLITIO.impressions.count."):
            _assert_ttl(key, entry)
            assert re.fullmatch(r"\d+", tail) and int(tail) in hours, key
            assert isinstance(entry["value"], int) and entry["value"] > 0, (key, entry)
            out.counts[head.removeprefix("SPLITIO.impressions.count.")] += entry["value"]
        elif sep and head == "SPLITIO.telemetry.init":
            assert set(entry) == {"value"} and _machine_fields(tail, version) == [], key
            out.init[tail] = json.loads(entry["value"])
        elif sep and head == "SPLITIO.telemetry.latencies":
            _assert_ttl(key, entry)
            method, bucket = _machine_fields(tail, version)
            assert method in TELEMETRY_METHODS and 0 <= int(bucket) < 23, key
            out.latencies[method] += entry["value"]
        elif sep and head == "SPLITIO.telemetry.exceptions":
            _assert_ttl(key, entry)
            (method,) = _machine_fields(tail, version)
            assert method in TELEMETRY_METHODS, key
            out.exceptions[method] += entry["value"]
        else:
            raise AssertionError(f"unexpected key written: {key} = {entry}")
    out.unique_keys = {flag: sorted(keys) for flag, keys in sorted(out.unique_keys.items())}
    return out


# ------------------------------------------------------------------------- the official


class Official:
    """splitio_client 10.7.0 in its own venv; each distinct run happens once per module."""

    def __init__(self, python: Path, work: Path) -> None:
        self.python = python
        self.work = work
        self._runs: dict[tuple[Any, ...], Run] = {}

    def _worker(self, job: dict[str, Any], name: str) -> dict[str, Any]:
        path, out = self.work / f"{name}.json", self.work / f"{name}.out.json"
        path.write_text(json.dumps(job))
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        done = subprocess.run(
            [str(self.python), str(WORKER), str(path), str(out)], capture_output=True,
            text=True, timeout=180, env=env, cwd=self.work, check=False,
        )
        assert done.returncode == 0, f"official worker failed:\n{done.stderr[-3000:]}"
        return json.loads(out.read_text())  # type: ignore[no-any-return]

    def run(
        self, api: str, kind: str, mode: str, calls: list[Call], *,
        server: RedisServer | None = None, prefixed: bool = True, journal: bool = False,
    ) -> Run:
        """The official ``api`` (sync / async) over a ``kind`` (dict / redis) wrapper holding
        the conformance store, under a prefix of its own (or none)."""
        name = f"official-{api}-{kind}-{mode.lower()}-{len(calls)}{'-journal' * journal}"
        prefix = name if prefixed else None
        if (name, prefix) not in self._runs:
            initial = conformance_snapshot(prefix)
            wrapper: dict[str, Any] = {"kind": "dict"}
            if kind == "redis":
                assert server is not None
                wrapper = {"kind": "redis", "host": server.host, "port": server.port}
            job = {
                "api": api, "sdk_key": SDK_KEY, "config": _config(prefix, mode),
                "wrapper": wrapper, "store": initial, "calls": calls, "journal": journal,
                "dump_prefix": f"{prefix}." if prefix else "",
            }
            since = int(time.time() * 1000)
            out = self._worker(job, f"{name}-{prefixed}")
            journaled = out["journal"] and [(m, args) for m, args in out["journal"]]
            self._runs[name, prefix] = Run(
                prefix, initial, out["answers"], out["store"], since, int(time.time() * 1000),
                journaled or None,
            )
        return self._runs[name, prefix]

    def validations(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = self._worker({"sdk_key": SDK_KEY, "validate": entries}, "validations")
        return out["validations"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def official(tmp_path_factory: pytest.TempPathFactory) -> Official:
    try:
        python = _load_bench_venv().ensure_official(
            REPO / "benchmarks" / ".venv-official", asyncio=True, redis=True
        )
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        _unavailable(f"splitio_client[asyncio,redis] 10.7.0 could not be installed: {exc}")
    return Official(Path(python), tmp_path_factory.mktemp("official-pluggable"))


def _server(request: pytest.FixtureRequest, kind: str) -> RedisServer | None:
    """The Redis server, started only for Redis-backed runs (dict runs need none)."""
    return request.getfixturevalue("redis_store") if kind == "redis" else None


# ----------------------------------------------------------------- the harness's own tests


def _conformance_mismatches(run: Run) -> list[tuple[str, Any, Any]]:
    """The conformance cases whose answer (with its listener labels) is not expected.jsonl's."""
    expected = {row["id"]: row for row in _load("expected.jsonl") if "id" in row}
    wrong = []
    for case, answer in zip(_load("cases.jsonl"), run.answers[:CONFORMANCE_CASES], strict=True):
        labels: dict[str, Any] = {}
        for flag, label in answer["labels"]:
            labels.setdefault(flag, label)
        raw = answer.get("result")
        if case["method"] == "get_treatments_with_config" and isinstance(raw, dict):
            raw = {name: tuple(pair) for name, pair in raw.items()}
        shaped = _shape(case, raw, labels) if "error" not in answer else answer
        if not _matches(shaped, expected[case["id"]]):
            wrong.append((case["id"], shaped, expected[case["id"]]))
    return wrong


def _check_official_debug_run(run: Run) -> Records:
    """The harness's invariants on one official DEBUG run of DEBUG_RUN."""
    assert len(run.answers) == len(DEBUG_RUN)
    wrong = _conformance_mismatches(run)
    assert not wrong, f"{len(wrong)} of {CONFORMANCE_CASES} cases differ, first: {wrong[:3]}"
    written = records(run, OFFICIAL_VERSION)
    # every impression the listener saw is in the store, in order, and nothing else is --
    # but those of impressionsDisabled flags, which the listener sees and the store counts
    seen = [(flag, label) for answer in run.answers for flag, label in answer["labels"]]
    shown = [pair for pair in seen if pair[0] not in IMPRESSIONS_DISABLED]
    assert len(shown) > 2000
    assert [(i["f"], i["r"]) for i in written.impressions] == shown
    assert sum(written.counts.values()) == len(seen) - len(shown) > 0
    # the tracks: TRACKS holds five valid events, then four invalid ones; a valid one wrote its
    # event as given, cleaned as recording.md §2 says
    tracks = [(c, a) for c, a in zip(DEBUG_RUN, run.answers, strict=True) if c["method"] == "track"]
    assert [c for c, _ in tracks] == TRACKS
    assert [a["result"] for _, a in tracks] == [True] * 5 + [False] * 4
    assert written.events == [_tracked(c) for c, a in tracks if a["result"] is True]
    # DEBUG counts and tracks unique keys of impressionsDisabled flags only
    assert set(written.counts) == set(written.unique_keys) == IMPRESSIONS_DISABLED
    assert written.init == {
        f"{OFFICIAL_VERSION}/{MACHINE['machineName']}/{MACHINE['machineIp']}": INIT
    }
    assert set(written.latencies) == {  # a call that raised recorded nothing
        c["method"].removeprefix("get_") for c, a in zip(DEBUG_RUN, run.answers, strict=True)
        if "target" not in c and "error" not in a
    }
    assert written.latencies["track"] == 5
    # the manager read the store as the Synchronizer wrote it
    names = sorted(run.name(k).removeprefix("SPLITIO.split.") for k in run.initial
                   if run.name(k).startswith("SPLITIO.split."))
    manager = [a["result"] for a in run.answers[-len(MANAGER_CALLS):]]
    assert manager[0] == names and [view["name"] for view in manager[1]] == names
    views = {view["name"]: view for view in manager[1]}
    for call, view in zip(MANAGER_CALLS[2:], manager[2:], strict=True):
        name = call["args"][0]  # not trimmed: " ff_000_cache " finds nothing
        assert view == (views.get(name) if isinstance(name, str) else None), call
    assert sum(view is not None for view in manager[2:]) == 4
    return written


def _tracked(call: Call) -> dict[str, Any]:
    """The event a valid ``track`` call records (recording.md §2): the traffic type lower-cased,
    property values that are not text, numbers or booleans as null, no properties as null."""
    traffic_type, event_type, value, properties = call["args"]
    if properties:
        properties = {
            name: item if item is None or isinstance(item, (str, int, float, bool)) else None
            for name, item in properties.items()
        }
    return {"key": call["mk"], "trafficTypeName": traffic_type.lower(),
            "eventTypeId": event_type, "value": value, "properties": properties or None}


@pytest.mark.parametrize("api", ["sync", "async"])
def test_official_sdk_gives_the_conformance_answers_through_a_dict_wrapper(
    official: Official, api: str
) -> None:
    written = _check_official_debug_run(official.run(api, "dict", "DEBUG", DEBUG_RUN))
    # the blocking client counts no exception here (its outer guard catches the failures of
    # flags reading a missing rule-based segment); the asyncio client counts them
    assert bool(written.exceptions) is (api == "async")


@pytest.mark.parametrize("api", ["sync", "async"])
def test_official_sdk_answers_and_writes_the_same_through_a_redis_wrapper(
    official: Official, redis_store: RedisServer, api: str
) -> None:
    """Also the proof that the comparison ``test_ours_*`` make accepts equal runs."""
    on_redis = official.run(api, "redis", "DEBUG", DEBUG_RUN, server=redis_store)
    in_dict = official.run(api, "dict", "DEBUG", DEBUG_RUN)
    _check_official_debug_run(on_redis)
    assert _unordered_labels(on_redis.answers) == _unordered_labels(in_dict.answers)
    _assert_same_writes(on_redis, in_dict, DEBUG_RUN, api)
    if api == "async":  # the blocking official raises on some calls, which ours must not
        _assert_same_answers(on_redis, in_dict, DEBUG_RUN, api)


def test_the_comparison_catches_a_difference(official: Official) -> None:
    """What ``test_ours_*`` assert can fail: a run differing from the official's in one answer,
    one label, one impression, one event, one count or by one stray key is rejected."""
    theirs = official.run("async", "dict", "DEBUG", DEBUG_RUN)

    def key(name: str) -> str:
        return f"{theirs.prefix}.SPLITIO.{name}"

    def without_last(name: str) -> Snapshot:
        entry = theirs.store[key(name)]
        return {**theirs.store, key(name): dict(entry, list=entry["list"][:-1])}

    counted = next(k for k in theirs.store if k.startswith(key("impressions.count.")))
    first, *rest = theirs.answers
    variants = [
        ([dict(first, result=["off", None]), *rest], theirs.store),
        ([dict(first, labels=[["ff_000_cache", "default rule"]]), *rest], theirs.store),
        (theirs.answers, without_last("impressions")),
        (theirs.answers, without_last("events")),
        (theirs.answers, {**theirs.store, counted: dict(theirs.store[counted], value=1000)}),
        (theirs.answers, {**theirs.store, key("stray"): {"value": 1}}),
    ]
    for answers, store in variants:
        ours = Run(theirs.prefix, theirs.initial, answers, store, theirs.since_ms,
                   theirs.until_ms)
        with pytest.raises(AssertionError):
            _assert_matches(ours, theirs, DEBUG_RUN, "async")


def _unordered_labels(answers: list[Answer]) -> list[Answer]:
    """A multi-flag call's impressions follow a ``set``'s order, which varies per process."""
    return [dict(answer, labels=sorted(answer.get("labels", []))) for answer in answers]


def test_official_sdk_counting_modes(official: Official) -> None:
    """Against a DEBUG run of the same calls: OPTIMIZED writes each impression once an hour and
    counts the repeats; NONE writes none, counts every evaluation and tracks every key; in every
    mode an impressionsDisabled flag is only counted and tracked."""
    debug = records(official.run("sync", "dict", "DEBUG", COUNTING_RUN), OFFICIAL_VERSION)
    optimized = records(official.run("sync", "dict", "OPTIMIZED", COUNTING_RUN), OFFICIAL_VERSION)
    none = records(official.run("sync", "dict", "NONE", COUNTING_RUN), OFFICIAL_VERSION)
    shown, hidden = len(debug.impressions), sum(debug.counts.values())
    assert shown > 300 and hidden > 0 and set(debug.counts) == IMPRESSIONS_DISABLED

    first: dict[tuple[Any, ...], dict[str, Any]] = {}  # the official's deduplication key
    for impression in debug.impressions:
        first.setdefault(tuple(impression[k] for k in "kftrc"), impression)
    assert optimized.impressions == list(first.values()) and len(first) < shown
    assert sum(optimized.counts.values()) == shown - len(first) + hidden
    assert optimized.unique_keys == debug.unique_keys

    assert not none.impressions
    assert sum(none.counts.values()) == shown + hidden
    keys: dict[str, set[str]] = {}
    for impression in debug.impressions:
        keys.setdefault(impression["f"], set()).add(impression["k"])
    for flag, tracked in debug.unique_keys.items():
        keys.setdefault(flag, set()).update(tracked)
    assert none.unique_keys == {flag: sorted(members) for flag, members in sorted(keys.items())}


VALIDATIONS: list[dict[str, Any]] = [
    {"wrapper": None},
    {"wrapper": {}, "config": {"storagePrefix": 123}},
    {"wrapper": {"flaw": "missing:get"}},
    {"wrapper": {"flaw": "missing:expire"}},
    {"wrapper": {"flaw": "short:get_many"}},
    {"wrapper": {"flaw": "short:push_items"}},
    {"wrapper": {}, "config": {"storageType": "PLUGGABLE", "storagePrefix": "ok"}},
]
VALIDATION_ERRORS = [  # OFFICIAL.md §2; None: the factory builds
    "Expecting pluggable storage `wrapper` in options, but no valid wrapper instance was "
    "provided.",
    "Pluggable storage prefix should be string type only",
    "Pluggable adapter does not have required method: get",
    "Pluggable adapter does not have required method: expire",
    "Pluggable adapter method get_many has less than required arguments count: 0 : ",
    "Pluggable adapter method push_items has less than required arguments count: 1 : ",
    None,
]
VALIDATION_RAISES = "Pluggable Adapter validation failed, exiting"


def test_official_sdk_validates_the_wrapper(official: Official) -> None:
    outcomes = official.validations(VALIDATIONS)
    for outcome, error in zip(outcomes, VALIDATION_ERRORS, strict=True):
        errors = [message for level, _, message in outcome["logs"] if level == "ERROR"]
        if error is None:
            assert outcome["raised"] is None and not errors, outcome
        else:
            assert outcome["raised"] == ["Exception", VALIDATION_RAISES], outcome
            assert errors == [error], outcome


JOURNALED: list[Call] = [
    {"method": "get_treatment", "mk": "u1", "args": ["ff_024_chat", None]},
    {"method": "get_treatments", "mk": "u1", "args": [["no_such"], None]},
    {"method": "get_treatments_by_flag_set", "mk": "u1", "args": ["nope", None]},
    {"method": "track", "mk": "u1", "args": ["USER", "ev", 1, None]},
    {"target": "manager", "method": "split_names", "args": []},
    {"target": "manager", "method": "split", "args": ["ff_024_chat"]},
]


def test_official_sdk_reads_and_writes_as_documented(official: Official) -> None:
    """OFFICIAL.md §5-6, wrapper call by wrapper call, on a journaling dict wrapper without a
    prefix (so keys are the bare layout)."""
    run = official.run("sync", "dict", "DEBUG", JOURNALED, prefixed=False, journal=True)
    assert run.journal is not None
    journal = [(method, _no_bucket(args)) for method, args in run.journal]
    machine = f"{OFFICIAL_VERSION}/{MACHINE['machineName']}/{MACHINE['machineIp']}"
    latency = f"SPLITIO.telemetry.latencies::{machine}/"
    impression, event = (json.loads(journal[i][1][1]) for i in (6, 17))
    assert journal == [
        ("set", [f"SPLITIO.telemetry.init::{machine}", json.dumps(INIT)]),
        # get_treatment: a flag with one segment
        ("get_many", [["SPLITIO.split.ff_024_chat"]]),
        ("get_many", [[]]),
        ("item_contains", ["SPLITIO.segment.seg_00_chat", "u1"]),
        ("increment", [latency + "treatment/<bucket>", 1]),
        ("expire", [latency + "treatment/<bucket>", TTL]),
        ("push_items", ["SPLITIO.impressions", json.dumps(impression)]),
        ("expire", ["SPLITIO.impressions", TTL]),
        # get_treatments of an unknown flag: nothing to push, pushed anyway
        ("get_many", [["SPLITIO.split.no_such"]]),
        ("get_many", [[]]),
        ("increment", [latency + "treatments/<bucket>", 1]),
        ("expire", [latency + "treatments/<bucket>", TTL]),
        ("push_items", ["SPLITIO.impressions"]),
        # a flag set that names no flag: nothing evaluated, nothing recorded
        ("get_many", [["SPLITIO.flagSet.nope"]]),
        # track
        ("get", ["SPLITIO.trafficType.user"]),
        ("increment", [latency + "track/<bucket>", 1]),
        ("expire", [latency + "track/<bucket>", TTL]),
        ("push_items", ["SPLITIO.events", json.dumps(event)]),
        ("expire", ["SPLITIO.events", TTL]),
        # the manager
        ("get_keys_by_prefix", ["SPLITIO.split."]),
        ("get", ["SPLITIO.split.ff_024_chat"]),
    ]
    assert impression["i"]["f"] == "ff_024_chat" and impression["m"]["n"] == "pluggable-box"
    assert event["e"]["trafficTypeName"] == "user" and event["e"]["eventTypeId"] == "ev"


def _no_bucket(args: list[Any]) -> list[Any]:
    """A latency key's bucket depends on how long the call took: replaced by ``<bucket>``."""
    if args and isinstance(args[0], str) and args[0].startswith("SPLITIO.telemetry.latencies"):
        head, _, bucket = args[0].rpartition("/")
        assert bucket.isdigit(), args
        return [f"{head}/<bucket>", *args[1:]]
    return args


# ---------------------------------------------------------------------------------- ours


def _blocking_wrapper(kind: str, initial: Snapshot, server: RedisServer | None) -> Any:
    if kind == "dict":
        return DictWrapper(initial)
    assert server is not None
    wrapper = RedisWrapper.connect(server.host, server.port)
    load_snapshot(wrapper, initial)
    return wrapper


def _dump(wrapper: Any, prefix: str) -> Snapshot:
    if isinstance(wrapper, DictWrapper):
        return wrapper.snapshot()
    try:
        return wrapper.snapshot(f"{prefix}.")  # type: ignore[no-any-return]
    finally:
        wrapper.close()


def run_shim(kind: str, mode: str, calls: list[Call], server: RedisServer | None = None) -> Run:
    """Our blocking API over a blocking wrapper, configured as the official run is."""
    prefix = f"ours-shim-{kind}-{mode.lower()}-{len(calls)}"
    initial = conformance_snapshot(prefix)
    wrapper = _blocking_wrapper(kind, initial, server)
    listener = LabelListener()
    since = int(time.time() * 1000)
    factory = get_factory(SDK_KEY, config={
        **_config(prefix, mode), "storageWrapper": wrapper, "impressionListener": listener,
    })
    assert factory is not None
    try:
        factory.block_until_ready(10)
        answers = run_calls(factory.client(), factory.manager(), calls, Key, listener)
    finally:
        factory.destroy()
    return Run(prefix, initial, answers, _dump(wrapper, prefix), since, int(time.time() * 1000))


async def run_async(
    kind: str, backend: str, mode: str, calls: list[Call], server: RedisServer | None = None
) -> Run:
    """Our async API over an ``async def`` wrapper -- except Redis on trio, where a user has a
    blocking wrapper (redis-py's asyncio client is asyncio-only), which we run in threads."""
    prefix = f"ours-{backend}-{kind}-{mode.lower()}-{len(calls)}"
    initial = conformance_snapshot(prefix)
    store = await anyio.to_thread.run_sync(_blocking_wrapper, kind, initial, server)
    wrapper: Any = store
    if kind == "dict":
        wrapper = AsyncDictWrapper(store)
    elif backend == "asyncio":
        assert server is not None
        wrapper = AsyncRedisWrapper.connect(server.host, server.port)
    listener = AsyncLabelListener()
    since = int(time.time() * 1000)
    with anyio.fail_after(120):
        async with open_factory(SDK_KEY, config={
            **_config(prefix, mode), "storageWrapper": wrapper, "impressionListener": listener,
        }) as factory:
            await factory.block_until_ready(10)
            answers = await run_calls_async(
                factory.client(), factory.manager(), calls, Key, listener,
                settle=_listener_turn,
            )
    if isinstance(wrapper, AsyncRedisWrapper):
        await wrapper.close()
    dumped = await anyio.to_thread.run_sync(_dump, store, prefix)
    return Run(prefix, initial, answers, dumped, since, int(time.time() * 1000))


async def _listener_turn() -> None:
    """Let the listener actor await what the call queued for the async listener. The call woke
    it, so one checkpoint puts this task in the listener's scheduling batch; asyncio runs a
    batch in order, trio in a random order, so only after a second checkpoint has the
    listener surely run."""
    await anyio.lowlevel.checkpoint()
    await anyio.lowlevel.checkpoint()


def _touches_missing_rbs(call: Call) -> bool:
    """Whether a client call evaluates a flag reading a missing rule-based segment."""
    return call.get("target") != "manager" and bool(_flags_of(call) & BROKEN_FLAGS)


def _assert_same_answers(ours: Run, theirs: Run, calls: list[Call], api: str) -> None:
    assert len(ours.answers) == len(theirs.answers) == len(calls)
    wrong = []
    for call, mine, official in zip(calls, ours.answers, theirs.answers, strict=True):
        assert "error" not in mine, (call, mine)  # ours never raises into the caller
        if "error" in official:
            assert _official_raised_on_missing_rbs(call, mine["result"], official), (call, mine)
            continue
        labels = sorted(mine["labels"])
        if api == "sync" and _touches_missing_rbs(call):
            # ours records control / exception where the blocking official records nothing
            labels = [pair for pair in labels if pair[1] != "exception"]
        if mine["result"] != official["result"] or labels != sorted(official["labels"]):
            wrong.append(f"{call}: ours {mine}, official {official}")
    assert not wrong, f"{len(wrong)} of {len(calls)} answers differ:\n" + "\n".join(wrong[:10])


def _telemetry_slack(calls: list[Call], theirs: Run) -> Counter[str]:
    """Per telemetry method, the calls whose telemetry may differ: those evaluating a flag
    that reads a missing rule-based segment, and those the official let raise."""
    slack: Counter[str] = Counter()
    for call, answer in zip(calls, theirs.answers, strict=True):
        if _touches_missing_rbs(call) or "error" in answer:
            slack[call["method"].removeprefix("get_")] += 1
    return slack


def _assert_same_writes(ours: Run, theirs: Run, calls: list[Call], api: str) -> None:
    mine, official = records(ours, SDK_WIRE_VERSION), records(theirs, OFFICIAL_VERSION)
    impressions = mine.impressions
    if api == "sync":  # as in _assert_same_answers
        failing = set().union(*(_flags_of(c) for c in calls if _touches_missing_rbs(c)))
        assert all(i["f"] in failing for i in impressions if i["r"] == "exception")
        impressions = [i for i in impressions if i["r"] != "exception"]
    assert _call_order(impressions) == _call_order(official.impressions)
    assert mine.events == official.events
    assert mine.counts == official.counts
    assert mine.unique_keys == official.unique_keys
    assert list(mine.init.values()) == list(official.init.values()) == [INIT]
    slack = _telemetry_slack(calls, theirs)
    for ours_counts, official_counts in ((mine.latencies, official.latencies),
                                         (mine.exceptions, official.exceptions)):
        for method in TELEMETRY_METHODS:
            extra = ours_counts[method] - official_counts[method]
            assert 0 <= extra <= slack[method], (method, ours_counts, official_counts)


def _assert_matches(ours: Run, theirs: Run, calls: list[Call], api: str) -> None:
    _assert_same_answers(ours, theirs, calls, api)
    _assert_same_writes(ours, theirs, calls, api)


@pytest.mark.parametrize("kind", ["dict", "redis"])
def test_ours_shim_matches_the_official_sdk(
    official: Official, request: pytest.FixtureRequest, kind: str
) -> None:
    server = _server(request, kind)
    theirs = official.run("sync", kind, "DEBUG", DEBUG_RUN, server=server)
    _assert_matches(run_shim(kind, "DEBUG", DEBUG_RUN, server), theirs, DEBUG_RUN, "sync")


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["dict", "redis"])
async def test_ours_async_api_matches_the_official_sdk(
    official: Official, request: pytest.FixtureRequest, kind: str, anyio_backend: Any
) -> None:
    backend = anyio_backend[0] if isinstance(anyio_backend, tuple) else anyio_backend
    server = _server(request, kind)
    theirs = await anyio.to_thread.run_sync(
        lambda: official.run("async", kind, "DEBUG", DEBUG_RUN, server=server)
    )
    ours = await run_async(kind, backend, "DEBUG", DEBUG_RUN, server)
    _assert_matches(ours, theirs, DEBUG_RUN, "async")


@pytest.mark.parametrize("mode", ["OPTIMIZED", "NONE"])
def test_ours_counting_modes_match_the_official_sdk(official: Official, mode: str) -> None:
    theirs = official.run("sync", "dict", mode, COUNTING_RUN)
    _assert_matches(run_shim("dict", mode, COUNTING_RUN), theirs, COUNTING_RUN, "sync")


def _validation_config(entry: dict[str, Any], flavour: str) -> dict[str, Any]:
    """``VALIDATIONS[i]`` as a config for our ``flavour`` (sync / async) of API."""
    config: dict[str, Any] = {"storageType": "pluggable", **(entry.get("config") or {})}
    spec = entry["wrapper"]
    if spec is not None and "flaw" in spec:
        config["storageWrapper"] = broken_wrapper(spec["flaw"])
    elif spec is not None:
        config["storageWrapper"] = AsyncDictWrapper() if flavour == "async" else DictWrapper()
    return config


def _outcome(caplog: pytest.LogCaptureFixture, raised: BaseException | None
             ) -> tuple[str | None, list[str]]:
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    caplog.clear()
    return (None if raised is None else str(raised)), errors


def _assert_validated_like_the_official(outcomes: list[tuple[str | None, list[str]]]) -> None:
    """One (what raised, ERROR lines) per VALIDATIONS entry: the official's, or a factory."""
    assert outcomes == [
        (None, []) if error is None else (VALIDATION_RAISES, [error])
        for error in VALIDATION_ERRORS
    ]


def test_ours_validates_the_wrapper_like_the_official_sdk(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.clear()
    outcomes = []
    for entry in VALIDATIONS:
        try:
            factory = get_factory(SDK_KEY, config=_validation_config(entry, "sync"))
        except Exception as exc:
            outcomes.append(_outcome(caplog, exc))
            continue
        assert factory is not None
        factory.destroy()
        outcomes.append(_outcome(caplog, None))
    _assert_validated_like_the_official(outcomes)


@pytest.mark.anyio
async def test_ours_async_api_validates_the_wrapper_like_the_official_sdk(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.clear()
    outcomes = []
    for entry in VALIDATIONS:
        raised: Exception | None = None
        try:
            async with open_factory(SDK_KEY, config=_validation_config(entry, "async")):
                pass
        except Exception as exc:
            raised = exc
        outcomes.append(_outcome(caplog, raised))
    _assert_validated_like_the_official(outcomes)
