"""Unit tests of the pure localhost-file parsers (legacy ``.split``, YAML, JSON, segments)."""

from __future__ import annotations

import copy
import dataclasses
import logging
from typing import Any

import pytest

from splitio_async.errors import LocalhostFileError
from splitio_async.localhost import (
    SegmentFile,
    SplitChangesFile,
    detect_format,
    parse_legacy,
    parse_segment,
    parse_split_changes,
    parse_yaml,
    sanitize_segment,
    sanitize_split_changes,
)

LOGGER_NAME = "splitio_async.localhost"
NOW = 1_700_000_000
INVALID_LINE = "Invalid line on localhost environment feature flag definition. Line = "
NO_FLAG_NAME = "A feature flag in json file does not have (Name) or property is empty, skipping."
NO_RBS_NAME = (
    "A rule based segment in json file does not have (Name) or property is empty, skipping."
)
KEY_SELECTOR = {"trafficType": "user", "attribute": None}
DEFAULT_RULE = {
    "conditionType": "ROLLOUT",
    "matcherGroup": {
        "combiner": "AND",
        "matchers": [
            {
                "keySelector": {"trafficType": "user", "attribute": None},
                "matcherType": "ALL_KEYS",
                "negate": False,
                "userDefinedSegmentMatcherData": None,
                "whitelistMatcherData": None,
                "unaryNumericMatcherData": None,
                "betweenMatcherData": None,
                "dependencyMatcherData": None,
                "booleanMatcherData": None,
                "stringMatcherData": None,
            }
        ],
    },
    "partitions": [{"treatment": "on", "size": 0}, {"treatment": "off", "size": 100}],
    "label": "default rule",
}


@pytest.fixture(autouse=True)
def _frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("splitio_async.localhost.json_file.time.time", lambda: NOW + 0.9)


def messages(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == LOGGER_NAME]


def all_keys(treatment: str) -> dict[str, Any]:
    return {
        "conditionType": "WHITELIST",
        "matcherGroup": {
            "combiner": "AND",
            "matchers": [{"keySelector": KEY_SELECTOR, "matcherType": "ALL_KEYS", "negate": False}],
        },
        "partitions": [{"treatment": treatment, "size": 100}],
        "label": "some_other_label",
    }


def whitelist(keys: list[str], treatment: str) -> dict[str, Any]:
    matcher = {
        "keySelector": KEY_SELECTOR,
        "matcherType": "WHITELIST",
        "negate": False,
        "whitelistMatcherData": {"whitelist": keys},
    }
    return {
        "conditionType": "WHITELIST",
        "matcherGroup": {"combiner": "AND", "matchers": [matcher]},
        "partitions": [{"treatment": treatment, "size": 100}],
        "label": "some_other_label",
    }


def synthesized(
    name: str, conditions: list[dict[str, Any]], configurations: dict[str, str] | None
) -> dict[str, Any]:
    return {
        "name": name,
        "changeNumber": 123,
        "trafficTypeName": "user",
        "trafficAllocation": 100,
        "trafficAllocationSeed": 123456,
        "seed": 321654,
        "status": "ACTIVE",
        "killed": False,
        "defaultTreatment": "control",
        "algo": 2,
        "conditions": conditions,
        "configurations": configurations,
        "prerequisites": [],
        "sets": [],
    }


# --- format detection -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/tmp/flags.json", "json"),
        ("FLAGS.JSON", "json"),
        ("a.Json", "json"),
        (".json", "json"),
        ("flags.yaml", "yaml"),
        ("flags.YML", "yaml"),
        ("/x/y.Yaml", "yaml"),
        ("/home/u/.split", "legacy"),
        ("flags.json5", "legacy"),
        ("flags.json.bak", "legacy"),
        ("json", "legacy"),
        ("dir.yaml/flags", "legacy"),
        ("flags.txt", "legacy"),
    ],
)
def test_detect_format(path: str, expected: str) -> None:
    assert detect_format(path) == expected


# --- legacy .split ----------------------------------------------------------------------------


def test_legacy_user_guide_example(caplog: pytest.LogCaptureFixture) -> None:
    text = (
        "# sdk.get_treatment(*, reporting_v2) returns 'on'\n"
        "reporting_v2 on\n"
        "double_writes_to_cassandra off\n"
        "new-navigation v3\n"
    )
    assert parse_legacy(text, "/home/u/.split") == [
        synthesized("reporting_v2", [all_keys("on")], None),
        synthesized("double_writes_to_cassandra", [all_keys("off")], None),
        synthesized("new-navigation", [all_keys("v3")], None),
    ]
    assert messages(caplog) == []


