"""Writes a Redis cache the way the Split Synchronizer does (spec: storage-redis.md §4.1), so
consumer-mode tests and benchmarks read exactly the layout the SDK will meet in production."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any


def key_of(prefix: str | None, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def write_cache(
    client: Any,
    flags: Iterable[dict[str, Any]] = (),
    segments: Mapping[str, Iterable[str]] | None = None,
    rule_based_segments: Iterable[dict[str, Any]] = (),
    prefix: str | None = None,
    till: int = 10,
) -> None:
    """Flags, rule-based segments, segments, traffic-type counts, flag sets and change numbers,
    with a blocking redis-py client (standalone, Sentinel master or cluster)."""
    flags = list(flags)
    pipe = client.pipeline(transaction=False)
    traffic: Counter[str] = Counter()
    sets: dict[str, set[str]] = {}
    for flag in flags:
        pipe.set(key_of(prefix, f"SPLITIO.split.{flag['name']}"), json.dumps(flag))
        traffic[flag.get("trafficTypeName", "user")] += 1
        for name in flag.get("sets") or ():
            sets.setdefault(name, set()).add(flag["name"])
    for tt, count in traffic.items():
        pipe.set(key_of(prefix, f"SPLITIO.trafficType.{tt}"), count)
    for name, members in sets.items():
        pipe.sadd(key_of(prefix, f"SPLITIO.flagSet.{name}"), *sorted(members))
    pipe.set(key_of(prefix, "SPLITIO.splits.till"), till)
    for rbs in rule_based_segments:
        pipe.set(key_of(prefix, f"SPLITIO.rbsegment.{rbs['name']}"), json.dumps(rbs))
    pipe.set(key_of(prefix, "SPLITIO.rbsegments.till"), till)
    for name, keys in (segments or {}).items():
        keys = list(keys)
        segment_key = key_of(prefix, f"SPLITIO.segment.{name}")
        pipe.delete(segment_key)
        for start in range(0, len(keys), 5000):
            pipe.sadd(segment_key, *keys[start:start + 5000])
        pipe.set(segment_key + ".till", till)
    pipe.execute()


def remove_flag(client: Any, name: str, prefix: str | None = None) -> None:
    client.delete(key_of(prefix, f"SPLITIO.split.{name}"))


def read_list(client: Any, key: str, prefix: str | None = None) -> list[dict[str, Any]]:
    """A recording list (impressions, events, unique keys) as parsed JSON values."""
    return [json.loads(v) for v in client.lrange(key_of(prefix, key), 0, -1)]
