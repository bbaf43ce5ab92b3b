"""Bucketing hashes against independent reference implementations (evaluation.md §5)."""

from __future__ import annotations

import random

import pytest

from splitio_async.engine.hashing import bucket, bucket_for, legacy, murmur

from .builders import MASK, int32, ref_bucket, ref_legacy, ref_murmur3, utf16_units


def _random_keys(count: int, seed: int, alphabet: str) -> list[str]:
    rng = random.Random(seed)
    return [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(count)
    ]


ASCII = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@._-+ "
UNICODE = "aé€ñ漢字ü\u00a0\u2603\U0001f600\U0001d11e\U00010348"
SEEDS = [0, 1, -1, 1234, -1234, 2**31 - 1, -(2**31), 987654321, -987654321]


def test_reference_murmur_matches_spec_example() -> None:
    """Sanity of our reference: murmur3("key", seed 0) = 3801901636 (spec §5.3)."""
    assert ref_murmur3("key", 0) == 3801901636


def test_reference_legacy_matches_spec_and_java() -> None:
    """Sanity of our reference: legacy("key", 0) = 106079; "hello".hashCode() = 99162322."""
    assert ref_legacy("key", 0) == 106079
    assert ref_legacy("hello", 0) == 99162322


def test_murmur_spec_example() -> None:
    """murmur3("key", seed 0) = 3801901636 → bucket 37 (spec §5.3)."""
    assert murmur("key", 0) == 3801901636
    assert bucket(murmur("key", 0)) == 37


def test_legacy_spec_example() -> None:
    """legacy("key", seed 0) = 106079 → bucket 80 (spec §5.3)."""
    assert legacy("key", 0) == 106079
    assert bucket(legacy("key", 0)) == 80


def test_murmur_empty_key_seed_zero_is_zero() -> None:
    """MurmurHash3 x86_32 of no bytes with seed 0 is 0 (well-known vector)."""
    assert murmur("", 0) == 0


@pytest.mark.parametrize("seed", SEEDS)
def test_murmur_ascii_matches_reference(seed: int) -> None:
    """murmur() equals a pure-Python murmur3 x86_32 over ASCII keys for many seeds."""
    for key in _random_keys(300, seed, ASCII):
        assert murmur(key, seed) == ref_murmur3(key, seed), key


@pytest.mark.parametrize("seed", SEEDS)
def test_murmur_unicode_hashes_utf8_bytes(seed: int) -> None:
    """murmur() hashes the UTF-8 bytes of non-ASCII and astral keys (§5.1)."""
    for key in _random_keys(200, seed + 7, UNICODE):
        assert murmur(key, seed) == ref_murmur3(key, seed), key


def test_murmur_negative_seed_is_taken_modulo_2_32() -> None:
    """A negative seed hashes like seed & 0xFFFFFFFF and the result is unsigned (§5.1)."""
    for key in ("key", "user@example.com", "ü"):
        assert murmur(key, -1) == murmur(key, MASK) == ref_murmur3(key, MASK)
        assert 0 <= murmur(key, -1) <= MASK


@pytest.mark.parametrize("seed", SEEDS)
def test_legacy_ascii_matches_reference(seed: int) -> None:
    """legacy() equals the Java-style reference with signed 32-bit overflow (§5.2)."""
    for key in _random_keys(300, seed, ASCII):
        assert legacy(key, seed) == ref_legacy(key, seed), key


def test_legacy_result_is_signed_32_bit() -> None:
    """legacy() returns signed values in the int32 range, negative ones included (§5.2)."""
    values = [legacy(key, 0) for key in _random_keys(300, 3, ASCII)]
    assert all(-(2**31) <= v < 2**31 for v in values)
    assert any(v < 0 for v in values)


def test_legacy_seed_xor() -> None:
    """The seed is xor-ed (as int32) into the unseeded hash (§5.2)."""
    for seed in SEEDS:
        assert legacy("abc", seed) == int32(legacy("abc", 0) ^ int32(seed))


@pytest.mark.parametrize("seed", SEEDS)
def test_legacy_unicode_uses_utf16_code_units(seed: int) -> None:
    """Keys with astral characters hash their UTF-16 code units, not code points (§5.2)."""
    for key in _random_keys(200, seed + 11, UNICODE):
        assert legacy(key, seed) == ref_legacy(key, seed), key


def test_legacy_astral_differs_from_code_point_loop() -> None:
    """For an astral key the UTF-16 result differs from the official code-point loop (§5.2)."""
    key = "a\U0001f600"
    code_points = 0
    for ch in key:
        code_points = int32(int32(31 * code_points) + ord(ch))
    assert legacy(key, 0) == ref_legacy(key, 0)
    assert legacy(key, 0) != code_points


def test_legacy_bmp_agrees_with_code_point_loop() -> None:
    """For BMP-only keys code units and code points agree (§5.2)."""
    key = "ñandú€"
    code_points = 0
    for ch in key:
        code_points = int32(int32(31 * code_points) + ord(ch))
    assert legacy(key, 0) == code_points


def test_legacy_lone_surrogate_is_one_code_unit() -> None:
    """A lone surrogate (a valid Python str) is a single UTF-16 code unit (§5.2)."""
    assert utf16_units("\ud800") == [0xD800]
    assert legacy("\ud800", 0) == ref_legacy("\ud800", 0) == 0xD800
    assert legacy("a\udfff", 7) == ref_legacy("a\udfff", 7)


@pytest.mark.parametrize(
    ("hashed", "expected"),
    [(0, 1), (99, 100), (100, 1), (-1, 2), (-99, 100), (-100, 1), (-101, 2), (2**31 - 1, 48),
     (-(2**31), 49), (3801901636, 37)],
)
def test_bucket_uses_abs_then_mod(hashed: int, expected: int) -> None:
    """bucket(h) = abs(h) % 100 + 1 (§5.3), not Python's floor modulo of a negative."""
    assert bucket(hashed) == expected == ref_bucket(hashed)


def test_bucket_range() -> None:
    """Every bucket is within 1..100."""
    for key in _random_keys(500, 5, ASCII):
        assert 1 <= bucket(legacy(key, 17)) <= 100
        assert 1 <= bucket(murmur(key, 17)) <= 100


@pytest.mark.parametrize("seed", SEEDS)
def test_bucket_for_murmur(seed: int) -> None:
    """bucket_for(algo=2) is the bucket of murmur3 with the u32 seed."""
    for key in _random_keys(200, seed, ASCII + UNICODE):
        assert bucket_for(key, seed & MASK, 2) == ref_bucket(ref_murmur3(key, seed)), key


@pytest.mark.parametrize("algo", [1, 0, 3, -1])
def test_bucket_for_legacy_and_unknown_algos(algo: int) -> None:
    """bucket_for with algo 1 or any value other than 2 uses the legacy hash (§5)."""
    for seed in SEEDS:
        for key in _random_keys(60, seed, ASCII + UNICODE):
            assert bucket_for(key, seed & MASK, algo) == ref_bucket(ref_legacy(key, seed)), key