def test_legacy_skips_blank_lines_and_comments_silently(caplog: pytest.LogCaptureFixture) -> None:
    text = "\n   \n\t\n#a comment\n# another one with three tokens\nflag on"
    assert [f["name"] for f in parse_legacy(text, "f.split")] == ["flag"]
    assert messages(caplog) == []


@pytest.mark.parametrize(
    "line",
    [
        "flag on ",  # trailing whitespace is not accepted by the official regex
        "flag on\t",
        " flag on",
        "flag on off",
        "lonely",
        "bad!name on",
        "flag o.n",
        "flag on # comment",
        "  # indented comment",  # only lines *starting* with '#' are comments
    ],
)
def test_legacy_invalid_line_is_logged_and_skipped(
    line: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, LOGGER_NAME)
    flags = parse_legacy(f"good on\n{line}\nother off\n", "f.split")
    assert [f["name"] for f in flags] == ["good", "other"]
    assert messages(caplog) == [(logging.WARNING, INVALID_LINE + line)]


def test_legacy_later_line_replaces_earlier() -> None:
    flags = parse_legacy("a on\nb off\na v2\n", "f.split")
    assert [(f["name"], f["conditions"]) for f in flags] == [
        ("a", [all_keys("v2")]),
        ("b", [all_keys("off")]),
    ]


@pytest.mark.parametrize(
    "text",
    ["f1 on\r\nf_2\t\tv-2\r\n", "f1 on\rf_2\t\tv-2", "\ufefff1  on\nf_2 \t v-2"],
)
def test_legacy_newlines_tabs_and_bom(text: str, caplog: pytest.LogCaptureFixture) -> None:
    flags = parse_legacy(text, "f.split")
    assert [(f["name"], f["conditions"][0]["partitions"]) for f in flags] == [
        ("f1", [{"treatment": "on", "size": 100}]),
        ("f_2", [{"treatment": "v-2", "size": 100}]),
    ]
    assert messages(caplog) == []


def test_legacy_accepts_unicode_word_characters() -> None:
    assert [f["name"] for f in parse_legacy("café sí\n", "f.split")] == ["café"]


def test_legacy_empty_file() -> None:
    assert parse_legacy("", "f.split") == []


# --- YAML -------------------------------------------------------------------------------------

SPEC_YAML = """\
- my_feature:
    treatment: "on"
    keys: "key"
    config: "{\\"desc\\" : \\"this applies only to ON treatment\\"}"
- other_feature_3:
    treatment: "off"
- my_feature:
    treatment: "off"
    keys: "only_key"
    config: "{\\"desc\\" : \\"this applies only to OFF and only for only_key. The rest will receive ON\\"}"
- other_feature:
    treatment: "on"
    keys: ["key2","key3"]
"""  # noqa: E501 - verbatim from localhost.md
ON_CONFIG = '{"desc" : "this applies only to ON treatment"}'
OFF_CONFIG = '{"desc" : "this applies only to OFF and only for only_key. The rest will receive ON"}'


def test_yaml_spec_example_is_grouped_and_sorted() -> None:
    assert parse_yaml(SPEC_YAML, "flags.yaml") == [
        synthesized(
            "my_feature",
            [whitelist(["key"], "on"), whitelist(["only_key"], "off")],
            {"on": ON_CONFIG, "off": OFF_CONFIG},
        ),
        synthesized("other_feature", [whitelist(["key2", "key3"], "on")], {}),
        synthesized("other_feature_3", [all_keys("off")], {}),
    ]


def test_yaml_keyed_entries_come_before_keyless_ones_in_file_order() -> None:
    text = """\
- f:
    treatment: "everyone"
- f:
    treatment: "a"
    keys: k1
- f:
    treatment: "ignored_for_everyone"
- f:
    treatment: "b"
    keys: [k2, k3]
"""
    [flag] = parse_yaml(text, "f.yml")
    assert flag["conditions"] == [
        whitelist(["k1"], "a"),
        whitelist(["k2", "k3"], "b"),
        all_keys("everyone"),
        all_keys("ignored_for_everyone"),
    ]


