"""The evaluation algorithm of evaluation.md §3 (plus fallbacks §7), over in-memory snapshots.

Expected buckets come from the independent reference hashes in ``builders``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from splitio_async.engine.evaluator import EvaluationResult, Evaluator
from splitio_async.models.fallback import (
    Fallbacks,
    FallbackTreatment,
    FallbackTreatmentsConfiguration,
)

from .builders import (
    all_keys,
    condition,
    depends_on,
    flag_json,
    in_rbs,
    in_segment,
    matcher,
    rbs_json,
    ref_bucket_for,
    snapshot,
    whitelist,
)

SEED = 1234
TA_SEED = 4321


def run(
    flags: list[dict[str, Any]],
    name: str = "flag",
    key: str = "k",
    bucketing_key: str | None = None,
    attributes: dict[str, Any] | None = None,
    rbs: list[dict[str, Any]] | None = None,
    segments: dict[str, list[str]] | None = None,
    fallbacks: Fallbacks | None = None,
) -> EvaluationResult:
    snap = snapshot(flags, rbs or [], segments)
    return Evaluator(fallbacks).evaluate(key, bucketing_key, name, attributes, snap)


def find_key(predicate: Callable[[str], bool], prefix: str = "key") -> str:
    for i in range(100_000):
        candidate = f"{prefix}{i}"
        if predicate(candidate):
            return candidate
    raise AssertionError("no key found")


def fallbacks(global_treatment: Any = None, by_flag: dict[str, Any] | None = None) -> Fallbacks:
    return Fallbacks.from_config(FallbackTreatmentsConfiguration(global_treatment, by_flag))


def split_50_50(**fields: Any) -> dict[str, Any]:
    return flag_json(conditions=[condition([all_keys()], [("a", 50), ("b", 50)], "split")],
                     **fields)


# --- §3.1 top level ------------------------------------------------------------------------


def test_flag_not_found() -> None:
    """Missing flag → control, label 'definition not found', change number -1 (§3.1)."""
    result = run([], name="nope")
    assert result.treatment == "control"
    assert result.config is None
    assert result.label == "definition not found"
    assert result.change_number == -1
    assert result.found is False


def test_found_flag_reports_change_number_and_flags() -> None:
    """An existing flag reports its changeNumber and impressionsDisabled (§3.1)."""
    result = run([flag_json(changeNumber=1234567, impressionsDisabled=True)])
    assert result.found is True
    assert result.change_number == 1234567
    assert result.impressions_disabled is True
    assert run([flag_json()]).impressions_disabled is False


def test_condition_matched() -> None:
    """A matched condition yields its partition treatment and its label (§3.6)."""
    result = run([flag_json(conditions=[condition([all_keys()], [("on", 100)], "in segment x")])])
    assert (result.treatment, result.label) == ("on", "in segment x")


def test_no_condition_matched_is_default_rule() -> None:
    """Nothing matched → defaultTreatment with label 'default rule' (§3.2)."""
    result = run([flag_json(conditions=[condition([whitelist("other")], [("on", 100)], "wl")])])
    assert (result.treatment, result.label) == ("off", "default rule")


def test_no_conditions_is_default_rule() -> None:
    """A flag with no conditions → default rule."""
    result = run([flag_json(conditions=[])])
    assert (result.treatment, result.label) == ("off", "default rule")


def test_first_matching_condition_wins() -> None:
    """Conditions are evaluated in order; the first match wins (§3.2)."""
    flag = flag_json(conditions=[
        condition([whitelist("k")], [("first", 100)], "one", "WHITELIST"),
        condition([all_keys()], [("second", 100)], "two"),
    ])
    assert run([flag]).treatment == "first"
    assert run([flag], key="z").treatment == "second"


def test_matchers_are_anded() -> None:
    """All matchers of a condition must hold (§1.1)."""
    flag = flag_json(conditions=[
        condition([whitelist("k"), in_segment("s")], [("on", 100)], "both"),
    ])
    assert run([flag], segments={"s": ["k"]}).treatment == "on"
    assert run([flag], segments={"s": []}).treatment == "off"


def test_condition_label_null() -> None:
    """A matched condition with null label reports label None (§3.2)."""
    result = run([flag_json(conditions=[condition([all_keys()], [("on", 100)], None)])])
    assert (result.treatment, result.label) == ("on", None)


# --- killed ------------------------------------------------------------------------------


def test_killed_returns_default_with_its_config() -> None:
    """Killed → defaultTreatment, label killed, config of the default treatment (§3.1)."""
    flag = flag_json(killed=True, defaultTreatment="off",
                     configurations={"on": '{"c":"on"}', "off": '{"c":"off"}'})
    result = run([flag])
    assert (result.treatment, result.config, result.label) == ("off", '{"c":"off"}', "killed")
    assert result.change_number == 10


def test_killed_skips_prerequisites_and_allocation() -> None:
    """A killed flag skips prerequisites, allocation and conditions (§3.1)."""
    flag = flag_json(killed=True, trafficAllocation=0, prerequisites=[{"n": "x", "ts": ["on"]}])
    result = run([flag])
    assert (result.treatment, result.label) == ("off", "killed")


def test_killed_with_missing_allocation_seed_does_not_fail() -> None:
    """Killed flags never hash, so a missing trafficAllocationSeed is harmless (§3.1)."""
    flag = flag_json(killed=True, trafficAllocation=10)
    del flag["trafficAllocationSeed"]
    assert run([flag]).label == "killed"


def test_killed_control_default_goes_through_fallback() -> None:
    """A killed flag whose default is control is resolved by the fallback (§3.1, §7)."""
    flag = flag_json(killed=True, defaultTreatment="control")
    result = run([flag], fallbacks=fallbacks("fb"))
    assert (result.treatment, result.label) == ("fb", "fallback - killed")
    plain = run([flag])
    assert (plain.treatment, plain.label) == ("control", "killed")


# --- configurations ----------------------------------------------------------------------


def test_config_of_returned_treatment() -> None:
    """config = configurations[treatment] (§3.1)."""
    flag = flag_json(configurations={"on": '{"size": 10}'})
    assert run([flag]).config == '{"size": 10}'


def test_config_missing_entry_is_none() -> None:
    """No entry for the treatment → config None (§3.1)."""
    assert run([flag_json(configurations={"off": "{}"})]).config is None
    assert run([flag_json()]).config is None


def test_config_of_default_rule() -> None:
    """The default-rule treatment also reports its config (§3.1)."""
    flag = flag_json(conditions=[], configurations={"off": '"x"'})
    assert (run([flag]).treatment, run([flag]).config) == ("off", '"x"')


# --- prerequisites §3.3 ------------------------------------------------------------------


def _with_prereqs(*prereqs: tuple[str, list[str]], **fields: Any) -> dict[str, Any]:
    return flag_json(prerequisites=[{"n": n, "ts": ts} for n, ts in prereqs],
                     defaultTreatment="def", **fields)


def test_prerequisites_met() -> None:
    """All prerequisites give an allowed treatment → normal evaluation (§3.3)."""
    flags = [_with_prereqs(("p", ["on", "x"])), flag_json("p")]
    result = run(flags)
    assert (result.treatment, result.label) == ("on", "default rule")


def test_prerequisites_not_met() -> None:
    """A prerequisite outside its treatments → default, 'prerequisites not met' (§3.3)."""
    flags = [_with_prereqs(("p", ["off"]), configurations={"def": "cfg"}), flag_json("p")]
    result = run(flags)
    assert (result.treatment, result.config, result.label) == ("def", "cfg",
                                                               "prerequisites not met")


def test_prerequisites_all_must_hold() -> None:
    """Every prerequisite must be met, in order (§3.3)."""
    flags = [_with_prereqs(("p", ["on"]), ("q", ["on"])), flag_json("p"),
             flag_json("q", killed=True)]
    assert run(flags).label == "prerequisites not met"


def test_prerequisite_missing_flag_is_control() -> None:
    """A missing prerequisite evaluates to control and is compared with ts (§3.3)."""
    assert run([_with_prereqs(("gone", ["on"]))]).label == "prerequisites not met"
    assert run([_with_prereqs(("gone", ["control"]))]).treatment == "on"


def test_prerequisite_missing_flag_uses_fallback() -> None:
    """A missing prerequisite may evaluate to a fallback treatment (§3.3, §7)."""
    result = run([_with_prereqs(("gone", ["fb"]))], fallbacks=fallbacks("fb"))
    assert result.treatment == "on"


def test_prerequisite_chain() -> None:
    """Prerequisites are full evaluations, including their own prerequisites (§3.3)."""
    flags = [
        _with_prereqs(("p", ["on"])),
        flag_json("p", prerequisites=[{"n": "q", "ts": ["on"]}], defaultTreatment="p_def"),
        flag_json("q", killed=True),
    ]
    assert run(flags).label == "prerequisites not met"
    flags[2] = flag_json("q")
    assert run(flags).treatment == "on"


def test_prerequisite_uses_same_keys_and_attributes() -> None:
    """Prerequisite sub-evaluations get the same keys and attributes (§2)."""
    p = flag_json("p", conditions=[
        condition([whitelist("vip", attribute="tier")], [("on", 100)], "attr"),
    ])
    flags = [_with_prereqs(("p", ["on"])), p]
    assert run(flags, attributes={"tier": "vip"}).treatment == "on"
    assert run(flags, attributes={"tier": "std"}).label == "prerequisites not met"


def test_prerequisite_quirk_q1_control_default_keeps_evaluating() -> None:
    """Q1: prerequisites not met with default 'control' → conditions still evaluated (§3.1)."""
    flag = flag_json(prerequisites=[{"n": "gone", "ts": ["on"]}], defaultTreatment="control",
                     conditions=[condition([all_keys()], [("on", 100)], "rule")])
    result = run([flag])
    assert (result.treatment, result.label) == ("on", "rule")


def test_prerequisite_quirk_q1_nothing_matches() -> None:
    """Q1 with no matching condition: label overwritten with 'default rule' (§3.1)."""
    flag = flag_json(prerequisites=[{"n": "gone", "ts": ["on"]}], defaultTreatment="control",
                     conditions=[condition([whitelist("x")], [("on", 100)], "rule")])
    result = run([flag])
    assert (result.treatment, result.label) == ("control", "default rule")


def test_unsupported_flag_still_checks_prerequisites() -> None:
    """An unsupported-matcher flag with unmet prerequisites → 'prerequisites not met' (§3.5)."""
    flag = flag_json(prerequisites=[{"n": "gone", "ts": ["on"]}], defaultTreatment="def",
                     conditions=[condition([matcher("IN_LARGE_SEGMENT")], [("on", 100)])])
    result = run([flag])
    assert (result.treatment, result.label) == ("def", "prerequisites not met")


# --- traffic allocation §3.2 -------------------------------------------------------------


@pytest.mark.parametrize("algo", [1, 2])
def test_traffic_allocation_threshold(algo: int) -> None:
    """bucket(hash(bk, trafficAllocationSeed)) > allocation → 'not in split' (§3.2)."""
    for key in (f"user{i}" for i in range(40)):
        b = ref_bucket_for(key, TA_SEED, algo)
        inside = run([flag_json(trafficAllocation=b, algo=algo)], key=key)
        assert (inside.treatment, inside.label) == ("on", "default rule"), key
        outside = run([flag_json(trafficAllocation=b - 1, algo=algo)], key=key)
        assert (outside.treatment, outside.label) == ("off", "not in split"), key


def test_not_in_split_reports_default_config() -> None:
    """'not in split' returns the default treatment with its config (§3.1)."""
    result = run([flag_json(trafficAllocation=0, configurations={"off": "cfg-off"})])
    assert (result.treatment, result.config, result.label) == ("off", "cfg-off", "not in split")


def test_traffic_allocation_zero() -> None:
    """trafficAllocation 0 → every key reaching a ROLLOUT is 'not in split' (§3.2)."""
    for key in ("a", "b", "c", "d"):
        assert run([flag_json(trafficAllocation=0)], key=key).label == "not in split"


def test_traffic_allocation_uses_its_own_seed() -> None:
    """Allocation hashes with trafficAllocationSeed, not seed (§3.2)."""
    key = find_key(lambda k: ref_bucket_for(k, TA_SEED, 2) <= 30 < ref_bucket_for(k, SEED, 2))
    assert run([flag_json(trafficAllocation=30)], key=key).label == "default rule"
    key = find_key(lambda k: ref_bucket_for(k, SEED, 2) <= 30 < ref_bucket_for(k, TA_SEED, 2))
    assert run([flag_json(trafficAllocation=30)], key=key).label == "not in split"


def test_traffic_allocation_uses_bucketing_key() -> None:
    """Allocation hashes the bucketing key, not the matching key (§2)."""
    mk = find_key(lambda k: ref_bucket_for(k, TA_SEED, 2) > 50, "mk")
    bk = find_key(lambda k: ref_bucket_for(k, TA_SEED, 2) <= 50, "bk")
    assert run([flag_json(trafficAllocation=50)], key=mk).label == "not in split"
    assert run([flag_json(trafficAllocation=50)], key=mk, bucketing_key=bk).label == \
        "default rule"


def test_whitelist_before_rollout_skips_allocation() -> None:
    """WHITELIST conditions before the first ROLLOUT bypass allocation (§3.2)."""
    flag = flag_json(trafficAllocation=0, conditions=[
        condition([whitelist("vip")], [("vip_on", 100)], "whitelisted", "WHITELIST"),
        condition([all_keys()], [("on", 100)], "default rule"),
    ])
    assert run([flag], key="vip").treatment == "vip_on"
    assert run([flag], key="other").label == "not in split"


def test_whitelist_after_rollout_is_behind_allocation() -> None:
    """WHITELIST conditions after a ROLLOUT are only reached after the check (§3.2)."""
    flag = flag_json(trafficAllocation=0, conditions=[
        condition([whitelist("nobody")], [("r", 100)], "r", "ROLLOUT"),
        condition([whitelist("vip")], [("vip_on", 100)], "whitelisted", "WHITELIST"),
    ])
    assert run([flag], key="vip").label == "not in split"


def test_whitelist_after_rollout_evaluated_when_in_allocation() -> None:
    """With allocation passed, later WHITELIST conditions are evaluated normally (§3.2)."""
    flag = flag_json(trafficAllocation=100, conditions=[
        condition([whitelist("nobody")], [("r", 100)], "r", "ROLLOUT"),
        condition([whitelist("vip")], [("vip_on", 100)], "whitelisted", "WHITELIST"),
    ])
    assert run([flag], key="vip").treatment == "vip_on"


def test_allocation_checked_even_if_rollout_does_not_match() -> None:
    """The check happens right before the first ROLLOUT, even if it then fails (§3.2)."""
    flag = flag_json(trafficAllocation=0, conditions=[
        condition([whitelist("nobody")], [("on", 100)], "r", "ROLLOUT"),
    ])
    assert run([flag]).label == "not in split"


def test_no_rollout_condition_no_allocation_check() -> None:
    """Without any ROLLOUT condition, allocation never applies (§3.2)."""
    flag = flag_json(trafficAllocation=0, conditions=[
        condition([whitelist("nobody")], [("on", 100)], "w", "WHITELIST"),
    ])
    assert run([flag]).label == "default rule"


def test_missing_allocation_seed_with_partial_allocation_is_exception() -> None:
    """trafficAllocationSeed missing + allocation < 100 → control, 'exception' (§1, §3.6)."""
    flag = flag_json(trafficAllocation=50)
    del flag["trafficAllocationSeed"]
    result = run([flag])
    assert (result.treatment, result.label) == ("control", "exception")
    assert result.change_number is None


def test_missing_allocation_seed_with_full_allocation_is_fine() -> None:
    """allocation 100 never hashes, so a missing trafficAllocationSeed is harmless (§3.2)."""
    flag = flag_json(trafficAllocation=100)
    del flag["trafficAllocationSeed"]
    assert run([flag]).treatment == "on"


def test_missing_allocation_seed_whitelist_before_rollout() -> None:
    """A WHITELIST match before any ROLLOUT never reaches the failing allocation hash."""
    flag = flag_json(trafficAllocation=50, conditions=[
        condition([whitelist("k")], [("w", 100)], "w", "WHITELIST"),
        condition([all_keys()], [("on", 100)], "r"),
    ])
    del flag["trafficAllocationSeed"]
    assert run([flag]).treatment == "w"
    assert run([flag], key="z").label == "exception"


# --- splitter §3.4 -----------------------------------------------------------------------


@pytest.mark.parametrize("algo", [1, 2])
def test_splitter_partitions(algo: int) -> None:
    """Partition = first with cumulative size >= bucket(hash(bk, seed)) (§3.4)."""
    parts = [("a", 10), ("b", 20), ("c", 0), ("d", 70)]
    flag = flag_json(algo=algo, conditions=[condition([all_keys()], parts, "split")])
    for key in (f"u{i}" for i in range(300)):
        b = ref_bucket_for(key, SEED, algo)
        expected = "a" if b <= 10 else "b" if b <= 30 else "d"
        assert run([flag], key=key).treatment == expected, key


def test_splitter_sum_below_100_gives_control() -> None:
    """Sizes summing below the bucket → control with the condition label (§3.4)."""
    flag = flag_json(conditions=[condition([all_keys()], [("a", 30)], "partial")])
    high = find_key(lambda k: ref_bucket_for(k, SEED, 2) > 30)
    low = find_key(lambda k: ref_bucket_for(k, SEED, 2) <= 30)
    result = run([flag], key=high)
    assert (result.treatment, result.label) == ("control", "partial")
    assert run([flag], key=low).treatment == "a"


def test_splitter_empty_partitions_gives_control() -> None:
    """No partitions → control (§3.4)."""
    result = run([flag_json(conditions=[condition([all_keys()], [], "nothing")])])
    assert (result.treatment, result.label) == ("control", "nothing")


def test_splitter_single_full_partition() -> None:
    """A single 100% partition returns its treatment for every key (§3.4)."""
    flag = flag_json(conditions=[condition([all_keys()], [("only", 100)], "r")])
    assert {run([flag], key=f"k{i}").treatment for i in range(50)} == {"only"}


def test_splitter_zero_then_full() -> None:
    """A 0% partition never wins; the following 100% one always does (§3.4)."""
    flag = flag_json(conditions=[condition([all_keys()], [("zero", 0), ("all", 100)], "r")])
    assert {run([flag], key=f"k{i}").treatment for i in range(50)} == {"all"}


def test_splitter_boundary_bucket() -> None:
    """acc >= bucket: a key in bucket 50 lands in a 50% first partition (§3.4)."""
    key = find_key(lambda k: ref_bucket_for(k, SEED, 2) == 50)
    assert run([split_50_50()], key=key).treatment == "a"
    key = find_key(lambda k: ref_bucket_for(k, SEED, 2) == 51)
    assert run([split_50_50()], key=key).treatment == "b"


def test_splitter_uses_bucketing_key_and_matching_key_for_matchers() -> None:
    """Partition hashing uses the bucketing key; matchers use the matching key (§2)."""
    mk = find_key(lambda k: ref_bucket_for(k, SEED, 2) <= 50, "m")
    bk = find_key(lambda k: ref_bucket_for(k, SEED, 2) > 50, "b")
    flag = flag_json(conditions=[condition([whitelist(mk)], [("a", 50), ("b", 50)], "r")])
    assert run([flag], key=mk).treatment == "a"
    assert run([flag], key=mk, bucketing_key=bk).treatment == "b"
    assert run([flag], key=bk, bucketing_key=bk).label == "default rule"


def test_missing_algo_uses_legacy() -> None:
    """A flag without algo buckets with the legacy hash (§1, §5)."""
    key = find_key(lambda k: ref_bucket_for(k, SEED, 1) <= 50 < ref_bucket_for(k, SEED, 2))
    flag = split_50_50()
    del flag["algo"]
    assert run([flag], key=key).treatment == "a"
    assert run([split_50_50(algo=2)], key=key).treatment == "b"


@pytest.mark.parametrize("algo", [1, 2])
def test_negative_seed(algo: int) -> None:
    """Signed seeds hash like the spec's int32/u32 seed handling (§5)."""
    flag = split_50_50(seed=-123456789, algo=algo)
    for key in (f"n{i}" for i in range(100)):
        expected = "a" if ref_bucket_for(key, -123456789, algo) <= 50 else "b"
        assert run([flag], key=key).treatment == expected, key


