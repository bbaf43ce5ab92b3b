"""The Split API's JSON bodies for what the SDK records, in the official wire formats (spec:
api.md §5). Pure: the recorders' destinations call these."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .events import Event
from .impressions import Impression

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
