"""Where impressions, impression counts, unique keys and events go in standalone mode: the
Split API, in the official wire formats (spec: api.md §5)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Protocol

from ..engine.impressions import ImpressionsStrategy
from ..models.events import Event
from ..models.impressions import Impression

COUNTS_PERIOD = 1800.0  # impression counts (official)
UNIQUE_KEYS_PERIOD = 900.0  # unique keys (official)
UNIQUE_KEYS_BULK = 5000  # keys per unique-keys request (official)


def impressions_body(impressions: Sequence[Impression]) -> list[dict[str, Any]]:
    """Grouped by flag, flags sorted; ``properties`` only when present."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for imp in impressions:
        entry: dict[str, Any] = {
            "k": imp.matching_key, "t": imp.treatment, "m": imp.time, "c": imp.change_number,
            "r": imp.label, "b": imp.bucketing_key, "pt": imp.previous_time,
        }
        if imp.properties is not None:
            entry["properties"] = imp.properties
        grouped.setdefault(imp.feature_name, []).append(entry)
    return [{"f": flag, "i": grouped[flag]} for flag in sorted(grouped)]


def events_body(events: Sequence[Event]) -> list[dict[str, Any]]:
    return [
        {"key": e.key, "trafficTypeName": e.traffic_type_name, "eventTypeId": e.event_type_id,
         "value": e.value, "timestamp": e.timestamp, "properties": e.properties}
        for e in events
    ]


def unique_keys_bodies(keys: dict[str, set[str]]) -> list[dict[str, Any]]:
    """At most ``UNIQUE_KEYS_BULK`` keys per request (a flag's keys may span requests)."""
    bodies: list[dict[str, Any]] = []
    current: list[dict[str, Any]] = []
    size = 0
    for flag in sorted(keys):
        members = sorted(keys[flag])
        while members:
            take = members[: UNIQUE_KEYS_BULK - size]
            members = members[len(take):]
            current.append({"f": flag, "ks": take})
            size += len(take)
            if size >= UNIQUE_KEYS_BULK:
                bodies.append({"keys": current})
                current, size = [], 0
    if current:
        bodies.append({"keys": current})
    return bodies


class CountsDestination(Protocol):
    """Split's API, or Redis (``redis_sink.RedisSink``) in consumer mode."""

    async def post_impression_counts(self, body: dict[str, Any], mode: str) -> None: ...

    async def post_unique_keys(self, body: dict[str, Any]) -> None: ...


class ImpressionCounters:
    """Sends what the impressions mode only counted: counts every 30 min, unique keys every
    15 min or past 30,000 pairs, both at shutdown. A failed send is merged back and retried."""

    def __init__(
        self, api: CountsDestination, strategy: ImpressionsStrategy, mode: str
    ) -> None:
        self._api = api
        self._strategy = strategy
        self._mode = mode
        now = time.monotonic()
        self._counts_due = now + COUNTS_PERIOD
        self._keys_due = now + UNIQUE_KEYS_PERIOD
        self.counts_sent = 0
        self.unique_keys_sent = 0

    async def flush(self, final: bool) -> None:
        now = time.monotonic()
        if final or now >= self._counts_due:
            await self._send_counts()
            self._counts_due = now + COUNTS_PERIOD
        if final or now >= self._keys_due or self._strategy.unique_keys_due:
            await self._send_unique_keys()
            self._keys_due = now + UNIQUE_KEYS_PERIOD

    async def _send_counts(self) -> None:
        counts = self._strategy.pop_counts()
        if not counts:
            return
        body = {"pf": [{"f": flag, "m": hour, "rc": count} for flag, hour, count in counts]}
        try:
            await self._api.post_impression_counts(body, self._mode)
        except Exception:
            self._strategy.restore_counts(counts)
            raise
        self.counts_sent += sum(count for _, _, count in counts)

    async def _send_unique_keys(self) -> None:
        keys = self._strategy.pop_unique_keys()
        bodies = unique_keys_bodies(keys)
        for index, body in enumerate(bodies):
            try:
                await self._api.post_unique_keys(body)
            except Exception:
                for rest in bodies[index:]:
                    for entry in rest["keys"]:
                        self._strategy.restore_unique_keys(entry["f"], entry["ks"])
                raise
            self.unique_keys_sent += sum(len(entry["ks"]) for entry in body["keys"])
