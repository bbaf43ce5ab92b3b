"""The Split Synchronizer's Redis key layout (spec: storage-redis.md §3-4), in one place.

The SDK and the Synchronizer must agree on every name byte for byte, so nothing else in the
package spells a key: readers and writers ask this object.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_HASH_TAG = re.compile(r"\{[^}]+\}")

IMPRESSIONS_TTL = 3600  # seconds, set when a push creates the list (official)


def has_hash_tag(prefix: str | None) -> bool:
    """Whether keys built on ``prefix`` all land in one Redis Cluster slot (a ``{tag}`` with
    something between the braces, as Redis Cluster defines hash tags)."""
    return bool(prefix) and _HASH_TAG.search(prefix or "") is not None


class RedisKeys:
    """Key names for one ``redisPrefix`` (``"<prefix>." + key``; none without a prefix)."""

    __slots__ = (
        "events",
        "flag_set_prefix",
        "flags_pattern",
        "impressions",
        "impressions_count",
        "prefix",
        "rbs_pattern",
        "rbs_prefix",
        "rbs_till",
        "segment_prefix",
        "split_prefix",
        "splits_till",
        "telemetry_exceptions",
        "telemetry_init",
        "telemetry_latencies",
        "traffic_type_prefix",
        "unique_keys",
    )

    def __init__(self, prefix: str | None = None) -> None:
        self.prefix = f"{prefix}." if prefix else ""
        p = self.prefix
        self.split_prefix = p + "SPLITIO.split."
        self.rbs_prefix = p + "SPLITIO.rbsegment."
        self.segment_prefix = p + "SPLITIO.segment."
        self.traffic_type_prefix = p + "SPLITIO.trafficType."
        self.flag_set_prefix = p + "SPLITIO.flagSet."
        self.flags_pattern = self.split_prefix + "*"
        self.rbs_pattern = self.rbs_prefix + "*"
        self.splits_till = p + "SPLITIO.splits.till"
        self.rbs_till = p + "SPLITIO.rbsegments.till"
        self.impressions = p + "SPLITIO.impressions"
        self.events = p + "SPLITIO.events"
        self.impressions_count = p + "SPLITIO.impressions.count"
        self.unique_keys = p + "SPLITIO.uniquekeys"
        self.telemetry_init = p + "SPLITIO.telemetry.init"
        self.telemetry_latencies = p + "SPLITIO.telemetry.latencies"
        self.telemetry_exceptions = p + "SPLITIO.telemetry.exceptions"

    def split(self, name: str) -> str:
        return self.split_prefix + name

    def rule_based_segment(self, name: str) -> str:
        return self.rbs_prefix + name

    def segment(self, name: str) -> str:
        return self.segment_prefix + name

    def traffic_type(self, name: str) -> str:
        return self.traffic_type_prefix + name

    def flag_set(self, name: str) -> str:
        return self.flag_set_prefix + name

    def flag_name(self, key: str) -> str | None:
        """The flag a ``KEYS`` answer names; None for anything else under the pattern (the
        change-number key ``SPLITIO.splits.till`` does not match ``SPLITIO.split.*``, but a
        prefix-less scan of a shared database may return odd keys)."""
        if not key.startswith(self.split_prefix):
            return None
        return key[len(self.split_prefix):] or None

    def flag_names(self, keys: Iterable[str]) -> list[str]:
        """The flags named by the answer to ``KEYS SPLITIO.split.*``."""
        return [name for name in map(self.flag_name, keys) if name]

    def rule_based_segment_names(self, keys: Iterable[str]) -> list[str]:
        """The rule-based segments named by the answer to ``KEYS SPLITIO.rbsegment.*``."""
        prefix = self.rbs_prefix
        return [key[len(prefix):] for key in keys if key.startswith(prefix)]
