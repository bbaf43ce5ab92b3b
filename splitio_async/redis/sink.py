"""Where Redis consumer mode's records go: the lists and hashes the Split Synchronizer drains, in
its exact value formats (spec: storage-redis.md §4.2), written in bulk by the recorder actors.

The official SDK writes each evaluation's impressions and latency in a pipeline on the caller's
path; we write what the recorders drained in one pipeline per bulk (same keys, same values, same
TTL rule), so an evaluation never waits for a write. Telemetry latencies and exceptions are
summed in process and written with ``HINCRBY`` by their totals.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import anyio
from anyio.abc import TaskStatus

from ..actors.impression_counters import PartlyWritten
from ..models.events import Event
from ..models.impressions import Impression
from ..models.telemetry import EXCEPTION, NOT_READY, CallRecord, bucket_index
from ..runtime.clock import SYSTEM_CLOCK
from ..runtime.intake import Intake
from ..runtime.periodic import periodic
from ..runtime.waker import Waker
from ..storage.synchronizer_records import RecordFormat, init_value, unique_keys_values
from ..transport.metadata import SdkMetadata
from ..transport.protocols import Clock
from .commands import Batch
from .keys import IMPRESSIONS_TTL, RedisKeys

_LOGGER = logging.getLogger("splitio.storage.redis")

Execute = Callable[[Batch], Awaitable[list[Any]]]
TELEMETRY_PERIOD = 60.0  # seconds between latency/exception writes (and at shutdown)


class TelemetryWriter(Protocol):
    """Where ``RedisTelemetry`` writes its totals: Redis, or a pluggable storage wrapper."""

    async def write_telemetry(
        self, latencies: Counter[tuple[str, int]], exceptions: Counter[str]
    ) -> None: ...


class RedisSink:
    """Writes impressions, events, impression counts and unique keys; raises when Redis fails
    (the recorder keeps the bulk and retries)."""

    def __init__(self, execute: Execute, keys: RedisKeys, metadata: SdkMetadata) -> None:
        self._execute = execute
        self._keys = keys
        self._format = RecordFormat(metadata)

    async def send_impressions(self, bulk: Sequence[Impression]) -> None:
        await self._push(self._keys.impressions, [self._format.impression(i) for i in bulk])

    async def send_events(self, bulk: Sequence[Event]) -> None:
        await self._push(self._keys.events, [self._format.event(e) for e in bulk])

    async def post_impression_counts(self, body: dict[str, Any], mode: str) -> None:
        """``ImpressionCounters``' destination: ``HINCRBY "<flag>::<timeframe>"`` per count."""
        counts = body["pf"]
        if not counts:
            return
        key = self._keys.impressions_count
        replies = await self._execute(
            [("hincrby", key, f"{c['f']}::{c['m']}", c["rc"]) for c in counts]
        )
        if sum(int(r) for r in replies) == sum(c["rc"] for c in counts):
            await self._execute([("expire", key, IMPRESSIONS_TTL)])

    async def post_unique_keys(self, body: dict[str, Any]) -> None:
        """One JSON ``{"f", "ks"}`` per flag, pushed to the unique-keys list."""
        values = unique_keys_values(body)
        if values:
            await self._push(self._keys.unique_keys, values)

    async def write_init(self, active: int, redundant: int) -> None:
        """The config record the Synchronizer reads once per SDK instance."""
        await self._execute([(
            "hset", self._keys.telemetry_init, self._format.machine,
            init_value(active, redundant, "redis"),
        )])

    async def write_telemetry(
        self, latencies: Counter[tuple[str, int]], exceptions: Counter[str]
    ) -> None:
        fields = self._format
        batch: Batch = [
            ("hincrby", self._keys.telemetry_latencies, fields.latency_field(code, bucket), count)
            for (code, bucket), count in sorted(latencies.items())
        ]
        batch.extend(
            ("hincrby", self._keys.telemetry_exceptions, fields.exception_field(code), n)
            for code, n in sorted(exceptions.items())
        )
        if not batch:
            return
        replies = await self._execute(batch)
        # TTL on hashes this write created (the official SDK's intent; spec §4.2)
        created = {
            key for (_, key, _, count), reply in zip(batch, replies, strict=True)
            if int(reply) == count
        }
        if created:
            await self._execute([("expire", key, IMPRESSIONS_TTL) for key in sorted(created)])

    async def _push(self, key: str, values: list[str]) -> None:
        if not values:
            return
        replies = await self._execute([("rpush", key, *values)])
        if int(replies[0]) == len(values):  # this push created the list
            await self._execute([("expire", key, IMPRESSIONS_TTL)])


class RedisTelemetry:
    """Sums the hot path's latency records (µs, bucketed once) and failed evaluations, and
    writes the totals every ``TELEMETRY_PERIOD`` seconds and at shutdown (consumer modes:
    Redis, pluggable)."""

    def __init__(self, sink: TelemetryWriter, calls: Intake[CallRecord],
                 period: float = TELEMETRY_PERIOD, clock: Clock = SYSTEM_CLOCK) -> None:
        self._sink = sink
        self._calls = calls
        self._period = period
        self._clock = clock
        self._due = 0.0  # clock time of the next write
        self._latencies: Counter[tuple[str, int]] = Counter()
        self._exceptions: Counter[str] = Counter()
        self.written = 0

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        waker = Waker()
        self._calls.set_waker(waker)
        task_status.started()
        self._due = self._clock.now() + self._period
        try:
            await periodic(self._take_and_write, self._period, clock=self._clock, wake=waker)
        finally:
            self._calls.set_waker(None)

    async def _take_and_write(self) -> float:
        """Sum what the hot path queued (woken when the intake fills); write every period."""
        self._take()
        if self._clock.now() >= self._due:
            await self.flush()
            self._due = self._clock.now() + self._period
        return max(0.0, self._due - self._clock.now())

    def _take(self) -> None:
        for code, latency in self._calls.drain():
            if code == NOT_READY:
                continue
            if latency == EXCEPTION:
                self._exceptions[code] += 1
            else:
                self._latencies[(code, bucket_index(latency))] += 1

    async def flush(self) -> None:
        """Write what was summed; kept for the next flush if Redis fails."""
        self._take()
        latencies, exceptions = self._latencies, self._exceptions
        if not latencies and not exceptions:
            return
        self._latencies, self._exceptions = Counter(), Counter()
        try:
            await self._sink.write_telemetry(latencies, exceptions)
        except Exception as exc:
            _LOGGER.debug("writing telemetry failed (%r); kept for the next write", exc)
            if isinstance(exc, PartlyWritten):  # only what was not written is kept
                latencies, exceptions = exc.unsent
            self._latencies.update(latencies)
            self._exceptions.update(exceptions)
            return
        self.written += sum(latencies.values()) + sum(exceptions.values())
