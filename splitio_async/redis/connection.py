"""The factory's Redis clients, built from ``RedisSettings``, and how a batch of commands runs.

A factory holds up to two clients. On its event loop (asyncio or trio) our small RESP client on
anyio streams (``resp.py``) serves standalone Redis and Sentinel; redis-py's asyncio client
serves Redis Cluster and a user's ``redisConnectionPool`` on asyncio (on trio, where redis-py has
no client, those run in worker threads). The blocking client is redis-py's (``BlockingRedis``,
through its public API): the sync shim's threads run their own calls' steps with it, in their own
thread.
Each is built on first use. A batch of more than one command goes out at once: one round trip.
Standalone, Sentinel (with or without TLS) and Cluster all look the same from here.

Errors: redis-py's (and the socket's) become ``StorageUnavailable`` here, at the edge, with the
original as its cause; an error reply saying a key holds the wrong kind of value (``WRONGTYPE``)
is the data's fault and stays itself, so the SDK reports it as a data error.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import logging
import os
import threading
from collections.abc import Sequence
from typing import Any

import anyio
import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.asyncio.retry
import redis.asyncio.sentinel
import redis.backoff
import redis.cluster
import redis.retry
import redis.sentinel
import sniffio
from redis.exceptions import MasterDownError

from .._threads import to_worker_thread
from ..storage.reads import StorageUnavailable
from .commands import Batch
from .resp import NativeRedis, first_error, node_unusable, pack
from .settings import RedisSettings

# redis-py 8 asks for driver info (older releases read their version once, at import); looked up
# by name so that type-checking holds on every redis-py release the package allows
_DriverInfo: Any = (
    importlib.import_module("redis.driver_info").DriverInfo
    if importlib.util.find_spec("redis.driver_info") is not None else None
)

_LOGGER = logging.getLogger("splitio.storage.adapters.redis")

_UNROUTED = frozenset(("keys", "ping"))  # commands a cluster pipeline cannot route
_CLUSTERS = (redis.cluster.RedisCluster, redis.asyncio.cluster.RedisCluster)

# What a ``redisConnectionPool`` tells a client that does not use the pool itself.
_POOL_KEYS = (
    "host", "port", "db", "username", "password", "socket_timeout", "socket_connect_timeout",
    "socket_keepalive", "socket_keepalive_options", "encoding", "encoding_errors",
    "client_name", "health_check_interval", "ssl_keyfile", "ssl_certfile", "ssl_cert_reqs",
    "ssl_ca_certs", "ssl_ca_data", "ssl_check_hostname",
)
_UNBOUNDED = 2**31  # redis-py's "no limit" for max_connections


def _retry(asyncio: bool, on_timeout: bool = False) -> Any:
    """One immediate retry, no backoff: a pooled connection that went stale (Redis restarted, a
    Sentinel failover) is replaced transparently, and an unreachable Redis fails the call at
    once (redis-py's default, 3 retries with exponential backoff, would hold every evaluation
    for seconds while Redis is down). Timeouts are retried only with ``redisRetryOnTimeout``
    (given this way: redis-py deprecates its ``retry_on_timeout`` argument)."""
    errors: tuple[type[redis.RedisError], ...] = (redis.ConnectionError,)
    if on_timeout:
        errors += (redis.TimeoutError,)
    if asyncio:
        return redis.asyncio.retry.Retry(redis.backoff.NoBackoff(), 1, errors)
    return redis.retry.Retry(redis.backoff.NoBackoff(), 1, errors)


def _pool_kwargs(pool: Any, asyncio: bool) -> dict[str, Any]:
    """Client arguments reaching the server of a user's ``redisConnectionPool`` (redis-py's
    blocking or asyncio kind), for a client that cannot use that pool itself."""
    given = dict(getattr(pool, "connection_kwargs", None) or {})
    kwargs = {key: given[key] for key in _POOL_KEYS if given.get(key) is not None}
    if given.get("path"):  # a Unix domain socket pool
        kwargs = {k: v for k, v in kwargs.items() if k not in ("host", "port")}
        kwargs["unix_socket_path"] = given["path"]
    if "SSL" in getattr(getattr(pool, "connection_class", None), "__name__", ""):
        kwargs["ssl"] = True
    limit = getattr(pool, "max_connections", None)
    if isinstance(limit, int) and 0 < limit < _UNBOUNDED:
        kwargs["max_connections"] = limit
    kwargs.update(decode_responses=True, protocol=2, retry=_retry(asyncio))
    return kwargs


def _driver_info() -> Any:
    """The client's name and version for ``CLIENT SETINFO``, given rather than left to redis-py:
    a connection built without it reads redis-py's package metadata from disk, and the
    connections of a Sentinel pool are built lazily, on the event loop."""
    return _DriverInfo(lib_version=redis.__version__) if _DriverInfo is not None else None


def _connection_kwargs(settings: RedisSettings, asyncio: bool) -> dict[str, Any]:
    """What every client kind takes (spec: storage-redis.md §2); None values are left out so
    that redis-py's own defaults apply."""
    kwargs: dict[str, Any] = {
        "driver_info": _driver_info(),
        "username": settings.username,
        "password": settings.password,
        "socket_timeout": settings.socket_timeout,
        "socket_connect_timeout": settings.socket_connect_timeout,
        "socket_keepalive": settings.socket_keepalive,
        "socket_keepalive_options": settings.socket_keepalive_options,
        "encoding": settings.encoding,
        "encoding_errors": settings.encoding_errors,
        "decode_responses": True,
        "protocol": 2,  # RESP2, what the batches' replies are read as (redis-py 8 picks 3)
        "max_connections": settings.max_connections,
        "retry": _retry(asyncio, settings.retry_on_timeout),
    }
    if settings.ssl:
        kwargs.update(
            ssl=True, ssl_keyfile=settings.ssl_keyfile, ssl_certfile=settings.ssl_certfile,
            ssl_ca_certs=settings.ssl_ca_certs,
        )
        if settings.ssl_cert_reqs is not None:
            kwargs["ssl_cert_reqs"] = settings.ssl_cert_reqs
    return {key: value for key, value in kwargs.items() if value is not None}