def test_unicode_keys_bucket() -> None:
    """Non-ASCII keys bucket per §5 (UTF-8 murmur, UTF-16 legacy)."""
    for algo in (1, 2):
        flag = split_50_50(algo=algo)
        for key in ("ñandú", "漢字", "😀x", "a\U0001d11e"):
            expected = "a" if ref_bucket_for(key, SEED, algo) <= 50 else "b"
            assert run([flag], key=key).treatment == expected, (algo, key)


# --- segments and rule-based segments ----------------------------------------------------


def test_in_segment_condition() -> None:
    """IN_SEGMENT conditions read the snapshot's segment members (§4)."""
    flag = flag_json(conditions=[condition([in_segment("emp")], [("on", 100)], "in segment emp")])
    assert run([flag], key="e1", segments={"emp": ["e1"]}).label == "in segment emp"
    assert run([flag], key="e2", segments={"emp": ["e1"]}).label == "default rule"
    assert run([flag], key="e1").label == "default rule"


def test_rule_based_segment_condition() -> None:
    """IN_RULE_BASED_SEGMENT conditions use the snapshot's RBS (§4.2)."""
    rbs = rbs_json("r", [condition([whitelist("x")])], excluded_keys=["y"])
    flag = flag_json(conditions=[condition([in_rbs("r")], [("on", 100)], "in rbs")])
    assert run([flag], key="x", rbs=[rbs]).treatment == "on"
    assert run([flag], key="y", rbs=[rbs]).treatment == "off"


