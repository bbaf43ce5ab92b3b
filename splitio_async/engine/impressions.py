"""Impression modes (OPTIMIZED, DEBUG, NONE) as pure data processing.

Runs in the impressions recorder actor, off the evaluation hot path: the hot path only appends raw
impressions; this decides which are sent, which are only counted, and which keys are tracked.
Memory is bounded whatever the number of distinct keys: the dedup cache is a fixed-size LRU and the
unique-keys tracker is flushed by the recorder once it passes its threshold.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..models.impressions import Impression

HOUR_MS = 3_600_000
DEDUP_CAPACITY = 500_000
UNIQUE_KEYS_THRESHOLD = 30_000


def hour_of(time_ms: int) -> int:
    return time_ms - (time_ms % HOUR_MS)


class DedupCache:
    """Last time each (key, flag, treatment, label, change number) was seen; a bounded LRU."""

    __slots__ = ("_capacity", "_seen")

    def __init__(self, capacity: int = DEDUP_CAPACITY) -> None:
        self._capacity = capacity
        self._seen: OrderedDict[int, int] = OrderedDict()

    def test_and_set(self, impression: Impression) -> int | None:
        key = hash((
            impression.matching_key, impression.feature_name, impression.treatment,
            impression.label, impression.change_number,
        ))
        previous = self._seen.get(key)
        self._seen[key] = impression.time
        if previous is None:
            if len(self._seen) > self._capacity:
                self._seen.popitem(last=False)
        else:
            self._seen.move_to_end(key)
        return previous

    def __len__(self) -> int:
        return len(self._seen)


@dataclass(slots=True)
class Processed:
    """What one batch of raw impressions turned into."""

    to_send: list[Impression] = field(default_factory=list)
    counted: int = 0
    deduplicated: int = 0


@dataclass(slots=True)
class ImpressionsStrategy:
    mode: str
    dedup: DedupCache = field(default_factory=DedupCache)
    counts: dict[tuple[str, int], int] = field(default_factory=dict)
    unique_keys: dict[str, set[str]] = field(default_factory=dict)
    unique_key_total: int = 0

    def process(self, records: Iterable[tuple[Impression, bool]]) -> Processed:
        """Apply the mode to each ``(impression, impressions_disabled)``."""
        out = Processed()
        mode = self.mode
        for impression, disabled in records:
            if disabled or mode == "NONE":
                self._count(impression)
                self._track_key(impression)
                out.deduplicated += 1
                continue
            if impression.properties is not None:
                out.to_send.append(impression)
                continue
            previous = self.dedup.test_and_set(impression)
            if previous is not None:
                impression = impression._replace(previous_time=previous)
            if mode == "DEBUG":
                out.to_send.append(impression)
                continue
            if previous is not None:
                self._count(impression)
            if previous is None or previous < hour_of(impression.time):
                out.to_send.append(impression)
            else:
                out.deduplicated += 1
        return out

    def _count(self, impression: Impression) -> None:
        slot = (impression.feature_name, hour_of(impression.time))
        self.counts[slot] = self.counts.get(slot, 0) + 1

    def _track_key(self, impression: Impression) -> None:
        keys = self.unique_keys.setdefault(impression.feature_name, set())
        if impression.matching_key not in keys:
            keys.add(impression.matching_key)
            self.unique_key_total += 1

    def pop_counts(self) -> dict[tuple[str, int], int]:
        counts, self.counts = self.counts, {}
        return counts

    def pop_unique_keys(self) -> dict[str, set[str]]:
        keys, self.unique_keys, self.unique_key_total = self.unique_keys, {}, 0
        return keys

    @property
    def unique_keys_due(self) -> bool:
        return self.unique_key_total > UNIQUE_KEYS_THRESHOLD
