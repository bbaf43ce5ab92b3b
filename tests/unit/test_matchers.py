"""Every matcher type of evaluation.md §4, driven through ``build_matcher`` and a fake context."""

from __future__ import annotations

import re
from typing import Any

import pytest

from splitio_async.models.matchers import (
    MissingRuleBasedSegment,
    UnsupportedMatcherError,
    build_matcher,
)
from splitio_async.models.rule_based_segments import RuleBasedSegment, parse_rule_based_segment

from .builders import condition, depends_on, in_rbs, in_segment, matcher, rbs_json, whitelist


class FakeCtx:
    """A MatchContext with fixed segments, rule-based segments and dependency treatments."""

    def __init__(
        self,
        segments: dict[str, set[str]] | None = None,
        rbs: list[dict[str, Any]] | None = None,
        treatments: dict[str, str] | None = None,
    ) -> None:
        self.segments = segments or {}
        self.rbs = {r["name"]: parse_rule_based_segment(r) for r in rbs or ()}
        self.treatments = treatments or {}
        self.calls: list[tuple[Any, ...]] = []

    def in_segment(self, segment_name: str, key: str) -> bool:
        return key in self.segments.get(segment_name, set())

    def rule_based_segment(self, name: str) -> RuleBasedSegment | None:
        return self.rbs.get(name)

    def treatment_of(
        self, flag_name: str, matching_key: str, bucketing_key: str, attributes: Any
    ) -> str:
        self.calls.append((flag_name, matching_key, bucketing_key, attributes))
        return self.treatments.get(flag_name, "control")


def ev(
    raw: dict[str, Any],
    key: str = "key",
    attributes: dict[str, Any] | None = None,
    ctx: FakeCtx | None = None,
    bucketing_key: str | None = None,
) -> bool:
    return build_matcher(raw).evaluate(
        key, bucketing_key or key, attributes, ctx if ctx is not None else FakeCtx()
    )


def negated(raw: dict[str, Any]) -> dict[str, Any]:
    return {**raw, "negate": True}


def on_attr(raw: dict[str, Any], attribute: str = "a") -> dict[str, Any]:
    return {**raw, "keySelector": {"trafficType": "user", "attribute": attribute}}


def wl(kind: str, *values: str) -> dict[str, Any]:
    return matcher(kind, whitelistMatcherData={"whitelist": list(values)})


def num(kind: str, value: Any, data_type: str = "NUMBER") -> dict[str, Any]:
    return matcher(kind, unaryNumericMatcherData={"dataType": data_type, "value": value})


def between(start: Any, end: Any, data_type: str = "NUMBER") -> dict[str, Any]:
    return matcher(
        "BETWEEN", betweenMatcherData={"dataType": data_type, "start": start, "end": end}
    )


def sem(kind: str, version: Any) -> dict[str, Any]:
    return matcher(kind, stringMatcherData=version)


def sem_between(start: Any, end: Any) -> dict[str, Any]:
    return matcher("BETWEEN_SEMVER", betweenStringMatcherData={"start": start, "end": end})


def regex(pattern: str) -> dict[str, Any]:
    return matcher("MATCHES_STRING", stringMatcherData=pattern)


def boolean(value: bool) -> dict[str, Any]:
    return matcher("EQUAL_TO_BOOLEAN", booleanMatcherData=value)


# (matcher reading attribute "a", a value that matches, a value that does not)
ATTRIBUTE_CASES: list[tuple[str, dict[str, Any], Any, Any]] = [
    ("WHITELIST", wl("WHITELIST", "x"), "x", "y"),
    ("EQUAL_TO", num("EQUAL_TO", 5), 5, 6),
    ("GREATER_THAN_OR_EQUAL_TO", num("GREATER_THAN_OR_EQUAL_TO", 5), 5, 4),
    ("LESS_THAN_OR_EQUAL_TO", num("LESS_THAN_OR_EQUAL_TO", 5), 5, 6),
    ("BETWEEN", between(1, 3), 2, 4),
    ("EQUAL_TO_SET", wl("EQUAL_TO_SET", "a", "b"), ["b", "a"], ["a"]),
    ("CONTAINS_ANY_OF_SET", wl("CONTAINS_ANY_OF_SET", "a", "b"), ["b", "z"], ["z"]),
    ("CONTAINS_ALL_OF_SET", wl("CONTAINS_ALL_OF_SET", "a", "b"), ["a", "b", "z"], ["a"]),
    ("PART_OF_SET", wl("PART_OF_SET", "a", "b"), ["a"], ["a", "z"]),
    ("STARTS_WITH", wl("STARTS_WITH", "ab"), "abc", "cab"),
    ("ENDS_WITH", wl("ENDS_WITH", "bc"), "abc", "bca"),
    ("CONTAINS_STRING", wl("CONTAINS_STRING", "b"), "abc", "xyz"),
    ("MATCHES_STRING", regex("^a+$"), "aaa", "aab"),
    ("EQUAL_TO_BOOLEAN", boolean(True), True, False),
    ("EQUAL_TO_SEMVER", sem("EQUAL_TO_SEMVER", "1.2.3"), "1.2.3", "1.2.4"),
    ("GREATER_THAN_OR_EQUAL_TO_SEMVER", sem("GREATER_THAN_OR_EQUAL_TO_SEMVER", "1.2.3"),
     "1.3.0", "1.2.2"),
    ("LESS_THAN_OR_EQUAL_TO_SEMVER", sem("LESS_THAN_OR_EQUAL_TO_SEMVER", "1.2.3"),
     "1.2.3-rc", "1.2.4"),
    ("BETWEEN_SEMVER", sem_between("1.0.0", "2.0.0"), "1.5.0", "2.0.1"),
    ("IN_LIST_SEMVER", wl("IN_LIST_SEMVER", "1.0.0", "2.0.0"), "2.0.0", "3.0.0"),
]
ATTRIBUTE_IDS = [c[0] for c in ATTRIBUTE_CASES]


# --- generic input selection and negation --------------------------------------------------


