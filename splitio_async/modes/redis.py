"""Redis consumer mode (``redisHost`` & co., spec: storage-redis.md): no sync and no streaming;
every call gathers its data from the Split Synchronizer's cache through the I/O-free steps of its
``ConsumerView`` (composed into the cores as their ``Remote`` store; the factory's ``Driver`` runs
the steps, their reads answered by ``redis.commands.RedisReader`` on this mode's connection), and
the recorders and telemetry write to Redis lists and hashes. Ready once Redis answered and every
flag definition was read once (official: ready at once; we wait so that an unreachable Redis shows
as not ready rather than as a stream of errors)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, ClassVar

import anyio
from anyio.abc import TaskGroup

from .._optional import require
from .._threads import to_worker_thread
from ..actors.telemetry import new_intake
from ..config import Config
from ..core.remote import Remote
from ..core.steps import drive_async
from ..recording import Sink
from ..redis.commands import RedisReader
from ..redis.keys import RedisKeys
from ..redis.settings import RedisSettings, is_redis_mode
from ..redis.sink import RedisSink, RedisTelemetry
from ..runtime.backoff import Backoff, ProblemLog
from ..status import ModeStatus
from ..storage.consumer_view import ConsumerView
from ..storage.reads import describe_error, unavailable
from ..transport.metadata import sdk_metadata
from .base import Mode, Parts

if TYPE_CHECKING:
    from ..redis.connection import RedisConnection

_LOGGER = logging.getLogger("splitio.client.factory")

RETRY_CAP = 5.0  # longest wait between attempts to reach Redis at start


class RedisMode(Mode):
    name: ClassVar[str] = "redis"

    def __init__(self, parts: Parts) -> None:
        require("redis", "Redis consumer mode")
        config = parts.config
        self._settings = settings = RedisSettings.from_dict(config.raw)
        if config.flag_sets_filter is not None:
            _LOGGER.warning(
                "config: FlagSets filter is not applicable for Consumer modes where the SDK "
                "does keep rollout data in sync. FlagSet filter was discarded."
            )
        self._calls = new_intake()  # the hot path's call records, for telemetry
        self._view = ConsumerView(
            settings.local_cache_ttl if settings.local_cache_enabled else None
        )
        self._keys = RedisKeys(settings.prefix)
        self._remote = Remote(self._view, sampling=settings.data_sampling)
        super().__init__(parts, telemetry=self._calls, remote=self._remote)
        self._redis: RedisConnection | None = None
        self._reader: RedisReader | None = None  # the view's reads, answered from Redis
        self._sink: RedisSink | None = None
        self._telemetry: RedisTelemetry | None = None
        self._problem: str | None = None  # why Redis could not be read at start
        self._reached = False  # Redis answered once (destroy does not wait otherwise)

    @classmethod
    def applies(cls, sdk_key: str, config: Config) -> bool:
        return is_redis_mode(config.raw)

    async def open(self) -> Sink:
        from ..redis.connection import RedisConnection  # noqa: PLC0415 - [redis]

        self._redis = redis = RedisConnection(self._settings)
        self._reader = reader = RedisReader(self._keys, redis.execute, redis.execute_blocking)
        self.driver.connect(reader.read, reader.read_blocking)
        config = self.parts.config
        metadata = sdk_metadata(config.ip_addresses_enabled, config.machine_ip,
                                config.machine_name)
        if config.ip_addresses_enabled and not (config.machine_ip and config.machine_name):
            metadata = await to_worker_thread(
                sdk_metadata, True, config.machine_ip, config.machine_name
            )
        self._sink = sink = RedisSink(redis.execute, self._keys, metadata)
        return self.parts.recording.counted_sink(sink, sink.send_impressions, sink.send_events,
                                                 lambda: not self._reached)

    async def start(self, tg: TaskGroup) -> None:
        assert self._sink is not None
        self._telemetry = RedisTelemetry(self._sink, self._calls)
        await tg.start(self._telemetry.run)
        tg.start_soon(self._warm_up, self._sink)

    async def _warm_up(self, sink: RedisSink) -> None:
        """Retry until Redis answers (``block_until_ready`` times out meanwhile), then mark the
        factory ready and write the telemetry init record."""
        assert self._reader is not None
        backoff = Backoff(self.parts.config.sync_retry_base / 20, RETRY_CAP)
        problems = ProblemLog(_LOGGER)
        while True:
            try:
                flags = await drive_async(self._view.warm_up(), self._reader.read)
            except Exception as exc:
                if not unavailable(exc):  # data it could not use: calls meet it, and say so
                    _LOGGER.error("Data read from Redis at start could not be used (%s); the SDK "
                                  "is ready without it", describe_error(exc))
                    flags = 0
                    break
                self._problem = describe_error(exc)
                problems.problem(f"Redis cannot be read ({self._problem}); "
                                 "the SDK is not ready until it can")
                await anyio.sleep(backoff.next())
                continue
            break
        problems.recovered("Redis")
        self._problem = None
        self._reached = True
        self._remote.problems.recovered()  # e.g. a manager call made meanwhile
        _LOGGER.debug("Redis consumer mode: %d flags in the cache", flags)
        self.parts.mark_ready()
        try:
            await sink.write_init(*self.parts.live_totals())
        except Exception as exc:
            _LOGGER.debug("writing the telemetry init record failed: %r", exc)

    async def final_flush(self) -> None:
        if self._telemetry is not None:
            await self._telemetry.flush()

    async def aclose(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()

    def status(self, ready: bool, destroyed: bool) -> ModeStatus:
        from ..redis.connection import describe_nodes  # noqa: PLC0415 - [redis]

        where = ", ".join(describe_nodes(self._settings))
        fragment = ModeStatus(self.name, "consumer",
                              f"reads the Split Synchronizer's cache at {where}")
        problem = self._remote.problems.current or self._problem
        if problem is not None:
            fragment.problems["redis"] = problem
        return fragment