def test_missing_rule_based_segment_is_exception() -> None:
    """A flag naming an absent RBS → control with label 'exception' (§3.6, §4.2)."""
    flag = flag_json(conditions=[condition([in_rbs("absent")], [("on", 100)], "in rbs")])
    result = run([flag])
    assert (result.treatment, result.label, result.change_number) == ("control", "exception",
                                                                      None)


def test_missing_rule_based_segment_exception_with_fallback() -> None:
    """The exception result goes through the fallback (§7)."""
    flag = flag_json(conditions=[condition([in_rbs("absent")], [("on", 100)], "in rbs")])
    result = run([flag], fallbacks=fallbacks(FallbackTreatment("fb", "cfg")))
    assert (result.treatment, result.config, result.label) == ("fb", "cfg",
                                                               "fallback - exception")


def test_exception_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    """An evaluation failure is logged, never raised."""
    caplog.set_level(logging.ERROR)
    flag = flag_json(conditions=[condition([in_rbs("absent")], [("on", 100)], "in rbs")])
    run([flag])
    assert any(r.levelno >= logging.ERROR for r in caplog.records)


# --- dependencies ------------------------------------------------------------------------


def test_dependency_matcher() -> None:
    """IN_SPLIT_TREATMENT evaluates the other flag fully (§4)."""
    flags = [
        flag_json(conditions=[condition([depends_on("dep", "on")], [("yes", 100)], "dep")]),
        flag_json("dep", conditions=[condition([whitelist("k")], [("on", 100)], "w")]),
    ]
    assert run(flags, key="k").treatment == "yes"
    assert run(flags, key="z").treatment == "off"