@pytest.mark.parametrize(("kind", "raw", "good", "bad"), ATTRIBUTE_CASES, ids=ATTRIBUTE_IDS)
def test_attribute_value_is_the_input(kind: str, raw: dict[str, Any], good: Any, bad: Any) -> None:
    """With keySelector.attribute the matcher reads attributes[attribute] (§1.2)."""
    assert ev(on_attr(raw), attributes={"a": good}) is True
    assert ev(on_attr(raw), attributes={"a": bad}) is False


@pytest.mark.parametrize(("kind", "raw", "good", "bad"), ATTRIBUTE_CASES, ids=ATTRIBUTE_IDS)
def test_negate_flips_result(kind: str, raw: dict[str, Any], good: Any, bad: Any) -> None:
    """Result is negate XOR match (§1.2)."""
    assert ev(negated(on_attr(raw)), attributes={"a": good}) is False
    assert ev(negated(on_attr(raw)), attributes={"a": bad}) is True


@pytest.mark.parametrize(("kind", "raw", "good", "bad"), ATTRIBUTE_CASES, ids=ATTRIBUTE_IDS)
@pytest.mark.parametrize(
    "attributes", [None, {}, {"a": None}, {"other": "x"}], ids=["none", "empty", "null", "other"]
)
def test_missing_attribute_is_false_before_negation(
    kind: str, raw: dict[str, Any], good: Any, bad: Any, attributes: dict[str, Any] | None
) -> None:
    """Missing/None attribute → false, so the negated matcher is true (§4)."""
    assert ev(on_attr(raw), key=str(good), attributes=attributes) is False
    assert ev(negated(on_attr(raw)), key=str(good), attributes=attributes) is True


@pytest.mark.parametrize(("kind", "raw", "good", "bad"), ATTRIBUTE_CASES, ids=ATTRIBUTE_IDS)
def test_attribute_not_the_key(kind: str, raw: dict[str, Any], good: Any, bad: Any) -> None:
    """With an attribute named, the matching key is not looked at."""
    if isinstance(good, str):
        assert ev(on_attr(raw), key=good, attributes={"a": bad}) is False


@pytest.mark.parametrize("attribute", [None, "a"])
def test_null_key_selector_or_attribute_reads_the_key(attribute: str | None) -> None:
    """keySelector null, or attribute null, makes the matcher read the matching key (§1.2)."""
    raw = whitelist("me")
    if attribute is None:
        raw["keySelector"] = None
        assert ev(raw, key="me") is True
        assert ev(raw, key="you", attributes={"a": "me"}) is False
    raw2 = whitelist("me", attribute=None)
    assert ev(raw2, key="me", attributes={"a": "you"}) is True


def test_key_selector_without_attribute_field_reads_the_key() -> None:
    """A keySelector without an 'attribute' member reads the matching key."""
    raw = whitelist("me")
    raw["keySelector"] = {"trafficType": "user"}
    assert ev(raw, key="me") is True


# --- build errors ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["IN_LARGE_SEGMENT", "NOPE", "", None, 5])
def test_unknown_matcher_type(kind: Any) -> None:
    """Unknown matcherType raises UnsupportedMatcherError (§1.2, §3.5)."""
    with pytest.raises(UnsupportedMatcherError):
        build_matcher(matcher(kind))


def test_missing_negate_raises() -> None:
    """negate is required (§1.2)."""
    raw = matcher("ALL_KEYS")
    del raw["negate"]
    with pytest.raises((KeyError, ValueError)):
        build_matcher(raw)


@pytest.mark.parametrize("pattern", ["(abc", "[a-", "*a", "a{2,1}", "(?P<x>a)(?P<x>b)", "\\"])
def test_invalid_regex_raises_at_build(pattern: str) -> None:
    """MATCHES_STRING compiles its regex at parse time; an invalid one raises (§4, §3.5)."""
    with pytest.raises(Exception):  # noqa: B017 - re.error is not a ValueError subclass
        build_matcher(regex(pattern))


@pytest.mark.parametrize("data_type", ["STRING", None, "number"])
def test_unknown_numeric_data_type_raises(data_type: Any) -> None:
    """An unknown dataType is malformed matcher data (§3.5)."""
    with pytest.raises(ValueError):
        build_matcher(num("EQUAL_TO", 5, data_type))


# --- ALL_KEYS ----------------------------------------------------------------------------


def test_all_keys() -> None:
    """ALL_KEYS is true for any key; negated it is false (§4)."""
    assert ev(matcher("ALL_KEYS"), key="anything") is True
    assert ev(negated(matcher("ALL_KEYS"))) is False


def test_all_keys_ignores_attributes() -> None:
    """ALL_KEYS ignores the key selector's attribute (§4)."""
    assert ev(on_attr(matcher("ALL_KEYS")), attributes=None) is True
    assert ev(negated(on_attr(matcher("ALL_KEYS"))), attributes={}) is False


# --- WHITELIST ---------------------------------------------------------------------------


def test_whitelist_on_key() -> None:
    """WHITELIST on the key: exact, case-sensitive membership (§4)."""
    raw = whitelist("a", "b")
    assert ev(raw, key="a") is True
    assert ev(raw, key="A") is False
    assert ev(raw, key="a ") is False
    assert ev(negated(raw), key="c") is True


def test_whitelist_empty() -> None:
    """An empty whitelist matches nothing."""
    assert ev(whitelist(), key="a") is False


def test_whitelist_uses_matching_key_not_bucketing_key() -> None:
    """WHITELIST reads the matching key (§2)."""
    assert ev(whitelist("b"), key="a", bucketing_key="b") is False
    assert ev(whitelist("a"), key="a", bucketing_key="b") is True


@pytest.mark.parametrize(
    ("value", "text"),
    [(5, "5"), (True, "true"), (False, "false"), ([1, 2], "[1, 2]"), (1.5, "1.5"),
     ({"x": 1}, '{"x": 1}'), ("é", "é")],
)
def test_whitelist_to_str_coercion(value: Any, text: str) -> None:
    """Non-string attributes are compared as json.dumps(value) (§4 to_str)."""
    assert ev(on_attr(whitelist(text)), attributes={"a": value}) is True