def test_yaml_config_belongs_to_the_treatment_and_later_entries_overwrite() -> None:
    text = """\
- f:
    treatment: "on"
    config: "first"
- f:
    treatment: "on"
    keys: [k]
    config: "second"
- f:
    treatment: "off"
    keys: [j]
- g:
    treatment: "on"
"""
    flags = {f["name"]: f for f in parse_yaml(text, "f.yaml")}
    assert flags["f"]["configurations"] == {"on": "second"}
    assert flags["g"]["configurations"] == {}


def test_yaml_null_config_means_no_config() -> None:
    [flag] = parse_yaml(
        "- f:\n    treatment: 'on'\n    config: 'c'\n- f:\n    treatment: 'on'\n    config:\n",
        "f.yaml",
    )
    assert flag["configurations"] == {"on": "c"}


def test_yaml_numbers_are_read_as_text() -> None:
    [flag] = parse_yaml("- 42:\n    treatment: 7\n    keys: [123, 1.5, 'x']\n", "f.yaml")
    assert flag["name"] == "42"
    assert flag["conditions"] == [whitelist(["123", "1.5", "x"], "7")]


@pytest.mark.parametrize("text", ["", "# only a comment\n", "[]", "---\n"])
def test_yaml_empty_documents(text: str) -> None:
    assert parse_yaml(text, "f.yaml") == []


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("- f:\n    treatment: 'on'\n   keys: [a\n", "invalid YAML at line"),
        ("f:\n  treatment: 'on'\n", "top level must be a list"),
        ("just text", "top level must be a list"),
        ("- f\n", "entry #1 must be a map with exactly one key"),
        ("- f: {treatment: 'on'}\n- g: {treatment: a}\n  h: {treatment: b}\n", "entry #2"),
        ("- {}\n", "entry #1 must be a map with exactly one key"),
        ("- f: 'on'\n", "entry #1 (f) must map the flag name to a map"),
        ("- f:\n", "entry #1 (f) must map the flag name to a map"),
        ("- f: {keys: [a]}\n", "entry #1 (f) has no 'treatment'"),
        ("- f: {treatment: on}\n", "boolean True; YAML reads unquoted on/off"),
        ("- f: {treatment: null}\n", "treatment of entry #1 (f) must be a string"),
        ("- f: {treatment: ' '}\n", "treatment of entry #1 (f) is empty"),
        ("- f: {treatment: [a]}\n", "must be a string, not list"),
        ("- f: {treatment: 'on', keys: [[a]]}\n", "a key in 'keys' of entry #1 (f)"),
        ("- f: {treatment: 'on', keys: no}\n", "boolean False"),
        ("- f: {treatment: 'on', config: {a: 1}}\n", "config of entry #1 (f) must be a string"),
        ("- '': {treatment: 'on'}\n", "the flag name of entry #1 is empty"),
        ("- ~: {treatment: 'on'}\n", "the flag name of entry #1 must be a string"),
        ("- f: {treatment: 'on'}\n---\n- g: {treatment: 'on'}\n", "invalid YAML"),
    ],
)
def test_yaml_malformed_files_raise(text: str, fragment: str) -> None:
    with pytest.raises(LocalhostFileError) as info:
        parse_yaml(text, "/etc/flags.yaml")
    assert info.value.path == "/etc/flags.yaml"
    assert fragment in info.value.problem
    assert "/etc/flags.yaml" in str(info.value)
    assert isinstance(info.value, ValueError)


# --- JSON splitChanges ------------------------------------------------------------------------


def raw_flag(**fields: Any) -> dict[str, Any]:
    flag: dict[str, Any] = {"name": "f"}
    flag.update(fields)
    return {k: v for k, v in flag.items() if v is not ...}


def load_flag(**fields: Any) -> dict[str, Any]:
    result = sanitize_split_changes({"ff": {"d": [raw_flag(**fields)]}}, "f.json")
    [flag] = result.flags
    return flag


def test_json_minimal_flag_gets_every_default() -> None:
    assert load_flag() == {
        "name": "f",
        "trafficTypeName": "user",
        "trafficAllocation": 100,
        "trafficAllocationSeed": NOW,
        "seed": NOW,
        "status": "ACTIVE",
        "killed": False,
        "defaultTreatment": "control",
        "changeNumber": 0,
        "algo": 2,
        "conditions": [DEFAULT_RULE],
        "sets": [],
        "prerequisites": [],
    }


