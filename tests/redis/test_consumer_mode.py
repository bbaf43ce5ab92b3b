"""Redis consumer mode end to end (issue #6), against real ``redis-server`` processes, through
the public API on asyncio and trio (``open_factory``, ``get_factory_async``) and the blocking
shim (``splitio_sync_shim.get_factory``).

The cache is written the way the Split Synchronizer writes it (``tests/redis_cache.py``) and the
same definitions go to localhost-mode files: every evaluation must equal localhost mode's. What
the SDK writes is checked value by value after the factory closed (the recorders flush on
destroy). Round trips are counted on the server (``tests/redis/consumer_support.py``).
Faults: ``test_redis_faults.py``; Sentinel and Cluster: ``test_sentinel_cluster.py``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import redis
import redis.asyncio

from splitio_async import (
    EvaluationOptions,
    Key,
    SentinelConfigurationException,
    TimeoutException,
    get_factory_async,
    open_factory,
)
from splitio_async.errors import RedisClusterConfigurationException
from splitio_sync_shim import get_factory
from tests.fakes.split_server import FakeSplitServer
from tests.helpers import segment_flag
from tests.redis.conftest import _start
from tests.redis.consumer_support import (
    BASE_CONFIG,
    FIELD_PREFIX,
    FLAG_NAMES,
    KEYS,
    MACHINE_IP,
    MACHINE_NAME,
    TTL,
    VERSION,
    Listener,
    Observer,
    apoll,
    data_set,
    hour_of,
    init_written,
    localhost_answers,
    poll,
    recorded,
    standalone_config,
    treatment_becomes,
    write_data,
    write_localhost_files,
)
from tests.redis_cache import key_of
from tests.redis_servers import RedisServer, free_port
from tests.unit.builders import flag_json

META = {"s": VERSION, "n": MACHINE_NAME, "i": MACHINE_IP}
IMPRESSION_FIELDS = {"k", "b", "f", "t", "r", "c", "m", "properties"}
EVENT_FIELDS = {"key", "trafficTypeName", "eventTypeId", "value", "timestamp", "properties"}
LATENCY_METHODS = {
    "treatment", "treatments", "treatment_with_config", "treatments_with_config",
    "treatments_by_flag_set", "treatments_by_flag_sets", "treatments_with_config_by_flag_set",
    "treatments_with_config_by_flag_sets", "track",
}


@pytest.fixture
def cache(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A decoding client on the test's server, holding the data set."""
    client = redis_server.client(decode_responses=True)
    write_data(client)
    yield client
    client.close()


def _partition_treatments(flag: dict[str, Any]) -> list[str]:
    treatments: dict[str, None] = {}
    for cond in flag["conditions"]:
        treatments.update(dict.fromkeys(p["treatment"] for p in cond["partitions"]))
    return list(treatments)


async def _localhost_sets(directory: Path) -> dict[str, Any]:
    """Flag-set evaluations and manager views of localhost mode. Its JSON loader adds an
    ALL_KEYS "off" condition to flags without one (official), so a view's ``treatments`` is
    taken from the definition's partitions instead."""
    partitions = {flag["name"]: _partition_treatments(flag) for flag in data_set()[0]}
    split_file = write_localhost_files(directory)
    async with open_factory("localhost", {
        "splitFile": str(split_file), "segmentDirectory": str(directory),
    }) as local:
        client, manager = local.client(), local.manager()
        return {
            "front": await client.get_treatments_by_flag_set("user_3", "front"),
            "back+shared": await client.get_treatments_with_config_by_flag_sets(
                "vip_1", ["back", "shared"]),
            "splits": sorted(view._replace(treatments=partitions[view.name])
                             for view in await manager.splits()),
            "names": sorted(await manager.split_names()),
            "plain": await manager.split("plain"),
        }


# ------------------------------------------------------------------------------ reading