def test_dependency_uses_bucketing_key() -> None:
    """The dependency is bucketed with the same bucketing key (§2)."""
    mk = "same-mk"
    bk_a = find_key(lambda k: ref_bucket_for(k, SEED, 2) <= 50, "a")
    bk_b = find_key(lambda k: ref_bucket_for(k, SEED, 2) > 50, "b")
    flags = [
        flag_json(conditions=[condition([depends_on("dep", "a")], [("yes", 100)], "dep")]),
        split_50_50(name="dep"),
    ]
    assert run(flags, key=mk, bucketing_key=bk_a).treatment == "yes"
    assert run(flags, key=mk, bucketing_key=bk_b).treatment == "off"


def test_dependency_on_missing_flag_matches_fallback() -> None:
    """A missing dependency evaluates to the fallback treatment (§4, §7)."""
    flags = [flag_json(conditions=[condition([depends_on("gone", "fb")], [("yes", 100)], "d")])]
    assert run(flags).treatment == "off"
    assert run(flags, fallbacks=fallbacks("fb")).treatment == "yes"
    assert run(flags, fallbacks=fallbacks(None, {"gone": "fb"})).treatment == "yes"


def test_dependency_cycle_is_exception() -> None:
    """A → B → A never crashes: control with label 'exception' (§6)."""
    flags = [
        flag_json("a", conditions=[condition([depends_on("b", "on")], [("on", 100)], "x")]),
        flag_json("b", conditions=[condition([depends_on("a", "on")], [("on", 100)], "x")]),
    ]
    result = run(flags, name="a")
    assert (result.treatment, result.label) == ("control", "exception")