def test_whitelist_unserializable_attribute_is_false() -> None:
    """An attribute with no JSON form does not match."""
    assert ev(on_attr(whitelist("x")), attributes={"a": object()}) is False
    assert ev(negated(on_attr(whitelist("x"))), attributes={"a": object()}) is True


# --- numeric -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(5, True), ("5", True), (" 5 ", True), ("+5", True), ("0_5", True), ("\u0665", True),
     (5.0, False), ("5.0", False), (True, False), ("five", False), ([5], False),
     (6, False), ("", False)],
)
def test_equal_to_number_to_int(value: Any, expected: bool) -> None:
    """to_int: ints and int()-parseable strings; never floats or bools (§4 to_int)."""
    assert ev(on_attr(num("EQUAL_TO", 5)), attributes={"a": value}) is expected


def test_bool_one_does_not_equal_one() -> None:
    """True is not the number 1 for numeric matchers (§4 to_int)."""
    assert ev(on_attr(num("EQUAL_TO", 1)), attributes={"a": True}) is False
    assert ev(negated(on_attr(num("EQUAL_TO", 1))), attributes={"a": True}) is True


def test_float_never_matches_even_when_negated_logic() -> None:
    """A float input is "no match", so the negated matcher is true (§4 to_int quirk)."""
    assert ev(on_attr(num("GREATER_THAN_OR_EQUAL_TO", 1)), attributes={"a": 5.0}) is False
    assert ev(negated(on_attr(num("GREATER_THAN_OR_EQUAL_TO", 1))), attributes={"a": 5.0}) is True


def test_numeric_on_key() -> None:
    """Without attribute the numeric matchers read the (string) key via to_int."""
    assert ev(num("EQUAL_TO", 42), key="42") is True
    assert ev(num("EQUAL_TO", 42), key="abc") is False


@pytest.mark.parametrize(
    ("kind", "value", "inputs"),
    [
        ("GREATER_THAN_OR_EQUAL_TO", 10, {9: False, 10: True, 11: True, -10: False}),
        ("LESS_THAN_OR_EQUAL_TO", 10, {9: True, 10: True, 11: False, -10: True}),
        ("GREATER_THAN_OR_EQUAL_TO", -3, {-4: False, -3: True, 0: True}),
        ("EQUAL_TO", -3, {-3: True, 3: False}),
        ("EQUAL_TO", 0, {0: True, 1: False, -1: False}),
    ],
)
def test_unary_numeric(kind: str, value: int, inputs: dict[int, bool]) -> None:
    """EQUAL_TO / >= / <= with NUMBER data compare the integer as is (§4)."""
    for given, expected in inputs.items():
        assert ev(on_attr(num(kind, value)), attributes={"a": given}) is expected, given


def test_between_number_inclusive() -> None:
    """BETWEEN is inclusive at both ends (§4)."""
    raw = on_attr(between(-5, 5))
    for given, expected in {-6: False, -5: True, 0: True, 5: True, 6: False}.items():
        assert ev(raw, attributes={"a": given}) is expected, given


def test_between_inverted_bounds_never_match() -> None:
    """start > end leaves an empty range."""
    for given in (0, 5, 10):
        assert ev(on_attr(between(10, 0)), attributes={"a": given}) is False


def test_float_matcher_data_compares_numerically() -> None:
    """NUMBER matcher data is used as is, so 5.0 data equals the int 5."""
    assert ev(on_attr(num("EQUAL_TO", 5.0)), attributes={"a": 5}) is True


# DATETIME (§4.1): matcher data in ms → seconds → truncated; input seconds → truncated.
T = 1_700_000_000  # seconds; day start 1699920000, minute start 1699999980


def test_datetime_equal_to_truncates_to_day() -> None:
    """EQUAL_TO DATETIME compares days: 1700000000000 ms ≡ any second of day 1699920000 (§4.1)."""
    raw = on_attr(num("EQUAL_TO", T * 1000, "DATETIME"))
    assert ev(raw, attributes={"a": T}) is True
    assert ev(raw, attributes={"a": 1_699_920_000}) is True
    assert ev(raw, attributes={"a": 1_699_920_000 + 86_399}) is True
    assert ev(raw, attributes={"a": 1_699_920_000 - 1}) is False
    assert ev(raw, attributes={"a": 1_699_920_000 + 86_400}) is False


def test_datetime_equal_to_ignores_ms_within_day() -> None:
    """Matcher data at any ms of the day equals any input second of the same day (§4.1)."""
    raw = on_attr(num("EQUAL_TO", 1_699_920_000_000 + 12_345_678, "DATETIME"))
    assert ev(raw, attributes={"a": 1_699_920_000 + 80_000}) is True


def test_datetime_gte_truncates_to_minute() -> None:
    """>= DATETIME: both sides truncated to the minute (start 1699999980) (§4.1)."""
    raw = on_attr(num("GREATER_THAN_OR_EQUAL_TO", T * 1000, "DATETIME"))
    assert ev(raw, attributes={"a": 1_699_999_980}) is True  # below T, same minute
    assert ev(raw, attributes={"a": 1_699_999_979}) is False


def test_datetime_lte_truncates_input_to_minute() -> None:
    """<= DATETIME: an input later in the same minute still matches (§4.1)."""
    raw = on_attr(num("LESS_THAN_OR_EQUAL_TO", T * 1000, "DATETIME"))
    assert ev(raw, attributes={"a": T + 39}) is True  # 1700000039 → 1699999980
    assert ev(raw, attributes={"a": T + 40}) is False  # 1700000040 → next minute