@pytest.mark.anyio
@pytest.mark.parametrize("cache_enabled", [True, False], ids=["cache", "no-cache"])
async def test_evaluations_and_manager_match_localhost_mode(
    redis_server: RedisServer, cache: redis.Redis, tmp_path: Path, cache_enabled: bool
) -> None:
    """Flags (rollouts, configurations, killed, whitelist), segments, a rule-based segment with
    an excluded key, a dependency, a prerequisite, flag sets, another traffic type: every answer
    and the manager's views equal localhost mode's for the same definitions."""
    expected = await localhost_answers(tmp_path)
    local = await _localhost_sets(tmp_path)
    config = standalone_config(redis_server, redisLocalCacheEnabled=cache_enabled)
    async with open_factory("consumer", config) as factory:
        await factory.block_until_ready(5)
        assert factory.status().mode == "redis"
        client, manager = factory.client(), factory.manager()
        for key in KEYS:
            assert await client.get_treatments_with_config(key, FLAG_NAMES) == expected[key], key
        for key in ("alice", "vip_1", "excluded_user", "beta_1", "user_5"):
            for name in FLAG_NAMES:
                assert await client.get_treatment(key, name) == expected[key][name][0]
                assert await client.get_treatment_with_config(key, name) == expected[key][name]
        assert await client.get_treatments("alice", FLAG_NAMES) == {
            name: answer[0] for name, answer in expected["alice"].items()
        }
        assert await client.get_treatments_by_flag_set("user_3", "front") == local["front"]
        assert await client.get_treatments_with_config_by_flag_sets(
            "vip_1", ["back", "shared"]) == local["back+shared"]
        assert await client.get_treatments_by_flag_set("alice", "nobody_uses_it") == {}
        assert sorted(await manager.split_names()) == local["names"] == sorted(FLAG_NAMES)
        assert sorted(await manager.splits()) == local["splits"]
        assert await manager.split("plain") == local["plain"]
        assert (await manager.split("plain")).change_number == 101  # type: ignore[union-attr]
        assert await manager.split("missing") is None
        assert await client.get_treatment("alice", "missing") == "control"


MANAGER_FLAGS = [
    flag_json("typeless", trafficTypeName=None, changeNumber=7),
    flag_json("gated", prerequisites=[{"n": "typeless", "ts": ["on", "off", "blue"]},
                                      {"n": "other", "ts": ["b", "a"]}]),
]
NOT_FOUND = ('split: you passed " gated " that does not exist in this environment, please '
             "double check what Feature flags exist in the Split user interface.")


async def _views(factory: Any, caplog: pytest.LogCaptureFixture) -> list[Any]:
    manager = factory.manager()
    caplog.clear()
    views = [await manager.split(" gated "), await manager.split("gated "),
             await manager.split("typeless"), await manager.split("gated")]
    assert caplog.text.count(NOT_FOUND) == 1 and "trimming" not in caplog.text
    return views


