"""The Redis test infrastructure itself: each fixture gives a working server/topology."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from redis.cluster import RedisCluster as ClusterClient

from tests.redis_servers import RedisCluster, RedisServer, SentinelSet, execute

REPO = Path(__file__).resolve().parents[2]


def test_standalone_set_get(redis_server: RedisServer) -> None:
    client = redis.Redis(host=redis_server.host, port=redis_server.port)
    try:
        assert client.set("SPLITIO.split.flag", "{}")
        assert client.get("SPLITIO.split.flag") == b"{}"
        assert redis_server.port not in (6379, 26379)
    finally:
        client.close()


def test_standalone_is_fresh_per_test(redis_server: RedisServer) -> None:
    assert redis_server.execute("DBSIZE") == 0


def test_standalone_kill_and_restart_on_the_same_port(redis_server: RedisServer) -> None:
    port, pid = redis_server.port, redis_server.pid
    redis_server.execute("SET", "k", "v")
    redis_server.kill()
    assert not redis_server.running
    with pytest.raises(ConnectionRefusedError):
        execute(redis_server.address, "PING")

    redis_server.restart()
    assert (redis_server.port, redis_server.running) == (port, True)
    assert redis_server.pid != pid
    assert redis_server.execute("GET", "k") is None  # killed: no persistence

    redis_server.execute("SET", "k", "kept")
    redis_server.restart(save=True)  # SHUTDOWN SAVE, then start on the same dir
    assert redis_server.execute("GET", "k") == "kept"


@pytest.mark.usefixtures("redis_available")
def test_processes_are_reaped_at_interpreter_exit() -> None:
    script = "from tests.redis_servers import RedisServer; s = RedisServer(); print(s.pid, s.dir)"
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    pid, directory = result.stdout.split()
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid), 0)
    assert not Path(directory).exists()


def test_tls_connect_with_the_ca(tls_redis_server: RedisServer) -> None:
    assert tls_redis_server.url.startswith("rediss://")
    client = redis.Redis(
        host=tls_redis_server.host,
        port=tls_redis_server.port,
        ssl=True,
        ssl_ca_certs=tls_redis_server.ca_file,
    )
    try:
        assert client.set("k", "v")
        assert client.get("k") == b"v"
    finally:
        client.close()
    with pytest.raises(ConnectionError):  # TLS only: a plain-text client gets nowhere
        execute(tls_redis_server.address, "PING", timeout=2)


def _sentinel_round_trip(sentinels: SentinelSet, *, kill: bool) -> None:
    """``master_for`` finds the master; after ``failover()`` writes land on the new one."""
    sentinel = sentinels.sentinel_client(socket_timeout=2)
    master = sentinel.master_for(sentinels.master_name)
    try:
        old = sentinels.master_address()
        assert sentinel.discover_master(sentinels.master_name) == old
        master.set("before", "1")
        # the replica must hold it before the failover: WAIT for its acknowledgement (a
        # loaded machine can otherwise promote it before the write reached it)
        assert master.execute_command("WAIT", 1, 10_000) >= 1

        new = sentinels.failover(kill=kill)
        assert new != old
        assert sentinels.master_address() == new
        assert sentinel.discover_master(sentinels.master_name) == new

        try:
            master.set("after", "2")
        except redis.ConnectionError:
            # redis-py: a pooled connection to the demoted master gets READONLY, raises
            # "The previous master is now a slave" once; the next command asks the sentinels.
            master.set("after", "2")
        new_master = sentinels.master_server()
        assert new_master.address == new
        assert new_master.execute("GET", "before") == "1"  # replicated before the failover
        assert new_master.execute("GET", "after") == "2"
        assert new_master.execute("ROLE")[0] == "master"
        assert sentinels.replica_server().execute("ROLE")[0] == "slave"
    finally:
        master.close()
        for client in sentinel.sentinels:
            client.close()


def test_sentinel_master_for_and_failover(sentinel_set: SentinelSet) -> None:
    assert len(sentinel_set.sentinels) == 3
    assert all(host == "127.0.0.1" for host, _ in sentinel_set.sentinels)
    _sentinel_round_trip(sentinel_set, kill=False)  # SENTINEL FAILOVER


def test_sentinel_over_tls_and_master_killed(tls_sentinel_set: SentinelSet) -> None:
    assert tls_sentinel_set.ca_file is not None
    _sentinel_round_trip(tls_sentinel_set, kill=True)  # SIGKILL, sentinels elect a leader


def test_cluster_keys_in_different_slots_and_a_shared_hash_tag(
    redis_cluster: RedisCluster,
) -> None:
    assert len(redis_cluster.nodes) == 3
    client = ClusterClient(host=redis_cluster.nodes[0][0], port=redis_cluster.nodes[0][1])
    try:
        keys = [f"key-{i}" for i in range(12)]
        for key in keys:
            client.set(key, key.upper())
        assert [client.get(key) for key in keys] == [key.upper().encode() for key in keys]
        owners = {client.get_node_from_key(key).port for key in keys}
        assert len(owners) == 3, "keys should spread over all three masters"

        tagged = ["{SPLITIO}.split.a", "{SPLITIO}.split.b", "{SPLITIO}.splits.till"]
        assert len({client.keyslot(key) for key in tagged}) == 1
        client.mset({key: str(i) for i, key in enumerate(tagged)})
        assert client.mget(tagged) == [b"0", b"1", b"2"]
    finally:
        client.close()
    redis_cluster.flushall()
    assert all(server.execute("DBSIZE") == 0 for server in redis_cluster.servers)
