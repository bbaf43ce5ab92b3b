"""Redis consumer mode (``redisHost`` & co., spec: storage-redis.md): no sync and no streaming;
every call gathers its data from the Split Synchronizer's cache through the I/O-free steps of its
``ConsumerView`` (composed into the cores as their ``Remote`` store; the factory's ``Driver`` runs
the steps, their reads answered by ``redis.commands.RedisReader`` on this mode's connection), and
the recorders and telemetry write to Redis lists and hashes. Ready once Redis answered and every
flag definition was read once (official: ready at once; we wait so that an unreachable Redis shows
as not ready rather than as a stream of errors)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from .._optional import require
from ..config import Config
from ..recording import Sink
from ..redis.commands import RedisReader
from ..redis.keys import RedisKeys
from ..redis.settings import RedisSettings, is_redis_mode
from ..redis.sink import RedisSink
from ..status import ModeStatus
from .base import Parts
from .consumer import ConsumerMode

if TYPE_CHECKING:
    from ..redis.connection import RedisConnection


class RedisMode(ConsumerMode):
    name: ClassVar[str] = "redis"
    store: ClassVar[str] = "Redis"
    logger: ClassVar[str] = "splitio.storage.redis"
    problem_name: ClassVar[str] = "redis"

    def __init__(self, parts: Parts) -> None:
        require("redis", "Redis consumer mode")
        settings = RedisSettings.from_dict(parts.config.raw)
        super().__init__(
            parts, settings.local_cache_ttl if settings.local_cache_enabled else None,
            settings.data_sampling,
        )
        self._settings = settings
        self._keys = RedisKeys(settings.prefix)
        self._redis: RedisConnection | None = None

    @classmethod
    def applies(cls, sdk_key: str, config: Config) -> bool:
        return is_redis_mode(config.raw)

    async def open(self) -> Sink:
        from ..redis.connection import RedisConnection  # noqa: PLC0415 - [redis]

        self._redis = redis = RedisConnection(self._settings)
        reader = RedisReader(self._keys, redis.execute, redis.execute_blocking)
        self.connect_reader(reader.read, reader.read_blocking)
        return self.consumer_sink(RedisSink(redis.execute, self._keys, await self.metadata()))

    async def aclose(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()

    def status(self, ready: bool, destroyed: bool) -> ModeStatus:
        from ..redis.connection import describe_nodes  # noqa: PLC0415 - [redis]

        where = ", ".join(describe_nodes(self._settings))
        return self.consumer_status(f"reads the Split Synchronizer's cache at {where}")
