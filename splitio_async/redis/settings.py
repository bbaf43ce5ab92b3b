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

from ..errors import RedisClusterConfigurationException, SentinelConfigurationException
from ..limits import checked_number, checked_optional, is_finite_number, safe_repr
from .keys import has_hash_tag

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
        prefix = _text(raw, "redisPrefix")
        if "redisClusterNodes" in raw:
            cluster_nodes = _cluster_nodes(raw.get("redisClusterNodes"))
            if sentinels:
                raise RedisClusterConfigurationException(
                    "Use either redisSentinels or redisClusterNodes, not both."
                )
            if prefix is None:
                prefix = DEFAULT_CLUSTER_PREFIX
            elif not has_hash_tag(prefix):
                raise RedisClusterConfigurationException(
                    "redisPrefix must contain a hash tag such as {SPLITIO} in cluster mode, so "
                    "that every key of the SDK lives in one hash slot (give the Split "
                    "Synchronizer the same prefix)."
                )
        sampling = raw.get("dataSampling", 1.0)
        if not is_finite_number(sampling):
            sampling = checked_number(raw, "dataSampling", 1.0, MIN_SAMPLING, 1.0)
        if sampling < MIN_SAMPLING:
            _LOGGER.warning("dataSampling cannot be less than 0.10, defaulting to minimum")
            sampling = MIN_SAMPLING
        # every number finite and in range, else logged and the default (never raised later)
        seconds = {key: checked_optional(raw, key, 0.001, 86400)
                   for key in ("redisSocketTimeout", "redisSocketConnectTimeout")}
        max_connections = checked_optional(raw, "redisMaxConnections", 1, 1_000_000)
        return cls(
            host=_text(raw, "redisHost") or "localhost",
            port=int(checked_number(_digits(raw, "redisPort"), "redisPort", 6379, 0, 65535)
                     or 6379),
            db=int(checked_number(_digits(raw, "redisDb"), "redisDb", 0, 0, 2**31) or 0),
            username=raw.get("redisUsername"),
            password=raw.get("redisPassword"),
            prefix=prefix,
            socket_timeout=seconds["redisSocketTimeout"],
            socket_connect_timeout=seconds["redisSocketConnectTimeout"],
            socket_keepalive=raw.get("redisSocketKeepalive"),
            socket_keepalive_options=raw.get("redisSocketKeepaliveOptions"),
            connection_pool=raw.get("redisConnectionPool"),
            unix_socket_path=raw.get("redisUnixSocketPath"),
            encoding=_text(raw, "redisEncoding") or "utf-8",
            encoding_errors=_text(raw, "redisEncodingErrors") or "strict",
            retry_on_timeout=bool(raw.get("redisRetryOnTimeout", False)),
            ssl=bool(raw.get("redisSsl", False)),
            ssl_keyfile=raw.get("redisSslKeyfile"),
            ssl_certfile=raw.get("redisSslCertfile"),
            ssl_cert_reqs=raw.get("redisSslCertReqs"),
            ssl_ca_certs=raw.get("redisSslCaCerts"),
            max_connections=None if max_connections is None else int(max_connections),
            local_cache_enabled=bool(raw.get("redisLocalCacheEnabled", True)),
            local_cache_ttl=float(checked_number(raw, "redisLocalCacheTTL", 5.0, 0.001, 86400)),
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
    try:
        return tuple((str(host), _port(port)) for host, port in sentinels)
    except (TypeError, ValueError):
        raise SentinelConfigurationException(
            "Sentinels must respect the tuple structure[(ip, port)]."
        ) from None


def _text(raw: dict[str, Any], key: str) -> str | None:
    """A text setting; anything but a non-empty string is logged (if given) and unset."""
    value = raw.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    _LOGGER.warning("%s: %s is not a string; ignoring it.", key, safe_repr(value))
    return None


def _digits(raw: dict[str, Any], key: str) -> dict[str, Any]:
    """``raw`` with ``key`` as an int when it is given as digits (a port from an environment
    variable), as redis-py accepts it."""
    value = raw.get(key)
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 12:
        return {**raw, key: int(value)}
    return raw


def _port(value: Any) -> int:
    """A TCP port from a config value (an int, or digits in a string); ValueError if not."""
    if isinstance(value, bool):
        raise ValueError(value)
    port = int(value) if isinstance(value, int) or (
        isinstance(value, str) and value.isdigit() and len(value) <= 5) else -1
    if not 0 < port < 65536:
        raise ValueError(value)
    return port


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
        try:
            parsed.append((str(node[0]), _port(node[1])))
        except ValueError:
            raise RedisClusterConfigurationException(
                f"redisClusterNodes: {node[1]!r} is not a port number."
            ) from None
    return tuple(parsed)
