"""Redis consumer mode on Sentinel (with failovers, plain and TLS) and on Redis Cluster (issue
#6, items 3 and 5), on asyncio, trio and the blocking shim. The topologies are shared by the
module (``sentinel_set``, ``tls_sentinel_set``, ``redis_cluster``); each test starts from
``flushall()`` and writes the cache itself.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest
import redis

from splitio_async import open_factory
from splitio_sync_shim import get_factory
from tests.redis.consumer_support import (
    BASE_CONFIG,
    FIELD_PREFIX,
    FLAG_NAMES,
    KEYS,
    TTL,
    Observer,
    localhost_answers,
    recorded,
    treatment_becomes,
    write_data,
)
from tests.redis_cache import key_of
from tests.redis_servers import RedisCluster, SentinelSet

CONTROL = ("control", None)


# ------------------------------------------------------------------------------ Sentinel


def _sentinel_config(sentinels: SentinelSet, **extra: Any) -> dict[str, Any]:
    config = {**BASE_CONFIG, "redisSentinels": list(sentinels.sentinels),
              "redisMasterService": sentinels.master_name, **extra}
    if sentinels.tls:
        config.update(redisSsl=True, redisSslCaCerts=sentinels.ca_file,
                      redisSslCertfile=sentinels.cert_file, redisSslKeyfile=sentinels.key_file)
    return config


def _master(sentinels: SentinelSet) -> redis.Redis:
    """A decoding client on the current master (closed by the caller)."""
    server = sentinels.master_server()
    return redis.Redis(host=server.host, port=server.port, decode_responses=True,
                       **sentinels.connection_kwargs())


def _fresh(sentinels: SentinelSet) -> None:
    sentinels.flushall()
    client = _master(sentinels)
    try:
        write_data(client)
    finally:
        client.close()


def _written(sentinels: SentinelSet) -> dict[str, Any]:
    client = _master(sentinels)
    try:
        return {
            "impressions": recorded(client, "SPLITIO.impressions"),
            "events": recorded(client, "SPLITIO.events"),
            "init": client.hgetall("SPLITIO.telemetry.init"),
            "ttl": client.ttl("SPLITIO.impressions"),
        }
    finally:
        client.close()


async def _sentinel_failover_case(
    sentinels: SentinelSet, tmp_path: Path, *, kill: bool
) -> None:
    """Evaluations (equal to localhost mode's) and ``track`` before a failover; after it (the
    old master demoted, or killed), evaluations and writes reach the new master."""
    expected = await localhost_answers(tmp_path, KEYS[:10])
    await anyio.to_thread.run_sync(_fresh, sentinels)
    config = _sentinel_config(sentinels, impressionsMode="DEBUG", redisLocalCacheEnabled=False,
                              redisSocketTimeout=1.0)
    async with open_factory("consumer", config) as factory:
        await factory.block_until_ready(10)
        client = factory.client()
        for key in KEYS[:10]:
            assert await client.get_treatments_with_config(key, FLAG_NAMES) == expected[key]
        assert await client.track("alice", "user", "before")
        old = sentinels.master_address()

        new = await anyio.to_thread.run_sync(lambda: sentinels.failover(kill=kill))
        assert new != old
        # reads go on (at once from a demoted master, which still serves them; from the new
        # master once the SDK's connections to a killed one failed over)
        await treatment_becomes(client, "bob", "listed", "listed", within=10)
        assert await client.get_treatments_with_config("vip_1", FLAG_NAMES) == expected["vip_1"]
        assert await client.track("bob", "user", "after")
        assert (await factory.manager().split("plain")) is not None
    written = await anyio.to_thread.run_sync(_written, sentinels)
    assert [e["e"]["eventTypeId"] for e in written["events"]] == ["before", "after"]
    keys = {(v["i"]["k"], v["i"]["f"]) for v in written["impressions"]}
    assert {(key, name) for key in KEYS[:10] for name in FLAG_NAMES} <= keys
    assert ("bob", "listed") in keys and ("vip_1", "plain") in keys
    assert TTL - 60 < written["ttl"] <= TTL
    assert list(written["init"]) == [FIELD_PREFIX]  # written at start, replicated


@pytest.mark.anyio
async def test_sentinel_reads_writes_and_a_killed_master(
    sentinel_set: SentinelSet, tmp_path: Path
) -> None:
    """``redisSentinels`` (a list of (host, port) tuples) and ``redisMasterService``; the
    master is SIGKILLed and Sentinel promotes the replica."""
    await _sentinel_failover_case(sentinel_set, tmp_path, kill=True)


@pytest.mark.anyio
async def test_sentinel_over_tls_and_a_failover(
    tls_sentinel_set: SentinelSet, tmp_path: Path
) -> None:
    """TLS to the sentinels and to the data nodes (``redisSsl`` + CA/cert/key);
    ``SENTINEL FAILOVER`` demotes the master."""
    await _sentinel_failover_case(tls_sentinel_set, tmp_path, kill=False)


def test_shim_on_sentinel_with_a_failover(sentinel_set: SentinelSet) -> None:
    """The blocking facade on Sentinel: the caller's thread reads through its own client, which
    follows a failover too."""
    _fresh(sentinel_set)
    factory = get_factory("consumer", _sentinel_config(
        sentinel_set, impressionsMode="DEBUG", redisLocalCacheEnabled=False))
    assert factory is not None
    try:
        factory.block_until_ready(10)
        client = factory.client()
        assert client.get_treatment("beta_1", "gated") == "open"
        sentinel_set.failover()
        deadline = time.monotonic() + 10
        while client.get_treatment("alice", "listed") != "listed":
            assert time.monotonic() < deadline, "no answer after the failover"
            time.sleep(0.02)
        assert client.track("alice", "user", "after_failover")
    finally:
        factory.destroy()
    written = _written(sentinel_set)
    assert [e["e"]["eventTypeId"] for e in written["events"]] == ["after_failover"]
    assert {v["i"]["f"] for v in written["impressions"]} >= {"gated", "listed"}


# ------------------------------------------------------------------------------ Cluster


def _cluster_client(cluster: RedisCluster) -> Any:
    return cluster.client(decode_responses=True)


def _owner(cluster: RedisCluster, client: Any, prefix: str) -> Any:
    """The node holding every key of ``prefix`` (its hash tag's slot)."""
    node = client.get_node_from_key(key_of(prefix, "SPLITIO.split.plain"))
    return next(s for s in cluster.servers if s.port == node.port)


async def _cluster_case(cluster: RedisCluster, tmp_path: Path, prefix: str | None) -> None:
    expected = await localhost_answers(tmp_path, KEYS[:12])
    tag = prefix or "{SPLITIO}"  # the default prefix in cluster mode
    cluster.flushall()
    client = _cluster_client(cluster)
    try:
        write_data(client, prefix=tag)
        owner = _owner(cluster, client, tag)
        extra = {"redisPrefix": prefix} if prefix else {}
        config = {**BASE_CONFIG, "redisClusterNodes": [cluster.nodes[0]],
                  "redisLocalCacheEnabled": False, **extra}
        async with open_factory("consumer", config) as factory:
            await factory.block_until_ready(10)
            sdk = factory.client()
            for key in KEYS[:12]:
                assert await sdk.get_treatments_with_config(key, FLAG_NAMES) == expected[key]
            for _ in range(3):
                assert await sdk.get_treatment("alice", "listed") == "listed"
            assert await sdk.get_treatments_by_flag_sets("vip_1", ["back", "front"]) == {
                name: expected["vip_1"][name][0]
                for name in ("beta_feature", "rbs_feature", "plain", "account_flag")
            }
            assert await sdk.track("alice", "account", "cluster_event", 1)
            manager = factory.manager()
            assert sorted(await manager.split_names()) == sorted(FLAG_NAMES)  # KEYS, all nodes
            assert len(await manager.splits()) == len(FLAG_NAMES)
            assert (await manager.split("killed")).killed  # type: ignore[union-attr]

            # one evaluation = one pipeline to the one node holding the hash tag's slot
            observer = Observer(redis.Redis(host=owner.host, port=owner.port,
                                            decode_responses=True))
            before = observer.snapshot()
            await sdk.get_treatment("vip_1", "rbs_feature")
            assert observer.delta(before) == (1, {"get": 2, "sismember": 1})
            observer.client.close()
        impressions = recorded(client, "SPLITIO.impressions", tag)
        assert {(v["i"]["k"], v["i"]["f"]) for v in impressions} >= {("alice", "listed")}
        assert TTL - 60 < client.ttl(key_of(tag, "SPLITIO.impressions")) <= TTL
        counts = client.hgetall(key_of(tag, "SPLITIO.impressions.count"))
        assert sum(int(v) for f, v in counts.items() if f.startswith("listed::")) == 3
        events = recorded(client, "SPLITIO.events", tag)
        assert [(e["e"]["eventTypeId"], e["e"]["value"]) for e in events] == [
            ("cluster_event", 1)]
        assert list(client.hgetall(key_of(tag, "SPLITIO.telemetry.init"))) == [FIELD_PREFIX]
        assert client.hlen(key_of(tag, "SPLITIO.telemetry.latencies")) > 0

        async with open_factory("consumer", {**config, "impressionsMode": "NONE"}) as factory:
            await factory.block_until_ready(10)
            await factory.client().get_treatments("bob", ["plain", "killed"])
        unique = recorded(client, "SPLITIO.uniquekeys", tag)
        assert {u["f"]: u["ks"] for u in unique} == {"plain": ["bob"], "killed": ["bob"]}
        # every key the SDK wrote is in the tag's slot, on the one node
        written = [k for k in owner.execute("KEYS", "*") if "SPLITIO" in k]
        assert len(written) == int(owner.execute("DBSIZE"))
        assert all(key.startswith(f"{tag}.SPLITIO.") for key in written)
    finally:
        client.close()


@pytest.mark.anyio
async def test_cluster_with_the_default_prefix(redis_cluster: RedisCluster, tmp_path: Path) -> None:
    """``redisClusterNodes`` without ``redisPrefix``: keys live under ``{SPLITIO}.`` (one slot),
    and every operation works: evaluations (equal to localhost mode's), flag sets, the manager
    (KEYS on every node), track, impressions, counts, unique keys, telemetry."""
    await _cluster_case(redis_cluster, tmp_path, None)


@pytest.mark.anyio
async def test_cluster_with_a_hash_tagged_prefix(
    redis_cluster: RedisCluster, tmp_path: Path
) -> None:
    await _cluster_case(redis_cluster, tmp_path, "{tenant-7}.flags")


def test_shim_on_cluster(redis_cluster: RedisCluster) -> None:
    redis_cluster.flushall()
    client = _cluster_client(redis_cluster)
    try:
        write_data(client, prefix="{shim}")
        config = {**BASE_CONFIG, "redisClusterNodes": list(redis_cluster.nodes),
                  "redisPrefix": "{shim}", "impressionsMode": "DEBUG"}
        factory = get_factory("consumer", config)
        assert factory is not None
        try:
            factory.block_until_ready(10)
            sdk = factory.client()
            assert sdk.get_treatment("vip_2", "rbs_feature") == "vip"
            assert sdk.get_treatments_by_flag_set("beta_1", "back") == {
                "beta_feature": "in_beta", "rbs_feature": "regular"}
            assert sdk.track("vip_2", "user", "shim")
            assert sorted(factory.manager().split_names()) == sorted(FLAG_NAMES)
        finally:
            factory.destroy()
        assert {v["i"]["f"] for v in recorded(client, "SPLITIO.impressions", "{shim}")} == {
            "rbs_feature", "beta_feature"}
        assert recorded(client, "SPLITIO.events", "{shim}")[0]["e"]["eventTypeId"] == "shim"
    finally:
        client.close()