def _tls_kwargs(settings: RedisSettings, asyncio: bool) -> dict[str, Any]:
    kwargs = _connection_kwargs(settings, asyncio)
    return {k: v for k, v in kwargs.items() if k.startswith("ssl") or k in (
        "socket_timeout", "socket_connect_timeout", "username", "password", "retry",
        "driver_info")}


def build_blocking_client(settings: RedisSettings) -> Any:
    kwargs = _connection_kwargs(settings, asyncio=False)
    if settings.uses_cluster:
        kwargs.pop("max_connections", None)
        kwargs.pop("retry", None)  # the cluster client's own retries route around nodes
        nodes = [
            redis.cluster.ClusterNode(host, port)  # type: ignore[no-untyped-call, unused-ignore]
            for host, port in settings.cluster_nodes
        ]
        return redis.cluster.RedisCluster(startup_nodes=nodes, **kwargs)
    if settings.uses_sentinel:
        sentinel_kwargs = {
            k: v for k, v in _tls_kwargs(settings, asyncio=False).items()
            if k not in ("username", "password")
        }
        sentinel = redis.sentinel.Sentinel(  # type: ignore[no-untyped-call, unused-ignore]
            list(settings.sentinels), sentinel_kwargs=sentinel_kwargs, db=settings.db, **kwargs
        )
        return sentinel.master_for(  # type: ignore[no-untyped-call, unused-ignore]
            settings.master_service or ""
        )
    pool = settings.connection_pool
    if pool is not None:
        if isinstance(pool, redis.asyncio.ConnectionPool):
            return redis.Redis(**_pool_kwargs(pool, asyncio=False))
        return redis.Redis(connection_pool=pool)
    if settings.unix_socket_path:
        kwargs.pop("ssl", None)
        return redis.Redis(unix_socket_path=settings.unix_socket_path, db=settings.db, **{
            k: v for k, v in kwargs.items() if not k.startswith("ssl")
        })
    return redis.Redis(host=settings.host, port=settings.port, db=settings.db, **kwargs)


def build_async_client(settings: RedisSettings) -> Any:
    kwargs = _connection_kwargs(settings, asyncio=True)
    if settings.uses_cluster:
        kwargs.pop("max_connections", None)
        kwargs.pop("retry", None)
        kwargs.pop("socket_keepalive_options", None)
        nodes = [
            redis.asyncio.cluster.ClusterNode(host, port) for host, port in settings.cluster_nodes
        ]
        return redis.asyncio.cluster.RedisCluster(startup_nodes=nodes, **kwargs)
    if settings.uses_sentinel:
        sentinel_kwargs = {
            k: v for k, v in _tls_kwargs(settings, asyncio=True).items()
            if k not in ("username", "password")
        }
        sentinel = redis.asyncio.sentinel.Sentinel(  # type: ignore[no-untyped-call, unused-ignore]
            list(settings.sentinels), sentinel_kwargs=sentinel_kwargs, db=settings.db, **kwargs
        )
        return sentinel.master_for(settings.master_service or "")
    if settings.connection_pool is not None:
        # The official async SDK ignores it; we reach the same server with a pool of our own
        # (redis-py's connections of a bare pool read package metadata from disk as they
        # connect, which must not happen on the event loop).
        return redis.asyncio.Redis(**_pool_kwargs(settings.connection_pool, asyncio=True))
    if settings.unix_socket_path:
        return redis.asyncio.Redis(
            unix_socket_path=settings.unix_socket_path, db=settings.db,
            **{k: v for k, v in kwargs.items() if not k.startswith("ssl")},
        )
    return redis.asyncio.Redis(host=settings.host, port=settings.port, db=settings.db, **kwargs)


