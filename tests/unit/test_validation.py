"""Input validation rules and exact log lines: client-api.md §6 and recording.md §2.2."""

from __future__ import annotations

from typing import Any

import pytest

from splitio_async.key import Key
from splitio_async.properties import validate_properties
from splitio_async.validation import (
    raw_flag_names,
    validate_attributes,
    validate_flag_name,
    validate_flag_names,
    validate_flag_sets,
    validate_key,
    validate_track_key,
)

LOGGER = "splitio.client.input_validator"
M = "get_treatment"
FLAG_SET_TAIL = (
    ", a flag set must adhere to the regular expression ^[a-z0-9][_a-z0-9]{0,49}$. This means a "
    "flag set must be alphanumeric, cannot be more than 50 characters long, and can only include "
    "a dash, underscore, period, or colon as separators of alphanumeric characters."
)


def logs(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == LOGGER]


# --- §6.1 plain key ------------------------------------------------------------------------


def test_plain_string_key_as_is(caplog: pytest.LogCaptureFixture) -> None:
    """A str key is used as is, not trimmed, bucketing key None, no log (§6.1)."""
    assert validate_key("user", M) == ("user", None)
    assert validate_key(" user ", M) == (" user ", None)
    assert logs(caplog) == []


def test_null_key(caplog: pytest.LogCaptureFixture) -> None:
    """None → ERROR null key (§6.1)."""
    assert validate_key(None, M) is None
    assert logs(caplog) == [
        ("ERROR", "get_treatment: you passed a null key, key must be a non-empty string.")]


@pytest.mark.parametrize(("value", "text"), [(5, "5"), (1.5, "1.5"), (10.0, "10.0"),
                                             (-3, "-3"), (0, "0")])
def test_numeric_key_converted(value: Any, text: str, caplog: pytest.LogCaptureFixture) -> None:
    """int/float keys are str()-ed with a WARNING (§6.1)."""
    assert validate_key(value, M) == (text, None)
    assert logs(caplog) == [
        ("WARNING", f"get_treatment: key {value} is not of type string, converting.")]


@pytest.mark.parametrize(
    "value", [True, False, {}, [], {"a": 1}, ["k"], object(), float("nan"), float("inf"),
              float("-inf"), b"bytes"]
)
def test_invalid_key_types(value: Any, caplog: pytest.LogCaptureFixture) -> None:
    """bool, containers, NaN, ±inf and other types → ERROR invalid key (§6.1)."""
    assert validate_key(value, M) is None
    assert logs(caplog) == [
        ("ERROR", "get_treatment: you passed an invalid key, key must be a non-empty string.")]


@pytest.mark.parametrize("value", ["", " ", "\t\n", "   "])
def test_empty_key(value: str, caplog: pytest.LogCaptureFixture) -> None:
    """Blank after strip → ERROR empty key (§6.1)."""
    assert validate_key(value, M) is None
    assert logs(caplog) == [
        ("ERROR", "get_treatment: you passed an empty key, key must be a non-empty string.")]


def test_key_length(caplog: pytest.LogCaptureFixture) -> None:
    """250 characters OK; 251 → ERROR key too long (§6.1)."""
    assert validate_key("k" * 250, M) == ("k" * 250, None)
    assert validate_key("k" * 251, M) is None
    assert logs(caplog) == [
        ("ERROR", "get_treatment: key too long - must be 250 characters or less.")]


def test_long_numeric_key(caplog: pytest.LogCaptureFixture) -> None:
    """A number whose str() exceeds 250 characters is too long (§6.1)."""
    assert validate_key(10**251, M) is None
    assert ("ERROR", "get_treatment: key too long - must be 250 characters or less.") in \
        logs(caplog)


def test_method_name_in_messages(caplog: pytest.LogCaptureFixture) -> None:
    """Messages are prefixed by the calling method name (§6)."""
    validate_key(None, "get_treatments_with_config")
    assert logs(caplog)[0][1].startswith("get_treatments_with_config: ")


# --- §6.2 Key object ---------------------------------------------------------------------


def test_key_object_valid() -> None:
    """A Key gives (matching, bucketing) (§6.2)."""
    assert validate_key(Key("m", "b"), M) == ("m", "b")