def test_json_valid_flag_is_kept_as_is() -> None:
    rollout = copy.deepcopy(DEFAULT_RULE)
    rollout["label"] = "in segment all"
    fields = {
        "trafficTypeName": "account",
        "trafficAllocation": 40,
        "trafficAllocationSeed": -5,
        "seed": 77,
        "status": "ARCHIVED",
        "killed": True,
        "defaultTreatment": "off",
        "changeNumber": 12,
        "algo": 2,
        "conditions": [rollout],
        "sets": ["a", "b"],
        "prerequisites": [{"n": "g", "ts": ["on"]}],
        "configurations": {"on": "{}"},
        "impressionsDisabled": True,
    }
    assert load_flag(**fields) == {"name": "f", **fields}


@pytest.mark.parametrize("algo", [..., None, 1, 0, 3, "murmur"])
def test_json_algo_is_forced_to_2(algo: Any) -> None:
    assert load_flag(algo=algo)["algo"] == 2


@pytest.mark.parametrize(
    ("value", "expected"),
    [(..., 100), (None, 100), (-1, 100), (101, 100), (100.5, 100), (0, 0), (37, 37), (100, 100)],
)
def test_json_traffic_allocation(value: Any, expected: int) -> None:
    assert load_flag(trafficAllocation=value)["trafficAllocation"] == expected


@pytest.mark.parametrize("field", ["trafficAllocationSeed", "seed"])
@pytest.mark.parametrize(
    ("value", "expected"), [(..., NOW), (None, NOW), (0, NOW), (9, 9), (-9, -9)]
)
def test_json_seeds(field: str, value: Any, expected: int) -> None:
    flag = load_flag(**{field: value})
    assert flag[field] == expected
    assert type(flag[field]) is int


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (..., "control"),
        (None, "control"),
        ("", "control"),
        (" ", "control"),
        ("\t  ", "control"),
        ("off", "off"),
        (" off ", " off "),
    ],
)
def test_json_default_treatment(value: Any, expected: str) -> None:
    assert load_flag(defaultTreatment=value)["defaultTreatment"] == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (..., "ACTIVE"),
        (None, "ACTIVE"),
        ("DELETED", "ACTIVE"),
        ("archived", "ACTIVE"),
        ("ARCHIVED", "ARCHIVED"),
        ("ACTIVE", "ACTIVE"),
    ],
)
def test_json_status(value: Any, expected: str) -> None:
    assert load_flag(status=value)["status"] == expected


@pytest.mark.parametrize(("value", "expected"), [(..., 0), (None, 0), (-3, 0), (0, 0), (5, 5)])
def test_json_change_number(value: Any, expected: int) -> None:
    assert load_flag(changeNumber=value)["changeNumber"] == expected


def test_json_simple_defaults_only_fill_missing_values() -> None:
    flag = load_flag(trafficTypeName=None, killed=None, prerequisites=None, sets=None)
    assert (flag["trafficTypeName"], flag["killed"], flag["prerequisites"], flag["sets"]) == (
        "user",
        False,
        [],
        [],
    )


def _condition(condition_type: str, *matcher_types: str) -> dict[str, Any]:
    matchers = [{"matcherType": m, "negate": False} for m in matcher_types]
    return {
        "conditionType": condition_type,
        "matcherGroup": {"combiner": "AND", "matchers": matchers},
        "partitions": [{"treatment": "on", "size": 100}],
        "label": "mine",
    }


@pytest.mark.parametrize(
    "conditions",
    [
        [_condition("ROLLOUT", "ALL_KEYS")],
        [_condition("WHITELIST", "WHITELIST"), _condition("ROLLOUT", "IN_SEGMENT", "ALL_KEYS")],
    ],
)
def test_json_no_default_rule_when_last_condition_is_a_rollout_over_all_keys(
    conditions: list[dict[str, Any]],
) -> None:
    assert load_flag(conditions=conditions)["conditions"] == conditions