def test_datetime_between_truncates_to_minute() -> None:
    """BETWEEN DATETIME: start 1700000000000 → 1699999980, inclusive (§4.1)."""
    raw = on_attr(between(T * 1000, (T + 100) * 1000, "DATETIME"))
    # end 1700000100000 → 1700000100; last accepted second is 1700000159
    assert ev(raw, attributes={"a": 1_699_999_980}) is True
    assert ev(raw, attributes={"a": 1_699_999_979}) is False
    assert ev(raw, attributes={"a": T + 159}) is True
    assert ev(raw, attributes={"a": T + 160}) is False


def test_datetime_input_string_seconds() -> None:
    """A DATETIME input string goes through to_int like a NUMBER (§4.1)."""
    raw = on_attr(num("EQUAL_TO", T * 1000, "DATETIME"))
    assert ev(raw, attributes={"a": str(T)}) is True
    assert ev(raw, attributes={"a": float(T)}) is False


# --- sets --------------------------------------------------------------------------------


def test_equal_to_set() -> None:
    """EQUAL_TO_SET: set(input) == set(whitelist), order and duplicates irrelevant (§4)."""
    raw = on_attr(wl("EQUAL_TO_SET", "a", "b"))
    assert ev(raw, attributes={"a": ["b", "a", "a"]}) is True
    assert ev(raw, attributes={"a": {"a", "b"}}) is True
    assert ev(raw, attributes={"a": ("a", "b", "c")}) is False
    assert ev(raw, attributes={"a": []}) is False


def test_contains_any_of_set() -> None:
    """CONTAINS_ANY_OF_SET: non-empty intersection (§4)."""
    raw = on_attr(wl("CONTAINS_ANY_OF_SET", "a", "b"))
    assert ev(raw, attributes={"a": ["x", "b"]}) is True
    assert ev(raw, attributes={"a": ["x"]}) is False
    assert ev(raw, attributes={"a": []}) is False


def test_contains_all_of_set() -> None:
    """CONTAINS_ALL_OF_SET: whitelist ⊆ input (§4)."""
    raw = on_attr(wl("CONTAINS_ALL_OF_SET", "a", "b"))
    assert ev(raw, attributes={"a": ["a", "b"]}) is True
    assert ev(raw, attributes={"a": ["a", "b", "c"]}) is True
    assert ev(raw, attributes={"a": ["a"]}) is False


def test_contains_all_of_empty_whitelist_matches_any_set() -> None:
    """∅ ⊆ anything: an empty whitelist matches any iterable input."""
    assert ev(on_attr(wl("CONTAINS_ALL_OF_SET")), attributes={"a": []}) is True


def test_part_of_set() -> None:
    """PART_OF_SET: input non-empty and ⊆ whitelist (§4)."""
    raw = on_attr(wl("PART_OF_SET", "a", "b"))
    assert ev(raw, attributes={"a": ["a"]}) is True
    assert ev(raw, attributes={"a": ["a", "b"]}) is True
    assert ev(raw, attributes={"a": ["a", "c"]}) is False
    assert ev(raw, attributes={"a": []}) is False
    assert ev(negated(raw), attributes={"a": []}) is True


def test_set_of_string_is_its_characters() -> None:
    """A string input becomes the set of its characters (§4 set quirk)."""
    assert ev(on_attr(wl("EQUAL_TO_SET", "a", "b", "c")), attributes={"a": "cabba"}) is True
    assert ev(on_attr(wl("CONTAINS_ANY_OF_SET", "abc")), attributes={"a": "abc"}) is False
    assert ev(on_attr(wl("PART_OF_SET", "a", "b")), attributes={"a": "ab"}) is True


def test_set_of_dict_is_its_keys() -> None:
    """A dict input becomes the set of its keys (§4)."""
    raw = on_attr(wl("EQUAL_TO_SET", "x", "y"))
    assert ev(raw, attributes={"a": {"x": 1, "y": 2}}) is True


@pytest.mark.parametrize("value", [5, 5.5, True, [["a"]], [{"a": 1}]])
@pytest.mark.parametrize(
    "kind", ["EQUAL_TO_SET", "CONTAINS_ANY_OF_SET", "CONTAINS_ALL_OF_SET", "PART_OF_SET"]
)
def test_set_non_iterable_or_unhashable_is_false(kind: str, value: Any) -> None:
    """Non-iterables and collections of unhashables never match (§4)."""
    raw = on_attr(wl(kind, "a"))
    assert ev(raw, attributes={"a": value}) is False
    assert ev(negated(raw), attributes={"a": value}) is True


def test_set_members_are_strings() -> None:
    """Whitelist entries are strings: numeric inputs are not coerced."""
    assert ev(on_attr(wl("EQUAL_TO_SET", "1", "2")), attributes={"a": [1, 2]}) is False


def test_set_on_key() -> None:
    """Without attribute the key string is the input (set of its characters)."""
    assert ev(wl("PART_OF_SET", "a", "b"), key="abba") is True
    assert ev(wl("PART_OF_SET", "a", "b"), key="abc") is False


# --- string matchers ---------------------------------------------------------------------


def test_starts_with() -> None:
    """STARTS_WITH: any entry is a prefix (§4)."""
    raw = wl("STARTS_WITH", "foo", "bar")
    assert ev(raw, key="barista") is True
    assert ev(raw, key="xfoo") is False
    assert ev(raw, key="Foo") is False


def test_ends_with() -> None:
    """ENDS_WITH: any entry is a suffix (§4)."""
    raw = wl("ENDS_WITH", "@split.io", ".com")
    assert ev(raw, key="a@split.io") is True
    assert ev(raw, key="x.com") is True
    assert ev(raw, key="a@split.io.ar") is False


def test_contains_string() -> None:
    """CONTAINS_STRING: any entry is a substring (§4)."""
    raw = wl("CONTAINS_STRING", "mid", "zzz")
    assert ev(raw, key="amidst") is True
    assert ev(raw, key="ami") is False


def test_string_matchers_empty_whitelist() -> None:
    """An empty list of prefixes/suffixes/substrings matches nothing."""
    for kind in ("STARTS_WITH", "ENDS_WITH", "CONTAINS_STRING"):
        assert ev(wl(kind), key="abc") is False, kind