def test_key_object_numbers_converted(caplog: pytest.LogCaptureFixture) -> None:
    """Numeric parts are converted with a warning naming the part (§6.2)."""
    assert validate_key(Key(5, 7), M) == ("5", "7")
    assert logs(caplog) == [
        ("WARNING", "get_treatment: matching_key 5 is not of type string, converting."),
        ("WARNING", "get_treatment: bucketing_key 7 is not of type string, converting."),
    ]


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (Key(None, "b"), "get_treatment: you passed a null matching_key, matching_key must be a "
                         "non-empty string."),
        (Key("m", None), "get_treatment: you passed a null bucketing_key, bucketing_key must be "
                         "a non-empty string."),
        (Key("", "b"), "get_treatment: you passed an empty matching_key, matching_key must be a "
                       "non-empty string."),
        (Key("m", "  "), "get_treatment: you passed an empty bucketing_key, bucketing_key must "
                         "be a non-empty string."),
        (Key([], "b"), "get_treatment: you passed an invalid matching_key, matching_key must be "
                       "a non-empty string."),
        (Key("m", True), "get_treatment: you passed an invalid bucketing_key, bucketing_key "
                         "must be a non-empty string."),
        (Key("m" * 251, "b"), "get_treatment: matching_key too long - must be 250 characters or "
                              "less."),
        (Key("m", "b" * 251), "get_treatment: bucketing_key too long - must be 250 characters "
                              "or less."),
    ],
)
def test_key_object_invalid(key: Key, message: str, caplog: pytest.LogCaptureFixture) -> None:
    """Each part is validated; a Key with bucketing_key None is invalid (§6.2)."""
    assert validate_key(key, M) is None
    assert ("ERROR", message) in logs(caplog)


def test_key_object_matching_checked_first(caplog: pytest.LogCaptureFixture) -> None:
    """matching_key is validated before bucketing_key (§6.2)."""
    assert validate_key(Key(None, None), M) is None
    assert len(logs(caplog)) == 1
    assert "matching_key" in logs(caplog)[0][1]


# --- track key ---------------------------------------------------------------------------


def test_track_key_rules(caplog: pytest.LogCaptureFixture) -> None:
    """track takes plain keys with the same rules; Key objects are not accepted (recording §2.1)."""
    assert validate_track_key("u") == "u"
    assert validate_track_key(123) == "123"
    assert validate_track_key(Key("m", "b")) is None
    assert validate_track_key(None) is None
    assert validate_track_key("k" * 251) is None
    messages = logs(caplog)
    assert ("WARNING", "track: key 123 is not of type string, converting.") in messages
    assert ("ERROR", "track: you passed a null key, key must be a non-empty string.") in messages
    assert ("ERROR", "track: key too long - must be 250 characters or less.") in messages


# --- §6.3 single flag name ---------------------------------------------------------------


def test_flag_name_valid(caplog: pytest.LogCaptureFixture) -> None:
    """A plain name is returned unchanged without logs (§6.3)."""
    assert validate_flag_name("my_flag", M) == "my_flag"
    assert logs(caplog) == []


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "get_treatment: you passed a null feature_flag_name, feature_flag_name must be a "
               "non-empty string."),
        (5, "get_treatment: you passed an invalid feature_flag_name, feature_flag_name must be "
            "a non-empty string."),
        (["f"], "get_treatment: you passed an invalid feature_flag_name, feature_flag_name must "
                "be a non-empty string."),
        ("", "get_treatment: you passed an empty feature_flag_name, feature_flag_name must be a "
             "non-empty string."),
        ("   ", "get_treatment: you passed an empty feature_flag_name, feature_flag_name must "
                "be a non-empty string."),
    ],
)
def test_flag_name_invalid(value: Any, message: str, caplog: pytest.LogCaptureFixture) -> None:
    """null / non-str / blank flag names are invalid with the exact ERROR (§6.3)."""
    assert validate_flag_name(value, M) is None
    assert logs(caplog) == [("ERROR", message)]


def test_flag_name_trimmed(caplog: pytest.LogCaptureFixture) -> None:
    """Surrounding whitespace → WARNING and trimmed (§6.3)."""
    assert validate_flag_name("  my_flag\t", M) == "my_flag"
    assert logs(caplog) == [
        ("WARNING", "get_treatment: feature flag name '  my_flag\t' has extra whitespace, "
                    "trimming.")]


# --- §6.4 flag names list ----------------------------------------------------------------

NON_EMPTY_ARRAY = "get_treatments: feature flag names must be a non-empty array."


@pytest.mark.parametrize("value", [None, [], "flag", ("a",), {"a"}, 5])
def test_flag_names_not_a_list(value: Any, caplog: pytest.LogCaptureFixture) -> None:
    """Not a list, None or empty → ERROR non-empty array (§6.4)."""
    assert validate_flag_names(value, "get_treatments") is None
    assert logs(caplog) == [("ERROR", NON_EMPTY_ARRAY)]


