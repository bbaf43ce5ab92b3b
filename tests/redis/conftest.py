"""Fixtures starting real ``redis-server`` processes (see ``tests/redis_servers.py``).

Start-up cost, measured on the dev box: a standalone server ~12 ms (so one per test), a TLS one
~18 ms (+ ~40 ms once per session for the certificates), a sentinel set ~1.1 s (TLS too) and a
cluster ~2.0 s (so one per module: tests clear what they need with ``.flushall()``, and a test
that leaves a sentinel data node down or demoted calls ``sentinel_set.restore()``).

Without ``redis-server`` on PATH the tests skip -- unless ``SPLITIO_REQUIRE_REDIS`` is set (CI
sets it), in which case they fail.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from typing import NoReturn, TypeVar

import pytest

from tests.redis_servers import (
    RedisCluster,
    RedisServer,
    RedisUnavailable,
    SentinelSet,
)

T = TypeVar("T")


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("SPLITIO_REQUIRE_REDIS", "") not in ("", "0"):
        pytest.fail(f"{reason} (and SPLITIO_REQUIRE_REDIS is set)", pytrace=False)
    pytest.skip(reason)


def _require_redis_server() -> None:
    if shutil.which("redis-server") is None:
        _unavailable("redis-server is not on PATH (apt-get install redis-server)")


def _start(factory: Callable[[], T]) -> T:
    _require_redis_server()
    try:
        return factory()
    except RedisUnavailable as exc:  # includes TlsUnavailable
        _unavailable(str(exc))


@pytest.fixture
def redis_available() -> None:
    """Skip (or fail, with SPLITIO_REQUIRE_REDIS) unless ``redis-server`` is on PATH."""
    _require_redis_server()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A fresh, empty standalone server for this test (plain TCP)."""
    server = _start(RedisServer)
    with server:
        yield server


@pytest.fixture
def tls_redis_server() -> Iterator[RedisServer]:
    """A fresh standalone server listening on TLS only; verify with ``.ca_file``."""
    server = _start(lambda: RedisServer(tls=True))
    with server:
        yield server


@pytest.fixture(scope="module")
def sentinel_set() -> Iterator[SentinelSet]:
    """Master + replica + three sentinels (``mymaster``), shared by the module."""
    sentinels = _start(SentinelSet)
    with sentinels:
        yield sentinels


@pytest.fixture(scope="module")
def tls_sentinel_set() -> Iterator[SentinelSet]:
    """Like ``sentinel_set``, with TLS on every node, on replication and on the sentinels."""
    sentinels = _start(lambda: SentinelSet(tls=True))
    with sentinels:
        yield sentinels


@pytest.fixture(scope="module")
def redis_cluster() -> Iterator[RedisCluster]:
    """Three cluster masters, all 16384 slots assigned, shared by the module."""
    cluster = _start(RedisCluster)
    with cluster:
        yield cluster