def test_string_matchers_coerce_non_strings() -> None:
    """String matchers apply to_str to attributes: 123 → "123", True → "true" (§4)."""
    assert ev(on_attr(wl("STARTS_WITH", "12")), attributes={"a": 123}) is True
    assert ev(on_attr(wl("ENDS_WITH", "ue")), attributes={"a": True}) is True
    assert ev(on_attr(wl("CONTAINS_STRING", ", ")), attributes={"a": [1, 2]}) is True


# --- MATCHES_STRING ----------------------------------------------------------------------

REGEX_PATTERNS = [
    "abc", "^abc", "abc$", "^abc$", ".*abc", "abc.*", ".*abc.*", ".*", ".*?", "^.*$", "",
    "a|b.*", ".*a|b", "a|.*", "a|.*?", r"\.*", r"abc\.*", r"abc\\.*", r"abc\\\.*", r".*\.",
    ".*?abc.*?", "abc.*?", "[a-c]+", "[^a]", "[.*]", "(?i)ABC", "(?i).*abc.*", "a.c", "a\\.c",
    r"\d{3}", r"^\d+$", r"\bword\b", "(ab)+c", "(?:x|y)z", "a{2}", "a{2}.*", ".*$", "^.*",
    "(?m)^b", "(?s)a.b", "a.*b", "[]a]", r"\w+@\w+\.com$", "é", "😀.*", r".*\n",
    "(?x) a b c .*", "(a).*\\1", ".*(?<=a)b", ".*(?!a)", ".*{abc}", ".*+", "x.*+y", "-", "a-b",
    "a,b", "=", "%", " ", "foo bar",
]
REGEX_INPUTS = [
    "", "abc", "ABC", "xabcx", "ab", "a", "b", "ba", "aab", "a.c", "abc.", "abc\\", "abc\\.",
    "a\nb", "\nabc", "abc\n", "word", "a word here", "123", "12", "x123y", "ababc", "xz", "yz",
    "aa", "a@b.com", "é", "😀", "[", "*", ".", "abcabc", "a-b", "a,b", "=", "%", "foo bar",
    "{abc}", "axxxb", "a b c",
]


def _search_or_error(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:
        return None


@pytest.mark.parametrize("pattern", REGEX_PATTERNS)
def test_matches_string_equals_re_search(pattern: str) -> None:
    """MATCHES_STRING is exactly re.search(pattern, input) (§4), for many patterns."""
    compiled = _search_or_error(pattern)
    if compiled is None:
        with pytest.raises(Exception):  # noqa: B017 - re.error
            build_matcher(regex(pattern))
        return
    built = build_matcher(regex(pattern))
    for text in REGEX_INPUTS:
        expected = compiled.search(text) is not None
        assert built.evaluate(text, text, None, FakeCtx()) is expected, (pattern, text)


def test_matches_string_not_anchored() -> None:
    """The regex matches anywhere unless anchored (re.search, not re.match/fullmatch)."""
    assert ev(regex("bc"), key="abcd") is True
    assert ev(regex("^bc"), key="abcd") is False


def test_matches_string_on_attribute_coerces() -> None:
    """MATCHES_STRING applies to_str to a non-string attribute (§4)."""
    assert ev(on_attr(regex("^12")), attributes={"a": 123}) is True
    assert ev(on_attr(regex("^true$")), attributes={"a": True}) is True


def test_matches_string_case_sensitive_without_flag() -> None:
    """Without (?i) matching is case sensitive."""
    assert ev(regex("abc"), key="ABC") is False
    assert ev(regex("(?i)abc"), key="xAbCx") is True


# --- EQUAL_TO_BOOLEAN --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "as_true", "as_false"),
    [
        (True, True, False),
        (False, False, True),
        ("true", True, False),
        ("TRUE", True, False),
        ("True", True, False),
        (" true", True, False),
        ("true\n", True, False),
        ("false", False, True),
        ("FaLsE", False, True),
        ("yes", False, False),
        ("1", False, False),
        ("0", False, False),
        ('"true"', False, False),
        ("", False, False),
        ("null", False, False),
        (1, False, False),
        (0, False, False),
        (1.0, False, False),
        ([True], False, False),
    ],
)
def test_equal_to_boolean(value: Any, as_true: bool, as_false: bool) -> None:
    """Booleans, or strings whose lower-cased JSON parse is a bool; nothing else (§4)."""
    assert ev(on_attr(boolean(True)), attributes={"a": value}) is as_true
    assert ev(on_attr(boolean(False)), attributes={"a": value}) is as_false


def test_equal_to_boolean_on_key() -> None:
    """The key "True" matches booleanMatcherData true (§9 boolean_test)."""
    assert ev(boolean(True), key="True") is True
    assert ev(boolean(True), key="False") is False


def test_equal_to_boolean_requires_bool_data() -> None:
    """booleanMatcherData must be a bool; anything else is malformed."""
    with pytest.raises(ValueError):
        build_matcher(matcher("EQUAL_TO_BOOLEAN", booleanMatcherData="true"))


# --- semver matchers ---------------------------------------------------------------------


def test_equal_to_semver_uses_normalized_string() -> None:
    """EQUAL_TO_SEMVER compares normalized strings; metadata counts (§4.3)."""
    assert ev(sem("EQUAL_TO_SEMVER", "1.01.2-rc.01"), key="1.1.2-rc.1") is True
    assert ev(sem("EQUAL_TO_SEMVER", "1.1.1"), key="1.1.1+metadata") is False
    assert ev(sem("EQUAL_TO_SEMVER", "1.1.1+m"), key="1.1.1+m") is True
    assert ev(sem("EQUAL_TO_SEMVER", "1.1.1-rc"), key="1.1.1") is False


def test_gte_semver() -> None:
    """GREATER_THAN_OR_EQUAL_TO_SEMVER: compare(input, data) >= 0; metadata ignored (§4)."""
    raw = sem("GREATER_THAN_OR_EQUAL_TO_SEMVER", "1.2.3")
    assert ev(raw, key="1.2.3") is True
    assert ev(raw, key="1.2.3+build") is True
    assert ev(raw, key="1.10.0") is True
    assert ev(raw, key="1.2.3-rc.1") is False
    assert ev(raw, key="1.2.2") is False