def test_flag_names_entries(caplog: pytest.LogCaptureFixture) -> None:
    """None skipped silently; non-str and blank logged; whitespace trimmed (§6.4)."""
    result = validate_flag_names([None, 5, "", " b ", "a"], "get_treatments")
    assert result is not None
    assert sorted(result) == ["a", "b"]
    assert logs(caplog) == [
        ("ERROR", "get_treatments: you passed an invalid feature flag name, feature flag name "
                  "must be a non-empty string."),
        ("ERROR", "get_treatments: you passed an empty feature flag name, feature flag name "
                  "must be a non-empty string."),
        ("WARNING", "get_treatments: feature flag name ' b ' has extra whitespace, trimming."),
    ]


def test_flag_names_deduplicated() -> None:
    """Names are de-duplicated after trimming (client-api §4.2 step 4)."""
    result = validate_flag_names(["a", "a", " a", "b"], "get_treatments")
    assert result is not None
    assert sorted(result) == ["a", "b"]


@pytest.mark.parametrize("value", [[None], [None, None], [""], [5, " "]])
def test_flag_names_nothing_valid(value: list[Any], caplog: pytest.LogCaptureFixture) -> None:
    """Nothing valid left → ERROR non-empty array → invalid (§6.4)."""
    assert validate_flag_names(value, "get_treatments") is None
    assert logs(caplog)[-1] == ("ERROR", NON_EMPTY_ARRAY)


def test_raw_flag_names() -> None:
    """Destroyed/invalid calls answer for non-blank str entries, untrimmed (client-api §4.2)."""
    assert raw_flag_names(["a", " b ", "", "  ", None, 5]) == ["a", " b "]
    assert raw_flag_names("a") == []
    assert raw_flag_names(None) == []


# --- §6.5 flag sets ----------------------------------------------------------------------


def test_flag_sets_valid(caplog: pytest.LogCaptureFixture) -> None:
    """Valid sets pass unchanged, de-duplicated (§6.5)."""
    assert sorted(validate_flag_sets(["a", "b_1", "a", "0x"], M)) == ["0x", "a", "b_1"]
    assert logs(caplog) == []


def test_flag_sets_null_and_invalid(caplog: pytest.LogCaptureFixture) -> None:
    """None and non-str elements are skipped with ERRORs (§6.5)."""
    assert validate_flag_sets([None, 5, "ok"], M) == ["ok"]
    assert logs(caplog) == [
        ("ERROR", "get_treatment: you passed a null flag set, flag set must be a non-empty "
                  "string."),
        ("ERROR", "get_treatment: you passed an invalid flag set, flag set must be a non-empty "
                  "string."),
    ]


def test_flag_sets_trim_and_lowercase(caplog: pytest.LogCaptureFixture) -> None:
    """Trimmed (WARNING) then lower-cased (WARNING) (§6.5)."""
    assert validate_flag_sets([" Set_A "], M) == ["set_a"]
    assert logs(caplog) == [
        ("WARNING", "get_treatment: flag set ' Set_A ' has extra whitespace, trimming."),
        ("WARNING", "get_treatment: flag set 'Set_A' should be all lowercase - converting "
                    "string to lowercase"),
    ]


@pytest.mark.parametrize("value", ["_a", "a-b", "a.b", "a:b", "", "a" * 51, "ñ", "a b"])
def test_flag_sets_regex(value: str, caplog: pytest.LogCaptureFixture) -> None:
    """Sets must fully match ^[a-z0-9][_a-z0-9]{0,49}$ (§6.5)."""
    assert validate_flag_sets([value], M) == []
    assert ("ERROR", f"get_treatment: you passed {value}{FLAG_SET_TAIL}") in logs(caplog)


def test_flag_sets_max_length() -> None:
    """50 characters is the maximum (§6.5)."""
    assert validate_flag_sets(["a" * 50], M) == ["a" * 50]


def test_flag_sets_sorted_for_config() -> None:
    """flagSetsFilter uses method 'SDK Config' and a sorted result (§6.5)."""
    assert validate_flag_sets(["c", "a", "b"], "SDK Config") == ["a", "b", "c"]


def test_flag_sets_duplicates_after_normalization() -> None:
    """'A' and ' a' normalize to the same set (§6.5 duplicates removed)."""
    assert validate_flag_sets(["A", " a", "a"], M) == ["a"]


# --- §6.6 attributes ---------------------------------------------------------------------


