"""Flag and rule-based segment JSON parsing: defaults (§1) and degradation (§3.5)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from splitio_async.engine.evaluator import Evaluator
from splitio_async.models.conditions import Partition
from splitio_async.models.matchers.keys import AllKeys
from splitio_async.models.rule_based_segments import parse_rule_based_segment
from splitio_async.models.splits import parse_split

from .builders import (
    all_keys,
    condition,
    depends_on,
    flag_json,
    in_rbs,
    in_segment,
    matcher,
    rbs_json,
    snapshot,
    whitelist,
)

UNSUPPORTED = "targeting rule type unsupported by sdk"


def _without(raw: dict[str, Any], field: str) -> dict[str, Any]:
    copied = copy.deepcopy(raw)
    del copied[field]
    return copied


# --- §1 defaults -------------------------------------------------------------------------


def test_required_fields_parsed() -> None:
    """name, trafficTypeName, killed, defaultTreatment, changeNumber are read as given (§1)."""
    split = parse_split(flag_json("f", killed=True, defaultTreatment="d", changeNumber=77,
                                  trafficTypeName="account"))
    assert split.name == "f"
    assert split.traffic_type == "account"
    assert split.killed is True
    assert split.default_treatment == "d"
    assert split.change_number == 77


@pytest.mark.parametrize(
    ("value", "expected"), [(0, 0), (1, 1), (50, 50), (100, 100), (-1, 100), (101, 100),
                            (1000, 100), (None, 100)]
)
def test_traffic_allocation_range(value: Any, expected: int) -> None:
    """trafficAllocation outside 0..100 (or null) → 100 (§1)."""
    assert parse_split(flag_json(trafficAllocation=value)).traffic_allocation == expected


def test_traffic_allocation_missing() -> None:
    """A missing trafficAllocation → 100 (§1)."""
    assert parse_split(_without(flag_json(), "trafficAllocation")).traffic_allocation == 100


def test_traffic_allocation_seed_missing_is_none() -> None:
    """A missing trafficAllocationSeed → None (§1)."""
    assert parse_split(_without(flag_json(), "trafficAllocationSeed")).traffic_allocation_seed \
        is None


@pytest.mark.parametrize(("algo", "expected"), [(1, 1), (2, 2), (3, 1), (0, 1), (None, 1),
                                                ("2", 1)])
def test_algo(algo: Any, expected: int) -> None:
    """algo 2 = murmur, anything else = legacy (1) (§1)."""
    assert parse_split(flag_json(algo=algo)).algo == expected


def test_algo_missing_is_legacy() -> None:
    """A missing algo → legacy (§1)."""
    assert parse_split(_without(flag_json(), "algo")).algo == 1


@pytest.mark.parametrize(("status", "active"), [("ACTIVE", True), ("ARCHIVED", False),
                                                ("active", False), ("", False), (None, False)])
def test_status(status: Any, active: bool) -> None:
    """Only the exact ACTIVE status is active; any other value is ARCHIVED (§1)."""
    assert parse_split(flag_json(status=status)).active is active


def test_configurations_missing_is_empty() -> None:
    """A missing configurations object → none (§1)."""
    assert "configurations" not in flag_json()
    assert not parse_split(flag_json()).configurations
    assert not parse_split(flag_json(configurations=None)).configurations


def test_configurations_kept_verbatim() -> None:
    """Configuration values are JSON text returned verbatim (§1)."""
    configs = {"on": '{"color": "blue"}', "off": None}
    assert parse_split(flag_json(configurations=configs)).configurations == configs


def test_sets_default_and_value() -> None:
    """sets missing → empty set; given → a set of strings (§1)."""
    assert parse_split(flag_json()).sets == frozenset()
    assert parse_split(flag_json(sets=["a", "b", "a"])).sets == {"a", "b"}


@pytest.mark.parametrize(("value", "expected"), [(True, True), (False, False), (None, False)])
def test_impressions_disabled(value: Any, expected: bool) -> None:
    """impressionsDisabled missing/null → false (§1)."""
    assert parse_split(flag_json(impressionsDisabled=value)).impressions_disabled is expected
    assert parse_split(flag_json()).impressions_disabled is False


def test_prerequisites_default_and_value() -> None:
    """prerequisites missing/null → []; entries keep name and treatments (§1)."""
    assert parse_split(flag_json()).prerequisites == ()
    assert parse_split(flag_json(prerequisites=None)).prerequisites == ()
    prereqs = parse_split(flag_json(prerequisites=[{"n": "p", "ts": ["on", "x"]}])).prerequisites
    assert [(p.feature_flag_name, set(p.treatments)) for p in prereqs] == [("p", {"on", "x"})]


def test_unknown_fields_ignored() -> None:
    """Unknown extra fields (orgId, environment, ...) are ignored (§1)."""
    split = parse_split(flag_json(orgId="o", environment="e", trafficTypeId="t"))
    assert split.name == "flag"


def test_condition_type_missing_is_whitelist() -> None:
    """A condition without conditionType is WHITELIST (§1.1)."""
    raw = flag_json(conditions=[condition([all_keys()], [("on", 100)], condition_type=None)])
    assert parse_split(raw).conditions[0].is_rollout is False


def test_condition_label_missing_is_none() -> None:
    """A condition without label has label None (§1.1)."""
    cond = condition([all_keys()], [("on", 100)])
    del cond["label"]
    assert parse_split(flag_json(conditions=[cond])).conditions[0].label is None


def test_partitions_missing_or_null_is_empty() -> None:
    """partitions missing/null → [] (§1.1)."""
    cond = condition([all_keys()])
    cond["partitions"] = None
    cond2 = condition([all_keys()])
    del cond2["partitions"]
    split = parse_split(flag_json(conditions=[cond, cond2]))
    assert split.conditions[0].partitions == ()
    assert split.conditions[1].partitions == ()


def test_partitions_in_order() -> None:
    """Partitions keep their order and sizes (§1.1)."""
    split = parse_split(flag_json(conditions=[condition([all_keys()], [("a", 30), ("b", 70)])]))
    assert split.conditions[0].partitions == (Partition("a", 30), Partition("b", 70))


def test_segment_and_dependency_references() -> None:
    """A flag exposes the segments, RBSs and flags it reads (§6 context)."""
    split = parse_split(flag_json(
        conditions=[condition([in_segment("s1")], [("on", 100)]),
                    condition([in_rbs("r1"), depends_on("d1", "on")], [("on", 100)])],
        prerequisites=[{"n": "p1", "ts": ["on"]}],
    ))
    assert split.segment_names == {"s1"}
    assert split.rule_based_segment_names == {"r1"}
    assert split.dependency_names == {"d1", "p1"}


# --- §3.5 degradation --------------------------------------------------------------------


def _assert_template(raw: dict[str, Any]) -> None:
    split = parse_split(raw)
    assert len(split.conditions) == 1
    (cond,) = split.conditions
    assert cond.is_rollout is True
    assert cond.label == UNSUPPORTED
    assert cond.partitions == (Partition("control", 100),)
    assert len(cond.matchers) == 1
    assert type(cond.matchers[0]) is AllKeys
    assert cond.matchers[0].negate is False
    result = Evaluator().evaluate("k", None, raw["name"], None, snapshot([raw]))
    assert (result.treatment, result.label) == ("control", UNSUPPORTED)
    assert result.change_number == raw["changeNumber"]


def _bad_flag(bad_condition: dict[str, Any]) -> dict[str, Any]:
    return flag_json(
        "bad",
        conditions=[condition([whitelist("k")], [("on", 100)], "ok"), bad_condition],
        changeNumber=33,
    )


def test_unknown_matcher_type_uses_template(caplog: pytest.LogCaptureFixture) -> None:
    """Unknown matcherType → all conditions replaced by the template, error logged (§3.5)."""
    raw = _bad_flag(condition([matcher("IN_LARGE_SEGMENT",
                                       userDefinedLargeSegmentMatcherData={
                                           "largeSegmentName": "x"})], [("on", 100)]))
    _assert_template(raw)
    assert "Invalid matcher type IN_LARGE_SEGMENT" in caplog.text


def test_bad_regex_uses_template() -> None:
    """A MATCHES_STRING with an invalid regex degrades the flag to the template (§3.5)."""
    _assert_template(_bad_flag(condition(
        [matcher("MATCHES_STRING", stringMatcherData="(unclosed")], [("on", 100)])))


@pytest.mark.parametrize("size", [101, -1, "50", None, True])
def test_bad_partition_size_uses_template(size: Any) -> None:
    """A partition size outside 0..100 (or not an int) degrades the flag (§1.1, §3.5)."""
    cond = condition([all_keys()], [("on", 100)])
    cond["partitions"][0]["size"] = size
    _assert_template(_bad_flag(cond))


def test_missing_negate_uses_template() -> None:
    """A matcher without negate degrades the flag (§1.2, §3.5)."""
    bad = all_keys()
    del bad["negate"]
    _assert_template(_bad_flag(condition([bad], [("on", 100)])))


@pytest.mark.parametrize("combiner", ["OR", "and", None])
def test_unknown_combiner_uses_template(combiner: Any) -> None:
    """A combiner other than AND degrades the flag (§1.1, §3.5)."""
    cond = condition([all_keys()], [("on", 100)])
    cond["matcherGroup"]["combiner"] = combiner
    _assert_template(_bad_flag(cond))


def test_missing_combiner_uses_template() -> None:
    """A matcherGroup without combiner degrades the flag (§1.1 required)."""
    cond = condition([all_keys()], [("on", 100)])
    del cond["matcherGroup"]["combiner"]
    _assert_template(_bad_flag(cond))


@pytest.mark.parametrize("condition_type", ["FOO", "rollout", ""])
def test_unknown_condition_type_uses_template(condition_type: str) -> None:
    """A conditionType other than WHITELIST/ROLLOUT degrades the flag (§1.1, §3.5)."""
    _assert_template(_bad_flag(condition([all_keys()], [("on", 100)],
                                         condition_type=condition_type)))


def test_unknown_data_type_uses_template() -> None:
    """An unknown numeric dataType degrades the flag (§3.5)."""
    bad = matcher("EQUAL_TO", unaryNumericMatcherData={"dataType": "TEXT", "value": 1})
    _assert_template(_bad_flag(condition([bad], [("on", 100)])))


def test_template_keeps_other_fields() -> None:
    """Degrading replaces only the conditions: kill, default, configs stay (§3.5)."""
    raw = _bad_flag(condition([matcher("NOPE")], [("on", 100)]))
    raw.update(killed=True, defaultTreatment="dflt", configurations={"dflt": "{}"})
    split = parse_split(raw)
    assert split.killed is True
    assert split.default_treatment == "dflt"
    result = Evaluator().evaluate("k", None, "bad", None, snapshot([raw]))
    assert (result.treatment, result.config, result.label) == ("dflt", "{}", "killed")


def test_template_obeys_traffic_allocation() -> None:
    """The template is a ROLLOUT condition, so trafficAllocation still applies (§3.5)."""
    raw = _bad_flag(condition([matcher("NOPE")], [("on", 100)]))
    raw["trafficAllocation"] = 0
    result = Evaluator().evaluate("k", None, "bad", None, snapshot([raw]))
    assert (result.treatment, result.label) == ("off", "not in split")


def test_degraded_flag_does_not_affect_others() -> None:
    """Other flags of the same page keep working (§3.5 recommendation)."""
    bad = _bad_flag(condition([matcher("NOPE")], [("on", 100)]))
    good = flag_json("good")
    snap = snapshot([bad, good])
    assert Evaluator().evaluate("k", None, "good", None, snap).treatment == "on"


def test_flag_without_name_is_rejected() -> None:
    """A flag needs a name to be stored at all."""
    with pytest.raises(ValueError):
        parse_split(_without(flag_json(), "name"))


def test_empty_matcher_list_matches_everybody() -> None:
    """matcherGroup.matchers [] → all([]) = true (§1.1)."""
    raw = flag_json(conditions=[condition([], [("on", 100)], "empty")])
    result = Evaluator().evaluate("anyone", None, "flag", None, snapshot([raw]))
    assert (result.treatment, result.label) == ("on", "empty")


# --- rule-based segments (§1.4) ----------------------------------------------------------


def test_rbs_fields() -> None:
    """name, trafficTypeName, changeNumber, status, excluded keys/segments are read (§1.4)."""
    rbs = parse_rule_based_segment(rbs_json(
        "r", [condition([all_keys()])], excluded_keys=["a", "b"],
        excluded_segments=[{"name": "s", "type": "standard"}, {"name": "q", "type": "rule-based"},
                           {"name": "l", "type": "large"}, {"name": "n"}],
        changeNumber=9, trafficTypeName="account",
    ))
    assert rbs.name == "r"
    assert rbs.traffic_type == "account"
    assert rbs.change_number == 9
    assert rbs.active is True
    assert rbs.excluded_keys == {"a", "b"}
    assert rbs.segment_names == {"s", "l", "n"}
    assert rbs.rule_based_segment_names == {"q"}


@pytest.mark.parametrize("excluded", [None, {}, {"keys": None, "segments": None}])
def test_rbs_excluded_null_or_missing(excluded: Any) -> None:
    """excluded null/missing keys/segments → [] (§1.4)."""
    raw = rbs_json("r", [condition([all_keys()])])
    raw["excluded"] = excluded
    rbs = parse_rule_based_segment(raw)
    assert rbs.excluded_keys == frozenset()
    assert rbs.excluded_segments == ()


@pytest.mark.parametrize("status", ["ARCHIVED", "other", None])
def test_rbs_status_not_active(status: Any) -> None:
    """Any status other than ACTIVE → archived (§1.4)."""
    assert parse_rule_based_segment(rbs_json("r", status=status)).active is False


def test_rbs_unknown_matcher_matches_all_non_excluded() -> None:
    """An RBS with an unknown matcher gets the template: matches everybody not excluded (§1.4)."""
    rbs = rbs_json("r", [condition([matcher("IN_LARGE_SEGMENT")])], excluded_keys=["x"])
    flag = flag_json(conditions=[condition([in_rbs("r")], [("on", 100)], "in rbs")])
    snap = snapshot([flag], rbs=[rbs])
    assert Evaluator().evaluate("y", None, "flag", None, snap).treatment == "on"
    assert Evaluator().evaluate("x", None, "flag", None, snap).treatment == "off"


def test_rbs_bad_regex_uses_template() -> None:
    """An RBS with an invalid regex gets the template instead of failing to parse (§3.5)."""
    raw = rbs_json("r", [condition([matcher("MATCHES_STRING", stringMatcherData="[")])])
    rbs = parse_rule_based_segment(raw)
    assert len(rbs.conditions) == 1
    assert rbs.conditions[0].label == UNSUPPORTED


def test_rbs_partitions_and_condition_type_irrelevant() -> None:
    """RBS conditions match on matchers alone; partitions/conditionType don't matter (§1.4)."""
    rbs = rbs_json("r", [condition([whitelist("k")], [("off", 100)], condition_type="WHITELIST")])
    flag = flag_json(conditions=[condition([in_rbs("r")], [("on", 100)], "in rbs")])
    result = Evaluator().evaluate("k", None, "flag", None, snapshot([flag], rbs=[rbs]))
    assert (result.treatment, result.label) == ("on", "in rbs")
