"""Why a key gets its treatment: the evaluator's own trace, put into words.

``explain`` runs ``Evaluator.evaluate`` with a trace list (the same code path as every client call)
and turns the recorded steps into an ``Explanation``: kill and prerequisite outcomes, the
traffic-allocation bucket and decision, each condition's matcher results in order, and the
partition bucket of the matching condition. Its treatment is, by construction, the one
``get_treatment`` returns for the same inputs. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..models import labels
from ..models.conditions import Condition
from ..models.matchers import Attributes, Matcher
from ..models.matchers.keys import AllKeys
from ..models.splits import Split
from .evaluator import EvaluationData, Evaluator, Trace


@dataclass
class MatcherResult:
    index: int
    matcher: str  # the matcher class and its data, e.g. "InSegment(segment_name='beta')"
    result: bool | None  # None: not evaluated (an earlier matcher of the AND was false)
    note: str = ""


@dataclass
class ConditionResult:
    index: int
    label: str | None
    condition_type: str  # ROLLOUT / WHITELIST
    matched: bool
    matchers: list[MatcherResult] = field(default_factory=list)
    partitions: list[tuple[str, int]] = field(default_factory=list)
    bucket: int | None = None  # the partition bucket (1..100), when hashing was needed
    partition: str | None = None  # the treatment of the chosen partition


@dataclass
class Explanation:
    flag: str
    matching_key: str
    bucketing_key: str
    treatment: str
    config: str | None
    label: str | None
    found: bool
    killed: bool = False
    default_treatment: str | None = None
    change_number: int | None = None
    prerequisites: list[dict[str, Any]] = field(default_factory=list)
    traffic_allocation: int | None = None
    allocation_bucket: int | None = None
    in_allocation: bool | None = None  # None: not checked (100 %, or no ROLLOUT reached)
    conditions: list[ConditionResult] = field(default_factory=list)
    matched_condition: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        """A human-readable account, one step a line."""
        out = [
            f"flag {self.flag!r}, matching key {self.matching_key!r}, "
            f"bucketing key {self.bucketing_key!r}",
            f"result: treatment={self.treatment!r} config={self.config!r} label={self.label!r}",
        ]
        if not self.found:
            out.append("the flag does not exist")
            return out
        out.append(f"change number {self.change_number}, default treatment "
                   f"{self.default_treatment!r}")
        if self.killed:
            out.append("killed: yes, so the default treatment applies")
            return out
        out.append("killed: no")
        for pre in self.prerequisites:
            out.append(
                f"prerequisite {pre['flag']!r} in {pre['treatments']}: got {pre['treatment']!r}"
                f" -> {'met' if pre['met'] else 'NOT met'}"
            )
        if self.label == labels.PREREQUISITES_NOT_MET:
            out.append("prerequisites not met, so the default treatment applies")
            return out
        if self.allocation_bucket is not None:
            decision = "in" if self.in_allocation else "OUT (default treatment)"
            out.append(f"traffic allocation {self.traffic_allocation}%: bucket "
                       f"{self.allocation_bucket} -> {decision}")
        elif self.traffic_allocation is not None:
            out.append(f"traffic allocation {self.traffic_allocation}%: not checked")
        for cond in self.conditions:
            out.append(f"condition #{cond.index} [{cond.condition_type}] label={cond.label!r}: "
                       f"{'MATCHED' if cond.matched else 'no match'}")
            for m in cond.matchers:
                shown = {True: "true", False: "false", None: "not evaluated"}[m.result]
                note = f" ({m.note})" if m.note else ""
                out.append(f"  matcher #{m.index} {m.matcher}: {shown}{note}")
            if cond.matched:
                parts = ", ".join(f"{t} {s}%" for t, s in cond.partitions)
                where = "no hashing needed" if cond.bucket is None else f"bucket {cond.bucket}"
                out.append(f"  partitions [{parts}]: {where} -> {cond.partition!r}")
        if self.matched_condition is None and self.in_allocation is not False:
            out.append("no condition matched, so the default treatment applies")
        return out


def describe_matcher(matcher: Matcher) -> str:
    """The matcher's class and the data it holds (its slots), for display."""
    values: list[str] = []
    for cls in type(matcher).__mro__:
        for name in getattr(cls, "__slots__", ()):
            if name in ("negate", "attribute") or name.startswith("_"):
                continue
            value = getattr(matcher, name, None)
            if isinstance(value, (set, frozenset)):
                items = sorted(map(str, value))
                value = items[:10] + (["..."] if len(items) > 10 else [])
            text = repr(value)
            values.append(f"{name}={text[:80] + '...' if len(text) > 80 else text}")
    prefix = "NOT " if matcher.negate else ""
    target = f"attribute {matcher.attribute!r} " if matcher.attribute is not None else ""
    return f"{prefix}{target}{type(matcher).__name__}({', '.join(values)})"