def test_attributes(caplog: pytest.LogCaptureFixture) -> None:
    """None and dict OK; anything else → ERROR (§6.6)."""
    assert validate_attributes(None, M) is True
    assert validate_attributes({"a": object()}, M) is True
    assert logs(caplog) == []
    assert validate_attributes([("a", 1)], M) is False
    assert validate_attributes("a=1", M) is False
    assert logs(caplog) == [("ERROR", "get_treatment: attributes must be of type dictionary.")] * 2


# --- recording §2.2 properties -----------------------------------------------------------


def test_properties_none() -> None:
    """None → valid, no properties, size 1024 (§2.2)."""
    assert validate_properties(None, "track") == (True, None, 1024)


@pytest.mark.parametrize("value", [[], "a=1", 5, [("a", 1)]])
def test_properties_not_dict(value: Any, caplog: pytest.LogCaptureFixture) -> None:
    """Not a dict → ERROR and invalid (§2.2)."""
    valid, props, _ = validate_properties(value, "track")
    assert (valid, props) == (False, None)
    assert logs(caplog) == [("ERROR", "track: properties must be of type dictionary.")]


def test_properties_size_counts_names_and_string_values() -> None:
    """size = 1024 + len(names) + len(str values); numbers/bools add nothing (§2.2)."""
    valid, props, size = validate_properties(
        {"ab": "xyz", "n": 5, "f": 1.5, "b": True, "z": None}, "track")
    assert valid is True
    assert props == {"ab": "xyz", "n": 5, "f": 1.5, "b": True, "z": None}
    assert size == 1024 + 2 + 3 + 1 + 1 + 1 + 1


def test_properties_non_string_names_skipped() -> None:
    """Entries with non-str names are skipped silently and not counted (§2.2)."""
    valid, props, size = validate_properties({1: "x", "a": "b"}, "track")
    assert (valid, props, size) == (True, {"a": "b"}, 1024 + 2)


def test_properties_invalid_value_type(caplog: pytest.LogCaptureFixture) -> None:
    """A value not str/number/bool → WARNING and set to None (§2.2)."""
    valid, props, _ = validate_properties({"a": [1, 2]}, "get_treatment")
    assert (valid, props) == (True, {"a": None})
    assert logs(caplog) == [
        ("WARNING", "get_treatment: Property [1, 2] is of invalid type. Setting value to None")]


def test_properties_empty_dict_is_none() -> None:
    """An empty (or all-skipped) dict yields props None (§2.2)."""
    assert validate_properties({}, "track")[:2] == (True, None)
    assert validate_properties({5: "x"}, "track")[:2] == (True, None)


def test_properties_size_limit(caplog: pytest.LogCaptureFixture) -> None:
    """size 32768 is accepted; 32769 → ERROR with the size, invalid (§2.2)."""
    ok = "v" * (32768 - 1024 - 1)
    assert validate_properties({"a": ok}, "track") == (True, {"a": ok}, 32768)
    valid, props, size = validate_properties({"a": ok + "v"}, "track")
    assert (valid, props, size) == (False, None, 32769)
    assert logs(caplog) == [
        ("ERROR", "track: The maximum size allowed for the properties is 32768 bytes. Current "
                  "one is 32769 bytes. Event not queued")]


def test_properties_size_counts_characters_not_bytes() -> None:
    """len counts characters, not UTF-8 bytes (§2.2)."""
    assert validate_properties({"é": "€€"}, "track")[2] == 1024 + 1 + 2


def test_properties_none_value_skips_size_check() -> None:
    """A None value skips the size check for that entry (§2.2)."""
    big_name = "n" * (32768 - 1024 + 10)
    valid, props, size = validate_properties({big_name: None}, "track")
    assert valid is True
    assert props == {big_name: None}
    assert size == 1024 + len(big_name)


def test_properties_size_check_on_numeric_value() -> None:
    """The size check runs for non-None values even if they add nothing (§2.2)."""
    big_name = "n" * (32768 - 1024 + 1)
    assert validate_properties({big_name: 1}, "track")[0] is False


def test_properties_more_than_300(caplog: pytest.LogCaptureFixture) -> None:
    """More than 300 properties → WARNING, still valid (§2.2)."""
    many = {f"p{i}": i for i in range(301)}
    valid, props, _ = validate_properties(many, "track")
    assert valid is True
    assert props == many
    assert logs(caplog) == [
        ("WARNING", "track: Event has more than 300 properties. Some of them will be trimmed "
                    "when processed")]


def test_properties_exactly_300_no_warning(caplog: pytest.LogCaptureFixture) -> None:
    """300 properties do not warn (§2.2)."""
    validate_properties({f"p{i}": i for i in range(300)}, "track")
    assert logs(caplog) == []
