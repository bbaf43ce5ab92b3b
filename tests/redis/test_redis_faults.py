"""Redis consumer mode under faults (issue #6, item 5), on asyncio, trio and the blocking shim:
Redis down at start, Redis lost mid-run (SIGKILL) and back, corrupted definitions. (A Sentinel
failover: ``test_sentinel_cluster.py``.)

A killed ``redis-server`` comes back empty (no persistence), so each test re-writes the cache
after ``restart()``, as the Split Synchronizer would.
"""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import pytest
import redis

from splitio_async import TimeoutException, open_factory
from splitio_sync_shim import get_factory
from tests.redis.consumer_support import (
    FIELD_PREFIX,
    FLAG_NAMES,
    Listener,
    localhost_answers,
    poll,
    recorded,
    standalone_config,
    treatment_becomes,
    write_data,
)
from tests.redis_servers import RedisServer

CONTROL = ("control", None)


def _client(server: RedisServer) -> redis.Redis:
    return server.client(decode_responses=True)


@pytest.mark.anyio
async def test_redis_down_at_start_then_up(redis_server: RedisServer) -> None:
    """Not ready while Redis cannot be read: ``block_until_ready`` raises TimeoutException,
    calls give ``control`` (label ``not ready``), the status says why; Redis comes up (and the
    Synchronizer fills it): ready, right answers, and what was recorded meanwhile is written."""
    redis_server.kill()
    listener = Listener()
    config = standalone_config(redis_server, impressionsMode="DEBUG",
                               impressionListener=listener)
    async with open_factory("consumer", config) as factory:
        with pytest.raises(TimeoutException):
            await factory.block_until_ready(0.3)
        status = factory.status()
        assert not status.ready and status.mode == "redis"
        assert "Connection" in status.last_errors["redis"]
        client = factory.client()
        assert await client.get_treatment_with_config("alice", "listed") == CONTROL
        assert listener.seen == [("alice", "listed", "control", "not ready")]
        assert await client.get_treatments("alice", ["plain", "killed"]) == {
            "plain": "control", "killed": "control"}
        assert await client.track("alice", "user", "while_down") is True
        assert await factory.manager().split_names() == []

        redis_server.restart()
        write_data(_client(redis_server))
        with anyio.fail_after(10):
            await factory.block_until_ready(10)
        assert await client.get_treatment("alice", "listed") == "listed"
        assert sorted(await factory.manager().split_names()) == sorted(FLAG_NAMES)
        assert "redis" not in factory.status().last_errors
    cache = _client(redis_server)
    assert [(v["i"]["f"], v["i"]["r"]) for v in recorded(cache, "SPLITIO.impressions")] == [
        ("listed", "not ready"), ("plain", "not ready"), ("killed", "not ready"),
        ("listed", "whitelisted"),
    ]
    assert recorded(cache, "SPLITIO.events")[0]["e"]["eventTypeId"] == "while_down"


@pytest.mark.anyio
async def test_redis_lost_mid_run_gives_control_then_recovers(redis_server: RedisServer) -> None:
    """SIGKILL mid-run (cache off): each call fails at once, without raising, with ``control``
    and the ``exception`` label (listener, impressions, telemetry exceptions); ``track`` still
    queues; the manager answers empty. Redis back: answers again, and everything recorded
    during the outage reaches Redis."""
    listener = Listener()
    config = standalone_config(redis_server, impressionsMode="DEBUG",
                               redisLocalCacheEnabled=False, impressionListener=listener)
    write_data(_client(redis_server))
    async with open_factory("consumer", config) as factory:
        await factory.block_until_ready(5)
        client = factory.client()
        assert await client.get_treatment("alice", "listed") == "listed"

        redis_server.kill()
        started = time.monotonic()
        assert await client.get_treatment_with_config("alice", "listed") == CONTROL
        assert time.monotonic() - started < 1.0  # no retry storm while Redis is down
        assert listener.seen[-1] == ("alice", "listed", "control", "exception")
        assert await client.get_treatments("bob", ["plain", "killed"]) == {
            "plain": "control", "killed": "control"}
        assert await client.get_treatments_by_flag_set("bob", "front") == {}
        assert await client.track("bob", "user", "during_outage") is True
        assert await factory.manager().split_names() == []
        assert await factory.manager().split("plain") is None
        assert factory.status().ready  # ready once: a lost Redis fails calls, not readiness
        assert "Connection" in factory.status().last_errors["redis"]

        redis_server.restart()
        write_data(_client(redis_server))
        await treatment_becomes(client, "alice", "listed", "listed")
        assert "redis" not in factory.status().last_errors
        assert await client.get_treatments("bob", ["killed"]) == {"killed": "dead"}
    cache = _client(redis_server)
    labels = [(v["i"]["k"], v["i"]["f"], v["i"]["t"], v["i"]["r"])
              for v in recorded(cache, "SPLITIO.impressions")]
    assert ("alice", "listed", "control", "exception") in labels
    assert ("bob", "killed", "control", "exception") in labels
    assert labels[-1] == ("bob", "killed", "dead", "killed")
    assert [e["e"]["eventTypeId"] for e in recorded(cache, "SPLITIO.events")] == [
        "during_outage"]
    exceptions = cache.hgetall("SPLITIO.telemetry.exceptions")
    assert int(exceptions[f"{FIELD_PREFIX}/treatment_with_config"]) == 1
    assert int(exceptions[f"{FIELD_PREFIX}/treatments"]) == 1


