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

from ..models.impressions import Impression, ImpressionRecord

HOUR_MS = 3_600_000
DEDUP_CAPACITY = 500_000
UNIQUE_KEYS_THRESHOLD = 30_000

_new_impression = tuple.__new__  # skips NamedTuple's Python-level __new__ in the loop


class DedupCache:
    """Last time each (key, flag, treatment, label, change number) was seen; a bounded LRU."""

    __slots__ = ("_capacity", "_seen")

    def __init__(self, capacity: int = DEDUP_CAPACITY) -> None:
        self._capacity = capacity
        self._seen: OrderedDict[int, int] = OrderedDict()

    def test_and_set(self, key: int, time_ms: int) -> int | None:
        """The previous time ``key`` was seen (or None), remembering ``time_ms``."""
        seen = self._seen
        previous = seen.get(key)
        seen[key] = time_ms
        if previous is None:
            if len(seen) > self._capacity:
                seen.popitem(last=False)
        else:
            seen.move_to_end(key)
        return previous

    def __len__(self) -> int:
        return len(self._seen)


@dataclass(slots=True)
class Processed:
    """What one batch of raw impressions turned into."""

    to_send: list[Impression] = field(default_factory=list)
    deduplicated: int = 0


@dataclass(slots=True)
class ImpressionsStrategy:
    mode: str
    dedup: DedupCache = field(default_factory=DedupCache)
    counts: dict[int, dict[str, int]] = field(default_factory=dict)  # hour -> flag -> count
    unique_keys: dict[str, set[str]] = field(default_factory=dict)
    unique_key_total: int = 0

    def process(self, records: Iterable[ImpressionRecord]) -> Processed:
        """Apply the mode to each record. ``Impression`` objects are built only for what is
        sent; this loop runs for every evaluation, so it is written for speed."""
        out = Processed()
        to_send = out.to_send
        debug = self.mode == "DEBUG"
        none = self.mode == "NONE"
        test_and_set = self.dedup.test_and_set
        counts = self.counts
        hour = -1
        per_flag: dict[str, int] = {}
        deduplicated = 0
        for record in records:
            (key, flag, treatment, label, change_number, bucketing_key, time_ms, properties,
             disabled) = record
            if time_ms - (time_ms % HOUR_MS) != hour:
                hour = time_ms - (time_ms % HOUR_MS)
                per_flag = counts.setdefault(hour, {})
            if none or disabled:
                per_flag[flag] = per_flag.get(flag, 0) + 1
                self._track_key(flag, key)
                deduplicated += 1
                continue
            if properties is not None:  # never deduplicated nor counted
                to_send.append(_new_impression(Impression, (
                    key, flag, treatment, label, change_number, bucketing_key, time_ms, None,
                    properties,
                )))
                continue
            previous = test_and_set(hash((key, flag, treatment, label, change_number)), time_ms)
            if not debug and previous is not None:
                per_flag[flag] = per_flag.get(flag, 0) + 1
                if previous >= hour:
                    deduplicated += 1
                    continue
            to_send.append(_new_impression(Impression, (
                key, flag, treatment, label, change_number, bucketing_key, time_ms, previous,
                None,
            )))
        out.deduplicated = deduplicated
        return out

    def _track_key(self, flag: str, key: str) -> None:
        keys = self.unique_keys.setdefault(flag, set())
        if key not in keys:
            keys.add(key)
            self.unique_key_total += 1

    def pop_counts(self) -> list[tuple[str, int, int]]:
        """``(flag, hour, count)`` of the impressions only counted since the last pop."""
        counts, self.counts = self.counts, {}
        return [
            (flag, hour, count)
            for hour, per_flag in counts.items()
            for flag, count in per_flag.items()
            if count
        ]

    def pop_unique_keys(self) -> dict[str, set[str]]:
        keys, self.unique_keys, self.unique_key_total = self.unique_keys, {}, 0
        return keys

    def restore_counts(self, counts: list[tuple[str, int, int]]) -> None:
        """Put back counts whose sending failed (to be sent with the next ones)."""
        for flag, hour, count in counts:
            per_flag = self.counts.setdefault(hour, {})
            per_flag[flag] = per_flag.get(flag, 0) + count

    def restore_unique_keys(self, flag: str, keys: list[str]) -> None:
        for key in keys:
            self._track_key(flag, key)

    @property
    def unique_keys_due(self) -> bool:
        return self.unique_key_total > UNIQUE_KEYS_THRESHOLD
