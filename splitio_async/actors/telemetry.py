"""The telemetry actor (standalone mode): config once after ready, usage every period and at stop.

Why an actor: every telemetry source already runs on the event loop's thread (HTTP results,
streaming events, readiness, ``block_until_ready``) except the evaluation hot path, which may run
in any thread of the sync shim; that one appends small tuples to a thread-safe ``Intake`` which
this actor drains. So the ``TelemetryStore`` has a single writer and needs no lock.

Posting never delays readiness: the config payload is posted from its own task once the factory
reports ready. A failed post is logged at debug level; the config is not retried (official), an
unsent usage body is folded back into the store and goes out with the next period's. The final
usage post runs when the factory asks for it, after the recorders' final flush, so it carries
their final counts.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import anyio
from anyio.abc import TaskStatus

from ..config import Config
from ..lifecycle import FactoryState
from ..models.telemetry import (
    CallRecord,
    ConfigSettings,
    RecordingStats,
    StorageStats,
    TelemetryStore,
)
from ..runtime.clock import SYSTEM_CLOCK
from ..runtime.intake import Intake
from ..runtime.periodic import periodic
from ..runtime.waker import Waker
from ..storage.snapshot import Snapshot
from ..transport.protocols import Clock

_LOGGER = logging.getLogger("splitio.sync.telemetry")

QUEUE_SIZE = 100_000  # hot-path records between two drains; beyond that they are dropped
DRAIN_PERIOD = 5.0  # seconds between drains while calls arrive below the wake threshold

# Our URL keyword (``<name>_api_base_url``) -> ``uO`` key.
_URL_KEYS = {"sdk": "s", "events": "e", "auth": "a", "streaming": "st", "telemetry": "t"}


class TelemetryAPI(Protocol):
    """What the actor needs from Split's API (``transport.http.SplitAPI``, or a test double)."""

    async def post_telemetry_config(self, body: dict[str, Any]) -> None: ...

    async def post_telemetry_usage(self, body: dict[str, Any]) -> None: ...