@pytest.mark.parametrize(
    "conditions",
    [
        [],
        None,
        [_condition("WHITELIST", "ALL_KEYS")],
        [_condition("ROLLOUT", "IN_SEGMENT")],
        [_condition("ROLLOUT", "ALL_KEYS"), _condition("ROLLOUT", "WHITELIST")],
        [{"conditionType": "ROLLOUT"}],
        [{"conditionType": "ROLLOUT", "matcherGroup": {"matchers": None}}],
    ],
)
def test_json_default_rule_appended(conditions: list[dict[str, Any]] | None) -> None:
    assert load_flag(conditions=conditions)["conditions"] == [*(conditions or []), DEFAULT_RULE]


def test_json_flag_sets_are_validated(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, LOGGER_NAME)
    sets = [" Backend", "FRONT", "ok", "ok", "bad-set", None, 5, "", "x" * 51]
    assert load_flag(sets=sets)["sets"] == ["backend", "front", "ok"]
    regex_error = (
        "Localhost Validator: you passed {}, a flag set must adhere to the regular expression "
        "^[a-z0-9][_a-z0-9]{{0,49}}$. This means a flag set must be alphanumeric, cannot be more "
        "than 50 characters long, and can only include a dash, underscore, period, or colon as "
        "separators of alphanumeric characters."
    )
    assert messages(caplog) == [
        (
            logging.WARNING,
            "Localhost Validator: flag set ' Backend' has extra whitespace, trimming.",
        ),
        (
            logging.WARNING,
            "Localhost Validator: flag set 'Backend' should be all lowercase - "
            "converting string to lowercase",
        ),
        (
            logging.WARNING,
            "Localhost Validator: flag set 'FRONT' should be all lowercase - "
            "converting string to lowercase",
        ),
        (logging.ERROR, regex_error.format("bad-set")),
        (
            logging.ERROR,
            "Localhost Validator: you passed a null flag set, flag set must be a non-empty string.",
        ),
        (
            logging.ERROR,
            "Localhost Validator: you passed an invalid flag set, flag set must be a "
            "non-empty string.",
        ),
        (logging.ERROR, regex_error.format("")),
        (logging.ERROR, regex_error.format("x" * 51)),
    ]


def test_json_flag_sets_not_a_list_are_discarded(caplog: pytest.LogCaptureFixture) -> None:
    assert load_flag(sets="backend")["sets"] == []
    assert messages(caplog) == [
        (
            logging.WARNING,
            "Localhost Validator: flag sets parameter type should be list object, "
            "parameter is discarded",
        ),
    ]


@pytest.mark.parametrize("name", [..., None, "", "   ", 7])
def test_json_flag_without_name_is_skipped(name: Any, caplog: pytest.LogCaptureFixture) -> None:
    doc = {"ff": {"d": [raw_flag(name=name), raw_flag(name="kept")]}}
    assert [f["name"] for f in sanitize_split_changes(doc, "f.json").flags] == ["kept"]
    assert messages(caplog) == [(logging.WARNING, NO_FLAG_NAME)]


def test_json_archived_flags_are_kept_in_order() -> None:
    doc = {"ff": {"d": [raw_flag(name="a", status="ARCHIVED"), raw_flag(name="b")]}}
    flags = sanitize_split_changes(doc, "f.json").flags
    assert [(f["name"], f["status"]) for f in flags] == [("a", "ARCHIVED"), ("b", "ACTIVE")]


def test_json_rule_based_segments() -> None:
    conditions = [_condition("WHITELIST", "WHITELIST")]
    rbs = [
        {"name": "r1", "conditions": conditions, "excluded": {"keys": ["k"], "segments": []}},
        {"name": "r2", "trafficTypeName": "account", "status": "ARCHIVED", "changeNumber": 9},
        {"name": "r3", "status": "weird", "changeNumber": -2, "conditions": None},
    ]
    result = sanitize_split_changes({"ff": {"d": []}, "rbs": {"d": rbs, "s": 1, "t": 9}}, "f.json")
    bare_condition = {k: v for k, v in conditions[0].items() if k != "partitions"}
    assert result.rbs == [
        {
            "name": "r1",
            "trafficTypeName": "user",
            "status": "ACTIVE",
            "changeNumber": 0,
            "conditions": [bare_condition],
            "excluded": {"keys": ["k"], "segments": []},
        },
        {
            "name": "r2",
            "trafficTypeName": "account",
            "status": "ARCHIVED",
            "changeNumber": 9,
            "conditions": [],
        },
        {
            "name": "r3",
            "trafficTypeName": "user",
            "status": "ACTIVE",
            "changeNumber": 0,
            "conditions": [],
        },
    ]
    assert (result.rbs_since, result.rbs_till) == (1, 9)
    assert "partitions" in conditions[0]  # the input is untouched


