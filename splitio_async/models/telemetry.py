"""Telemetry as plain data: latency buckets, the counters of one period, the two payloads.

Why a separate pure model: the wire format (spec: recording.md §4, streaming.md §8) is exact and
easy to get subtly wrong, so it is built here, with no I/O and no clock of its own beyond
injectable callables, and unit-tested key by key. The telemetry actor owns the one
``TelemetryStore`` of a factory and is its only writer; it runs on the event loop's thread, so
nothing here takes a lock. The evaluation hot path never touches the store: it appends
``CallRecord`` tuples to a thread-safe intake that the actor drains into ``record_calls``.

Where we deliberately differ from the official SDK (its quirks, see the spec):
latencies are measured in microseconds and bucketed once; ``uO`` is true only for URLs the user
overrode; ``iM`` is 0/1/2 for OPTIMIZED/DEBUG/NONE; ``sL`` (session length) is recorded.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

# Upper bounds of the 23 latency buckets, in microseconds (each ~1.5x the previous).
LATENCY_BOUNDS_US = (
    1000, 1500, 2250, 3375, 5063, 7594, 11391, 17086, 25629, 38443, 57665, 86498, 129746,
    194620, 291929, 437894, 656841, 985261, 1477892, 2216838, 3325257, 4987885, 7481828,
)
BUCKETS = len(LATENCY_BOUNDS_US)
_LAST_BUCKET = BUCKETS - 1


def bucket_index(latency_us: float) -> int:
    """Index of the first bound >= ``latency_us``; anything above the last bound is 22."""
    return min(bisect_left(LATENCY_BOUNDS_US, latency_us), _LAST_BUCKET)


# Public client method name -> telemetry code (the keys of ``mL`` and ``mE``).
METHOD_CODES: Mapping[str, str] = {
    "get_treatment": "t",
    "get_treatments": "ts",
    "get_treatment_with_config": "tc",
    "get_treatments_with_config": "tcs",
    "get_treatments_by_flag_set": "tf",
    "get_treatments_by_flag_sets": "tfs",
    "get_treatments_with_config_by_flag_set": "tcf",
    "get_treatments_with_config_by_flag_sets": "tcfs",
    "track": "tr",
}
METHODS = tuple(METHOD_CODES.values())

# HTTP resources (keys of ``lS``, ``hE``, ``hL``): splitChanges, segmentChanges,
# testImpressions/bulk, testImpressions/count, events/bulk, telemetry, auth.
RESOURCES = ("sp", "se", "im", "ic", "ev", "te", "to")

# What the hot path appends: ``(method code, latency in µs)``, with two markers.
CallRecord = tuple[str, int]
EXCEPTION = -1  # as the latency: the evaluation of this call failed (``mE``)
NOT_READY = "nR"  # as the method code: a call made before the SDK was ready (``nR``)
NOT_READY_CALL: CallRecord = (NOT_READY, 0)

IMPRESSIONS_MODES = {"OPTIMIZED": 0, "DEBUG": 1, "NONE": 2}
MAX_STREAMING_EVENTS = 20  # per period; the first ones are kept, as the official SDK does
MAX_TAGS = 10

# Streaming event types (streaming.md §8), for the streaming actors.
CONNECTION_ESTABLISHED = 0
OCCUPANCY_PRI = 10
OCCUPANCY_SEC = 20
STREAMING_STATUS = 30
SSE_CONNECTION_ERROR = 40
TOKEN_REFRESH = 50
ABLY_ERROR = 60
SYNC_MODE_UPDATE = 70


class StorageStats(NamedTuple):
    """``spC``, ``seC``, ``skC``: what the current snapshot holds."""

    flags: int = 0
    segments: int = 0
    segment_keys: int = 0


class RecordingStats(NamedTuple):
    """``iQ``, ``iDe``, ``iDr``, ``eQ``, ``eD``: cumulative counts from the recorders."""

    impressions_queued: int = 0
    impressions_deduped: int = 0
    impressions_dropped: int = 0
    events_queued: int = 0
    events_dropped: int = 0


class ConfigSettings(NamedTuple):
    """What the config payload reports about the factory's configuration (``oM`` to ``fsI``)."""

    streaming_enabled: bool
    refresh_rates: Mapping[str, float]  # keys sp, se, im, ev, te (seconds)
    url_overrides: Mapping[str, bool]  # keys s, e, a, st, t
    impressions_queue_size: int
    events_queue_size: int
    impressions_mode: str  # OPTIMIZED | DEBUG | NONE
    impression_listener: bool
    https_proxy_env: bool
    flag_sets_total: int
    flag_sets_invalid: int
    operation_mode: int = 0  # 0 standalone, 1 consumer, 2 partial consumer
    storage: str = "memory"


