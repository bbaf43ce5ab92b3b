"""No Redis password in any log line, at any level, from any logger (ours, redis-py's), on
asyncio, trio and the shim: a consumer factory that authenticates, and one whose password is
wrong (the error paths log the most). The harness's server keeps its default user open, so the
SDK's user is an ACL user with a password."""

from __future__ import annotations

import logging
from typing import Any

import anyio
import pytest

from splitio_async import TimeoutException, open_factory
from splitio_sync_shim import get_factory
from tests.redis.consumer_support import standalone_config, write_data
from tests.redis_servers import RedisServer

PASSWORD = "redis-pw-SECRET-31337"
WRONG = "wrong-pw-SECRET-7"


def secured(server: RedisServer) -> None:
    client = server.client(decode_responses=True)
    try:
        client.execute_command("ACL", "SETUSER", "splitter", "on", f">{PASSWORD}", "~*", "+@all")
        write_data(client)
    finally:
        client.close()


def leaks(caplog: pytest.LogCaptureFixture) -> list[str]:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    texts = [formatter.format(record) for record in caplog.records]
    assert texts, "nothing was logged: nothing was checked"
    return [text for text in texts if PASSWORD in text or WRONG in text]


def config(server: RedisServer, password: str) -> dict[str, Any]:
    return standalone_config(server, redisUsername="splitter", redisPassword=password)


@pytest.mark.anyio
async def test_no_redis_password_in_the_logs(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secured(redis_server)
    async with open_factory("consumer", config(redis_server, PASSWORD)) as factory:
        await factory.block_until_ready(5)
        assert await factory.client().get_treatment("alice", "plain") != "control"
        assert await factory.client().track("alice", "user", "click")
    async with open_factory("consumer", config(redis_server, WRONG)) as factory:
        with pytest.raises(TimeoutException):
            await factory.block_until_ready(0.3)
        assert "redis" in factory.status().last_errors
        with anyio.fail_after(5):
            assert await factory.client().get_treatment("alice", "plain") == "control"
            assert await factory.client().track("alice", "user", "click")
        started = anyio.current_time()  # destroy: Redis never answered, nothing to wait for
    assert anyio.current_time() - started < 2
    assert leaks(caplog) == []


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_no_redis_password_in_the_shims_logs(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture, backend: str
) -> None:
    caplog.set_level(logging.DEBUG)
    secured(redis_server)
    for password in (PASSWORD, WRONG):
        factory = get_factory("consumer", config=config(redis_server, password),
                              async_backend=backend)
        assert factory is not None
        try:
            if password == PASSWORD:
                factory.block_until_ready(5)
            else:
                with pytest.raises(TimeoutException):
                    factory.block_until_ready(0.3)
            answer = factory.client().get_treatment("alice", "plain")  # the caller's thread
            assert (answer == "control") is (password == WRONG)
        finally:
            factory.destroy()
    assert leaks(caplog) == []
