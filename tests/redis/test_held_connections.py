"""The blocking Redis path keeps its connections between calls (``transport/redis_connection``):
threads never share one, and a forked child never touches its parent's sockets."""

from __future__ import annotations

import os
import threading

import pytest

from splitio_async.redis.connection import build_blocking_client, run_blocking
from splitio_async.redis.settings import RedisSettings
from tests.redis_servers import RedisServer


def _client(server: RedisServer) -> object:
    return build_blocking_client(RedisSettings.from_dict(
        {"redisHost": server.host, "redisPort": server.port}
    ))


def test_threads_get_their_own_connection_and_replies(redis_server: RedisServer) -> None:
    client = _client(redis_server)
    for n in range(8):
        run_blocking(client, [("set", f"k{n}", f"v{n}")])
    wrong: list[tuple[int, object]] = []

    def reader(n: int) -> None:
        for _ in range(300):
            replies = run_blocking(client, [("get", f"k{n}"), ("sismember", "nope", "x")])
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
    run_blocking(client, [("set", "parent", "P")])
    run_blocking(client, [("set", "child", "C")])
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit code
        ok = all(run_blocking(client, [("get", "child")]) == ["C"] for _ in range(300))
        os._exit(0 if ok else 1)
    parent_ok = all(run_blocking(client, [("get", "parent")]) == ["P"] for _ in range(300))
    _, status = os.waitpid(pid, 0)
    assert parent_ok
    assert os.waitstatus_to_exitcode(status) == 0