def test_self_dependency_is_exception() -> None:
    """A flag depending on itself → exception (§6)."""
    flags = [flag_json("a", conditions=[condition([depends_on("a", "on")], [("on", 100)])])]
    assert run(flags, name="a").label == "exception"


def test_prerequisite_cycle_is_exception() -> None:
    """A prerequisite loop → exception, never a crash (§6)."""
    flags = [
        flag_json("a", prerequisites=[{"n": "b", "ts": ["on"]}]),
        flag_json("b", prerequisites=[{"n": "a", "ts": ["on"]}]),
    ]
    result = run(flags, name="a")
    assert (result.treatment, result.label) == ("control", "exception")


def test_cycle_does_not_poison_later_evaluations() -> None:
    """After a cycle, the same evaluator still evaluates other flags normally."""
    flags = [
        flag_json("a", conditions=[condition([depends_on("a", "on")], [("on", 100)])]),
        flag_json("ok"),
    ]
    snap = snapshot(flags)
    evaluator = Evaluator()
    assert evaluator.evaluate("k", None, "a", None, snap).label == "exception"
    assert evaluator.evaluate("k", None, "ok", None, snap).treatment == "on"


# --- fallbacks §7 ------------------------------------------------------------------------


def test_fallback_global_for_missing_flag() -> None:
    """Global fallback for a missing flag: label 'fallback - definition not found' (§7)."""
    result = run([], name="nope", fallbacks=fallbacks(FallbackTreatment("fb", '{"a":1}')))
    assert (result.treatment, result.config, result.label) == (
        "fb", '{"a":1}', "fallback - definition not found")
    assert result.found is False


