"""The records consumer modes leave for the Split Synchronizer, in its exact formats.

Redis mode and pluggable mode write the same values (spec: storage-redis.md §4.2 and §7): an
impression, an event and a flag's unique keys as one JSON text each, the telemetry config as
JSON, and telemetry counters named ``<sdk version>/<machine name>/<machine ip>[/<method>[/<bucket
index>]]``. Only *where* they go differs (Redis lists and hashes; a wrapper's lists and one
counter key per field), so each sink owns its keys and these functions own the values.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..models.events import Event
from ..models.impressions import Impression
from ..models.telemetry import METHOD_CODES

if TYPE_CHECKING:
    from ..transport.metadata import SdkMetadata

_METHOD_NAMES = {code: name.removeprefix("get_") for name, code in METHOD_CODES.items()}


class RecordFormat:
    """The values of one SDK instance's records (its version, machine name and address)."""

    __slots__ = ("_meta", "machine")

    def __init__(self, metadata: SdkMetadata) -> None:
        self._meta = {"s": metadata.version, "n": metadata.machine_name,
                      "i": metadata.machine_ip}
        self.machine = f"{metadata.version}/{metadata.machine_name}/{metadata.machine_ip}"

    def impression(self, imp: Impression) -> str:
        """``{"m": {s, n, i}, "i": {k, b, f, t, r, c, m, properties}}`` (no ``pt``)."""
        return json.dumps({"m": self._meta, "i": {
            "k": imp.matching_key, "b": imp.bucketing_key, "f": imp.feature_name,
            "t": imp.treatment, "r": imp.label, "c": imp.change_number, "m": imp.time,
            "properties": imp.properties,
        }})

    def event(self, e: Event) -> str:
        return json.dumps({"e": {
            "key": e.key, "trafficTypeName": e.traffic_type_name, "eventTypeId": e.event_type_id,
            "value": e.value, "timestamp": e.timestamp, "properties": e.properties,
        }, "m": self._meta})

    def latency_field(self, code: str, bucket: int) -> str:
        return f"{self.machine}/{_METHOD_NAMES[code]}/{bucket}"

    def exception_field(self, code: str) -> str:
        return f"{self.machine}/{_METHOD_NAMES[code]}"


def unique_keys_values(body: dict[str, Any]) -> list[str]:
    """One JSON ``{"f", "ks"}`` per flag of an ``ImpressionCounters`` unique-keys body."""
    return [json.dumps({"f": entry["f"], "ks": entry["ks"]}) for entry in body["keys"]]


def init_value(active: int, redundant: int, storage: str) -> str:
    """The telemetry config record (``storage``: ``redis`` or ``pluggable``)."""
    return json.dumps({"aF": active, "rF": redundant, "sT": storage, "oM": 1, "t": []})