def test_lte_semver() -> None:
    """LESS_THAN_OR_EQUAL_TO_SEMVER: compare(input, data) <= 0 (§4)."""
    raw = sem("LESS_THAN_OR_EQUAL_TO_SEMVER", "2.0.0-beta.2")
    assert ev(raw, key="2.0.0-beta.2") is True
    assert ev(raw, key="2.0.0-beta") is True
    assert ev(raw, key="2.0.0-beta.11") is False
    assert ev(raw, key="2.0.0") is False


def test_between_semver_inclusive() -> None:
    """BETWEEN_SEMVER: start <= input <= end, inclusive (§4)."""
    raw = sem_between("1.0.0-rc.1", "1.0.0")
    assert ev(raw, key="1.0.0-rc.1") is True
    assert ev(raw, key="1.0.0-rc.2") is True
    assert ev(raw, key="1.0.0") is True
    assert ev(raw, key="1.0.0+meta") is True
    assert ev(raw, key="1.0.0-beta") is False
    assert ev(raw, key="1.0.1") is False


def test_in_list_semver() -> None:
    """IN_LIST_SEMVER: normalized input in normalized list; invalid entries dropped (§4)."""
    raw = wl("IN_LIST_SEMVER", "1.02.3", "not-a-version", "2.0.0+m")
    assert ev(raw, key="1.2.3") is True
    assert ev(raw, key="2.0.0+m") is True
    assert ev(raw, key="2.0.0") is False
    assert ev(raw, key="not-a-version") is False