def new_intake() -> Intake[CallRecord]:
    """The hot path's buffer: the actor is woken at half, so a burst has room while it drains."""
    return Intake(QUEUE_SIZE, QUEUE_SIZE // 2)


def describe_config(
    config: Config, urls: Mapping[str, str | None], default_urls: Mapping[str, str]
) -> ConfigSettings:
    """What the config payload says about ``config``: ``uO`` is true only for a URL the user
    set to something other than the default (the official SDK reports every URL)."""
    overrides = {
        code: bool(urls.get(name)) and (urls[name] or "").rstrip("/") != default_urls.get(name)
        for name, code in _URL_KEYS.items()
    }
    raw_sets = config.raw.get("flagSetsFilter")
    sets_total = len(raw_sets) if isinstance(raw_sets, list | tuple) else 0
    return ConfigSettings(
        streaming_enabled=config.streaming_enabled,
        refresh_rates={
            "sp": config.features_refresh_rate,
            "se": config.segments_refresh_rate,
            "im": config.impressions_refresh_rate,
            "ev": config.events_push_rate,
            "te": config.metrics_refresh_rate,
        },
        url_overrides=overrides,
        impressions_queue_size=config.impressions_queue_size,
        events_queue_size=config.events_queue_size,
        impressions_mode=config.impressions_mode,
        impression_listener=config.impression_listener is not None,
        https_proxy_env=any(name.upper() == "HTTPS_PROXY" for name in os.environ),
        flag_sets_total=sets_total,
        flag_sets_invalid=max(0, sets_total - len(config.flag_sets_filter or ())),
    )


def storage_stats(snapshot: Snapshot) -> StorageStats:
    """``spC``, ``seC``, ``skC`` of the current snapshot (one pass over the segments)."""
    segments = snapshot.segments
    return StorageStats(
        len(snapshot.flags), len(segments), sum(len(keys) for keys in segments.values())
    )


class TelemetryActor:
    """Drains the hot path's call records into the factory's ``TelemetryStore`` and posts it.

    The store is created first and handed, at construction, to everything that records into it
    (the SplitAPI as its ``HttpObserver``, the streaming supervisor, the push worker); they all
    run on the event loop's thread, as does this actor, so the store has one thread writing."""

    def __init__(
        self,
        api: TelemetryAPI,
        intake: Intake[CallRecord],
        state: FactoryState,
        settings: ConfigSettings,
        period: float,
        recording_stats: Callable[[], RecordingStats],
        factory_counts: Callable[[], tuple[int, int]],
        session_start: float | None = None,
        store: TelemetryStore | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._api = api
        self._clock = clock
        self._intake = intake
        self._state = state
        self._settings = settings
        self._period = period
        self._recording_stats = recording_stats
        self._factory_counts = factory_counts
        self.store = TelemetryStore(session_start=session_start) if store is None else store
        self._ready = anyio.Event()
        self._config_wait = anyio.CancelScope()  # cancelled at stop if never ready
        self._stopping = False
        self._running = False
        self._finished = anyio.Event()
        self._waker: Waker | None = None
        self._drops_reported = 0
        self._next_post = 0.0  # clock time of the next usage post

    # ------------------------------------------------------------------ inputs

    def record_ready(self, time_until_ready_ms: float) -> None:
        """The factory is ready: record ``tR`` and let the config post go."""
        self.store.record_ready(time_until_ready_ms)
        self._ready.set()

    def record_block_until_ready_timeout(self) -> None:
        self.store.record_ready_timeout()

    # ------------------------------------------------------------------ lifecycle

    def stop(self) -> None:
        """Ask for the final usage post (loop thread); ``flush_final`` also waits for it."""
        self._stopping = True
        self._config_wait.cancel()  # an in-flight config post is left to finish
        if self._waker is not None:
            self._waker.set()

    async def flush_final(self) -> None:
        """Stop and wait until the final usage post is done (the caller bounds the wait)."""
        self.stop()
        if self._running:
            await self._finished.wait()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        self._waker = Waker()
        self._intake.set_waker(self._waker)
        self._running = True
        task_status.started()
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._post_config_when_ready)
                await self._post_usage_periodically(self._waker)
            await self._post_usage()
        finally:
            self._intake.set_waker(None)
            self._running = False
            self._finished.set()

    # ------------------------------------------------------------------ internals

    async def _post_usage_periodically(self, waker: Waker) -> None:
        """Drain when woken, every ``DRAIN_PERIOD`` while calls arrive; post usage every
        period."""
        self._next_post = self._clock.now() + self._period
        await periodic(self._drain_and_post, self._next_wait(), clock=self._clock, wake=waker,
                       until=lambda: self._stopping)

    async def _drain_and_post(self) -> float:
        self._drain()
        if not self._stopping and self._clock.now() >= self._next_post:
            await self._post_usage()
            self._next_post = self._clock.now() + self._period
        return self._next_wait()

    def _next_wait(self) -> float:
        wait = self._next_post - self._clock.now()
        if len(self._intake):  # idle (no calls since the last drain): sleep until the post
            wait = min(DRAIN_PERIOD, wait)
        return wait

    async def _post_config_when_ready(self) -> None:
        with self._config_wait:
            await self._ready.wait()
        if not self._ready.is_set():
            return  # stopped before ready: nothing meaningful to report
        self._drain()  # the calls made before ready count in ``nR``
        body = self.store.config_payload(self._settings, *self._factory_counts())
        try:
            await self._api.post_telemetry_config(body)
        except Exception as exc:
            _LOGGER.debug("Error posting telemetry config: %r", exc)

    async def _post_usage(self) -> None:
        self._drain()
        self.store.recording = self._recording_stats()
        body = self.store.pop_usage(storage_stats(self._state.snapshot))
        try:
            await self._api.post_telemetry_usage(body)
        except Exception as exc:
            _LOGGER.debug("Error posting telemetry usage (kept for the next period): %r", exc)
            self.store.restore_usage(body)

    def _drain(self) -> None:
        self.store.record_calls(self._intake.drain())
        dropped = self._intake.dropped
        if dropped > self._drops_reported:
            _LOGGER.debug("telemetry: %d call records dropped (buffer full)",
                          dropped - self._drops_reported)
            self._drops_reported = dropped