def test_fallback_by_flag_beats_global() -> None:
    """A by-flag entry wins over the global one (§7)."""
    fb = fallbacks("global", {"nope": FallbackTreatment("mine", "c")})
    result = run([], name="nope", fallbacks=fb)
    assert (result.treatment, result.config) == ("mine", "c")
    other = run([], name="other", fallbacks=fb)
    assert (other.treatment, other.config) == ("global", None)


def test_fallback_for_existing_flag_evaluating_to_control() -> None:
    """An existing flag that yields control goes through the fallback (§3.1, §7)."""
    flag = flag_json(conditions=[condition([all_keys()], [], "no partitions")],
                     configurations={"control": "ctl-config"})
    result = run([flag], fallbacks=fallbacks("fb"))
    assert (result.treatment, result.config, result.label) == ("fb", None,
                                                               "fallback - no partitions")
    assert result.change_number == 10


def test_no_fallback_keeps_control_and_label() -> None:
    """Without fallbacks, control and the raw label are returned (§7 step 3)."""
    flag = flag_json(conditions=[condition([all_keys()], [], "no partitions")])
    result = run([flag])
    assert (result.treatment, result.config, result.label) == ("control", None, "no partitions")


def test_fallback_label_none_stays_none() -> None:
    """A None label stays None after fallback resolution (§7)."""
    flag = flag_json(conditions=[condition([all_keys()], [], None)])
    result = run([flag], fallbacks=fallbacks("fb"))
    assert (result.treatment, result.label) == ("fb", None)


