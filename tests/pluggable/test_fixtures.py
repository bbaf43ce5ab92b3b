"""The pluggable-storage fixtures themselves: the four wrappers keep one contract (the one the
official SDK relies on, OFFICIAL.md §3), their snapshots agree, and the conformance store has the
Split Synchronizer's layout."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
import redis

from tests.pluggable.conformance_store import conformance_snapshot, definitions, segments
from tests.pluggable.wrappers import (
    METHODS,
    AsyncDictWrapper,
    AsyncRedisWrapper,
    DictWrapper,
    RedisWrapper,
    Snapshot,
    WrongType,
    broken_wrapper,
    load_snapshot,
)
from tests.redis_servers import RedisServer

Caller = Callable[..., Awaitable[Any]]
FLAG = {"name": "f", "n": [1, 2], "s": "ñandú 😀"}
PREFIX = "we*ird[1]."  # glob characters: a prefix scan must take them literally
DECOY = "weXXird1.v"  # what the prefix would match as a glob pattern


async def _contract(call: Caller) -> None:
    """Every method once or more, through ``call(method, *args)``, under ``PREFIX``."""
    p = PREFIX
    await call("set", DECOY, 1)
    assert await call("get", p + "v") is None
    assert await call("set", p + "v", FLAG) is True
    assert await call("get", p + "v") == FLAG
    assert await call("set", p + "n", 7) is True
    assert await call("get_many", [p + "v", p + "missing", p + "n"]) == [FLAG, 7]
    assert await call("get_many", []) == []
    # lists
    assert await call("push_items", p + "l", "x", "y") == 2
    assert await call("push_items", p + "l") == 2
    assert await call("push_items", p + "nothing") == 0
    assert await call("get", p + "nothing") is None
    assert await call("get", p + "l") == ["x", "y"] == await call("get_items", p + "l")
    assert await call("get_items_count", p + "l") == 2
    assert await call("get_items", p + "nothing") == []
    assert await call("get_items_count", p + "nothing") == 0
    # sets
    assert await call("add_items", p + "s", ["a", "b", "a"]) == 2
    assert await call("get_many", [p + "s"]) == [{"a", "b"}]
    assert await call("item_contains", p + "s", "a") is True
    assert await call("item_contains", p + "missing", "a") is False
    assert await call("remove_items", p + "s", ["a", "zz"]) == 1
    assert await call("get_items_count", p + "s") == 1
    assert await call("add_items", p + "e", []) == 0
    assert await call("get", p + "e") is None
    # counters and expiry
    assert await call("increment", p + "c", 5) == 5
    assert await call("decrement", p + "c", 2) == 3
    assert await call("decrement", p + "d", 1) == -1
    assert await call("expire", p + "c", 60) is True
    assert await call("expire", p + "missing", 60) is False
    # listing and deleting
    assert sorted(await call("get_keys_by_prefix", p)) == [p + k for k in "cdlnsv"]
    assert await call("delete", p + "v") is True
    assert await call("delete", p + "v") is False
    assert await call("remove_items", p + "s", ["b"]) == 1
    assert await call("get", p + "s") is None  # an emptied set is gone, as in Redis
    # kinds do not mix
    with pytest.raises((WrongType, redis.ResponseError)):
        await call("push_items", p + "n", "x")
    with pytest.raises((WrongType, redis.ResponseError)):
        await call("item_contains", p + "l", "x")
    assert await call("set", p + "t", "text") is True
    with pytest.raises((ValueError, redis.ResponseError)):
        await call("increment", p + "t", 1)


AFTER_CONTRACT: Snapshot = {  # what _contract leaves under PREFIX
    PREFIX + "c": {"value": 3, "ttl": 60},
    PREFIX + "d": {"value": -1},
    PREFIX + "l": {"list": ["x", "y"]},
    PREFIX + "n": {"value": 7},
    PREFIX + "t": {"value": "text"},
}


def _blocking(wrapper: Any) -> Caller:
    async def call(method: str, *args: Any) -> Any:
        return getattr(wrapper, method)(*args)

    return call


def _awaiting(wrapper: Any) -> Caller:
    async def call(method: str, *args: Any) -> Any:
        return await getattr(wrapper, method)(*args)

    return call


def _under_prefix(snapshot: Snapshot) -> Snapshot:
    return {key: entry for key, entry in snapshot.items() if key.startswith(PREFIX)}


@pytest.mark.anyio
async def test_dict_wrappers_keep_the_contract() -> None:
    store = DictWrapper()
    await _contract(_blocking(store))
    assert _under_prefix(store.snapshot()) == AFTER_CONTRACT
    flavoured = AsyncDictWrapper()
    await _contract(_awaiting(flavoured))
    assert _under_prefix(flavoured.store.snapshot()) == AFTER_CONTRACT


def test_blocking_redis_wrapper_keeps_the_contract(redis_store: RedisServer) -> None:
    wrapper = RedisWrapper.connect(redis_store.host, redis_store.port, db=1)
    try:
        wrapper.client.flushdb()
        anyio.run(_contract, _blocking(wrapper))
        assert wrapper.snapshot(PREFIX) == AFTER_CONTRACT
        assert wrapper.get(DECOY) == 1
    finally:
        wrapper.client.flushdb()
        wrapper.close()


@pytest.mark.anyio
async def test_async_redis_wrapper_keeps_the_contract(
    redis_store: RedisServer, anyio_backend: Any
) -> None:
    backend = anyio_backend[0] if isinstance(anyio_backend, tuple) else anyio_backend
    if backend != "asyncio":
        pytest.skip("redis-py's asyncio client runs on asyncio only")
    wrapper = AsyncRedisWrapper.connect(redis_store.host, redis_store.port, db=2)
    try:
        await wrapper.client.flushdb()
        await _contract(_awaiting(wrapper))
        blocking = RedisWrapper.connect(redis_store.host, redis_store.port, db=2)
        try:
            assert blocking.snapshot(PREFIX) == AFTER_CONTRACT
        finally:
            blocking.close()
    finally:
        await wrapper.client.flushdb()
        await wrapper.close()


def test_dict_wrapper_expires_keys() -> None:
    now = [100.0]
    store = DictWrapper(clock=lambda: now[0])
    store.push_items("l", "x")
    assert store.expire("l", 10) is True
    now[0] = 109.5
    assert store.get_items("l") == ["x"] and store.snapshot() == {"l": {"list": ["x"], "ttl": 1}}
    now[0] = 110.0
    assert store.get("l") is None and store.get_keys_by_prefix("") == [] and store.snapshot() == {}
    assert store.push_items("l", "y") == 1  # a new list, without the old TTL
    assert store.snapshot() == {"l": {"list": ["y"]}}


def test_snapshots_load_and_dump_alike_in_both_stores(redis_store: RedisServer) -> None:
    """The conformance store round-trips through both stores, TTLs included."""
    initial = {**conformance_snapshot("rt"), "rt.SPLITIO.events": {"list": ["e"], "ttl": 3600}}
    in_dict = DictWrapper(initial)
    assert in_dict.snapshot() == initial
    assert in_dict.calls == {}  # loading is not counted as use
    on_redis = RedisWrapper.connect(redis_store.host, redis_store.port, db=3)
    try:
        on_redis.client.flushdb()
        load_snapshot(on_redis, initial)
        assert on_redis.snapshot("rt.") == initial
    finally:
        on_redis.client.flushdb()
        on_redis.close()


def test_journaling_dict_wrapper_keeps_every_call() -> None:
    store = DictWrapper({"k": {"value": 1}}, journal=True)
    store.get("k")
    store.push_items("l", "a", "b")
    assert store.journal == [("get", ("k",)), ("push_items", ("l", "a", "b"))]
    assert store.calls == {"get": 1, "push_items": 1}


def test_broken_wrappers_have_the_flaw_they_are_named_for() -> None:
    for method, least in METHODS.items():
        missing = broken_wrapper(f"missing:{method}")
        assert not inspect.ismethod(getattr(missing, method, None))
        short = broken_wrapper(f"short:{method}")
        assert len(inspect.signature(getattr(short, method)).parameters) == least - 1
        others = set(METHODS) - {method}
        assert all(inspect.ismethod(getattr(missing, name)) for name in others)
    with pytest.raises(ValueError, match="unknown flaw"):
        broken_wrapper("missing:pop")


def test_the_store_holds_the_conformance_set_in_the_synchronizer_layout() -> None:
    """The Redis layout's names under ``<prefix>.``, every live flag and rule-based segment
    (repaired as the localhost loader repairs them), segments as sets, flag sets naming their
    flags, traffic-type counts, change numbers; the same names bare without a prefix."""
    store = conformance_snapshot("p")
    assert store == {f"p.{key}": entry for key, entry in conformance_snapshot(None).items()}
    changes, flags, rule_based = definitions()
    by_name = {flag["name"]: flag for flag in flags}
    assert {k.removeprefix("p.SPLITIO.split."): v["value"] for k, v in store.items()
            if k.startswith("p.SPLITIO.split.")} == by_name
    assert len(by_name) == sum(f.get("status") != "ARCHIVED" for f in changes["ff"]["d"])
    for flag in flags:
        assert flag["algo"] == 2 and 0 <= flag["trafficAllocation"] <= 100
        assert flag["defaultTreatment"].strip() and flag["status"] == "ACTIVE"
        last = flag["conditions"][-1]
        assert last["conditionType"] == "ROLLOUT"
        assert "ALL_KEYS" in {m["matcherType"] for m in last["matcherGroup"]["matchers"]}
    assert {k.removeprefix("p.SPLITIO.rbsegment."): v["value"] for k, v in store.items()
            if k.startswith("p.SPLITIO.rbsegment.")} == {r["name"]: r for r in rule_based}
    assert store["p.SPLITIO.splits.till"] == {"value": changes["ff"]["t"]}
    assert store["p.SPLITIO.rbsegments.till"] == {"value": changes["rbs"]["t"]}
    assert store["p.SPLITIO.trafficType.user"] == {"value": len(flags)}
    sets = {name for flag in flags for name in flag["sets"]}
    assert {k for k in store if k.startswith("p.SPLITIO.flagSet.")} == {
        f"p.SPLITIO.flagSet.{name}" for name in sets}
    for name in sets:
        assert store[f"p.SPLITIO.flagSet.{name}"] == {
            "set": sorted(f["name"] for f in flags if name in f["sets"])}
    for name, (members, till) in segments().items():
        assert store[f"p.SPLITIO.segment.{name}.till"] == {"value": till}
        assert store.get(f"p.SPLITIO.segment.{name}") == ({"set": sorted(members)} if members
                                                          else None)