@pytest.mark.parametrize(
    "raw",
    [sem("EQUAL_TO_SEMVER", "1.2.3"), sem("GREATER_THAN_OR_EQUAL_TO_SEMVER", "0.0.0"),
     sem("LESS_THAN_OR_EQUAL_TO_SEMVER", "99.0.0"), sem_between("0.0.0", "99.0.0"),
     wl("IN_LIST_SEMVER", "1.2.3")],
)
@pytest.mark.parametrize("value", ["1.2", "x", "1.2.3-", "", 5, ["1.2.3"]])
def test_semver_unparseable_input_is_false(raw: dict[str, Any], value: Any) -> None:
    """An unparseable input version → false (negated: true) (§4)."""
    assert ev(on_attr(raw), attributes={"a": value}) is False
    assert ev(negated(on_attr(raw)), attributes={"a": value}) is True


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (sem("EQUAL_TO_SEMVER", "bad"), "EQUAL_TO_SEMVER"),
        (sem("GREATER_THAN_OR_EQUAL_TO_SEMVER", None), "GREATER_THAN_OR_EQUAL_TO_SEMVER"),
        (sem("LESS_THAN_OR_EQUAL_TO_SEMVER", "1.2"), "LESS_THAN_OR_EQUAL_TO_SEMVER"),
    ],
)
def test_semver_invalid_matcher_data(
    raw: dict[str, Any], kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Invalid stringMatcherData: logged, matcher false, negated true (§4)."""
    built = build_matcher(raw)
    assert built.evaluate("1.2.3", "1.2.3", None, FakeCtx()) is False
    assert build_matcher(negated(raw)).evaluate("1.2.3", "1.2.3", None, FakeCtx()) is True
    assert f"stringMatcherData is required for {kind} matcher type" in caplog.text


@pytest.mark.parametrize(("start", "end"), [("bad", "2.0.0"), ("1.0.0", "bad"), (None, None)])
def test_between_semver_invalid_matcher_data(
    start: Any, end: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Invalid betweenStringMatcherData: logged, matcher false, negated true (§4)."""
    assert ev(sem_between(start, end), key="1.5.0") is False
    assert ev(negated(sem_between(start, end)), key="1.5.0") is True
    assert "betweenStringMatcherData is required for BETWEEN_SEMVER matcher type" in caplog.text


def test_semver_coerces_attribute_with_to_str() -> None:
    """Semver matchers apply to_str: str as is, others as JSON text (never a version) (§4)."""
    # A str is taken as is (json.dumps would have added quotes and failed to parse).
    assert ev(on_attr(sem("EQUAL_TO_SEMVER", "1.2.3")), attributes={"a": "1.2.3"}) is True
    # 1.2 → "1.2" (two components) and [1, 2, 3] → "[1, 2, 3]": not versions.
    assert ev(on_attr(sem("GREATER_THAN_OR_EQUAL_TO_SEMVER", "0.0.1")),
              attributes={"a": 1.2}) is False
    assert ev(on_attr(sem("GREATER_THAN_OR_EQUAL_TO_SEMVER", "0.0.1")),
              attributes={"a": [1, 2, 3]}) is False


# --- IN_SEGMENT --------------------------------------------------------------------------


def test_in_segment_membership() -> None:
    """IN_SEGMENT: the matching key is a member of the segment (§4)."""
    ctx = FakeCtx(segments={"s": {"in"}})
    assert ev(in_segment("s"), key="in", ctx=ctx) is True
    assert ev(in_segment("s"), key="out", ctx=ctx) is False
    assert ev(in_segment("s", negate=True), key="out", ctx=ctx) is True


def test_in_segment_unknown_segment() -> None:
    """An unknown segment holds nobody (§4)."""
    assert ev(in_segment("nope"), key="k", ctx=FakeCtx()) is False
    assert ev(in_segment("nope", negate=True), key="k", ctx=FakeCtx()) is True


def test_in_segment_uses_matching_key() -> None:
    """Segment membership is checked for the matching key, never the bucketing key (§2)."""
    ctx = FakeCtx(segments={"s": {"bk"}})
    assert ev(in_segment("s"), key="mk", bucketing_key="bk", ctx=ctx) is False


def test_in_segment_attribute_only_presence_matters() -> None:
    """With an attribute named, it must be present, but membership is for the key (§4 quirk)."""
    ctx = FakeCtx(segments={"s": {"member"}})
    raw = on_attr(in_segment("s"))
    assert ev(raw, key="member", attributes={"a": "anything"}, ctx=ctx) is True
    assert ev(raw, key="member", attributes={"a": False}, ctx=ctx) is True
    assert ev(raw, key="other", attributes={"a": "member"}, ctx=ctx) is False
    assert ev(raw, key="member", attributes={}, ctx=ctx) is False
    assert ev(raw, key="member", attributes=None, ctx=ctx) is False
    assert ev(raw, key="member", attributes={"a": None}, ctx=ctx) is False
    assert ev(negated(raw), key="member", attributes={}, ctx=ctx) is True


# --- IN_SPLIT_TREATMENT ------------------------------------------------------------------


def test_dependency_matches_listed_treatment() -> None:
    """IN_SPLIT_TREATMENT: true when the dependency's treatment is in the list (§4)."""
    ctx = FakeCtx(treatments={"dep": "on"})
    assert ev(depends_on("dep", "on", "maybe"), ctx=ctx) is True
    assert ev(depends_on("dep", "off"), ctx=ctx) is False
    assert ev(depends_on("dep", "off", negate=True), ctx=ctx) is True


def test_dependency_same_keys_and_attributes() -> None:
    """The dependency is evaluated with the same matching key, bucketing key, attributes (§2)."""
    ctx = FakeCtx(treatments={"dep": "on"})
    attributes = {"x": 1}
    ev(depends_on("dep", "on"), key="mk", bucketing_key="bk", attributes=attributes, ctx=ctx)
    assert ctx.calls == [("dep", "mk", "bk", attributes)]


def test_dependency_control_is_a_treatment() -> None:
    """A missing dependency evaluates to control, which matches only if listed (§4)."""
    ctx = FakeCtx()
    assert ev(depends_on("missing", "on"), ctx=ctx) is False
    assert ev(depends_on("missing", "control"), ctx=ctx) is True


def test_dependency_empty_treatments() -> None:
    """An empty treatment list never matches."""
    assert ev(depends_on("dep"), ctx=FakeCtx(treatments={"dep": "on"})) is False


# --- IN_RULE_BASED_SEGMENT ---------------------------------------------------------------

EMAIL_BILAL = condition(
    [matcher("STARTS_WITH", attribute="email", whitelistMatcherData={"whitelist": ["bilal"]})]
)


def _rbs_ctx(*segments: dict[str, Any], standard: dict[str, set[str]] | None = None) -> FakeCtx:
    return FakeCtx(segments=standard, rbs=list(segments))


def test_rbs_condition_matches() -> None:
    """A key is in the RBS when one of its conditions matches (§4.2)."""
    ctx = _rbs_ctx(rbs_json("r", [EMAIL_BILAL]))
    assert ev(in_rbs("r"), key="k", attributes={"email": "bilal@x"}, ctx=ctx) is True
    assert ev(in_rbs("r"), key="k", attributes={"email": "mauro@x"}, ctx=ctx) is False
    assert ev(in_rbs("r", negate=True), key="k", attributes={"email": "mauro@x"}, ctx=ctx) is True


def test_rbs_any_condition() -> None:
    """Conditions are OR-ed; matchers inside one are AND-ed (§4.2)."""
    conds = [
        condition([whitelist("a"), whitelist("b")]),  # impossible AND
        condition([whitelist("c")]),
    ]
    ctx = _rbs_ctx(rbs_json("r", conds))
    assert ev(in_rbs("r"), key="a", ctx=ctx) is False
    assert ev(in_rbs("r"), key="c", ctx=ctx) is True


def test_rbs_without_conditions_never_matches() -> None:
    """An RBS with no conditions matches nobody (§4.2)."""
    ctx = _rbs_ctx(rbs_json("r", []))
    assert ev(in_rbs("r"), key="k", ctx=ctx) is False


def test_rbs_condition_with_empty_matchers_matches() -> None:
    """A condition with an empty matcher list is all([]) = true (§1.1)."""
    ctx = _rbs_ctx(rbs_json("r", [condition([])]))
    assert ev(in_rbs("r"), key="k", ctx=ctx) is True


def test_rbs_excluded_keys() -> None:
    """A matching key in excluded.keys is never in the RBS (§4.2)."""
    ctx = _rbs_ctx(rbs_json("r", [condition([matcher("ALL_KEYS")])], excluded_keys=["x"]))
    assert ev(in_rbs("r"), key="x", ctx=ctx) is False
    assert ev(in_rbs("r"), key="y", ctx=ctx) is True
    assert ev(in_rbs("r"), key="y", bucketing_key="x", ctx=ctx) is True


def test_rbs_excluded_standard_segment() -> None:
    """A key in an excluded standard segment is not in the RBS (§4.2)."""
    ctx = _rbs_ctx(
        rbs_json("r", [condition([matcher("ALL_KEYS")])],
                 excluded_segments=[{"name": "emp", "type": "standard"}]),
        standard={"emp": {"x"}},
    )
    assert ev(in_rbs("r"), key="x", ctx=ctx) is False
    assert ev(in_rbs("r"), key="y", ctx=ctx) is True


def test_rbs_excluded_unknown_type_is_standard() -> None:
    """An excluded segment with an unknown type is treated as standard (§1.4)."""
    ctx = _rbs_ctx(
        rbs_json("r", [condition([matcher("ALL_KEYS")])],
                 excluded_segments=[{"name": "emp", "type": "large"}]),
        standard={"emp": {"x"}},
    )
    assert ev(in_rbs("r"), key="x", ctx=ctx) is False
    assert ev(in_rbs("r"), key="y", ctx=ctx) is True


def test_rbs_excluded_rule_based_segment_matching() -> None:
    """A key matching an excluded rule-based segment's conditions is excluded (§4.2)."""
    ctx = _rbs_ctx(
        rbs_json("r", [condition([matcher("ALL_KEYS")])],
                 excluded_segments=[{"name": "inner", "type": "rule-based"}]),
        rbs_json("inner", [condition([whitelist("x")])]),
    )
    assert ev(in_rbs("r"), key="x", ctx=ctx) is False
    assert ev(in_rbs("r"), key="y", ctx=ctx) is True


def test_rbs_excluded_rule_based_nested_exclusion() -> None:
    """An excluded RBS's own excluded segments also exclude (recursive scan, §4.2)."""
    ctx = _rbs_ctx(
        rbs_json("r", [condition([matcher("ALL_KEYS")])],
                 excluded_segments=[{"name": "inner", "type": "rule-based"}]),
        rbs_json("inner", [], excluded_segments=[{"name": "emp", "type": "standard"}]),
        standard={"emp": {"x"}},
    )
    assert ev(in_rbs("r"), key="x", ctx=ctx) is False
    assert ev(in_rbs("r"), key="y", ctx=ctx) is True


def test_rbs_scan_quirk_stops_on_inner_excluded_key() -> None:
    """Key in an excluded RBS's excluded keys stops the whole scan: not excluded (§4.2 quirk)."""
    ctx = _rbs_ctx(
        rbs_json(
            "r",
            [condition([matcher("ALL_KEYS")])],
            excluded_segments=[
                {"name": "inner", "type": "rule-based"},
                {"name": "emp", "type": "standard"},
            ],
        ),
        rbs_json("inner", [condition([matcher("ALL_KEYS")])], excluded_keys=["x"]),
        standard={"emp": {"x", "y"}},
    )
    # x: inner excludes x from itself → scan stops → emp never consulted → x is in r.
    assert ev(in_rbs("r"), key="x", ctx=ctx) is True
    # y: inner matches everybody → excluded.
    assert ev(in_rbs("r"), key="y", ctx=ctx) is False


def test_rbs_scan_order_standard_first_still_excludes() -> None:
    """With the standard segment listed first, it excludes before the quirk can apply (§4.2)."""
    ctx = _rbs_ctx(
        rbs_json(
            "r",
            [condition([matcher("ALL_KEYS")])],
            excluded_segments=[
                {"name": "emp", "type": "standard"},
                {"name": "inner", "type": "rule-based"},
            ],
        ),
        rbs_json("inner", [], excluded_keys=["x"]),
        standard={"emp": {"x"}},
    )
    assert ev(in_rbs("r"), key="x", ctx=ctx) is False


def test_rbs_ignores_attribute_selector() -> None:
    """IN_RULE_BASED_SEGMENT ignores keySelector.attribute (§4.2)."""
    ctx = _rbs_ctx(rbs_json("r", [condition([whitelist("k")])]))
    assert ev(on_attr(in_rbs("r")), key="k", attributes=None, ctx=ctx) is True
    assert ev(on_attr(in_rbs("r")), key="k", attributes={}, ctx=ctx) is True


def test_rbs_conditions_read_attributes() -> None:
    """Matchers inside RBS conditions read the evaluation's attributes (§4.2)."""
    cond = condition([num("GREATER_THAN_OR_EQUAL_TO", 18) | {
        "keySelector": {"trafficType": "user", "attribute": "age"}}])
    ctx = _rbs_ctx(rbs_json("r", [cond]))
    assert ev(in_rbs("r"), attributes={"age": 20}, ctx=ctx) is True
    assert ev(in_rbs("r"), attributes={"age": 10}, ctx=ctx) is False
    assert ev(in_rbs("r"), attributes=None, ctx=ctx) is False


def test_rbs_referencing_segment_in_condition() -> None:
    """RBS conditions may use IN_SEGMENT for the matching key."""
    ctx = _rbs_ctx(rbs_json("r", [condition([in_segment("s")])]), standard={"s": {"k"}})
    assert ev(in_rbs("r"), key="k", ctx=ctx) is True
    assert ev(in_rbs("r"), key="j", ctx=ctx) is False


def test_rbs_missing_raises() -> None:
    """A missing RBS makes the evaluation fail (→ exception label upstream) (§4.2)."""
    with pytest.raises(MissingRuleBasedSegment):
        ev(in_rbs("nope"), ctx=FakeCtx())


def test_rbs_missing_excluded_rbs_raises() -> None:
    """A missing excluded rule-based segment also fails the evaluation (§4.2)."""
    ctx = _rbs_ctx(
        rbs_json("r", [condition([matcher("ALL_KEYS")])],
                 excluded_segments=[{"name": "gone", "type": "rule-based"}]),
    )
    with pytest.raises(MissingRuleBasedSegment):
        ev(in_rbs("r"), key="k", ctx=ctx)


def test_rbs_excluded_key_short_circuits_before_missing_inner() -> None:
    """The excluded-keys check comes before scanning excluded segments (§4.2 order)."""
    ctx = _rbs_ctx(
        rbs_json("r", [condition([matcher("ALL_KEYS")])], excluded_keys=["k"],
                 excluded_segments=[{"name": "gone", "type": "rule-based"}]),
    )
    assert ev(in_rbs("r"), key="k", ctx=ctx) is False


def test_rbs_spec_example_fixture_shape() -> None:
    """The §1.4 example shape: excluded keys, then an excluded RBS that matches (§4.2)."""
    sample = rbs_json(
        "sample_rule_based_segment",
        [EMAIL_BILAL],
        excluded_keys=["mauro@split.io", "gaston@split.io"],
        excluded_segments=[{"type": "rule-based", "name": "no_excludes"}],
    )
    no_excludes = rbs_json("no_excludes", [condition([whitelist("bilal2@split.io")])])
    ctx = _rbs_ctx(sample, no_excludes)
    raw = in_rbs("sample_rule_based_segment")
    assert ev(raw, key="bilal", attributes={"email": "bilal"}, ctx=ctx) is True
    assert ev(raw, key="mauro@split.io", attributes={"email": "bilal"}, ctx=ctx) is False
    assert ev(raw, key="bilal2@split.io", attributes={"email": "bilal"}, ctx=ctx) is False