def _method(client: Any, name: str) -> Any:
    """The client's method for a command. On a cluster, ``KEYS`` asks every primary (redis-py
    sends it to one default node, which need not hold the prefix's hash slot)."""
    method = getattr(client, name)
    if name == "keys" and isinstance(client, _CLUSTERS):
        return functools.partial(method, target_nodes=client.PRIMARIES)
    return method


class BlockingRedis:
    """redis-py's blocking client, and how a batch runs on it, through redis-py's public API.

    Standalone and Sentinel: the batch is packed once and written in one go on one connection
    (``send_packed_command``), its replies read back one by one (``read_response``): one round
    trip, without the pipeline machinery, which costs about as much again as the round trip on
    loopback. The connections are taken from the client's pool once and kept here between calls
    (a list pop and push instead of the pool's check-out and check-in with their lock and
    bookkeeping); they stay checked out of the pool, so ``redisMaxConnections`` still bounds them.
    A connection that fails is disconnected and given back; a stale one (Redis restarted, a
    Sentinel failover, a demoted or loading master) is replaced and the batch sent once more;
    a connection is never left half-read. Redis Cluster: redis-py's own pipelines, which route
    each command to its node.

    Replies are text (bulk strings decoded even when a user's ``redisConnectionPool`` does not
    decode), as the reads' translation (``commands``) expects."""

    __slots__ = ("_idle", "_pid", "_pool", "client")

    def __init__(self, client: Any) -> None:
        self.client = client
        self._pool: Any = None if isinstance(client, _CLUSTERS) else client.connection_pool
        self._idle: list[Any] = []
        self._pid = os.getpid()

    def execute(self, batch: Batch) -> list[Any]:
        if self._pool is None:
            return _run_client(self.client, batch)
        if self._pid != os.getpid():  # inherited through a fork: the parent's connections are
            self._idle, self._pid = [], os.getpid()  # left alone (redis-py resets its pool)
        for attempt in (0, 1):
            try:
                connection = self._idle.pop()
            except IndexError:
                connection = self._pool.get_connection()
            try:
                replies = _exchange(connection, batch)
            except BaseException as exc:
                self._drop(connection)
                if attempt or not isinstance(exc, redis.ConnectionError | OSError):
                    raise
                continue
            error = first_error(replies)
            if error is not None:
                if _unusable_node(error):  # a demoted or loading master: connect afresh
                    self._drop(connection)
                else:
                    self._idle.append(connection)
                raise error
            self._idle.append(connection)
            return replies
        raise AssertionError("unreachable")

    def _drop(self, connection: Any) -> None:
        """Disconnect and give back to the pool, forgetting whatever was half-read."""
        connection.disconnect()
        self._pool.release(connection)

    def close(self) -> None:
        """Close the client, and a Sentinel client's connections to the sentinels, which closing
        it leaves open (our held connections go with the pool)."""
        idle, self._idle = self._idle, []
        for connection in idle:
            self._drop(connection)
        self.client.close()
        for sentinel in _sentinels_of(self.client):
            sentinel.close()


def _exchange(connection: Any, batch: Batch) -> list[Any]:
    """Write ``batch`` at once and read one reply per command; an error reply is kept in its
    place (``ResponseError``), so the connection is left with nothing unread."""
    encoder = connection.encoder
    connection.send_packed_command(
        [pack(batch, encoder.encoding, encoder.encoding_errors)], check_health=False
    )
    replies = []
    for _ in batch:
        try:
            replies.append(connection.read_response())
        except redis.ResponseError as error:
            replies.append(error)
    if not encoder.decode_responses:  # a user's pool that does not decode
        replies = [_decoded(reply, encoder) for reply in replies]
    return replies


def _decoded(reply: Any, encoder: Any) -> Any:
    if isinstance(reply, bytes):
        return encoder.decode(reply, force=True)
    if isinstance(reply, list):
        return [_decoded(item, encoder) for item in reply]
    return reply


