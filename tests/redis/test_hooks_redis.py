"""Evaluation hooks in Redis consumer mode (a real ``redis-server``): the hooks see what the
steps read and evaluate, with the definitions' change numbers, on asyncio, trio and the shim
(whose Redis reads run in the caller's thread, like its hooks)."""

from __future__ import annotations

import threading

import pytest

from splitio_async import open_factory
from splitio_sync_shim import get_factory
from tests.e2e.test_hooks import Recording
from tests.redis.consumer_support import FLAG_NAMES, standalone_config
from tests.redis.test_consumer_mode import cache  # noqa: F401 - the fixture: the data set
from tests.redis_servers import RedisServer

pytestmark = pytest.mark.usefixtures("cache")  # the consumer tests' data set in the server


def _check(hook: Recording, answers: dict[str, tuple[str, str | None]]) -> None:
    many = hook.after[:len(answers)]
    assert {e.flag: (d.treatment, d.config) for e, d, _ in many} == answers
    assert all(d.change_number is not None and d.change_number > 0
               for e, d, _ in many if d.label != "definition not found")
    assert [e.event_type for e in hook.tracked] == ["checkout"]


@pytest.mark.anyio
@pytest.mark.parametrize("cache_enabled", [True, False], ids=["cache", "no-cache"])
async def test_hooks_see_redis_mode_evaluations(
    redis_server: RedisServer, cache_enabled: bool
) -> None:
    hook = Recording()
    config = standalone_config(redis_server, hooks=[hook], redisLocalCacheEnabled=cache_enabled)
    async with open_factory("consumer", config) as factory:
        await factory.block_until_ready(5)
        client = factory.client()
        answers = await client.get_treatments_with_config("alice", FLAG_NAMES)
        assert await client.track("alice", "user", "checkout")
    _check(hook, answers)
    assert {e.method for e, _, _ in hook.after} == {"get_treatments_with_config"}


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_shim_hooks_run_in_the_callers_thread_in_redis_mode(
    redis_server: RedisServer, backend: str
) -> None:
    hook = Recording()
    factory = get_factory("consumer", config=standalone_config(redis_server, hooks=[hook]),
                          async_backend=backend)
    assert factory is not None
    try:
        factory.block_until_ready(5)
        client = factory.client()
        answers = client.get_treatments_with_config("alice", FLAG_NAMES)
        assert client.track("alice", "user", "checkout")
    finally:
        factory.destroy()
    _check(hook, answers)
    assert hook.threads == {threading.get_ident()}
