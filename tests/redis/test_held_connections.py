"""The blocking Redis path (``redis/connection.py``, ``BlockingRedis``) keeps its connections
between calls through redis-py's public API only: threads never share one, a forked child never
touches its parent's sockets, an error reply leaves the connection usable, and replies are text
even from a user's pool that does not decode."""

from __future__ import annotations

import ast
import os
import threading

import pytest
import redis

from splitio_async.redis.connection import BlockingRedis, build_blocking_client
from splitio_async.redis.settings import RedisSettings
from tests.conftest import REPO
from tests.redis_servers import RedisServer


def _client(server: RedisServer) -> BlockingRedis:
    return BlockingRedis(build_blocking_client(RedisSettings.from_dict(
        {"redisHost": server.host, "redisPort": server.port}
    )))


def test_threads_get_their_own_connection_and_replies(redis_server: RedisServer) -> None:
    client = _client(redis_server)
    for n in range(8):
        client.execute([("set", f"k{n}", f"v{n}")])
    wrong: list[tuple[int, object]] = []

    def reader(n: int) -> None:
        for _ in range(300):
            replies = client.execute([("get", f"k{n}"), ("sismember", "nope", "x")])
            if replies != [f"v{n}", 0]:
                wrong.append((n, replies))

    threads = [threading.Thread(target=reader, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []
    assert int(redis_server.info("clients")["connected_clients"]) <= 9  # ours + the probe


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_opens_its_own_connections(redis_server: RedisServer) -> None:
    client = _client(redis_server)
    client.execute([("set", "parent", "P")])
    client.execute([("set", "child", "C")])
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit code
        ok = all(client.execute([("get", "child")]) == ["C"] for _ in range(300))
        os._exit(0 if ok else 1)
    parent_ok = all(client.execute([("get", "parent")]) == ["P"] for _ in range(300))
    _, status = os.waitpid(pid, 0)
    assert parent_ok
    assert os.waitstatus_to_exitcode(status) == 0


def test_an_error_reply_is_raised_after_every_reply_was_read(redis_server: RedisServer) -> None:
    """The batch's other replies are read too, so the same connection serves the next batch."""
    client = _client(redis_server)
    client.execute([("set", "text", "T"), ("sadd", "members", "m")])
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        client.execute([("get", "text"), ("get", "members"), ("sismember", "members", "m")])
    assert client.execute([("get", "text"), ("sismember", "members", "m")]) == ["T", 1]
    assert int(redis_server.info("clients")["connected_clients"]) == 2  # ours + the probe


def test_replies_are_text_from_a_pool_that_does_not_decode(redis_server: RedisServer) -> None:
    pool = redis.ConnectionPool(host=redis_server.host, port=redis_server.port)
    client = BlockingRedis(redis.Redis(connection_pool=pool))
    client.execute([("set", "k", "é"), ("sadd", "s", "a", "b")])
    text, members, keys = client.execute([("get", "k"), ("smembers", "s"), ("keys", "k")])
    assert (text, sorted(members), keys) == ("é", ["a", "b"], ["k"])
    client.close()  # gives the held connections back; the user's pool stays theirs
    assert redis.Redis(connection_pool=pool).get("k") == "é".encode()


def test_the_redis_package_uses_no_private_attribute_of_other_objects() -> None:
    """redis-py's public API only: no ``x._name`` on anything but our own ``self``/``cls``."""
    for path in sorted((REPO / "splitio_async" / "redis").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not (
                node.attr.startswith("__") and node.attr.endswith("__")
            ):
                owner = node.value
                assert isinstance(owner, ast.Name) and owner.id in ("self", "cls"), (
                    f"{path.name}:{node.lineno} reads {ast.unparse(node)}"
                )