@pytest.mark.anyio
async def test_manager_views_are_the_same_in_redis_and_in_memory_mode(
    redis_server: RedisServer, cache: redis.Redis, server: FakeSplitServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """As the official SDK: ``traffic_type`` None where the definition's is null, prerequisite
    treatments in definition order, and a name with surrounding spaces is looked up as given:
    no such flag, logged as such (no trimming) in both modes."""
    for flag in MANAGER_FLAGS:
        cache.set(f"SPLITIO.split.{flag['name']}", json.dumps(flag))
        server.upsert_flag(json.loads(json.dumps(flag)))
    async with open_factory("consumer", standalone_config(redis_server)) as factory:
        await factory.block_until_ready(5)
        in_redis = await _views(factory, caplog)
    async with open_factory("SDK-KEY-0001", {"streamingEnabled": False},
                            **server.url_kwargs()) as factory:
        await factory.block_until_ready(5)
        in_memory = await _views(factory, caplog)
    assert in_redis[:2] == in_memory[:2] == [None, None]
    typeless, gated = in_redis[2:]
    assert typeless.traffic_type is None and typeless.change_number == 7
    assert [tuple(p) for p in gated.prerequisites] == [
        ("typeless", ["on", "off", "blue"]), ("other", ["b", "a"])]
    assert [v._replace(change_number=0) for v in in_redis[2:]] == [
        v._replace(change_number=0) for v in in_memory[2:]]  # the server numbers changes


def test_shim_manager_view_of_a_spaced_name(
    redis_server: RedisServer, cache: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    for flag in MANAGER_FLAGS:
        cache.set(f"SPLITIO.split.{flag['name']}", json.dumps(flag))
    factory = get_factory("consumer", standalone_config(redis_server))
    assert factory is not None
    try:
        factory.block_until_ready(5)
        manager = factory.manager()
        assert manager.split(" gated ") is None
        assert NOT_FOUND in caplog.text
        view = manager.split("typeless")
        assert view is not None and view.traffic_type is None
    finally:
        factory.destroy()


@pytest.mark.anyio
async def test_get_factory_async_reads_segments_and_traffic_types(
    redis_server: RedisServer, cache: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """The official entry point; segment membership is read per key; ``track`` checks the
    traffic type in Redis (``SPLITIO.trafficType.<tt>`` > 0), warning only."""
    factory = await get_factory_async("consumer", standalone_config(redis_server))
    assert factory is not None
    try:
        await factory.block_until_ready(5)
        client = factory.client()
        assert await client.get_treatment("beta_1", "beta_feature") == "in_beta"
        assert await client.get_treatment("alice", "beta_feature") == "off"
        assert await client.track("alice", "account", "login") is True
        assert "Traffic Type account does not have" not in caplog.text
        cache.set("SPLITIO.trafficType.gone", 0)
        for traffic_type in ("nothing", "gone"):
            assert await client.track("alice", traffic_type, "login") is True
            assert f"Traffic Type {traffic_type} does not have any corresponding" in caplog.text
    finally:
        await factory.destroy()
    assert [e["e"]["trafficTypeName"] for e in recorded(cache, "SPLITIO.events")] == [
        "account", "nothing", "gone",
    ]


# ------------------------------------------------------------------------------ writing


# One of each public call (method, args, kwargs), and the telemetry method each counts as.
CALLS: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
    ("get_treatment", ("alice", "plain"), {}),
    ("get_treatment", (Key("alice", "bucket-1"), "listed"), {}),
    ("get_treatment_with_config", ("bob", "plain"),
     {"evaluation_options": EvaluationOptions({"source": "test", "n": 1})}),
    ("get_treatments", ("carol", ["beta_feature", "killed"]), {}),
    ("get_treatments_with_config", ("dave", ["account_flag"]), {}),
    ("get_treatments_by_flag_set", ("erin", "back"), {}),
    ("get_treatments_by_flag_sets", ("erin", ["front"]), {}),
    ("get_treatments_with_config_by_flag_set", ("vip_1", "back"), {}),
    ("get_treatments_with_config_by_flag_sets", ("vip_2", ["shared"]), {}),
    ("track", ("alice", "user", "purchase", 9.5, {"plan": "pro", "seats": 3}), {}),
    ("track", ("bob", "account", "click"), {}),
]


def _latency_counts(extra: dict[str, int] | None = None) -> dict[str, int]:
    counts: dict[str, int] = {}
    for method, _, _ in CALLS:
        name = method.removeprefix("get_")
        counts[name] = counts.get(name, 0) + 1
    for name, count in (extra or {}).items():
        counts[name] = counts.get(name, 0) + count
    return counts


async def _make_calls(client: Any) -> None:
    for method, args, kwargs in CALLS:
        assert await getattr(client, method)(*args, **kwargs) not in (None, False, "control")


def _make_calls_blocking(client: Any) -> None:
    for method, args, kwargs in CALLS:
        assert getattr(client, method)(*args, **kwargs) not in (None, False, "control")


def _check_written(cache: redis.Redis, calls: dict[str, int], start_ms: int) -> None:
    impressions = [  # the keys of CALLS (a test may evaluate others, named user_*)
        v for v in recorded(cache, "SPLITIO.impressions") if not v["i"]["k"].startswith("user_")
    ]
    for value in impressions:
        assert set(value) == {"m", "i"}
        assert value["m"] == META
        assert set(value["i"]) == IMPRESSION_FIELDS
        assert value["i"]["m"] >= start_ms
    by_flag_key = {(v["i"]["f"], v["i"]["k"]): v["i"] for v in impressions}
    assert len(by_flag_key) == len(impressions) == 14
    assert by_flag_key[("listed", "alice")] | {"m": 0} == {
        "k": "alice", "b": "bucket-1", "f": "listed", "t": "listed", "r": "whitelisted",
        "c": 107, "m": 0, "properties": None,
    }
    assert by_flag_key[("plain", "alice")]["b"] is None
    assert json.loads(by_flag_key[("plain", "bob")]["properties"]) == {"source": "test", "n": 1}
    assert by_flag_key[("killed", "carol")]["r"] == "killed"
    assert by_flag_key[("killed", "carol")]["t"] == "dead"
    assert by_flag_key[("rbs_feature", "vip_1")]["t"] == "vip"
    assert {f for f, k in by_flag_key if k == "erin"} == {
        "beta_feature", "rbs_feature", "plain", "account_flag"}
    assert TTL - 60 < cache.ttl("SPLITIO.impressions") <= TTL

    events = recorded(cache, "SPLITIO.events")
    assert [set(e) for e in events] == [{"e", "m"}] * 2
    assert all(e["m"] == META and set(e["e"]) == EVENT_FIELDS for e in events)
    assert events[0]["e"] | {"timestamp": 0} == {
        "key": "alice", "trafficTypeName": "user", "eventTypeId": "purchase", "value": 9.5,
        "timestamp": 0, "properties": {"plan": "pro", "seats": 3},
    }
    assert events[1]["e"]["value"] is None and events[1]["e"]["properties"] is None
    assert events[0]["e"]["timestamp"] >= start_ms
    assert TTL - 60 < cache.ttl("SPLITIO.events") <= TTL

    init = cache.hgetall("SPLITIO.telemetry.init")
    assert list(init) == [FIELD_PREFIX]
    assert json.loads(init[FIELD_PREFIX]) == {"aF": 1, "rF": 0, "sT": "redis", "oM": 1, "t": []}
    latencies: dict[str, int] = {}
    for field, count in cache.hgetall("SPLITIO.telemetry.latencies").items():
        prefix, method, bucket = field.rsplit("/", 2)
        assert prefix == FIELD_PREFIX and method in LATENCY_METHODS and 0 <= int(bucket) < 23
        latencies[method] = latencies.get(method, 0) + int(count)
    assert latencies == calls
    assert TTL - 60 < cache.ttl("SPLITIO.telemetry.latencies") <= TTL
    assert not cache.exists("SPLITIO.telemetry.exceptions")


@pytest.mark.anyio
async def test_impressions_events_and_telemetry_in_the_synchronizers_format(
    redis_server: RedisServer, cache: redis.Redis
) -> None:
    """DEBUG mode: one list element per impression ``{"m": {s, n, i}, "i": {k, b, f, t, r, c,
    m, properties}}``, events ``{"e": {...}, "m": ...}``, TTL 3600 set by the push that created
    the list; the telemetry init field ``<ver>/<name>/<ip>`` (sT redis, oM 1); latencies per
    method and bucket, written at shutdown."""
    start_ms = int(time.time() * 1000)
    async with open_factory(
        "consumer", standalone_config(redis_server, impressionsMode="DEBUG")
    ) as factory:
        await factory.block_until_ready(5)
        await _make_calls(factory.client())
        await apoll(lambda: init_written(cache), what="the telemetry init record")
        assert not cache.exists("SPLITIO.impressions")  # recorders write in bulk, later
    _check_written(cache, _latency_counts(), start_ms)


@pytest.mark.anyio
async def test_ttl_is_set_only_by_the_push_that_creates_a_list(
    redis_server: RedisServer, cache: redis.Redis
) -> None:
    config = standalone_config(redis_server, impressionsMode="DEBUG")
    async with open_factory("consumer", config) as factory:
        await factory.block_until_ready(5)
        await factory.client().get_treatment("alice", "plain")
        await factory.client().track("alice", "user", "e1")
    assert TTL - 60 < cache.ttl("SPLITIO.impressions") <= TTL
    cache.persist("SPLITIO.impressions")
    cache.persist("SPLITIO.events")
    async with open_factory("consumer", config) as factory:
        await factory.block_until_ready(5)
        await factory.client().get_treatment("bob", "plain")
        await factory.client().track("bob", "user", "e2")
    assert [v["i"]["k"] for v in recorded(cache, "SPLITIO.impressions")] == ["alice", "bob"]
    assert [v["e"]["key"] for v in recorded(cache, "SPLITIO.events")] == ["alice", "bob"]
    assert cache.ttl("SPLITIO.impressions") == cache.ttl("SPLITIO.events") == -1


@pytest.mark.anyio
async def test_optimized_mode_writes_impression_counts(
    redis_server: RedisServer, cache: redis.Redis
) -> None:
    """OPTIMIZED: the first impression of a key and flag in the hour is pushed, the repeats are
    counted in the hash ``SPLITIO.impressions.count``, field ``<flag>::<hour in ms>``."""
    async with open_factory("consumer", standalone_config(redis_server)) as factory:
        await factory.block_until_ready(5)
        client = factory.client()
        for _ in range(5):
            await client.get_treatment("alice", "plain")
        for _ in range(3):
            await client.get_treatments("bob", ["plain", "killed"])
    impressions = recorded(cache, "SPLITIO.impressions")
    assert sorted((v["i"]["k"], v["i"]["f"]) for v in impressions) == [
        ("alice", "plain"), ("bob", "killed"), ("bob", "plain")]
    counts = cache.hgetall("SPLITIO.impressions.count")
    per_flag: dict[str, int] = {}
    hours = {hour_of(v["i"]["m"]) for v in impressions}
    for field, count in counts.items():
        flag, _, hour = field.partition("::")
        assert int(hour) in hours | {h + 3_600_000 for h in hours}  # an hour may have turned
        per_flag[flag] = per_flag.get(flag, 0) + int(count)
    assert per_flag == {"plain": 6, "killed": 2}
    assert TTL - 60 < cache.ttl("SPLITIO.impressions.count") <= TTL
    assert not cache.exists("SPLITIO.uniquekeys")


@pytest.mark.anyio
async def test_none_mode_writes_counts_and_unique_keys(
    redis_server: RedisServer, cache: redis.Redis
) -> None:
    """NONE: no impression is pushed; every evaluation is counted and the keys that saw each
    flag go to ``SPLITIO.uniquekeys``, one ``{"f", "ks"}`` element per flag."""
    config = standalone_config(redis_server, impressionsMode="NONE")
    async with open_factory("consumer", config) as factory:
        await factory.block_until_ready(5)
        client = factory.client()
        for key in ("alice", "bob", "alice", "carol"):
            await client.get_treatments(key, ["plain", "listed"])
        await client.get_treatment("dave", "killed")
    assert not cache.exists("SPLITIO.impressions")
    unique = recorded(cache, "SPLITIO.uniquekeys")
    assert all(set(entry) == {"f", "ks"} for entry in unique)
    assert {entry["f"]: sorted(entry["ks"]) for entry in unique} == {
        "plain": ["alice", "bob", "carol"], "listed": ["alice", "bob", "carol"],
        "killed": ["dave"],
    }
    assert len(unique) == 3
    assert TTL - 60 < cache.ttl("SPLITIO.uniquekeys") <= TTL
    per_flag: dict[str, int] = {}
    for field, count in cache.hgetall("SPLITIO.impressions.count").items():
        flag, _, hour = field.partition("::")
        assert int(hour) % 3_600_000 == 0
        per_flag[flag] = per_flag.get(flag, 0) + int(count)
    assert per_flag == {"plain": 4, "listed": 4, "killed": 1}


# ------------------------------------------------------------------------------ round trips


async def _steady(redis_server: RedisServer, cache: redis.Redis, factory: Any) -> Observer:
    """Wait for the start-up writes (telemetry init) so that only calls are counted."""
    await factory.block_until_ready(5)
    await apoll(lambda: init_written(cache), what="the telemetry init record")
    return Observer(redis_server.client(decode_responses=True))


@pytest.mark.anyio
async def test_one_round_trip_per_evaluation_without_the_local_cache(
    redis_server: RedisServer, cache: redis.Redis
) -> None:
    """Cache off: every call reads everything it uses in one pipeline (the flag, its
    dependencies and prerequisites, rule-based segments, the key's memberships, the flag sets'
    members), from the first call on (the factory read every definition once at start, so it
    knows what each flag needs). A flag-set call learns the set's members on its first call
    (two round trips), then needs one."""
    config = standalone_config(redis_server, redisLocalCacheEnabled=False)
    async with open_factory("consumer", config) as factory:
        observer = await _steady(redis_server, cache, factory)
        client = factory.client()
        await client.get_treatments_by_flag_sets("bob", ["back", "front"])
        await client.get_treatments_with_config_by_flag_set("bob", "shared")
        cases: list[tuple[Callable[[], Awaitable[Any]], dict[str, int]]] = [
            (lambda: client.get_treatment("vip_1", "rbs_feature"), {"get": 2, "sismember": 1}),
            (lambda: client.get_treatment("vip_1", "rbs_feature"), {"get": 2, "sismember": 1}),
            (lambda: client.get_treatment_with_config("alice", "listed"),
             {"get": 1, "sismember": 1}),
            (lambda: client.get_treatment("beta_1", "gated"), {"get": 2, "sismember": 1}),
            (lambda: client.get_treatment("alice", "dependent"), {"get": 2}),
            (lambda: client.get_treatments("carol", FLAG_NAMES), {"get": 9, "sismember": 2}),
            (lambda: client.get_treatments_by_flag_sets("bob", ["back", "front"]),
             {"smembers": 2, "get": 5, "sismember": 2}),
            (lambda: client.get_treatments_with_config_by_flag_set("bob", "shared"),
             {"smembers": 1, "get": 3, "sismember": 1}),
            (lambda: client.track("alice", "user", "click"), {"get": 1}),
        ]
        for call, commands in cases:
            before = observer.snapshot()
            await call()
            assert observer.delta(before) == (1, commands)


@pytest.mark.anyio
async def test_local_cache_serves_repeated_reads_within_its_ttl(
    redis_server: RedisServer, cache: redis.Redis
) -> None:
    """Cache on: definitions read at start (or by a call) are served locally within the TTL,
    and so are memberships per key, flag-set members and traffic types: a repeated call makes
    no round trip, another key reads only its own memberships."""
    config = standalone_config(redis_server, redisLocalCacheTTL=60)
    async with open_factory("consumer", config) as factory:
        observer = await _steady(redis_server, cache, factory)
        cache.set("SPLITIO.split.late", json.dumps(segment_flag("late", "beta")))
        client = factory.client()
        cases: list[tuple[Callable[[], Awaitable[Any]], tuple[int, dict[str, int]]]] = [
            (lambda: client.get_treatment("vip_1", "rbs_feature"), (1, {"sismember": 1})),
            (lambda: client.get_treatment("vip_1", "rbs_feature"), (0, {})),
            (lambda: client.get_treatment_with_config("vip_1", "rbs_feature"), (0, {})),
            (lambda: client.get_treatment("user_7", "rbs_feature"), (1, {"sismember": 1})),
            (lambda: client.get_treatment("user_7", "rbs_feature"), (0, {})),
            (lambda: client.get_treatment("user_7", "listed"), (0, {})),  # vip membership known
            (lambda: client.get_treatments("user_7", ["plain", "killed"]), (0, {})),
            # a flag never seen before: its definition, then the membership it turns out to need
            (lambda: client.get_treatment("user_7", "late"), (2, {"get": 1, "sismember": 1})),
            (lambda: client.get_treatment("user_7", "late"), (0, {})),
            (lambda: client.get_treatment("beta_1", "late"), (1, {"sismember": 1})),
            (lambda: client.get_treatments_by_flag_set("user_7", "back"),
             (1, {"smembers": 1})),  # only the set's members: the rest is cached
            (lambda: client.get_treatments_by_flag_set("user_7", "back"), (0, {})),
            (lambda: client.get_treatments_by_flag_set("user_8", "back"), (1, {"sismember": 2})),
            (lambda: client.track("alice", "user", "click"), (1, {"get": 1})),
            (lambda: client.track("bob", "user", "click"), (0, {})),
        ]
        for index, (call, expected) in enumerate(cases):
            before = observer.snapshot()
            await call()
            assert observer.delta(before) == expected, index


@pytest.mark.anyio
async def test_changes_show_after_the_cache_ttl(
    redis_server: RedisServer, cache: redis.Redis
) -> None:
    """``redisLocalCacheTTL``: a flag edited and a key added to a segment in Redis are served
    from the cache until it expires, then read again."""
    config = standalone_config(redis_server, redisLocalCacheTTL=1)
    async with open_factory("consumer", config) as factory:
        await factory.block_until_ready(5)
        client = factory.client()
        assert await client.get_treatment("alice", "killed") == "dead"
        assert await client.get_treatment("alice", "beta_feature") == "off"
        cache.set("SPLITIO.split.killed", json.dumps(flag_json("killed", changeNumber=200)))
        cache.sadd("SPLITIO.segment.beta", "alice")
        assert await client.get_treatment("alice", "killed") == "dead"  # still cached
        await treatment_becomes(client, "alice", "killed", "on")
        await treatment_becomes(client, "alice", "beta_feature", "in_beta")
        view = await factory.manager().split("killed")
        assert view is not None and view.change_number == 200


# ------------------------------------------------------------------------------ config keys


@pytest.mark.anyio
async def test_db_and_prefix(redis_server: RedisServer) -> None:
    """``redisDb`` and ``redisPrefix``: reads and writes under ``<prefix>.SPLITIO...`` in that
    database only."""
    client = redis_server.client(decode_responses=True, db=3)
    write_data(client, prefix="app")
    config = standalone_config(redis_server, redisDb=3, redisPrefix="app",
                               impressionsMode="DEBUG")
    async with open_factory("consumer", config) as factory:
        await factory.block_until_ready(5)
        assert await factory.client().get_treatment("alice", "listed") == "listed"
        assert await factory.client().track("alice", "user", "click")
        assert sorted(await factory.manager().split_names()) == sorted(FLAG_NAMES)
    assert recorded(client, "SPLITIO.impressions", "app")[0]["i"]["t"] == "listed"
    assert recorded(client, "SPLITIO.events", "app")[0]["e"]["eventTypeId"] == "click"
    assert client.hlen(key_of("app", "SPLITIO.telemetry.init")) == 1
    assert not [k for k in client.keys("*") if not k.startswith("app.SPLITIO.")]
    assert redis_server.execute("DBSIZE") == 0  # database 0 untouched


@pytest.mark.anyio
async def test_acl_username_and_password(redis_server: RedisServer, cache: redis.Redis) -> None:
    redis_server.execute("ACL", "SETUSER", "sdk", "on", ">s3cret", "~*", "+@all")
    config = standalone_config(redis_server, redisUsername="sdk", redisPassword="wrong")
    async with open_factory("consumer", config) as factory:
        with pytest.raises(TimeoutException):
            await factory.block_until_ready(0.3)
        assert "redis" in factory.status().last_errors
    config = standalone_config(redis_server, redisUsername="sdk", redisPassword="s3cret")
    async with open_factory("consumer", config) as factory:
        await factory.block_until_ready(5)
        assert await factory.client().get_treatment("alice", "listed") == "listed"
    assert any(entry["username"] == "sdk" for entry in cache.acl_log())  # the refused login


@pytest.mark.anyio
async def test_unix_socket(tmp_path: Path) -> None:
    socket_path = tmp_path / "redis.sock"
    server = _start(lambda: RedisServer(config=[f"unixsocket {socket_path}",
                                                "unixsocketperm 700"]))
    with server:
        write_data(server.client(decode_responses=True))
        config = {**BASE_CONFIG, "redisHost": "127.0.0.1", "redisPort": free_port(),
                  "redisUnixSocketPath": str(socket_path), "impressionsMode": "DEBUG"}
        async with open_factory("consumer", config) as factory:
            await factory.block_until_ready(5)
            assert await factory.client().get_treatment("vip_2", "rbs_feature") == "vip"
        assert recorded(server.client(decode_responses=True), "SPLITIO.impressions")


@pytest.mark.anyio
async def test_tls_with_certificate_verification(tls_redis_server: RedisServer) -> None:
    """``redisSsl`` with ``redisSslCaCerts``/``Certfile``/``Keyfile``/``CertReqs``; a server
    certificate that cannot be verified (no CA given) keeps the factory not ready."""
    write_data(tls_redis_server.client(decode_responses=True))
    base = standalone_config(tls_redis_server, redisSsl=True, redisSslCertReqs="required",
                             impressionsMode="DEBUG")
    async with open_factory("consumer", base) as factory:
        with pytest.raises(TimeoutException):
            await factory.block_until_ready(0.3)
        assert "certificate" in factory.status().last_errors["redis"].lower()
    config = {**base, "redisSslCaCerts": tls_redis_server.ca_file,
              "redisSslCertfile": tls_redis_server.cert_file,
              "redisSslKeyfile": tls_redis_server.key_file}
    async with open_factory("consumer", config) as factory:
        await factory.block_until_ready(5)
        assert await factory.client().get_treatment("beta_1", "gated") == "open"
        assert await factory.client().track("beta_1", "user", "tls")
    client = tls_redis_server.client(decode_responses=True)
    assert recorded(client, "SPLITIO.impressions")[0]["i"]["t"] == "open"
    assert recorded(client, "SPLITIO.events")[0]["e"]["eventTypeId"] == "tls"


@pytest.mark.anyio
async def test_connection_pool(redis_server: RedisServer, cache: redis.Redis) -> None:
    """``redisConnectionPool`` (redis-py's blocking pool, as the official sync SDK takes it):
    reads and writes reach its server, not ``redisHost``/``redisPort``."""
    pool = redis.ConnectionPool(host=redis_server.host, port=redis_server.port, db=0)
    config = {**BASE_CONFIG, "redisHost": "127.0.0.1", "redisPort": free_port(),
              "redisConnectionPool": pool, "impressionsMode": "DEBUG"}
    try:
        async with open_factory("consumer", config) as factory:
            await factory.block_until_ready(5)
            assert await factory.client().get_treatment("alice", "listed") == "listed"
            assert await factory.client().track("alice", "user", "pooled")
    finally:
        pool.disconnect()
    assert recorded(cache, "SPLITIO.impressions")[0]["i"]["f"] == "listed"
    assert recorded(cache, "SPLITIO.events")[0]["e"]["eventTypeId"] == "pooled"


@pytest.mark.anyio
async def test_asyncio_connection_pool(redis_server: RedisServer, cache: redis.Redis) -> None:
    """An asyncio pool works too (its settings: the SDK reaches its server with pools of its
    own)."""
    pool = redis.asyncio.ConnectionPool(host=redis_server.host, port=redis_server.port)
    config = {**BASE_CONFIG, "redisHost": "127.0.0.1", "redisPort": free_port(),
              "redisConnectionPool": pool}
    async with open_factory("consumer", config) as factory:
        await factory.block_until_ready(5)
        assert await factory.client().get_treatment("vip_1", "listed") == "vip_listed"


@pytest.mark.anyio
async def test_encoding(redis_server: RedisServer) -> None:
    """``redisEncoding``: keys are sent and members compared in that encoding."""
    client = redis_server.client()
    write_data(client)
    client.sadd("SPLITIO.segment.beta", "josé".encode("latin-1"))
    for encoding, member in (("latin-1", "in_beta"), ("utf-8", "off")):
        config = standalone_config(redis_server, redisEncoding=encoding,
                                   redisEncodingErrors="strict")
        async with open_factory("consumer", config) as factory:
            await factory.block_until_ready(5)
            assert await factory.client().get_treatment("josé", "beta_feature") == member


@pytest.mark.anyio
async def test_socket_timeout_fails_a_call_fast(
    redis_server: RedisServer, cache: redis.Redis
) -> None:
    """``redisSocketTimeout``: a Redis that does not answer (``CLIENT PAUSE``) fails the call
    within the timeout (``control``, label ``exception``), and the next calls recover."""
    listener = Listener()
    config = standalone_config(redis_server, redisSocketTimeout=0.2,
                               redisLocalCacheEnabled=False, impressionListener=listener)
    async with open_factory("consumer", config) as factory:
        await factory.block_until_ready(5)
        client = factory.client()
        assert await client.get_treatment("alice", "listed") == "listed"
        redis_server.execute("CLIENT", "PAUSE", "1500", "ALL")
        started = anyio.current_time()
        assert await client.get_treatment_with_config("alice", "listed") == ("control", None)
        assert anyio.current_time() - started < 1.2
        assert listener.seen[-1] == ("alice", "listed", "control", "exception")
        await treatment_becomes(client, "alice", "listed", "listed")


@pytest.mark.anyio
async def test_every_other_connection_key_is_accepted(
    redis_server: RedisServer, cache: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """The remaining official keys reach redis-py and the factory works: connect timeout,
    keepalive (and its options), retry on timeout, max connections, decode responses (we
    always decode), the deprecated ``redisErrors`` (warned), ``dataSampling`` below its
    minimum (warned, 0.1 kept), ``flagSetsFilter`` (discarded in consumer mode, warned)."""
    config = standalone_config(
        redis_server, redisSocketConnectTimeout=1.0, redisSocketKeepalive=True,
        redisSocketKeepaliveOptions={}, redisRetryOnTimeout=True, redisMaxConnections=10,
        redisDecodeResponses=False, redisErrors="strict", dataSampling=0.01,
        flagSetsFilter=["front"], impressionsMode="DEBUG",
    )
    async with open_factory("consumer", config) as factory:
        await factory.block_until_ready(5)
        client = factory.client()
        assert await client.get_treatments_by_flag_set("alice", "back") == {
            "beta_feature": "off", "rbs_feature": "regular"}  # not filtered to "front"
        for i in range(300):
            await client.get_treatment(f"sampled_{i}", "plain")
    assert "Parameter `redisErrors` is deprecated" in caplog.text
    assert "dataSampling cannot be less than 0.10" in caplog.text
    assert "FlagSet filter was discarded" in caplog.text
    sampled = len(recorded(cache, "SPLITIO.impressions"))
    assert 3 <= sampled <= 90, sampled  # ~10 % of 302 kept (p < 1e-6 to fall outside)


@pytest.mark.anyio
@pytest.mark.parametrize(("extra", "message"), [
    ({"redisSentinels": [("127.0.0.1", 1)]}, "redisMasterService must be specified."),
    ({"redisSentinels": None, "redisMasterService": "m"}, "redisSentinels must be specified."),
    ({"redisSentinels": ("127.0.0.1", 1), "redisMasterService": "m"},
     "Sentinels must be an array of elements in the form of [(ip, port)]."),
    ({"redisSentinels": [], "redisMasterService": "m"}, "It must be at least one sentinel."),
    ({"redisSentinels": [["127.0.0.1", 1]], "redisMasterService": "m"},
     "Sentinels must respect the tuple structure[(ip, port)]."),
])
async def test_sentinel_configuration_errors(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(SentinelConfigurationException) as raised:
        await get_factory_async("consumer", {**BASE_CONFIG, **extra})
    assert str(raised.value) == message


@pytest.mark.anyio
@pytest.mark.parametrize("extra", [
    {"redisClusterNodes": [("127.0.0.1", 1)], "redisPrefix": "app"},
    {"redisClusterNodes": []},
    {"redisClusterNodes": [("127.0.0.1",)]},
    {"redisClusterNodes": [("127.0.0.1", 1)], "redisSentinels": [("127.0.0.1", 2)],
     "redisMasterService": "m"},
])
async def test_cluster_configuration_errors(extra: dict[str, Any]) -> None:
    with pytest.raises(RedisClusterConfigurationException):
        await get_factory_async("consumer", {**BASE_CONFIG, **extra})


# ------------------------------------------------------------------------------ the shim


@pytest.mark.parametrize("portal", ["asyncio", "trio"])
def test_shim_reads_writes_and_one_round_trip_per_call(
    redis_server: RedisServer, cache: redis.Redis, tmp_path: Path, portal: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The blocking facade: calls run their steps in the caller's thread on the blocking client
    (one round trip each, cache off), answers equal localhost mode's, records in the same
    formats, TTLs and telemetry."""
    expected = anyio.run(localhost_answers, tmp_path)
    start_ms = int(time.time() * 1000)
    config = standalone_config(redis_server, impressionsMode="DEBUG",
                               redisLocalCacheEnabled=False)
    factory = get_factory("consumer", config, async_backend=portal)
    assert factory is not None
    users = [key for key in KEYS if key.startswith("user_")][:10]
    try:
        factory.block_until_ready(5)
        client = factory.client()
        for key in users:
            assert client.get_treatments_with_config(key, FLAG_NAMES) == expected[key]
        poll(lambda: init_written(cache), what="the telemetry init record")
        observer = Observer(redis_server.client(decode_responses=True))
        before = observer.snapshot()
        assert client.get_treatment("user_5", "rbs_feature") == "vip"
        assert observer.delta(before) == (1, {"get": 2, "sismember": 1})
        assert sorted(factory.manager().split_names()) == sorted(FLAG_NAMES)
        _make_calls_blocking(client)
    finally:
        factory.destroy()
    _check_written(cache, _latency_counts({"treatments_with_config": 10, "treatment": 1}),
                   start_ms)


def test_shim_connection_pool(redis_server: RedisServer, cache: redis.Redis) -> None:
    """``redisConnectionPool`` with the blocking facade (the official sync SDK's use)."""
    pool = redis.ConnectionPool(host=redis_server.host, port=redis_server.port)
    config = {**BASE_CONFIG, "redisHost": "127.0.0.1", "redisPort": free_port(),
              "redisConnectionPool": pool}
    factory = get_factory("consumer", config)
    assert factory is not None
    try:
        factory.block_until_ready(5)
        assert factory.client().get_treatment("beta_1", "beta_feature") == "in_beta"
    finally:
        factory.destroy()
        pool.disconnect()
    assert init_written(cache)
