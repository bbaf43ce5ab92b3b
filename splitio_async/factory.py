"""The factory: wires the actors of one SDK instance into a task group it owns.

Which actors run depends on the mode: localhost mode feeds the storage actor from files; the
recorders, the SDK-events actor and the listener actor are common to every mode. ``open_factory`` is
the structured form (``async with``); ``get_factory_async`` returns a factory hosted by its own task
(see ``_host``), for compatibility with the official SDK.
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import httpx

if sys.version_info < (3, 11):  # pragma: no cover - the backport anyio already depends on
    from exceptiongroup import BaseExceptionGroup
from anyio.abc import TaskGroup, TaskStatus
from anyio.streams.memory import MemoryObjectSendStream

from ._fork import watch_fork
from ._host import start_hosted
from ._optional import require
from ._threads import to_worker_thread
from ._version import SDK_WIRE_VERSION, __version__
from .actors.api_sink import ImpressionCounters, events_body, impressions_body
from .actors.backoff import Backoff, ProblemLog
from .actors.bootstrap import CacheWriter, bootstrap
from .actors.flag_syncer import FlagSyncer
from .actors.intake import Intake
from .actors.listener import ListenerActor, WorkerThreadListener
from .actors.localhost import LocalhostSource
from .actors.messages import StorageMessage
from .actors.push import PushSupervisor
from .actors.push_worker import QUEUE_SIZE as UPDATES_QUEUE
from .actors.push_worker import PushWorker, Update
from .actors.recorder import Recorder, discard
from .actors.segment_syncer import SegmentSyncer
from .actors.spec_version import SpecVersion
from .actors.storage import INBOX_SIZE, StorageActor
from .actors.synchronizer import Synchronizer
from .actors.telemetry import TelemetryActor, describe_config, new_intake
from .client import Client
from .config import Config
from .consumer import RedisEvaluationCore, RedisManagerCore
from .engine.evaluator import Evaluator
from .engine.impressions import ImpressionsStrategy
from .errors import SplitError, TimeoutException, at_boundary
from .lowlevel import (
    SEED_SNAPSHOT,
    EvaluationCore,
    ImpressionRecord,
    MeasuredEvaluationCore,
    Steps,
)
from .manager import Manager, ManagerCore
from .models.events import Event
from .models.impressions import Impression
from .models.telemetry import RecordingStats, TelemetryStore
from .redis.keys import RedisKeys
from .redis.settings import RedisSettings, is_redis_mode
from .redis.sink import RedisSink, RedisTelemetry
from .sdk_events import SdkEventsHub
from .status import ChangeFeed, ChangeSubscription, FactoryStatus, describe
from .steps import drive_async, drive_sync
from .storage import state as states
from .storage.redis_view import RedisView
from .storage.state import FactoryState
from .transport.http import (
    DEFAULT_URLS,
    SplitAPI,
    build_client,
    build_stream_client,
    environment_proxies,
    needs_tls,
    resolve_urls,
)
from .transport.metadata import sdk_metadata

if TYPE_CHECKING:
    from .redis.connection import RedisConnection

_LOGGER = logging.getLogger("splitio.client.factory")

LOCALHOST = "localhost"
TESTING = "testing"  # flags from config["testData"] (splitio_async.testing)
EVENTS_FLUSH_BYTES = 5 * 1024 * 1024  # queued event bytes that trigger a flush (official cap)
REDIS_RETRY_CAP = 5.0  # longest wait between attempts to reach Redis at start


class _LiveFactories:
    """Live factories per SDK key, for the official "multiple factories" warnings.

    The one piece of process-wide state; tests reset it with ``reset()``.
    """

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, sdk_key: str) -> None:
        with self._lock:
            count = self._counts.get(sdk_key, 0)
            if self._counts and count > 0:
                _LOGGER.warning(
                    "factory instantiation: You already have %d %s with this SDK Key. We "
                    "recommend keeping only one instance of the factory at all times (Singleton "
                    "pattern) and reusing it throughout your application.",
                    count, "factory" if count == 1 else "factories",
                )
            elif self._counts and sdk_key not in self._counts:
                _LOGGER.warning(
                    "factory instantiation: You already have an instance of the Split factory. "
                    "Make sure you definitely want this additional instance. We recommend "
                    "keeping only one instance of the factory at all times (Singleton pattern) "
                    "and reusing it throughout your application."
                )
            self._counts[sdk_key] = count + 1

    def remove(self, sdk_key: str) -> None:
        with self._lock:
            self._counts[sdk_key] = max(0, self._counts.get(sdk_key, 0) - 1)

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()

    def totals(self) -> tuple[int, int]:
        """Live factories over all keys, and how many are redundant (telemetry ``aF``, ``rF``)."""
        with self._lock:
            counts = list(self._counts.values())
        return sum(counts), sum(max(0, count - 1) for count in counts)


live_factories = _LiveFactories()


def _instance_id(config: Config) -> str:
    if not config.ip_addresses_enabled:
        return "NA"
    if config.machine_name:
        return config.machine_name
    try:
        return socket.gethostname() or "unknown"
    except OSError:
        return "unknown"


def _wake_threshold(bulk_size: int, capacity: int) -> int:
    """Wake the recorder at a bulk, or at half of the buffer if that comes first, so it has
    room to drain before a burst fills the buffer (the official SDK drops there instead)."""
    return max(1, min(bulk_size, capacity // 2))


class SplitFactory:
    """One SDK instance. ``client()`` and ``manager()`` are plain calls; lifecycle calls await."""

    def __init__(self, sdk_key: str, config: Config, urls: dict[str, str | None]) -> None:
        self._sdk_key = sdk_key
        self._config = config
        self._urls = urls
        self._state = FactoryState(localhost=sdk_key in (LOCALHOST, TESTING))
        self._evaluator = Evaluator(config.fallbacks)
        self._hub = SdkEventsHub()
        self._impressions: Intake[ImpressionRecord] = Intake(
            config.impressions_queue_size,
            _wake_threshold(config.impressions_bulk_size, config.impressions_queue_size),
        )
        self._events: Intake[Event] = Intake(
            config.events_queue_size,
            _wake_threshold(config.events_bulk_size, config.events_queue_size),
            EVENTS_FLUSH_BYTES,
        )
        self._listener = ListenerActor() if config.impression_listener is not None else None
        self._strategy = ImpressionsStrategy(config.impressions_mode)
        self._core = EvaluationCore(
            self._state,
            self._evaluator,
            self._impressions,
            self._events,
            config.labels_enabled,
            WorkerThreadListener(config.impression_listener)
            if config.listener_in_worker and config.impression_listener is not None
            else config.impression_listener,
            self._listener.submit if self._listener is not None else None,
            _instance_id(config),
        )
        self._ready = anyio.Event()
        self._settled = anyio.Event()  # ready, or destroyed: block_until_ready has its answer
        self._stop_requested = anyio.Event()
        self._stopped = anyio.Event()
        self._recorders_done = anyio.Event()
        self._recorders: list[Recorder[Any, Any]] = []
        self._host: Any = None
        self._running = False
        self._api: SplitAPI | None = None
        self._stream_client: httpx.AsyncClient | None = None
        self.push: PushSupervisor | None = None  # streaming mode's supervisor (observability)
        self._synchronizer: Synchronizer | None = None  # standalone mode (status)
        self._flag_syncer: FlagSyncer | None = None
        self._segment_syncer: SegmentSyncer | None = None
        self._changes = ChangeFeed()
        self._counters: ImpressionCounters | None = None
        self._impressions_deduped = 0
        self.last_error: str | None = None  # a problem that stopped syncing for good
        # parts that report their current problem to status() (name -> problem or None)
        self._problem_sources: dict[str, Callable[[], str | None]] = {}
        # paused (WAITING_FORK) in the child if the process forks while it runs (prefork.py);
        # the sync shim turns it off: it has its own fork handling and resume()
        self.pause_on_fork = True
        self.bootstrapped_from: str | None = None  # the snapshot served before live data
        # telemetry (standalone mode only): the hot path's call records and the actor
        self._created = time.monotonic()
        # what telemetry records, handed at construction to every part that records into it
        self._telemetry_store = TelemetryStore(session_start=self._created)
        self._telemetry: TelemetryActor | None = None
        self._telemetry_calls = None if self._state.localhost else new_intake()
        # Redis consumer mode (spec: storage-redis.md): set up here, connected in ``_start``
        self._redis_settings = (
            RedisSettings.from_dict(config.raw)
            if not self._state.localhost and is_redis_mode(config.raw) else None
        )
        self._redis: RedisConnection | None = None
        self._redis_telemetry: RedisTelemetry | None = None
        self._redis_problem: str | None = None  # why Redis could not be read at start
        self._redis_reached = False  # Redis answered once (destroy does not wait otherwise)
        self._manager_core = ManagerCore(self._state)
        if self._redis_settings is not None and self._telemetry_calls is not None:
            require("redis", "Redis consumer mode")
            settings = self._redis_settings
            if config.flag_sets_filter is not None:
                _LOGGER.warning(
                    "config: FlagSets filter is not applicable for Consumer modes where the SDK "
                    "does keep rollout data in sync. FlagSet filter was discarded."
                )
            self.redis_view = RedisView(
                RedisKeys(settings.prefix),
                settings.local_cache_ttl if settings.local_cache_enabled else None,
            )
            redis_core = RedisEvaluationCore.over(
                self._core, self._telemetry_calls, self.redis_view, settings.data_sampling
            )
            self._core = redis_core
            self._manager_core = RedisManagerCore(
                self._state, self.redis_view, redis_core.problems
            )
        elif self._telemetry_calls is not None:
            self._core = MeasuredEvaluationCore.measuring(self._core, self._telemetry_calls)

    # ------------------------------------------------------------------ public API

    @property
    def ready(self) -> bool:
        return self._state.status is states.READY

    @property
    def destroyed(self) -> bool:
        return self._state.status is states.DESTROYED

    def client(self) -> Client:
        return Client(self, self._core)

    def manager(self) -> Manager:
        return Manager(self._manager_core, self.run_steps)

    async def block_until_ready(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Wait for the first complete data set; raise TimeoutException after ``timeout`` s.

        After ``destroy()`` it returns at once if the factory had become ready (official: the
        ready flag stays set) and raises TimeoutException at once otherwise."""
        if not self.settled():
            with anyio.move_on_after(timeout):
                await self._settled.wait()
            if not self.settled():
                _LOGGER.error("Exception initializing SDK")
                if self._telemetry is not None:
                    self._telemetry.record_block_until_ready_timeout()
                raise TimeoutException(
                    "SDK Initialization: time of %d exceeded" % (timeout or 0)  # noqa: UP031
                )

    def settled(self) -> bool:
        """Without waiting: True once ready (also after a later ``destroy()``), False while
        still loading; raises TimeoutException if destroyed before it was ever ready."""
        if self._ready.is_set():
            return True
        if self.destroyed:
            _LOGGER.error("block_until_ready: the factory was destroyed before it was ready")
            raise TimeoutException(
                "SDK Initialization: the factory was destroyed before it was ready"
            )
        return False

    async def destroy(self, destroyed_event: Any = None) -> None:
        """Stop every actor after the recorders' final flush (bounded by ``destroyTimeout``)."""
        if self._state.status is not states.DESTROYED:
            self._state.status = states.DESTROYED
            live_factories.remove(self._sdk_key)
            self._hub.clear()
            self._changes.close()
            self._stop_requested.set()
            self._settled.set()
        if not self._running:  # never started (or already gone): nothing to wait for
            self._stopped.set()
        await self._stopped.wait()
        if destroyed_event is not None and hasattr(destroyed_event, "set"):
            destroyed_event.set()

    def status(self) -> FactoryStatus:
        """A snapshot of what the factory is doing (plain call; safe from any thread)."""
        return describe(
            state=self._state,
            ready=self.ready,
            destroyed=self.destroyed,
            refresh_files=self._config.localhost_refresh_enabled,
            push=self.push,
            sdk_key_error=self.last_error,
            synchronizer=self._synchronizer,
            syncers=(self._flag_syncer, self._segment_syncer),
            recorders=self._recorders,
            intake_sizes={"impressions": len(self._impressions), "events": len(self._events)},
            counts=self.delivery_counts(),
            redis=self._redis_status(),
            problems={name: source() for name, source in self._problem_sources.items()},
        )

    def _redis_status(self) -> tuple[str, str | None] | None:
        if self._redis_settings is None:
            return None
        core = self._core
        problem = core.problems.current if isinstance(core, RedisEvaluationCore) else None
        from .redis.connection import describe_nodes  # noqa: PLC0415 - [redis] extra

        return ", ".join(describe_nodes(self._redis_settings)), problem or self._redis_problem

    def changes(self) -> ChangeSubscription:
        """Flag and segment changes as they are applied: ``async for change in
        factory.changes()``. Async API only (call it in the factory's event loop); each
        subscriber buffers 100 changes, dropping the oldest when full (counted in ``dropped``);
        iteration ends when the factory is destroyed."""
        return self._changes.subscribe()

    # ------------------------------------------------------------------ Redis consumer mode

    async def run_steps(self, steps: Steps[Any]) -> Any:
        """Run a Redis call's steps on this event loop (see ``consumer``)."""
        redis = self._redis
        if redis is None:  # not connected (yet, or any more): the call fails like a lost Redis
            return drive_sync(steps, _not_connected)
        return await drive_async(steps, redis.execute)

    def run_steps_blocking(self, steps: Steps[Any]) -> Any:
        """Run a Redis call's steps in the calling thread (the sync shim's threads, sync
        OpenFeature resolution) with the blocking client."""
        redis = self._redis
        if redis is None:
            return drive_sync(steps, _not_connected)
        return drive_sync(steps, redis.execute_blocking)

    def manager_core(self) -> ManagerCore:
        return self._manager_core

    # ------------------------------------------------------------------ internals for the shim

    @property
    def core(self) -> EvaluationCore:
        return self._core

    @property
    def state(self) -> FactoryState:
        return self._state

    @property
    def events_hub(self) -> SdkEventsHub:
        return self._hub

    def delivery_counts(self) -> dict[str, int]:
        """Per kind (impressions, events): records delivered, dropped at a bound (a full buffer,
        or too many still waiting for the service) and lost at the shutdown deadline."""
        counts = {"impressions_dropped": self._impressions.dropped,
                  "events_dropped": self._events.dropped}
        for recorder in self._recorders:
            counts[f"{recorder.name}_delivered"] = recorder.delivered
            counts[f"{recorder.name}_lost"] = recorder.lost
            counts[f"{recorder.name}_dropped"] += recorder.dropped
        return counts

    # ------------------------------------------------------------------ the actors

    def _mark_ready(self) -> None:
        if self._state.status is states.NOT_INITIALIZED:
            self._state.status = states.READY
            self._ready.set()
            self._settled.set()
            if self._telemetry is not None:
                self._telemetry.record_ready((time.monotonic() - self._created) * 1000)

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Run every actor until ``destroy()``; raises a start-up error before ``started``."""
        error: BaseException | None = None
        self._running = True
        watch_fork(self)
        try:
            async with anyio.create_task_group() as tg:
                try:
                    await self._start(tg)
                except Exception as exc:
                    error = exc
                    tg.cancel_scope.cancel()
                else:
                    task_status.started()
                    await self._stop_requested.wait()
                    await self._shutdown(tg)
        finally:
            with anyio.CancelScope(shield=True):
                if self._redis is not None:
                    await self._redis.aclose()
                if self._api is not None:
                    await self._api.close()
                if self._stream_client is not None:
                    await self._stream_client.aclose()
            self._running = False
            if self._state.status is not states.DESTROYED:
                self._state.status = states.DESTROYED
                live_factories.remove(self._sdk_key)
            self._changes.close()
            self._settled.set()
            self._stopped.set()
        if error is not None:
            raise error

    async def _start(self, tg: TaskGroup) -> None:
        await tg.start(self._hub.run)
        if self._listener is not None:
            await tg.start(self._listener.run)
        if self._redis_settings is not None:
            await self._start_redis(tg, self._redis_settings)
            return
        if not self._state.localhost:
            self._api = await self._connect()
        self._recorders = self._build_recorders()
        await tg.start(self._run_recorders)
        send, receive = anyio.create_memory_object_stream[StorageMessage](INBOX_SIZE)
        storage = StorageActor(
            self._state, receive, self._hub, self._config.flag_sets_filter, self._mark_ready,
            self._changes.publish,
        )
        await tg.start(storage.run)
        if self._sdk_key == TESTING:
            from .testing import TestDataSource, test_data_of  # noqa: PLC0415

            await tg.start(TestDataSource(
                test_data_of(self._config.raw), self._state, send, storage.apply_now,
                self._impressions, self._events,
            ).run)
        elif self._state.localhost:
            source = LocalhostSource(
                self._state,
                send,
                self._config.split_file,
                self._config.segment_directory,
                self._config.localhost_refresh_enabled,
                self._config.features_refresh_rate,
                self._config.segments_refresh_rate,
                self._config.limits,
            )
            self._problem_sources["localhost"] = lambda: source.last_problem
            await tg.start(source.run)
        else:
            await self._start_standalone(tg, send)

    async def _start_standalone(
        self, tg: TaskGroup, outbox: MemoryObjectSendStream[StorageMessage]
    ) -> None:
        """In-memory mode: flags and segments from Split's API into the storage actor."""
        config = self._config
        assert self._api is not None
        await self._start_telemetry(tg)  # first: it observes every request, ready is unaffected
        flags = FlagSyncer(self._api, self._state, outbox, config.flag_sets_filter,
                           config.sync_retry_base, config.sync_retry_max,
                           SpecVersion(self._api.sdk_url_overridden, config.spec_recheck_interval))
        segments = SegmentSyncer(  # segments back off twice as long as flags (official 60 s)
            self._api, self._state, outbox, config.sync_retry_base, 2 * config.sync_retry_max
        )
        self.bootstrapped_from = await bootstrap(
            outbox, (config.bootstrap_file, config.cache_file), flags, segments,
            config.raw.get(SEED_SNAPSHOT), config.limits,
        )
        if config.cache_file:
            writer = CacheWriter(self._state, config.cache_file, self.changes())
            await tg.start(writer.run)
        store = self._telemetry_store
        if self._stream_client is not None:
            updates_send, updates_receive = anyio.create_memory_object_stream[Update](
                UPDATES_QUEUE
            )
            worker = PushWorker(self._state, outbox, flags, segments, updates_receive,
                                config.limits, on_instant_update=store.record_update_from_sse)
            self._problem_sources["streamed updates"] = lambda: worker.last_problem
            await tg.start(worker.run)
            self.push = PushSupervisor(
                self._api, self._stream_client, outbox, updates_send,
                config.streaming_reconnect_base, keepalive_timeout=config.streaming_keepalive,
                limits=config.limits, telemetry=store,
            )
        synchronizer = Synchronizer(
            self._state, outbox, flags, segments, config.features_refresh_rate,
            config.segments_refresh_rate, self._report_fatal, config.sync_retry_base,
            config.sync_retry_max, keep_current=self.push.run if self.push else None,
        )
        self._synchronizer, self._flag_syncer, self._segment_syncer = synchronizer, flags, segments
        await tg.start(synchronizer.run)

    async def _start_redis(self, tg: TaskGroup, settings: RedisSettings) -> None:
        """Consumer mode: no sync, no streaming; recorders write to Redis. Ready once Redis
        answered and every flag definition was read once (official: ready at once; we wait so
        that an unreachable Redis shows as not ready rather than as a stream of errors)."""
        from .redis.connection import RedisConnection  # noqa: PLC0415 - [redis] extra

        self._redis = redis = RedisConnection(settings)
        config = self._config
        metadata = sdk_metadata(config.ip_addresses_enabled, config.machine_ip,
                                config.machine_name)
        if config.ip_addresses_enabled and not (config.machine_ip and config.machine_name):
            metadata = await to_worker_thread(
                sdk_metadata, True, config.machine_ip, config.machine_name
            )
        sink = RedisSink(redis.execute, self.redis_view.keys, metadata)
        self._recorders = self._build_recorders(sink)
        await tg.start(self._run_recorders)
        assert self._telemetry_calls is not None
        self._redis_telemetry = RedisTelemetry(sink, self._telemetry_calls)
        await tg.start(self._redis_telemetry.run)
        tg.start_soon(self._connect_redis, sink)

    async def _connect_redis(self, sink: RedisSink) -> None:
        """Retry until Redis answers (``block_until_ready`` times out meanwhile), then mark the
        factory ready and write the telemetry init record."""
        assert self._redis is not None
        backoff = Backoff(self._config.sync_retry_base / 20, REDIS_RETRY_CAP)
        problems = ProblemLog(_LOGGER)
        while True:
            try:
                flags = await drive_async(self.redis_view.warm_up(), self._redis.execute)
            except Exception as exc:
                self._redis_problem = f"{type(exc).__name__}: {exc}"
                problems.problem(f"Redis cannot be read ({self._redis_problem}); "
                                 "the SDK is not ready until it can")
                await anyio.sleep(backoff.next())
                continue
            break
        problems.recovered("Redis")
        self._redis_problem = None
        self._redis_reached = True
        if isinstance(self._core, RedisEvaluationCore):  # e.g. a manager call made meanwhile
            self._core.problems.recovered()
        _LOGGER.debug("Redis consumer mode: %d flags in the cache", flags)
        self._mark_ready()
        try:
            await sink.write_init(*live_factories.totals())
        except Exception as exc:
            _LOGGER.debug("writing the telemetry init record failed: %r", exc)

    async def _connect(self) -> SplitAPI:
        """The factory's Split API client (one connection pool for every actor)."""
        config = self._config
        urls = resolve_urls(self._urls)

        tls = needs_tls(urls, config.proxy_url)

        env_proxy = config.proxy_from_environment

        def connect() -> tuple[httpx.AsyncClient, httpx.AsyncClient | None]:
            metadata = sdk_metadata(
                config.ip_addresses_enabled, config.machine_ip, config.machine_name
            )
            rest = build_client(self._sdk_key, metadata, config.connection_timeout_ms,
                                config.proxy_url, tls=tls, kerberos=config.kerberos,
                                env_proxy=env_proxy)
            stream = build_stream_client(
                self._sdk_key, metadata, config.proxy_url, tls, config.kerberos, env_proxy,
            ) if config.streaming_enabled else None
            return rest, stream

        if config.proxy_url is None and env_proxy:
            proxies = environment_proxies(urls)
            if proxies:  # followed like requests (the official sync SDK) does: said once
                _LOGGER.info("Using the proxy from the environment for %s (proxyUrl is not "
                             "set; proxyFromEnvironment: False ignores it)",
                             ", ".join(f"{k}: {v}" for k, v in proxies.items()))

        if tls or config.kerberos or (config.ip_addresses_enabled and not (
                config.machine_ip and config.machine_name)):
            rest, self._stream_client = await to_worker_thread(connect)  # disk, DNS
        else:  # nothing to read from disk or resolve: no reason to hop to a thread
            rest, self._stream_client = connect()
        return SplitAPI(rest, urls, observer=self._telemetry_store, limits=config.limits)

    async def _start_telemetry(self, tg: TaskGroup) -> None:
        """Telemetry (standalone mode): the actor observes every request of the API, takes the
        hot path's records, posts config once ready and usage every ``metricsRefreshRate``."""
        assert self._api is not None and self._telemetry_calls is not None
        config = self._config
        self._telemetry = TelemetryActor(
            self._api, self._telemetry_calls, self._state,
            describe_config(config, self._urls, DEFAULT_URLS), config.metrics_refresh_rate,
            self._recording_stats, live_factories.totals, store=self._telemetry_store,
        )
        await tg.start(self._telemetry.run)  # reports started at once

    def _recording_stats(self) -> RecordingStats:
        """Cumulative counts for telemetry: queued = went through a recorder (after dedup),
        dropped = refused by a full buffer or a full retry list."""
        recorders = {recorder.name: recorder for recorder in self._recorders}
        impressions, events = recorders.get("impressions"), recorders.get("events")
        return RecordingStats(
            impressions_queued=impressions.delivered + impressions.lost if impressions else 0,
            impressions_deduped=self._impressions_deduped,
            impressions_dropped=self._impressions.dropped
            + (impressions.dropped if impressions else 0),
            events_queued=events.delivered + events.lost if events else 0,
            events_dropped=self._events.dropped + (events.dropped if events else 0),
        )

    def _report_fatal(self, message: str) -> None:
        self.last_error = message

    async def _run_recorders(
        self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        try:
            async with anyio.create_task_group() as recorders:
                for recorder in self._recorders:
                    await recorders.start(recorder.run)
                task_status.started()
        finally:
            self._recorders_done.set()

    def _build_recorders(self, redis_sink: RedisSink | None = None) -> list[Recorder[Any, Any]]:
        """Standalone mode posts to Split's API. Localhost mode accepts impressions and events
        and discards them (official behaviour), after applying the impressions mode so the hot
        path costs what it will."""
        config = self._config
        strategy = self._strategy

        def prepare(records: list[ImpressionRecord]) -> list[Impression]:
            processed = strategy.process(records)
            self._impressions_deduped += processed.deduplicated
            return processed.to_send

        def keep(items: list[Event]) -> list[Event]:
            return items

        api = self._api
        if redis_sink is not None:
            self._counters = ImpressionCounters(redis_sink, strategy, config.impressions_mode)
            on_flush: Callable[[bool], Awaitable[None]] = self._counters.flush
            send_impressions: Callable[[Sequence[Impression]], Awaitable[None]] = (
                redis_sink.send_impressions
            )
            send_events: Callable[[Sequence[Event]], Awaitable[None]] = redis_sink.send_events
        elif api is None:
            async def forget_counts(final: bool) -> None:
                strategy.pop_counts()
                if final or strategy.unique_keys_due:
                    strategy.pop_unique_keys()

            send_impressions = discard
            send_events = discard
            on_flush = forget_counts
        else:
            mode = config.impressions_mode
            self._counters = ImpressionCounters(api, strategy, mode)
            on_flush = self._counters.flush

            async def send_impressions(bulk: Sequence[Impression]) -> None:
                await api.post_impressions(impressions_body(bulk), mode)

            async def send_events(bulk: Sequence[Event]) -> None:
                await api.post_events(events_body(bulk))

        if self._sdk_key == TESTING:  # every impression and event to the TestData's recorder
            from .testing import test_data_of  # noqa: PLC0415

            recorded = test_data_of(config.raw).recorded
            prepare = recorded.prepare_impressions
            send_impressions, send_events = recorded.send_impressions, recorded.send_events
        base, cap = config.sync_retry_base, config.sync_retry_max
        # Split's API (or Redis) never answered, not once: the final flush does not wait for the
        # deadline for it
        give_up: Callable[[], bool] | None = None
        if redis_sink is not None:
            give_up = lambda: not self._redis_reached  # noqa: E731
        elif api is not None:
            give_up = lambda: not api.answered  # noqa: E731
        return [
            Recorder("impressions", self._impressions, prepare, send_impressions,
                     config.impressions_refresh_rate, config.impressions_bulk_size, on_flush,
                     max_pending=config.impressions_queue_size + config.impressions_bulk_size,
                     retry_base=base, retry_cap=cap, give_up=give_up),
            Recorder("events", self._events, keep, send_events, config.events_push_rate,
                     config.events_bulk_size,
                     max_pending=config.events_queue_size + config.events_bulk_size,
                     retry_base=base, retry_cap=cap, give_up=give_up),
        ]

    async def _shutdown(self, tg: TaskGroup) -> None:
        """Final flush first (shielded, under the deadline), then cancel every actor."""
        for recorder in self._recorders:
            recorder.stop()
        if self._listener is not None:
            self._listener.stop()
        with anyio.move_on_after(self._config.destroy_timeout, shield=True):
            await self._recorders_done.wait()
            if self._telemetry is not None:  # last, so it carries the recorders' final counts
                await self._telemetry.flush_final()
            if self._redis_telemetry is not None:
                await self._redis_telemetry.flush()
        tg.cancel_scope.cancel()


def _not_connected(batch: Any) -> list[Any]:
    raise ConnectionError("the factory is not connected to Redis")


def _validate_sdk_key(sdk_key: Any) -> bool:
    if sdk_key is None:
        _LOGGER.error(
            "factory_instantiation: you passed a null sdk_key, sdk_key must be a non-empty string."
        )
        return False
    if not isinstance(sdk_key, str):
        _LOGGER.error(
            "factory_instantiation: you passed an invalid sdk_key, sdk_key must be a non-empty "
            "string."
        )
        return False
    if not sdk_key.strip():
        _LOGGER.error(
            "factory_instantiation: you passed an empty sdk_key, sdk_key must be a non-empty "
            "string."
        )
        return False
    return True


def build_factory(
    sdk_key: Any, config: dict[str, Any] | None, urls: dict[str, str | None]
) -> SplitFactory | None:
    """Validate the key and config and build the (not yet running) factory, in the event loop."""
    if not _validate_sdk_key(sdk_key):
        return None
    factory = SplitFactory(sdk_key, Config.from_dict(config), urls)
    live_factories.add(sdk_key)
    _LOGGER.debug("splitio_async %s (%s to Split's services)", __version__, SDK_WIRE_VERSION)
    return factory


async def get_factory_async(
    sdk_key: Any,
    config: dict[str, Any] | None = None,
    sdk_api_base_url: str | None = None,
    events_api_base_url: str | None = None,
    auth_api_base_url: str | None = None,
    streaming_api_base_url: str | None = None,
    telemetry_api_base_url: str | None = None,
) -> SplitFactory | None:
    """The official entry point: a running factory, to be ended with ``await factory.destroy()``."""
    factory = build_factory(sdk_key, config, {
        "sdk": sdk_api_base_url, "events": events_api_base_url, "auth": auth_api_base_url,
        "streaming": streaming_api_base_url, "telemetry": telemetry_api_base_url,
    })
    if factory is None:
        return None
    try:
        factory._host = await start_hosted(factory.run)
    except SplitError as exc:
        raise at_boundary(exc) from None
    return factory


@asynccontextmanager
async def open_factory(
    sdk_key: str,
    config: dict[str, Any] | None = None,
    **urls: str | None,
) -> AsyncIterator[SplitFactory]:
    """The structured form: the factory's actors live in a task group this context owns, and
    leaving the block destroys the factory (final flush included)."""
    factory = build_factory(sdk_key, config, {
        "sdk": urls.get("sdk_api_base_url"), "events": urls.get("events_api_base_url"),
        "auth": urls.get("auth_api_base_url"), "streaming": urls.get("streaming_api_base_url"),
        "telemetry": urls.get("telemetry_api_base_url"),
    })
    if factory is None:
        raise ValueError("open_factory: the sdk_key must be a non-empty string")
    startup_error: Exception | None = None
    try:
        async with anyio.create_task_group() as tg:
            try:
                await tg.start(factory.run)
            except Exception as exc:
                startup_error = exc
            if startup_error is None:
                try:
                    yield factory
                finally:
                    with anyio.CancelScope(shield=True):
                        await factory.destroy()
    except BaseExceptionGroup as group:
        # the block's own exception, not wrapped in a group the caller never asked for
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise
    if startup_error is not None:
        raise at_boundary(startup_error) from None