@pytest.mark.anyio
async def test_local_cache_serves_until_its_ttl_when_redis_is_lost(
    redis_server: RedisServer
) -> None:
    """Cache on: a Redis lost mid-run is not noticed by calls the cache can answer, until the
    cached data is older than ``redisLocalCacheTTL``; then ``control``."""
    write_data(_client(redis_server))
    config = standalone_config(redis_server, redisLocalCacheTTL=0.3,
                               destroyTimeout=0.2)  # Redis stays down: nothing to flush to
    async with open_factory("consumer", config) as factory:
        await factory.block_until_ready(5)
        client = factory.client()
        assert await client.get_treatment("vip_1", "rbs_feature") == "vip"
        redis_server.kill()
        assert await client.get_treatment("vip_1", "rbs_feature") == "vip"  # cached
        await treatment_becomes(client, "vip_1", "rbs_feature", "control")


@pytest.mark.anyio
async def test_corrupted_definitions(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """A flag key holding broken JSON: that flag gives ``control`` (logged once), the others
    keep working, including one depending on it; a broken rule-based segment fails the flags
    using it.
    At start it does not keep the factory from being ready; fixed, it is read again."""
    expected = await localhost_answers(tmp_path, ["vip_1"])
    cache = _client(redis_server)
    write_data(cache)
    cache.set("SPLITIO.split.plain", '{"name": "plain", "conditions": [')
    config = standalone_config(redis_server, redisLocalCacheEnabled=False)
    async with open_factory("consumer", config) as factory:
        await factory.block_until_ready(5)
        client = factory.client()
        answers = await client.get_treatments("vip_1", FLAG_NAMES)
        assert answers["plain"] == "control"
        assert answers["dependent"] == "other"  # its dependency evaluates to control
        assert answers["listed"] == "vip_listed"
        assert answers["rbs_feature"] == "vip"
        assert await client.get_treatment_with_config("alice", "plain") == CONTROL
        assert await client.get_treatment("alice", "listed") == "listed"
        assert caplog.text.count("Could not parse feature flag plain") == 1
        assert "plain" not in {view.name for view in await factory.manager().splits()}

        cache.set("SPLITIO.rbsegment.vip_rules", "not json at all")
        cache.set("SPLITIO.split.killed", "[1, 2")
        # a flag whose rule-based segment is missing fails (official: the matcher raises)
        assert await client.get_treatment("vip_1", "rbs_feature") == "control"
        assert await client.get_treatment("vip_1", "killed") == "control"
        assert await client.get_treatment("vip_1", "listed") == "vip_listed"
        assert "Could not parse rule-based segment vip_rules" in caplog.text

        write_data(cache)  # the Synchronizer writes good definitions again
        assert await client.get_treatments_with_config("vip_1", FLAG_NAMES) == expected["vip_1"]


def _write_bad_data(cache: redis.Redis) -> None:
    """Keys the Synchronizer would never write: a flag key holding a set, a flag-set key holding
    a string, and a flag whose value is not UTF-8 text."""
    write_data(cache)
    cache.delete("SPLITIO.split.plain")
    cache.sadd("SPLITIO.split.plain", "not a definition")
    cache.set("SPLITIO.flagSet.broken", "not a set")
    cache.set("SPLITIO.split.killed", b"\xff\xfe not text")


def _data_error_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The lines logged for data met by calls (not by the warm-up at start)."""
    return [r.getMessage() for r in caplog.records
            if "could not be used" in r.getMessage() and "at start" not in r.getMessage()]


@pytest.mark.anyio
async def test_data_errors_are_not_redis_being_unavailable(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis answers, but with data the SDK cannot use (a key of the wrong kind, text that is
    not UTF-8): the calls that need it give ``control`` with the ``exception`` label, each
    problem is logged once as what it is, never as "Error fetching data from Redis", and the
    factory is ready and serves everything else."""
    _write_bad_data(_client(redis_server))
    listener = Listener()
    config = standalone_config(redis_server, redisLocalCacheEnabled=False,
                               impressionListener=listener)
    async with open_factory("consumer", config) as factory:
        await factory.block_until_ready(5)  # the warm-up met the bad keys: ready without it
        client = factory.client()
        for _ in range(3):
            assert await client.get_treatment_with_config("alice", "plain") == CONTROL
            assert await client.get_treatment("alice", "killed") == "control"
            assert await client.get_treatments_by_flag_set("alice", "broken") == {}
            assert await client.get_treatment("alice", "listed") == "listed"
        assert listener.seen[0] == ("alice", "plain", "control", "exception")
        assert ("alice", "listed", "listed", "whitelisted") in listener.seen
        await client.get_treatment("alice", "plain")
        assert "WRONGTYPE" in factory.status().last_errors["redis"]
    lines = _data_error_lines(caplog)
    assert sum("WRONGTYPE" in line for line in lines) == 1  # the flag and the set: one reply
    assert sum("UnicodeDecodeError" in line for line in lines) == 1
    assert "at start could not be used" in caplog.text
    assert "Error fetching data from Redis" not in caplog.text
    assert "Redis cannot be read" not in caplog.text


@pytest.mark.parametrize("portal", ["asyncio", "trio"])
def test_shim_data_errors_are_not_redis_being_unavailable(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture, portal: str
) -> None:
    """The same in the blocking facade, whose calls read Redis in the caller's thread."""
    _write_bad_data(_client(redis_server))
    config = standalone_config(redis_server, redisLocalCacheEnabled=False)
    factory = get_factory("consumer", config, async_backend=portal)
    assert factory is not None
    try:
        factory.block_until_ready(5)
        client = factory.client()
        for _ in range(3):
            assert client.get_treatment_with_config("alice", "plain") == CONTROL
            assert client.get_treatment("alice", "killed") == "control"
            assert client.get_treatment("alice", "listed") == "listed"
    finally:
        factory.destroy()
    lines = _data_error_lines(caplog)
    assert sum("WRONGTYPE" in line for line in lines) == 1
    assert sum("UnicodeDecodeError" in line for line in lines) == 1
    assert "Error fetching data from Redis" not in caplog.text


@pytest.mark.parametrize("portal", ["asyncio", "trio"])
def test_shim_redis_down_at_start_lost_and_back(redis_server: RedisServer, portal: str) -> None:
    """The blocking facade: not ready while Redis is down (TimeoutException), ready when it
    comes up; lost mid-run: ``control`` at once in the caller's thread; back: answers."""
    redis_server.kill()
    listener = Listener()
    config = standalone_config(redis_server, redisLocalCacheEnabled=False,
                               impressionListener=listener)
    factory = get_factory("consumer", config, async_backend=portal)
    assert factory is not None
    try:
        with pytest.raises(TimeoutException):
            factory.block_until_ready(0.3)
        client = factory.client()
        assert client.get_treatment("alice", "listed") == "control"
        redis_server.restart()
        write_data(_client(redis_server))
        factory.block_until_ready(10)
        assert client.get_treatment("alice", "listed") == "listed"

        redis_server.kill()
        started = time.monotonic()
        assert client.get_treatment_with_config("alice", "listed") == CONTROL
        assert time.monotonic() - started < 1.0
        assert listener.seen[-1] == ("alice", "listed", "control", "exception")
        assert client.track("alice", "user", "during_outage") is True
        redis_server.restart()
        write_data(_client(redis_server))
        poll(lambda: client.get_treatment("alice", "listed") == "listed", 5, "recovery")
    finally:
        factory.destroy()
    events = recorded(_client(redis_server), "SPLITIO.events")
    assert [e["e"]["eventTypeId"] for e in events] == ["during_outage"]