def _unusable_node(error: redis.ResponseError) -> bool:
    """redis-py names some of Redis's "not now" errors by their class and drops their code
    from the message; ours keep it (``resp.node_unusable``)."""
    return isinstance(error, redis.ReadOnlyError | MasterDownError) or node_unusable(error)


def _run_client(client: Any, batch: Batch) -> list[Any]:
    """A Redis Cluster client: one command alone, several in a non-transactional pipeline
    (``KEYS`` and ``PING``, which a cluster pipeline cannot route, one by one)."""
    if len(batch) == 1:
        name, *args = batch[0]
        return [_method(client, name)(*args)]
    if any(command[0] in _UNROUTED for command in batch):
        return [_method(client, name)(*args) for name, *args in batch]
    pipe = client.pipeline(transaction=False)
    for name, *args in batch:
        getattr(pipe, name)(*args)
    replies: list[Any] = pipe.execute()
    return replies


async def _run_async(client: Any, batch: Batch) -> list[Any]:
    """redis-py's asyncio client, only for what our loop client leaves to it (Cluster, a
    user's asyncio pool): its own pipelines."""
    if len(batch) == 1:
        name, *args = batch[0]
        return [await _method(client, name)(*args)]
    if any(command[0] in _UNROUTED for command in batch):
        return [await _method(client, name)(*args) for name, *args in batch]
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
        self._blocking: BlockingRedis | None = None
        self._async: Any = None
        self._lock = threading.Lock()
        self._async_lock = anyio.Lock()
        self._on_asyncio = sniffio.current_async_library() == "asyncio"
        # our own anyio client (both backends), except for what only redis-py does: Cluster
        # routing and a user's redis-py connection pool
        self._native = None if (
            settings.uses_cluster or settings.connection_pool is not None
        ) else NativeRedis(settings)

    @property
    def blocking(self) -> BlockingRedis:
        """The blocking client, built on first use."""
        client = self._blocking
        if client is None:
            with self._lock:
                if self._blocking is None:
                    self._blocking = BlockingRedis(build_blocking_client(self.settings))
                client = self._blocking
        return client

    def execute_blocking(self, batch: Batch) -> list[Any]:
        """Run ``batch`` in this thread; raises ``StorageUnavailable`` when Redis cannot be
        read (a data error -- a key holding the wrong kind of value -- is raised as itself)."""
        try:
            return self.blocking.execute(batch)
        except (redis.RedisError, OSError) as exc:
            if _data_error(exc):
                raise
            raise StorageUnavailable(str(exc)) from exc

    async def execute(self, batch: Batch) -> list[Any]:
        """``execute_blocking`` on the event loop."""
        try:
            if self._native is not None:  # asyncio and trio: anyio streams, no thread hop
                return await self._native.execute(batch)
            if self._on_asyncio:
                client = self._async
                if client is None:
                    client = await self._build_async()
                return await _run_async(client, batch)
        except (redis.RedisError, OSError) as exc:
            if _data_error(exc):
                raise
            raise StorageUnavailable(str(exc)) from exc
        return await to_worker_thread(self.execute_blocking, batch)

    async def _build_async(self) -> Any:
        """Built in a worker thread, once: redis-py reads its package metadata from disk in
        the client's constructor, which must not block the event loop."""
        async with self._async_lock:
            if self._async is None:
                self._async = await to_worker_thread(build_async_client, self.settings)
            return self._async

    async def aclose(self) -> None:
        """Close both clients (their pools reconnect if used again, which nothing does), and a
        Sentinel client's connections to the sentinels, which closing it leaves open."""
        if self._async is not None:
            try:
                await self._async.aclose()
                for sentinel in _sentinels_of(self._async):
                    await sentinel.aclose()
            except Exception as exc:  # closing must never fail destroy
                _LOGGER.debug("closing the asyncio Redis client: %r", exc)
            self._async = None
        if self._native is not None:
            await self._native.aclose()
        blocking = self._blocking
        if blocking is not None:
            self._blocking = None
            await to_worker_thread(_close_blocking, blocking)


def _data_error(exc: BaseException) -> bool:
    """Whether Redis answered that a key holds the wrong kind of value: the data's fault (the
    Synchronizer's keys were overwritten), not Redis being unavailable."""
    return isinstance(exc, redis.ResponseError) and str(exc).startswith("WRONGTYPE")


def _sentinels_of(client: Any) -> list[Any]:
    """The clients of the sentinels behind a ``master_for`` client (none for other kinds)."""
    manager = getattr(getattr(client, "connection_pool", None), "sentinel_manager", None)
    return list(getattr(manager, "sentinels", None) or ())


def _close_blocking(client: BlockingRedis) -> None:
    try:
        client.close()
    except Exception as exc:  # closing must never fail destroy
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