def test_fallback_for_unsupported_flag() -> None:
    """The unsupported template's control is resolved by the fallback (§3.5)."""
    flag = flag_json(conditions=[condition([matcher("NOPE")], [("on", 100)])])
    result = run([flag], fallbacks=fallbacks("fb"))
    assert (result.treatment, result.label) == (
        "fb", "fallback - targeting rule type unsupported by sdk")


def test_fallback_not_applied_to_non_control() -> None:
    """A real treatment is never replaced by the fallback (§7)."""
    assert run([flag_json()], fallbacks=fallbacks("fb")).treatment == "on"


def test_failed_result_uses_fallback() -> None:
    """Evaluator.failed (not ready / exception) resolves fallbacks (§7)."""
    evaluator = Evaluator(fallbacks("fb"))
    result = evaluator.failed("f", "not ready")
    assert (result.treatment, result.label, result.change_number) == (
        "fb", "fallback - not ready", None)
    plain = Evaluator().failed("f", "not ready")
    assert (plain.treatment, plain.label) == ("control", "not ready")


def test_fallback_config_global_string_converted() -> None:
    """A plain string fallback becomes FallbackTreatment(str) (§7)."""
    fb = fallbacks("on_fb")
    assert fb.resolve("x", "l") == ("on_fb", None, "fallback - l")


