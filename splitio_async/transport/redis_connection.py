"""The factory's Redis clients, built from ``RedisSettings``, and how a batch of commands runs.

redis-py's asyncio client runs on asyncio only, so a factory holds up to two clients: the asyncio
one (asyncio event loops) and the blocking one (the sync shim's threads, which run their own
calls' steps in their own thread, and trio, which runs them in a worker thread through anyio).
Each is built on first use. A batch of more than one command goes out as one non-transactional
pipeline: one round trip. Standalone, Sentinel (with or without TLS) and Cluster all look the
same from here.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

import anyio
import anyio.to_thread
import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.asyncio.sentinel
import redis.cluster
import redis.sentinel
import sniffio

from ..redis_config import RedisSettings
from ..steps import Batch

_LOGGER = logging.getLogger("splitio.storage.adapters.redis")

_UNROUTED = frozenset(("keys", "ping"))  # commands a cluster pipeline cannot route


def _connection_kwargs(settings: RedisSettings) -> dict[str, Any]:
    """What every client kind takes (spec: storage-redis.md §2); None values are left out so
    that redis-py's own defaults apply."""
    kwargs: dict[str, Any] = {
        "username": settings.username,
        "password": settings.password,
        "socket_timeout": settings.socket_timeout,
        "socket_connect_timeout": settings.socket_connect_timeout,
        "socket_keepalive": settings.socket_keepalive,
        "socket_keepalive_options": settings.socket_keepalive_options,
        "encoding": settings.encoding,
        "encoding_errors": settings.encoding_errors,
        "decode_responses": True,
        "retry_on_timeout": settings.retry_on_timeout or None,
        "max_connections": settings.max_connections,
    }
    if settings.ssl:
        kwargs.update(
            ssl=True, ssl_keyfile=settings.ssl_keyfile, ssl_certfile=settings.ssl_certfile,
            ssl_ca_certs=settings.ssl_ca_certs,
        )
        if settings.ssl_cert_reqs is not None:
            kwargs["ssl_cert_reqs"] = settings.ssl_cert_reqs
    return {key: value for key, value in kwargs.items() if value is not None}


def _tls_kwargs(settings: RedisSettings) -> dict[str, Any]:
    kwargs = _connection_kwargs(settings)
    return {k: v for k, v in kwargs.items() if k.startswith("ssl") or k in (
        "socket_timeout", "socket_connect_timeout", "username", "password")}


def build_blocking_client(settings: RedisSettings) -> Any:
    kwargs = _connection_kwargs(settings)
    if settings.uses_cluster:
        kwargs.pop("max_connections", None)
        nodes = [
            redis.cluster.ClusterNode(host, port)  # type: ignore[no-untyped-call]
            for host, port in settings.cluster_nodes
        ]
        return redis.cluster.RedisCluster(startup_nodes=nodes, **kwargs)
    if settings.uses_sentinel:
        sentinel_kwargs = {
            k: v for k, v in _tls_kwargs(settings).items() if k not in ("username", "password")
        }
        sentinel = redis.sentinel.Sentinel(  # type: ignore[no-untyped-call]
            list(settings.sentinels), sentinel_kwargs=sentinel_kwargs, db=settings.db, **kwargs
        )
        return sentinel.master_for(  # type: ignore[no-untyped-call]
            settings.master_service or ""
        )
    if settings.connection_pool is not None:
        return redis.Redis(connection_pool=settings.connection_pool)
    if settings.unix_socket_path:
        kwargs.pop("ssl", None)
        return redis.Redis(unix_socket_path=settings.unix_socket_path, db=settings.db, **{
            k: v for k, v in kwargs.items() if not k.startswith("ssl")
        })
    return redis.Redis(host=settings.host, port=settings.port, db=settings.db, **kwargs)