def _index_of(items: tuple[Any, ...], item: Any) -> int:
    return next(i for i, candidate in enumerate(items) if candidate is item)


def _condition_result(split: Split, condition: Condition) -> ConditionResult:
    return ConditionResult(
        index=_index_of(split.conditions, condition),
        label=condition.label,
        condition_type="ROLLOUT" if condition.is_rollout else "WHITELIST",
        matched=False,
        partitions=[(p.treatment, p.size) for p in condition.partitions],
    )


def _matchers(condition: Condition, failing: Matcher | None) -> list[MatcherResult]:
    """Results in the condition's order: ``checks`` holds the matchers the evaluator runs (plain
    ALL_KEYS are always true and skipped); those before the failing one were true."""
    results: list[MatcherResult] = []
    after_failure = False
    for index, matcher in enumerate(condition.matchers):
        described = describe_matcher(matcher)
        if type(matcher) is AllKeys and not matcher.negate:
            results.append(MatcherResult(index, described, None if after_failure else True,
                                         "always true"))
        elif matcher is failing:
            results.append(MatcherResult(index, described, False))
            after_failure = True
        else:
            results.append(MatcherResult(index, described, None if after_failure else True))
    return results


def explain(
    evaluator: Evaluator,
    data: EvaluationData,
    flag_name: str,
    matching_key: str,
    bucketing_key: str | None = None,
    attributes: Attributes | None = None,
) -> Explanation:
    """Evaluate ``flag_name`` once, with a trace, and describe every step taken."""
    trace: Trace = []
    result = evaluator.evaluate(matching_key, bucketing_key, flag_name, attributes, data, trace)
    bk = bucketing_key or matching_key
    explanation = Explanation(
        flag=flag_name, matching_key=matching_key, bucketing_key=bk,
        treatment=result.treatment, config=result.config, label=result.label, found=result.found,
    )
    split = data.flags.get(flag_name)
    if split is None or not result.found:
        return explanation
    explanation.killed = split.killed
    explanation.default_treatment = split.default_treatment
    explanation.change_number = split.change_number
    explanation.traffic_allocation = split.traffic_allocation
    for step in trace:
        kind = step[0]
        if kind == "prerequisite":
            _, prerequisite, treatment, met = step
            explanation.prerequisites.append({
                "flag": prerequisite.feature_flag_name,
                "treatments": sorted(prerequisite.treatments),
                "treatment": treatment,
                "met": met,
            })
        elif kind == "allocation":
            explanation.allocation_bucket = step[1]
            explanation.in_allocation = step[1] <= split.traffic_allocation
        elif kind == "no_match":
            condition_result = _condition_result(split, step[1])
            condition_result.matchers = _matchers(step[1], step[2])
            explanation.conditions.append(condition_result)
        elif kind == "match":
            condition_result = _condition_result(split, step[1])
            condition_result.matched = True
            condition_result.matchers = _matchers(step[1], None)
            condition_result.bucket = step[2]
            # only "control" goes through the fallbacks, which may change treatment and label
            condition_result.partition = result.treatment if result.label == step[1].label \
                else "control"
            explanation.conditions.append(condition_result)
            explanation.matched_condition = condition_result.index
    return explanation