@pytest.mark.parametrize("name", [..., None, " "])
def test_json_rule_based_segment_without_name_is_skipped(
    name: Any, caplog: pytest.LogCaptureFixture
) -> None:
    doc = {
        "ff": {"d": []},
        "rbs": {"d": [{k: v for k, v in {"name": name}.items() if v is not ...}, {"name": "kept"}]},
    }
    assert [r["name"] for r in sanitize_split_changes(doc, "f.json").rbs] == ["kept"]
    assert messages(caplog) == [(logging.WARNING, NO_RBS_NAME)]


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ({}, (-1, -1)),
        ({"s": None, "t": None}, (-1, -1)),
        ({"s": 5, "t": 10}, (5, 10)),
        ({"s": -1, "t": 10}, (-1, 10)),
        ({"s": 11, "t": 10}, (10, 10)),
        ({"s": -2, "t": 10}, (10, 10)),
        ({"t": 10}, (10, 10)),
        ({"s": 3, "t": -5}, (-1, -1)),
        ({"s": 0, "t": 0}, (0, 0)),
    ],
)
def test_json_section_since_till(section: dict[str, Any], expected: tuple[int, int]) -> None:
    ff = {"d": [], **section}
    result = sanitize_split_changes({"ff": ff, "rbs": dict(ff)}, "f.json")
    assert (result.flags_since, result.flags_till) == expected
    assert (result.rbs_since, result.rbs_till) == expected


def test_json_missing_rbs_section_means_empty() -> None:
    result = sanitize_split_changes({"ff": {"d": [raw_flag()], "s": 1, "t": 2}}, "f.json")
    assert (len(result.flags), result.flags_since, result.flags_till) == (1, 1, 2)
    assert (result.rbs, result.rbs_since, result.rbs_till) == ([], -1, -1)


def test_json_missing_d_means_no_flags() -> None:
    result = sanitize_split_changes({"ff": {"s": -1, "t": 4}, "rbs": None}, "f.json")
    assert result == SplitChangesFile([], -1, 4, [], -1, -1)


@pytest.mark.parametrize("splits", [[], [{"name": "old"}]])
def test_json_old_shape(splits: list[dict[str, Any]]) -> None:
    result = sanitize_split_changes({"splits": splits, "since": 3, "till": 8}, "f.json")
    assert [f["name"] for f in result.flags] == [s["name"] for s in splits]
    assert (result.flags_since, result.flags_till) == (3, 8)
    assert (result.rbs, result.rbs_since, result.rbs_till) == ([], -1, -1)
    if splits:
        assert result.flags[0]["conditions"] == [DEFAULT_RULE]


def test_json_old_shape_without_since_till() -> None:
    result = sanitize_split_changes({"splits": []}, "f.json")
    assert (result.flags_since, result.flags_till) == (-1, -1)


def test_json_input_is_not_mutated() -> None:
    doc = {
        "ff": {"d": [raw_flag(conditions=[_condition("WHITELIST", "ALL_KEYS")], sets=[" A"])]},
        "rbs": {"d": [{"name": "r", "conditions": [_condition("ROLLOUT", "ALL_KEYS")]}]},
    }
    before = copy.deepcopy(doc)
    result = sanitize_split_changes(doc, "f.json")
    assert doc == before
    result.flags[0]["conditions"].clear()
    assert doc == before


