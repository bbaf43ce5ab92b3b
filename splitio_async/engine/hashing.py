"""Bucketing hashes: murmur3 x86 32-bit (algo 2) and the legacy Java-style hash (algo 1).

The legacy hash walks UTF-16 code units, like the other Split SDKs that produced the shared
reference data; the official Python SDK walks code points, which only differs for keys with
characters outside the Basic Multilingual Plane (a deliberate, documented deviation).
"""

from __future__ import annotations

import mmh3

_MASK = 0xFFFFFFFF
mmh3_hash = mmh3.hash
_mmh3_hash = mmh3_hash


def murmur(key: str, seed: int) -> int:
    """Unsigned murmur3 x86 32 of the UTF-8 bytes, seed taken modulo 2**32."""
    result: int = _mmh3_hash(key, seed & _MASK, False)
    return result


def _int32(value: int) -> int:
    value &= _MASK
    return value - 0x100000000 if value & 0x80000000 else value


def legacy(key: str, seed: int) -> int:
    """Signed 32-bit ``h = 31*h + unit`` over UTF-16 code units, xor the seed."""
    data = key.encode("utf-16-le", "surrogatepass")
    h = 0
    for i in range(0, len(data), 2):
        h = (31 * h + (data[i] | (data[i + 1] << 8))) & _MASK
    return _int32(h ^ (seed & _MASK))


def bucket(hashed: int) -> int:
    """1..100."""
    return abs(hashed) % 100 + 1


def bucket_for(key: str, seed: int, algo: int) -> int:
    """The bucket (1..100) of ``key`` for a flag's seed (already modulo 2**32) and algorithm."""
    if algo == 2:
        hashed: int = _mmh3_hash(key, seed, False)
        return hashed % 100 + 1
    return abs(legacy(key, seed)) % 100 + 1