@pytest.mark.parametrize(
    ("treatment", "message"),
    [
        ("bad treatment", "Config: Fallback treatment should match regex"),
        ("-x", "Config: Fallback treatment should match regex"),
        ("a" * 101, "Config: Fallback treatment size should not exceed 100 characters"),
        (FallbackTreatment(5), "Config: Fallback treatment value should be str type"),  # type: ignore[arg-type]
        (5, "Config: Fallback treatment instance should be FallbackTreatment"),
    ],
)
def test_fallback_config_invalid_global(
    treatment: Any, message: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Invalid global fallbacks are discarded with the §7 warnings."""
    fb = fallbacks(treatment)
    assert fb.resolve("f", "l") == ("control", None, "l")
    assert message in caplog.text
    assert "Config: global fallbacktreatment parameter is discarded." in caplog.text


@pytest.mark.parametrize("treatment", ["on", "ON_1", "1.5", "1abc", "a-b_c", "a" * 100])
def test_fallback_config_valid_treatments(treatment: str) -> None:
    """Treatments matching the §7 regex and ≤ 100 chars are kept."""
    assert fallbacks(treatment).resolve("f", "l")[0] == treatment


def test_fallback_config_invalid_flag_name_discarded(caplog: pytest.LogCaptureFixture) -> None:
    """By-flag keys must match the treatment regex, else the entry is discarded (§7)."""
    fb = fallbacks(None, {"bad name": "on", "good": "on", "other": "bad value"})
    assert fb.resolve("bad name", "l")[0] == "control"
    assert fb.resolve("good", "l")[0] == "on"
    assert fb.resolve("other", "l")[0] == "control"
    assert "Config: fallback treatment parameter for feature flag bad name is discarded." in \
        caplog.text
    assert "Config: fallback treatment parameter for feature flag other is discarded." in \
        caplog.text


def test_fallback_config_not_a_configuration(caplog: pytest.LogCaptureFixture) -> None:
    """A non-FallbackTreatmentsConfiguration is discarded with a warning (§7)."""
    fb = Fallbacks.from_config({"global": "on"})
    assert fb.resolve("f", "l") == ("control", None, "l")
    assert any(r.levelno == logging.WARNING for r in caplog.records)


# --- evaluate_many -----------------------------------------------------------------------


def test_evaluate_many_in_order() -> None:
    """evaluate_many returns one result per requested flag, in order."""
    snap = snapshot([flag_json("a"), flag_json("b", killed=True)])
    results = Evaluator().evaluate_many("k", None, ["b", "missing", "a"], None, snap)
    assert [(r.treatment, r.label) for r in results] == [
        ("off", "killed"), ("control", "definition not found"), ("on", "default rule")]
    assert [r.found for r in results] == [True, False, True]


def test_evaluate_many_fails_as_a_whole() -> None:
    """One flag raising fails every flag of the call: control / 'exception' (§3.6)."""
    bad = flag_json("bad", conditions=[condition([in_rbs("absent")], [("on", 100)])])
    snap = snapshot([flag_json("good"), bad])
    results = Evaluator().evaluate_many("k", None, ["good", "bad"], None, snap)
    assert [(r.treatment, r.label, r.change_number) for r in results] == [
        ("control", "exception", None), ("control", "exception", None)]


def test_evaluate_many_failure_uses_fallbacks() -> None:
    """The whole-call failure resolves fallbacks per flag (§7)."""
    bad = flag_json("bad", conditions=[condition([in_rbs("absent")], [("on", 100)])])
    snap = snapshot([flag_json("good"), bad])
    evaluator = Evaluator(fallbacks("g", {"bad": "b"}))
    results = evaluator.evaluate_many("k", None, ["good", "bad"], None, snap)
    assert [(r.treatment, r.label) for r in results] == [
        ("g", "fallback - exception"), ("b", "fallback - exception")]


def test_evaluate_many_uses_bucketing_key() -> None:
    """evaluate_many hashes with the bucketing key like evaluate (§2)."""
    bk = find_key(lambda k: ref_bucket_for(k, SEED, 2) > 50, "bk")
    snap = snapshot([split_50_50()])
    (result,) = Evaluator().evaluate_many("k", bk, ["flag"], None, snap)
    assert result.treatment == "b"


def test_evaluate_many_cycle_fails_all() -> None:
    """A cycle in one flag fails the whole multi-flag call (§6, §3.6)."""
    flags = [
        flag_json("a", conditions=[condition([depends_on("a", "on")], [("on", 100)])]),
        flag_json("ok"),
    ]
    results = Evaluator().evaluate_many("k", None, ["ok", "a"], None, snapshot(flags))
    assert {r.label for r in results} == {"exception"}


def test_evaluator_reused_across_snapshots() -> None:
    """One evaluator evaluates whichever snapshot it is given."""
    evaluator = Evaluator()
    first = snapshot([flag_json(killed=True)])
    second = snapshot([flag_json()])
    assert evaluator.evaluate("k", None, "flag", None, first).label == "killed"
    assert evaluator.evaluate("k", None, "flag", None, second).label == "default rule"
    assert evaluator.evaluate("k", None, "flag", None, first).label == "killed"
