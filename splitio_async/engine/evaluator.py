"""The evaluation algorithm, in the official SDK's exact order (spec: evaluation.md §3).

``Evaluator.evaluate`` reads flags, rule-based segments and segment memberships only through an
``EvaluationData`` (the in-memory snapshot, or what Redis mode gathered in one round trip), so the
same code serves every storage mode. It never raises for bad data: a failure inside the evaluation
(a missing rule-based segment, a dependency cycle) yields ``control`` with the ``exception`` label.

``trace``: ``evaluate`` optionally appends what it did to a list (``engine/explain.py`` formats it),
on the same code path; with ``None`` (every client call) it costs one ``is not None`` test per
decision. The steps, as tuples: ``("prerequisite", Prerequisite, treatment, met)``,
``("allocation", bucket)`` (only when the traffic allocation is below 100),
``("no_match", Condition, failing Matcher)`` and ``("match", Condition, bucket)`` (the bucket is
None when the matched condition's partitions needed no hashing).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol

from ..models import labels
from ..models.fallback import Fallbacks
from ..models.matchers import Attributes
from ..models.rule_based_segments import RuleBasedSegment
from ..models.splits import MURMUR, Split
from .hashing import bucket_for
from .hashing import mmh3_hash as _murmur

_LOGGER = logging.getLogger("splitio_async.evaluator")

CONTROL = "control"

Trace = list[tuple[Any, ...]]


class EvaluationData(Protocol):
    """The read side an evaluation needs."""

    @property
    def flags(self) -> Mapping[str, Split]: ...

    def in_segment(self, segment_name: str, key: str) -> bool: ...

    def rule_based_segment(self, name: str) -> RuleBasedSegment | None: ...


class EvaluationResult(NamedTuple):
    treatment: str
    config: str | None
    label: str | None
    change_number: int | None
    impressions_disabled: bool
    found: bool  # False: the flag does not exist (no impression is recorded)


_new_result = tuple.__new__  # skips NamedTuple's Python-level __new__ on the hot path


class _Scope:
    """The data and the evaluator, as matchers see them. Stateless, so one serves every
    evaluation on the same data (flags that depend on each other in a loop end in a
    RecursionError, reported as the ``exception`` label as in the official SDK)."""

    __slots__ = ("data", "evaluator")

    def __init__(self, evaluator: Evaluator, data: EvaluationData) -> None:
        self.evaluator = evaluator
        self.data = data

    def in_segment(self, segment_name: str, key: str) -> bool:
        return self.data.in_segment(segment_name, key)

    def rule_based_segment(self, name: str) -> RuleBasedSegment | None:
        return self.data.rule_based_segment(name)

    def treatment_of(
        self, flag_name: str, matching_key: str, bucketing_key: str, attributes: Attributes | None
    ) -> str:
        return self.evaluator._evaluate(
            matching_key, bucketing_key, flag_name, attributes, self
        ).treatment


class Evaluator:
    """Evaluates flags; holds only the configured fallback treatments."""

    __slots__ = ("_last_scope", "fallbacks")

    def __init__(self, fallbacks: Fallbacks | None = None) -> None:
        self.fallbacks = fallbacks or Fallbacks()
        self._last_scope: _Scope | None = None

    def _scope(self, data: EvaluationData) -> _Scope:
        """The scope of ``data``, reused while the data stays the same (one attribute swap, so
        threads racing here at worst build an equivalent scope twice)."""
        scope = self._last_scope
        if scope is None or scope.data is not data:
            scope = self._last_scope = _Scope(self, data)
        return scope

    def evaluate(
        self,
        matching_key: str,
        bucketing_key: str | None,
        flag_name: str,
        attributes: Attributes | None,
        data: EvaluationData,
        trace: Trace | None = None,
    ) -> EvaluationResult:
        """Evaluate one flag; never raises. ``trace``: see the module docstring."""
        scope = self._last_scope
        if scope is None or scope.data is not data:
            scope = self._scope(data)
        try:
            return self._evaluate(
                matching_key, bucketing_key or matching_key, flag_name, attributes, scope, trace
            )
        except Exception as exc:
            _LOGGER.error("Error getting treatment for feature flag %s: %r", flag_name, exc)
            return self.failed(flag_name, labels.EXCEPTION)

    def evaluate_many(
        self,
        matching_key: str,
        bucketing_key: str | None,
        flag_names: list[str],
        attributes: Attributes | None,
        data: EvaluationData,
    ) -> list[EvaluationResult]:
        """Evaluate several flags in one context. As in the official SDK, a failure in any of
        them fails the whole call: every flag gets ``control`` with the ``exception`` label."""
        scope = self._scope(data)
        bk = bucketing_key or matching_key
        try:
            return [
                self._evaluate(matching_key, bk, name, attributes, scope) for name in flag_names
            ]
        except Exception as exc:
            _LOGGER.error("Error getting treatment for feature flags %s: %r", flag_names, exc)
            return [self.failed(name, labels.EXCEPTION) for name in flag_names]

    def failed(self, flag_name: str, label: str) -> EvaluationResult:
        """The result for a flag that could not be evaluated (not ready, exception)."""
        treatment, config, resolved = self.fallbacks.resolve(flag_name, label)
        return EvaluationResult(treatment, config, resolved, None, False, True)

    def _evaluate(
        self,
        mk: str,
        bk: str,
        flag_name: str,
        attributes: Attributes | None,
        scope: _Scope,
        trace: Trace | None = None,
    ) -> EvaluationResult:
        split = scope.data.flags.get(flag_name)
        if split is None:
            missing = self.fallbacks.resolve(flag_name, labels.DEFINITION_NOT_FOUND)
            return EvaluationResult(missing[0], missing[1], missing[2], -1, False, False)
        treatment = CONTROL
        label: str | None = ""
        if split.killed:
            treatment, label = split.default_treatment, labels.KILLED
        else:
            if split.prerequisites and not self._prerequisites_met(
                split, mk, bk, attributes, scope, trace
            ):
                treatment, label = split.default_treatment, labels.PREREQUISITES_NOT_MET
            if treatment == CONTROL:  # official quirk Q1: a "control" default keeps evaluating
                treatment, label = _treatment_for(split, mk, bk, attributes, scope, trace)
        config: str | None
        if treatment == CONTROL:
            treatment, config, label = self.fallbacks.resolve(flag_name, label)
        else:
            config = split.configurations.get(treatment) if split.configurations else None
        return _new_result(
            EvaluationResult,
            (treatment, config, label, split.change_number, split.impressions_disabled, True),
        )

    def _prerequisites_met(
        self,
        split: Split,
        mk: str,
        bk: str,
        attributes: Attributes | None,
        scope: _Scope,
        trace: Trace | None = None,
    ) -> bool:
        for prerequisite in split.prerequisites:
            treatment = scope.treatment_of(prerequisite.feature_flag_name, mk, bk, attributes)
            met = treatment in prerequisite.treatments
            if trace is not None:
                trace.append(("prerequisite", prerequisite, treatment, met))
            if not met:
                return False
        return True


def _treatment_for(
    split: Split,
    mk: str,
    bk: str,
    attributes: Attributes | None,
    ctx: Any,
    trace: Trace | None = None,
) -> tuple[str, str | None]:
    """Walk the conditions; the traffic-allocation check happens once, at the first ROLLOUT."""
    in_rollout = False
    for condition in split.conditions:
        if not in_rollout and condition.is_rollout:
            if split.traffic_allocation < 100:
                seed = split.traffic_allocation_seed
                if seed is None:
                    raise ValueError(f"{split.name} has no trafficAllocationSeed")
                allocation_bucket = bucket_for(bk, seed, split.algo)
                if trace is not None:
                    trace.append(("allocation", allocation_bucket))
                if allocation_bucket > split.traffic_allocation:
                    return split.default_treatment, labels.NOT_IN_SPLIT
            in_rollout = True
        for matcher in condition.checks:
            if not matcher.evaluate(mk, bk, attributes, ctx):
                if trace is not None:
                    trace.append(("no_match", condition, matcher))
                break
        else:
            if condition.whole is not None:
                if trace is not None:
                    trace.append(("match", condition, None))
                return condition.whole, condition.label
            if not condition.bounds:
                if trace is not None:
                    trace.append(("match", condition, None))
                return CONTROL, condition.label
            if split.algo == MURMUR:
                target = _murmur(bk, split.seed, False) % 100 + 1
            else:
                target = bucket_for(bk, split.seed, split.algo)
            if trace is not None:
                trace.append(("match", condition, target))
            for upper, treatment in condition.bounds:
                if upper >= target:
                    return treatment, condition.label
            return CONTROL, condition.label
    return split.default_treatment, labels.DEFAULT_RULE