def _epoch_ms() -> int:
    return int(time.time() * 1000)


def _zeros() -> list[int]:
    return [0] * BUCKETS


class TelemetryStore:
    """Every counter the two payloads need. Per-period parts are reset by ``pop_usage``;
    cumulative parts (``lS``, the recording counts, ``bT``, ``nR``, ``tR``) are not."""

    def __init__(
        self,
        monotonic: Callable[[], float] = time.monotonic,
        epoch_ms: Callable[[], int] = _epoch_ms,
        session_start: float | None = None,
    ) -> None:
        self._monotonic = monotonic
        self._epoch_ms = epoch_ms
        self.session_start = monotonic() if session_start is None else session_start
        # cumulative
        self.last_sync: dict[str, int] = dict.fromkeys(RESOURCES, 0)
        self.recording = RecordingStats()
        self.not_ready_calls = 0
        self.ready_timeouts = 0
        self.time_until_ready_ms = 0
        self.tags: list[str] = []
        self._reset_period()

    def _reset_period(self) -> None:
        self.method_latencies: dict[str, list[int]] = {m: _zeros() for m in METHODS}
        self.method_exceptions: dict[str, int] = dict.fromkeys(METHODS, 0)
        self.http_errors: dict[str, dict[str, int]] = {r: {} for r in RESOURCES}
        self.http_latencies: dict[str, list[int]] = {r: _zeros() for r in RESOURCES}
        self.auth_rejections = 0
        self.token_refreshes = 0
        self.streaming_events: list[dict[str, int]] = []
        self.updates_from_sse: dict[str, int] = {"sp": 0, "rbs": 0}

    # ------------------------------------------------------------------ recording

    def record_calls(self, records: Iterable[CallRecord]) -> None:
        """Fold hot-path records in; unknown codes (a bug, not data) are ignored."""
        latencies = self.method_latencies
        exceptions = self.method_exceptions
        for code, latency_us in records:
            if code == NOT_READY:
                self.not_ready_calls += 1
            elif latency_us == EXCEPTION:
                if code in exceptions:
                    exceptions[code] += 1
            elif code in latencies:
                latencies[code][bucket_index(latency_us)] += 1

    def record_http(self, resource: str, status: int | None, latency_ms: float) -> None:
        """One HTTP request: latency bucket, error count or last-success time. A request that
        got no response (``status`` None) has no status to count and no meaningful latency."""
        if status is None or resource not in self.http_latencies:
            return
        self.http_latencies[resource][bucket_index(latency_ms * 1000)] += 1
        if 200 <= status < 300:
            self.last_sync[resource] = self._epoch_ms()
        else:
            errors = self.http_errors[resource]
            errors[str(status)] = errors.get(str(status), 0) + 1

    def record_sync(self, resource: str) -> None:
        if resource in self.last_sync:
            self.last_sync[resource] = self._epoch_ms()

    def record_streaming_event(self, event_type: int, data: int) -> None:
        if len(self.streaming_events) < MAX_STREAMING_EVENTS:
            self.streaming_events.append({"e": event_type, "d": data, "t": self._epoch_ms()})

    def record_update_from_sse(self, kind: str, count: int = 1) -> None:
        """An update applied straight from an SSE payload: ``sp`` (flag) or ``rbs``."""
        if kind in self.updates_from_sse:
            self.updates_from_sse[kind] += count

    def record_token_refresh(self) -> None:
        self.token_refreshes += 1

    def record_auth_rejection(self) -> None:
        self.auth_rejections += 1

    def record_ready_timeout(self) -> None:
        self.ready_timeouts += 1

    def record_ready(self, time_until_ready_ms: float) -> None:
        self.time_until_ready_ms = round(time_until_ready_ms)

    def add_tag(self, tag: str) -> None:
        if len(self.tags) < MAX_TAGS:
            self.tags.append(tag)

    # ------------------------------------------------------------------ payloads

    def pop_usage(self, storage: StorageStats) -> dict[str, Any]:
        """The ``v1/metrics/usage`` body; resets the per-period counters."""
        recording = self.recording
        body: dict[str, Any] = {
            "lS": dict(self.last_sync),
            "mL": self.method_latencies,
            "mE": self.method_exceptions,
            "hE": self.http_errors,
            "hL": self.http_latencies,
            "tR": self.token_refreshes,
            "aR": self.auth_rejections,
            "iQ": recording.impressions_queued,
            "iDe": recording.impressions_deduped,
            "iDr": recording.impressions_dropped,
            "spC": storage.flags,
            "seC": storage.segments,
            "skC": storage.segment_keys,
            "sL": round((self._monotonic() - self.session_start) * 1000),
            "eQ": recording.events_queued,
            "eD": recording.events_dropped,
            "sE": self.streaming_events,
            "t": list(self.tags),
            "ufs": self.updates_from_sse,
        }
        self._reset_period()
        return body

    def restore_usage(self, body: Mapping[str, Any]) -> None:
        """Add back the per-period counters of a usage body that could not be sent, so the
        next period's post carries them (cumulative fields need nothing: they are re-read)."""
        for code, buckets in body["mL"].items():
            if code in self.method_latencies:
                mine = self.method_latencies[code]
                for i, count in enumerate(buckets):
                    mine[i] += count
        for code, count in body["mE"].items():
            if code in self.method_exceptions:
                self.method_exceptions[code] += count
        for resource, buckets in body["hL"].items():
            if resource in self.http_latencies:
                mine = self.http_latencies[resource]
                for i, count in enumerate(buckets):
                    mine[i] += count
        for resource, statuses in body["hE"].items():
            errors = self.http_errors.get(resource)
            if errors is not None:
                for status, count in statuses.items():
                    errors[status] = errors.get(status, 0) + count
        self.token_refreshes += body["tR"]
        self.auth_rejections += body["aR"]
        self.streaming_events[:0] = body["sE"]
        del self.streaming_events[MAX_STREAMING_EVENTS:]
        for kind, count in body["ufs"].items():
            self.record_update_from_sse(kind, count)

    def config_payload(
        self, settings: ConfigSettings, active_factories: int, redundant_factories: int
    ) -> dict[str, Any]:
        """The ``v1/metrics/config`` body (sent once, after the SDK is ready)."""
        rates = settings.refresh_rates
        return {
            "oM": settings.operation_mode,
            "sT": settings.storage,
            "sE": settings.streaming_enabled,
            "rR": {k: _seconds(rates[k]) for k in ("sp", "se", "im", "ev", "te")},
            "uO": {k: bool(settings.url_overrides.get(k, False))
                   for k in ("s", "e", "a", "st", "t")},
            "iQ": settings.impressions_queue_size,
            "eQ": settings.events_queue_size,
            "iM": IMPRESSIONS_MODES.get(settings.impressions_mode.upper(), 0),
            "iL": settings.impression_listener,
            "hp": settings.https_proxy_env,
            "aF": active_factories,
            "rF": redundant_factories,
            "fsT": settings.flag_sets_total,
            "fsI": settings.flag_sets_invalid,
            "bT": self.ready_timeouts,
            "nR": self.not_ready_calls,
            "tR": self.time_until_ready_ms,
            "t": list(self.tags),
        }


def _seconds(rate: float) -> int:
    """Refresh rates travel as whole seconds (sub-second rates exist only in tests)."""
    return round(rate)
