"""Fixtures of the pluggable-storage tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.redis.conftest import _start
from tests.redis_servers import RedisServer


@pytest.fixture(scope="module")
def redis_store() -> Iterator[RedisServer]:
    """One ``redis-server`` for a module's Redis-backed wrappers; every run or test uses a key
    prefix of its own. Skips without ``redis-server`` (fails with SPLITIO_REQUIRE_REDIS)."""
    server = _start(RedisServer)
    with server:
        yield server
