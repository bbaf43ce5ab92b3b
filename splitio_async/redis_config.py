"""Redis consumer mode's settings: the official ``redis*`` keys (spec: storage-redis.md §1-2)
and ours for Redis Cluster, validated once when the factory is built.

Mode selection follows the official rule: the *presence* of ``redisHost`` or ``redisSentinels``
(ours: or ``redisClusterNodes``) selects Redis, whatever their values.

Redis Cluster (not in the official SDK): ``redisClusterNodes`` lists ``(host, port)`` start-up
nodes. An evaluation reads several keys in one pipeline and recording writes several, so every key
must live in one hash slot: the ``redisPrefix`` must hold a hash tag (``{...}``), and the Split
Synchronizer must be given the same prefix. Without a prefix we use ``{SPLITIO}``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from .errors import RedisClusterConfigurationException, SentinelConfigurationException
from .storage.redis_keys import has_hash_tag

_LOGGER = logging.getLogger("splitio.client.config")

MODE_KEYS = ("redisHost", "redisSentinels", "redisClusterNodes")
DEFAULT_CLUSTER_PREFIX = "{SPLITIO}"
MIN_SAMPLING = 0.1


def is_redis_mode(raw: dict[str, Any]) -> bool:
    return any(key in raw for key in MODE_KEYS)


@dataclass(frozen=True, slots=True)
class RedisSettings:
    host: str = "localhost"
    port: int = 6379
    db: int = 0
    username: str | None = None
    password: str | None = None
    prefix: str | None = None
    socket_timeout: float | None = None
    socket_connect_timeout: float | None = None
    socket_keepalive: bool | None = None
    socket_keepalive_options: Any = None
    connection_pool: Any = None
    unix_socket_path: str | None = None
    encoding: str = "utf-8"
    encoding_errors: str = "strict"
    retry_on_timeout: bool = False
    ssl: bool = False
    ssl_keyfile: str | None = None
    ssl_certfile: str | None = None
    ssl_cert_reqs: Any = None
    ssl_ca_certs: str | None = None
    max_connections: int | None = None
    local_cache_enabled: bool = True
    local_cache_ttl: float = 5.0
    sentinels: tuple[tuple[str, int], ...] = ()
    master_service: str | None = None
    cluster_nodes: tuple[tuple[str, int], ...] = ()
    data_sampling: float = 1.0
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def uses_sentinel(self) -> bool:
        return bool(self.sentinels)

    @property
    def uses_cluster(self) -> bool:
        return bool(self.cluster_nodes)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RedisSettings:
        """Parse and validate; raises the official Sentinel errors and ours for a cluster."""
        if raw.get("redisErrors") is not None:
            _LOGGER.warning(
                "Parameter `redisErrors` is deprecated as it is no longer supported in redis "
                "lib. Will ignore this value."
            )
        sentinels: tuple[tuple[str, int], ...] = ()
        if "redisSentinels" in raw:
            sentinels = _sentinels(raw)
        cluster_nodes: tuple[tuple[str, int], ...] = ()
        prefix = raw.get("redisPrefix") or None
        if "redisClusterNodes" in raw:
            cluster_nodes = _cluster_nodes(raw.get("redisClusterNodes"))
            if sentinels:
                raise RedisClusterConfigurationException(
                    "Use either redisSentinels or redisClusterNodes, not both."
                )
            if prefix is None:
                prefix = DEFAULT_CLUSTER_PREFIX
            elif not has_hash_tag(str(prefix)):
                raise RedisClusterConfigurationException(
                    "redisPrefix must contain a hash tag such as {SPLITIO} in cluster mode, so "
                    "that every key of the SDK lives in one hash slot (give the Split "
                    "Synchronizer the same prefix)."
                )
        sampling = raw.get("dataSampling", 1.0)
        if isinstance(sampling, bool) or not isinstance(sampling, int | float):
            sampling = 1.0
        if sampling < MIN_SAMPLING:
            _LOGGER.warning("dataSampling cannot be less than 0.10, defaulting to minimum")
            sampling = MIN_SAMPLING
        ttl = raw.get("redisLocalCacheTTL", 5)
        return cls(
            host=str(raw.get("redisHost") or "localhost"),
            port=int(raw.get("redisPort") or 6379),
            db=int(raw.get("redisDb") or 0),
            username=raw.get("redisUsername"),
            password=raw.get("redisPassword"),
            prefix=str(prefix) if prefix else None,
            socket_timeout=raw.get("redisSocketTimeout"),
            socket_connect_timeout=raw.get("redisSocketConnectTimeout"),
            socket_keepalive=raw.get("redisSocketKeepalive"),
            socket_keepalive_options=raw.get("redisSocketKeepaliveOptions"),
            connection_pool=raw.get("redisConnectionPool"),
            unix_socket_path=raw.get("redisUnixSocketPath"),
            encoding=str(raw.get("redisEncoding") or "utf-8"),
            encoding_errors=str(raw.get("redisEncodingErrors") or "strict"),
            retry_on_timeout=bool(raw.get("redisRetryOnTimeout", False)),
            ssl=bool(raw.get("redisSsl", False)),
            ssl_keyfile=raw.get("redisSslKeyfile"),
            ssl_certfile=raw.get("redisSslCertfile"),
            ssl_cert_reqs=raw.get("redisSslCertReqs"),
            ssl_ca_certs=raw.get("redisSslCaCerts"),
            max_connections=raw.get("redisMaxConnections"),
            local_cache_enabled=bool(raw.get("redisLocalCacheEnabled", True)),
            local_cache_ttl=float(ttl) if isinstance(ttl, int | float) and ttl > 0 else 5.0,
            sentinels=sentinels,
            master_service=raw.get("redisMasterService"),
            cluster_nodes=cluster_nodes,
            data_sampling=float(min(sampling, 1.0)),
            raw=raw,
        )


def _sentinels(raw: dict[str, Any]) -> tuple[tuple[str, int], ...]:
    """The official checks and messages, except that TLS is allowed (ours: the official
    blocking SDK refuses Sentinel with TLS; redis-py supports it)."""
    sentinels = raw.get("redisSentinels")
    if sentinels is None:
        raise SentinelConfigurationException("redisSentinels must be specified.")
    if not isinstance(sentinels, list):
        raise SentinelConfigurationException(
            "Sentinels must be an array of elements in the form of [(ip, port)]."
        )
    if not sentinels:
        raise SentinelConfigurationException("It must be at least one sentinel.")
    if not all(isinstance(s, tuple) for s in sentinels):
        raise SentinelConfigurationException(
            "Sentinels must respect the tuple structure[(ip, port)]."
        )
    if not raw.get("redisMasterService"):
        raise SentinelConfigurationException("redisMasterService must be specified.")
    return tuple((str(host), int(port)) for host, port in sentinels)


def _cluster_nodes(nodes: Any) -> tuple[tuple[str, int], ...]:
    if not isinstance(nodes, list | tuple) or not nodes:
        raise RedisClusterConfigurationException(
            "redisClusterNodes must be a non-empty list of (host, port) tuples."
        )
    parsed = []
    for node in nodes:
        if not isinstance(node, list | tuple) or len(node) != 2:
            raise RedisClusterConfigurationException(
                "redisClusterNodes must be a non-empty list of (host, port) tuples."
            )
        parsed.append((str(node[0]), int(node[1])))
    return tuple(parsed)
