"""Standalone mode (any other sdk key): flags and segments from Split's API, kept current by
streaming or polling into the storage actor; impressions, events and telemetry posted to Split.
One HTTP connection pool serves every actor; the streaming connection has its own client
(``transport.connect``)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import ClassVar

import anyio
from anyio.abc import TaskGroup

from ..actors.bootstrap import CacheWriter, bootstrap
from ..actors.flag_syncer import FlagSyncer
from ..actors.push import PushSupervisor
from ..actors.push_worker import QUEUE_SIZE as UPDATES_QUEUE
from ..actors.push_worker import PushWorker, Update
from ..actors.segment_syncer import SegmentSyncer
from ..actors.synchronizer import Synchronizer
from ..actors.telemetry import TelemetryActor, describe_config, new_intake
from ..config import Config
from ..models.events import Event
from ..models.impressions import Impression
from ..models.telemetry import TelemetryStore
from ..models.wire import events_body, impressions_body
from ..recording import Sink
from ..runtime.spec_version import SpecVersion
from ..status import ModeStatus, streaming_figures
from ..transport.connect import SplitEdges, connect
from ..transport.http import DEFAULT_URLS, SplitAPI
from .base import Mode, Parts, destroyed_status

_LOGGER = logging.getLogger("splitio.client.factory")


class StandaloneMode(Mode):
    name: ClassVar[str] = "standalone"

    def __init__(self, parts: Parts) -> None:
        self._calls = new_intake()  # the hot path's call records, for telemetry
        super().__init__(parts, telemetry=self._calls)
        # what telemetry records, handed at construction to every part that records into it
        self._store = TelemetryStore(session_start=parts.created)
        self._edges: SplitEdges | None = None  # the HTTP clients and the ports over them
        self._api: SplitAPI | None = None
        self._telemetry: TelemetryActor | None = None
        self._synchronizer: Synchronizer | None = None
        self._flags: FlagSyncer | None = None
        self._segments: SegmentSyncer | None = None
        self._worker: PushWorker | None = None

    @classmethod
    def applies(cls, sdk_key: str, config: Config) -> bool:
        return True

    async def open(self) -> Sink:
        parts = self.parts
        self._edges = await connect(parts.sdk_key, parts.config, parts.urls, self._store)
        self._api = api = self._edges.api
        mode = self.parts.config.impressions_mode

        async def send_impressions(bulk: Sequence[Impression]) -> None:
            await api.post_impressions(impressions_body(bulk), mode)

        async def send_events(bulk: Sequence[Event]) -> None:
            await api.post_events(events_body(bulk))

        # Split's API never answered, not once: the final flush does not wait for the deadline
        return self.parts.recording.counted_sink(api, send_impressions, send_events,
                                                 lambda: not api.answered)

    async def start(self, tg: TaskGroup) -> None:
        """Flags and segments from Split's API into the storage actor."""
        parts = self.parts
        config = parts.config
        api = self._api
        assert api is not None
        outbox = await self.start_storage(tg)
        await self._start_telemetry(tg, api)  # first: it observes every request
        served = await bootstrap(
            outbox, (config.bootstrap_file, config.cache_file), parts.seed, config.limits
        )
        self.bootstrapped_from = served.source if served is not None else None
        flags = FlagSyncer(api, parts.state, outbox, config.flag_sets_filter,
                           config.sync_retry_base, config.sync_retry_max,
                           SpecVersion(api.sdk_url_overridden, config.spec_recheck_interval),
                           fresh_start=served is not None and served.replace_flags)
        segments = SegmentSyncer(  # segments back off twice as long as flags (official 60 s)
            api, parts.state, outbox, config.sync_retry_base, 2 * config.sync_retry_max,
            fresh_names=served.replace_segments if served is not None else frozenset(),
        )
        if config.cache_file:
            writer = CacheWriter(parts.state, config.cache_file, parts.changes.subscribe())
            await tg.start(writer.run)
        store = self._store
        assert self._edges is not None
        if self._edges.events is not None:
            updates_send, updates_receive = anyio.create_memory_object_stream[Update](
                UPDATES_QUEUE
            )
            self._worker = worker = PushWorker(
                parts.state, outbox, flags, segments, updates_receive, config.limits,
                on_instant_update=store.record_update_from_sse,
            )
            await tg.start(worker.run)
            self.push = PushSupervisor(
                self._edges.auth, self._edges.events, outbox, updates_send,
                config.streaming_reconnect_base, keepalive_timeout=config.streaming_keepalive,
                limits=config.limits, telemetry=store,
            )
        synchronizer = Synchronizer(
            parts.state, outbox, flags, segments, config.features_refresh_rate,
            config.segments_refresh_rate, self._report_fatal, config.sync_retry_base,
            config.sync_retry_max, keep_current=self.push.run if self.push else None,
        )
        self._synchronizer, self._flags, self._segments = synchronizer, flags, segments
        await tg.start(synchronizer.run)

    async def _start_telemetry(self, tg: TaskGroup, api: SplitAPI) -> None:
        """The telemetry actor reads what the API's requests recorded, takes the hot path's records,
        posts config once ready and usage every ``metricsRefreshRate``."""
        parts = self.parts
        config = parts.config
        self._telemetry = TelemetryActor(
            api, self._calls, parts.state,
            describe_config(config, parts.urls, DEFAULT_URLS), config.metrics_refresh_rate,
            parts.recording.stats, parts.live_totals, store=self._store,
        )
        await tg.start(self._telemetry.run)  # reports started at once

    def _report_fatal(self, message: str) -> None:
        self.last_error = message

    def note_ready(self, elapsed_ms: float) -> None:
        if self._telemetry is not None:
            self._telemetry.record_ready(elapsed_ms)

    def note_ready_timeout(self) -> None:
        if self._telemetry is not None:
            self._telemetry.record_block_until_ready_timeout()

    async def final_flush(self) -> None:
        if self._telemetry is not None:  # last, so it carries the recorders' final counts
            await self._telemetry.flush_final()

    async def aclose(self) -> None:
        if self._edges is not None:
            await self._edges.aclose()

    def status(self, ready: bool, destroyed: bool) -> ModeStatus:
        sync_mode, reason = self._sync_mode(ready, destroyed)
        flags, segments = self._flags, self._segments
        problems = dict(self._synchronizer.problems()) if self._synchronizer else {}
        push = self.push
        if push is not None and push.last_problem is not None:
            problems["streaming"] = push.last_problem
        if self._worker is not None and self._worker.last_problem is not None:
            problems["streamed updates"] = self._worker.last_problem
        if self.last_error is not None:
            problems["sdk key"] = self.last_error
        return ModeStatus(
            self.name, sync_mode, reason,
            last_sync={
                "flags": flags.last_success if flags else None,
                "segments": segments.last_success if segments else None,
            },
            problems=problems,
            streaming=streaming_figures(push),
        )

    def _sync_mode(self, ready: bool, destroyed: bool) -> tuple[str, str]:
        """How data is kept current ("streaming", "polling", "none") and why."""
        if destroyed:
            fragment = destroyed_status(self.name)
            return fragment.sync_mode, fragment.sync_reason
        if self.last_error is not None:
            return "none", "SDK key refused: syncing stopped"
        if not ready:
            return "none", "initial sync in progress"
        push = self.push
        if push is None:
            return "polling", "streamingEnabled is false"
        if push.streaming:
            return "streaming", "streaming up"
        if push.off_reason is not None:
            return "polling", push.off_reason
        if push.polling:
            return "polling", "stream down, polling until it reconnects"
        return "none", "stream connecting"

