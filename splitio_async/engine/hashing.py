"""Bucketing hashes: murmur3 x86 32-bit (algo 2) and the legacy Java-style hash (algo 1).

The legacy hash walks UTF-16 code units, like the other Split SDKs that produced the shared
reference data; the official Python SDK walks code points, which only differs for keys with
characters outside the Basic Multilingual Plane (a deliberate, documented deviation).
"""

from __future__ import annotations

from collections.abc import Callable

import mmh3

_MASK = 0xFFFFFFFF


def murmur(key: str, seed: int) -> int:
    """Unsigned murmur3 x86 32 of the UTF-8 bytes, seed taken modulo 2**32."""
    return mmh3.hash(key, seed & _MASK, signed=False)  # type: ignore[no-any-return]


def _int32(value: int) -> int:
    value &= _MASK
    return value - 0x100000000 if value & 0x80000000 else value


def legacy(key: str, seed: int) -> int:
    """Signed 32-bit ``h = 31*h + unit`` over UTF-16 code units, xor the seed."""
    data = key.encode("utf-16-le")
    h = 0
    for i in range(0, len(data), 2):
        h = (31 * h + (data[i] | (data[i + 1] << 8))) & _MASK
    return _int32(h ^ (seed & _MASK))


def bucket(hashed: int) -> int:
    """1..100."""
    return abs(hashed) % 100 + 1


HASHERS: dict[int, Callable[[str, int], int]] = {1: legacy, 2: murmur}