def test_json_result_is_frozen() -> None:
    result = sanitize_split_changes({"ff": {}}, "f.json")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.flags_till = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        ([], "expected a JSON object"),
        (None, "expected a JSON object"),
        ({}, "expected an 'ff' section"),
        ({"since": 1}, "expected an 'ff' section"),
        ({"ff": []}, "'ff' must be an object"),
        ({"ff": {"d": {}}}, "'ff.d' must be a list"),
        ({"ff": {"d": [{"name": "a"}, "b"]}}, "'ff.d'[1] must be an object"),
        ({"ff": {"d": []}, "rbs": {"d": [1]}}, "'rbs.d'[0] must be an object"),
        ({"ff": {"d": [], "t": "5"}}, "'ff.t' must be an integer"),
        ({"ff": {"d": [], "s": 1.5}}, "'ff.s' must be an integer"),
        ({"ff": {"d": [], "t": True}}, "'ff.t' must be an integer"),
        ({"splits": {"name": "a"}}, "'splits' must be a list"),
        ({"splits": [], "till": "x"}, "'till' must be an integer"),
        ({"ff": {"d": [{"name": "a", "changeNumber": "5"}]}}, "'a': changeNumber"),
        ({"ff": {"d": [{"name": "a", "trafficAllocation": "5"}]}}, "'a': trafficAllocation"),
        ({"ff": {"d": [{"name": "a", "seed": "5"}]}}, "'a': seed must be an integer"),
        ({"ff": {"d": [{"name": "a", "conditions": {}}]}}, "'a': conditions must be a list"),
        ({"ff": {"d": []}, "rbs": {"d": [{"name": "r", "conditions": 1}]}}, "'r': conditions"),
    ],
)
def test_json_malformed_documents_raise(doc: Any, fragment: str) -> None:
    with pytest.raises(LocalhostFileError) as info:
        sanitize_split_changes(doc, "/srv/split.json")
    assert info.value.path == "/srv/split.json"
    assert fragment in info.value.problem


def test_parse_split_changes_decodes_text() -> None:
    result = parse_split_changes('{"ff": {"d": [{"name": "a"}], "s": -1, "t": 3}}', "f.json")
    assert ([f["name"] for f in result.flags], result.flags_till) == (["a"], 3)


def test_parse_split_changes_reports_json_errors_with_position() -> None:
    with pytest.raises(
        LocalhostFileError, match=r"'f\.json'.*invalid JSON at line 2, column 2: Extra data"
    ):
        parse_split_changes('{"ff": {}\n}}', "f.json")


# --- JSON segments ----------------------------------------------------------------------------


def test_segment_example() -> None:
    doc = {
        "name": "segment_1",
        "added": ["example1", "example2"],
        "removed": [],
        "since": -1,
        "till": 1585948850110,
    }
    assert sanitize_segment(doc, "segment_1.json") == SegmentFile(
        "segment_1", ["example1", "example2"], [], -1, 1585948850110
    )


@pytest.mark.parametrize(
    ("since", "till", "expected"),
    [
        (..., ..., (-1, -1)),
        (None, None, (-1, -1)),
        (5, -3, (-1, -1)),
        (-1, 0, (-1, -1)),
        (..., 10, (10, 10)),
        (None, 10, (10, 10)),
        (0, 10, (10, 10)),
        (-2, 10, (10, 10)),
        (11, 10, (10, 10)),
        (4, 10, (4, 10)),
        (-1, 10, (-1, 10)),
    ],
)
def test_segment_since_till(since: Any, till: Any, expected: tuple[int, int]) -> None:
    doc = {k: v for k, v in {"name": "s", "since": since, "till": till}.items() if v is not ...}
    segment = sanitize_segment(doc, "s.json")
    assert (segment.since, segment.till) == expected


def test_segment_missing_lists_are_empty() -> None:
    assert sanitize_segment({"name": "s", "added": None}, "s.json") == SegmentFile(
        "s", [], [], -1, -1
    )


def test_segment_input_is_not_aliased() -> None:
    doc = {"name": "s", "added": ["a"]}
    sanitize_segment(doc, "s.json").added.append("b")
    assert doc["added"] == ["a"]


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        ([], "expected a JSON object"),
        ({}, "no 'name'"),
        ({"name": "  "}, "no 'name'"),
        ({"name": 3}, "no 'name'"),
        ({"name": "s", "added": "abc"}, "'added' must be a list of strings"),
        ({"name": "s", "removed": [1]}, "'removed' must be a list of strings"),
        ({"name": "s", "till": "9"}, "'till' must be an integer"),
    ],
)
def test_segment_malformed_documents_raise(doc: Any, fragment: str) -> None:
    with pytest.raises(LocalhostFileError) as info:
        sanitize_segment(doc, "/segs/s.json")
    assert info.value.path == "/segs/s.json"
    assert fragment in info.value.problem


def test_parse_segment_decodes_text() -> None:
    segment = parse_segment('{"name": "s", "added": ["k"], "till": 4}', "s.json")
    assert segment == SegmentFile("s", ["k"], [], 4, 4)
    with pytest.raises(LocalhostFileError, match="invalid JSON at line 1, column 1"):
        parse_segment("", "s.json")
