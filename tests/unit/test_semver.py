"""Semantic-version parsing and ordering (evaluation.md §4.3)."""

from __future__ import annotations

import itertools

import pytest

from splitio_async.models.semver import Semver

# Ascending chain, ordered by the rules of §4.3 (numeric cores, pre-release < stable,
# identifier-wise comparison, longer list greater when the shared part is equal).
ASCENDING = [
    "0.0.1",
    "0.1.0",
    "0.9.9",
    "1.0.0-0",
    "1.0.0-1",
    "1.0.0-2",
    "1.0.0-10",
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
    "1.0.1",
    "1.2.0",
    "1.9.0",
    "1.10.0",
    "2.0.0-rc",
    "2.0.0",
    "10.0.0",
]


def _parse(text: str) -> Semver:
    version = Semver.parse(text)
    assert version is not None, text
    return version


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1",
        "1.2",
        "1.2.3.4",
        "1.2.3-",
        "1.2.3+",
        "1.2.3-rc+",
        "1.2.3-+meta",
        "a.b.c",
        "v1.2.3",
        "1.2.x",
        "1..3",
        "1.2.-3",
        "-1.2.3",
        "+1.2.3",
        "1.2.3.",
        ".1.2.3",
        "1.2.3 .4",
    ],
)
def test_invalid_versions_do_not_parse(text: str) -> None:
    """Strings not matching the §4.3 grammar parse to None."""
    assert Semver.parse(text) is None


def test_non_string_does_not_parse() -> None:
    """A non-string input is not a version (no exception)."""
    assert Semver.parse(5) is None  # type: ignore[arg-type]
    assert Semver.parse(None) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("1.2.3", "1.2.3"),
        ("1.01.2-rc.01", "1.1.2-rc.1"),
        ("01.002.0003", "1.2.3"),
        ("1.0.0-rc.1+build.5", "1.0.0-rc.1+build.5"),
        ("1.0.0+Build.01", "1.0.0+Build.01"),
        ("1.0.0+meta-data", "1.0.0+meta-data"),
        ("1.0.0-rc-1", "1.0.0-rc-1"),
        ("1.0.0-rc+meta+more", "1.0.0-rc+meta+more"),
        ("1.0.0-rc..1", "1.0.0-rc..1"),
        ("1.0.0-alpha.0010.x", "1.0.0-alpha.10.x"),
    ],
)
def test_normalized_form(text: str, normalized: str) -> None:
    """Normalized = numeric core, numeric pre-release ids via int(), metadata verbatim (§4.3)."""
    assert _parse(text).normalized == normalized


def test_components_parsed_with_int() -> None:
    """Core components go through int(): leading zeros, whitespace and underscores parse (§4.3)."""
    assert _parse(" 1.2.3").normalized == "1.2.3"
    assert _parse("1. 2 .3").normalized == "1.2.3"
    assert _parse("1_0.0.0").normalized == "10.0.0"


def test_fields() -> None:
    """Major, minor, patch, pre-release identifiers and metadata are split as in §4.3."""
    version = _parse("3.4.5-rc.07.x+sha.1")
    assert (version.major, version.minor, version.patch) == (3, 4, 5)
    assert list(version.pre_release) == ["rc", 7, "x"]
    assert version.metadata == "sha.1"


def test_metadata_after_first_plus_and_prerelease_after_first_dash() -> None:
    """Metadata starts at the first '+', pre-release at the first '-' of the rest (§4.3)."""
    version = _parse("1.2.3-a-b+c+d-e")
    assert list(version.pre_release) == ["a-b"]
    assert version.metadata == "c+d-e"


@pytest.mark.parametrize(("low", "high"), list(itertools.combinations(ASCENDING, 2)))
def test_ordering(low: str, high: str) -> None:
    """compare() orders versions as §4.3 (and is antisymmetric)."""
    assert _parse(high).compare(_parse(low)) == 1
    assert _parse(low).compare(_parse(high)) == -1


@pytest.mark.parametrize("text", ASCENDING)
def test_compare_to_itself_is_zero(text: str) -> None:
    """A version compares equal to itself."""
    assert _parse(text).compare(_parse(text)) == 0


def test_metadata_ignored_by_compare() -> None:
    """Build metadata does not affect compare() (§4.3 step 5)."""
    assert _parse("1.0.0+a").compare(_parse("1.0.0+b")) == 0
    assert _parse("1.0.0+a").compare(_parse("1.0.0")) == 0
    assert _parse("1.0.0-rc.1+x").compare(_parse("1.0.0-rc.1")) == 0


def test_leading_zero_equal_after_normalization() -> None:
    """Versions that normalize identically compare equal (§4.3 step 1)."""
    assert _parse("1.0.0-rc.01").compare(_parse("1.0.0-rc.1")) == 0
    assert _parse("01.0.0").compare(_parse("1.0.0")) == 0


def test_numeric_prerelease_compares_numerically() -> None:
    """Two numeric identifiers compare as numbers, not strings (§4.3 step 4)."""
    assert _parse("1.0.0-rc.10").compare(_parse("1.0.0-rc.9")) == 1


def test_mixed_prerelease_identifiers_compare_as_strings() -> None:
    """A numeric vs a non-numeric identifier compares as plain strings (§4.3 step 4)."""
    # "2" > "10abc" as strings ("2" > "1"), although 2 < 10 numerically.
    assert _parse("1.0.0-2").compare(_parse("1.0.0-10abc")) == 1
    # Code-point order: uppercase sorts before lowercase.
    assert _parse("1.0.0-Beta").compare(_parse("1.0.0-alpha")) == -1


def test_longer_prerelease_is_greater() -> None:
    """All shared identifiers equal: the longer list is greater (§4.3 step 5)."""
    assert _parse("1.0.0-a.b.c").compare(_parse("1.0.0-a.b")) == 1
    assert _parse("1.0.0-a.b").compare(_parse("1.0.0-a.b.c")) == -1


def test_stable_greater_than_prerelease_with_same_core() -> None:
    """A stable version is greater than any pre-release of the same core (§4.3 step 3)."""
    assert _parse("1.0.0").compare(_parse("1.0.0-zzz.999")) == 1
    assert _parse("1.0.0-zzz.999").compare(_parse("1.0.0")) == -1


def test_core_compared_before_prerelease() -> None:
    """A higher core wins regardless of pre-release (§4.3 step 2)."""
    assert _parse("1.0.1-alpha").compare(_parse("1.0.0")) == 1