def build_async_client(settings: RedisSettings) -> Any:
    kwargs = _connection_kwargs(settings)
    if settings.uses_cluster:
        kwargs.pop("max_connections", None)
        kwargs.pop("socket_keepalive_options", None)
        nodes = [
            redis.asyncio.cluster.ClusterNode(host, port) for host, port in settings.cluster_nodes
        ]
        return redis.asyncio.cluster.RedisCluster(startup_nodes=nodes, **kwargs)
    if settings.uses_sentinel:
        sentinel_kwargs = {
            k: v for k, v in _tls_kwargs(settings).items() if k not in ("username", "password")
        }
        sentinel = redis.asyncio.sentinel.Sentinel(  # type: ignore[no-untyped-call]
            list(settings.sentinels), sentinel_kwargs=sentinel_kwargs, db=settings.db, **kwargs
        )
        return sentinel.master_for(settings.master_service or "")
    if settings.unix_socket_path:
        return redis.asyncio.Redis(
            unix_socket_path=settings.unix_socket_path, db=settings.db,
            **{k: v for k, v in kwargs.items() if not k.startswith("ssl")},
        )
    return redis.asyncio.Redis(host=settings.host, port=settings.port, db=settings.db, **kwargs)


def run_blocking(client: Any, batch: Batch) -> list[Any]:
    if len(batch) == 1:
        name, *args = batch[0]
        return [getattr(client, name)(*args)]
    if any(command[0] in _UNROUTED for command in batch):
        return [getattr(client, name)(*args) for name, *args in batch]
    pipe = client.pipeline(transaction=False)
    for name, *args in batch:
        getattr(pipe, name)(*args)
    replies: list[Any] = pipe.execute()
    return replies


async def _run_async(client: Any, batch: Batch) -> list[Any]:
    if len(batch) == 1:
        name, *args = batch[0]
        return [await getattr(client, name)(*args)]
    if any(command[0] in _UNROUTED for command in batch):
        return [await getattr(client, name)(*args) for name, *args in batch]
    pipe = client.pipeline(transaction=False)
    for name, *args in batch:
        getattr(pipe, name)(*args)
    replies: list[Any] = await pipe.execute()
    return replies


class RedisConnection:
    """The Redis side of one factory. ``execute`` runs a batch from the factory's event loop,
    ``execute_blocking`` from any other thread."""

    def __init__(self, settings: RedisSettings) -> None:
        self.settings = settings
        self._blocking: Any = None
        self._async: Any = None
        self._lock = threading.Lock()
        self._on_asyncio = sniffio.current_async_library() == "asyncio"

    @property
    def blocking_client(self) -> Any:
        client = self._blocking
        if client is None:
            with self._lock:
                if self._blocking is None:
                    self._blocking = build_blocking_client(self.settings)
                client = self._blocking
        return client

    def execute_blocking(self, batch: Batch) -> list[Any]:
        return run_blocking(self.blocking_client, batch)

    async def execute(self, batch: Batch) -> list[Any]:
        if self._on_asyncio:
            if self._async is None:
                self._async = build_async_client(self.settings)
            return await _run_async(self._async, batch)
        return await anyio.to_thread.run_sync(self.execute_blocking, batch)

    async def aclose(self) -> None:
        """Close both clients (their pools reconnect if used again, which nothing does)."""
        if self._async is not None:
            try:
                await self._async.aclose()
            except Exception as exc:  # closing must never fail destroy
                _LOGGER.debug("closing the asyncio Redis client: %r", exc)
            self._async = None
        blocking = self._blocking
        if blocking is not None:
            self._blocking = None
            await anyio.to_thread.run_sync(_close_blocking, blocking)


def _close_blocking(client: Any) -> None:
    try:
        client.close()
    except Exception as exc:
        _LOGGER.debug("closing the blocking Redis client: %r", exc)


def describe_nodes(settings: RedisSettings) -> Sequence[str]:
    """Where the factory reads, for logs and the status API."""
    if settings.uses_cluster:
        return [f"cluster {host}:{port}" for host, port in settings.cluster_nodes]
    if settings.uses_sentinel:
        return [f"sentinel {host}:{port}" for host, port in settings.sentinels]
    if settings.unix_socket_path:
        return [f"unix {settings.unix_socket_path}"]
    return [f"{settings.host}:{settings.port}"]
