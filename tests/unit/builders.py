"""Split API JSON builders and independent reference hashes shared by the pure-layer unit tests.

The reference hashes are written from the spec text (evaluation.md §5), not from the package, so
the tests can derive expected buckets on their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from splitio_async.models.rule_based_segments import parse_rule_based_segment
from splitio_async.models.splits import parse_split
from splitio_async.storage.snapshot import (
    FlagChanges,
    Snapshot,
    apply_flag_changes,
    apply_segment_change,
)
from tests.helpers import rollout_flag

MASK = 0xFFFFFFFF


# --- reference hashes (evaluation.md §5) ---------------------------------------------------


def _rotl(value: int, shift: int) -> int:
    return ((value << shift) | (value >> (32 - shift))) & MASK


def ref_murmur3(key: str, seed: int) -> int:
    """MurmurHash3 x86 32-bit over the UTF-8 bytes, unsigned result."""
    data = key.encode("utf-8")
    c1, c2 = 0xCC9E2D51, 0x1B873593
    h = seed & MASK
    nblocks = len(data) // 4
    for i in range(nblocks):
        k = int.from_bytes(data[4 * i : 4 * i + 4], "little")
        k = (k * c1) & MASK
        k = _rotl(k, 15)
        k = (k * c2) & MASK
        h ^= k
        h = _rotl(h, 13)
        h = (h * 5 + 0xE6546B64) & MASK
    tail = data[nblocks * 4 :]
    k = 0
    if len(tail) >= 3:
        k ^= tail[2] << 16
    if len(tail) >= 2:
        k ^= tail[1] << 8
    if tail:
        k ^= tail[0]
        k = (k * c1) & MASK
        k = _rotl(k, 15)
        k = (k * c2) & MASK
        h ^= k
    h ^= len(data)
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & MASK
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & MASK
    h ^= h >> 16
    return h


def int32(value: int) -> int:
    """Proper two's-complement wrap to a signed 32-bit integer."""
    value &= MASK
    return value - (1 << 32) if value >= (1 << 31) else value


def utf16_units(key: str) -> list[int]:
    """UTF-16 code units computed by hand (a lone surrogate is its own unit)."""
    units: list[int] = []
    for ch in key:
        cp = ord(ch)
        if cp > 0xFFFF:
            cp -= 0x10000
            units.extend((0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF)))
        else:
            units.append(cp)
    return units


def ref_legacy(key: str, seed: int) -> int:
    """Java String.hashCode style over UTF-16 code units, xor the seed, signed 32-bit."""
    h = 0
    for unit in utf16_units(key):
        h = int32(int32(31 * h) + unit)
    return int32(h ^ int32(seed))


def ref_bucket(hashed: int) -> int:
    return abs(hashed) % 100 + 1


def ref_bucket_for(key: str, seed: int, algo: int) -> int:
    if algo == 2:
        return ref_bucket(ref_murmur3(key, seed))
    return ref_bucket(ref_legacy(key, seed))


# --- JSON builders --------------------------------------------------------------------------


def matcher(
    kind: str, negate: bool = False, attribute: str | None = None, **data: Any
) -> dict[str, Any]:
    """One matcher JSON; ``data`` holds the data field(s), e.g. ``whitelistMatcherData=...``."""
    raw: dict[str, Any] = {
        "keySelector": {"trafficType": "user", "attribute": attribute},
        "matcherType": kind,
        "negate": negate,
    }
    raw.update(data)
    return raw


def all_keys() -> dict[str, Any]:
    return matcher("ALL_KEYS")


def whitelist(*keys: str, negate: bool = False, attribute: str | None = None) -> dict[str, Any]:
    return matcher(
        "WHITELIST", negate, attribute, whitelistMatcherData={"whitelist": list(keys)}
    )


def in_segment(name: str, negate: bool = False) -> dict[str, Any]:
    return matcher("IN_SEGMENT", negate, userDefinedSegmentMatcherData={"segmentName": name})


def in_rbs(name: str, negate: bool = False) -> dict[str, Any]:
    return matcher(
        "IN_RULE_BASED_SEGMENT", negate, userDefinedSegmentMatcherData={"segmentName": name}
    )


def depends_on(flag: str, *treatments: str, negate: bool = False) -> dict[str, Any]:
    return matcher(
        "IN_SPLIT_TREATMENT",
        negate,
        dependencyMatcherData={"split": flag, "treatments": list(treatments)},
    )


def condition(
    matchers: list[dict[str, Any]],
    partitions: list[tuple[str, int]] | None = None,
    label: str | None = "default rule",
    condition_type: str | None = "ROLLOUT",
) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "matcherGroup": {"combiner": "AND", "matchers": matchers},
        "partitions": [{"treatment": t, "size": s} for t, s in (partitions or [])],
        "label": label,
    }
    if condition_type is not None:
        raw["conditionType"] = condition_type
    return raw


def flag_json(
    name: str = "flag",
    conditions: list[dict[str, Any]] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A complete ACTIVE flag (tests.helpers.rollout_flag); by default one ROLLOUT ALL_KEYS
    condition giving ``on`` 100%."""
    raw = rollout_flag(name, (("on", 100),), **fields)
    if conditions is not None:
        raw["conditions"] = conditions
    return raw


def rbs_json(
    name: str,
    conditions: list[dict[str, Any]] | None = None,
    excluded_keys: list[str] | None = None,
    excluded_segments: list[dict[str, str]] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "name": name,
        "trafficTypeName": "user",
        "changeNumber": 5,
        "status": "ACTIVE",
        "excluded": {"keys": excluded_keys or [], "segments": excluded_segments or []},
        "conditions": conditions if conditions is not None else [],
    }
    raw.update(fields)
    return raw


def snapshot(
    flags: Sequence[dict[str, Any]] = (),
    rbs: Sequence[dict[str, Any]] = (),
    segments: dict[str, list[str]] | None = None,
) -> Snapshot:
    """A snapshot holding the given JSON flags, rule-based segments and segment members."""
    snap, _ = apply_flag_changes(
        Snapshot(),
        FlagChanges(
            flags=tuple(parse_split(f) for f in flags),
            rule_based_segments=tuple(parse_rule_based_segment(r) for r in rbs),
        ),
    )
    for name, keys in (segments or {}).items():
        snap = apply_segment_change(snap, name, keys, [], 1)
    return snap
