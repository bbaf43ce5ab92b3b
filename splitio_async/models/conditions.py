"""Conditions: an AND of matchers plus the partitions that split the matching keys.

Partitions are stored as cumulative bucket bounds so the splitter walks them without summing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .matchers import Matcher, build_matcher
from .matchers.keys import AllKeys

CONTROL = "control"
UNSUPPORTED_LABEL = "targeting rule type unsupported by sdk"


@dataclass(frozen=True, slots=True)
class Partition:
    treatment: str
    size: int


@dataclass(frozen=True, slots=True)
class Condition:
    """``whole`` is the treatment of a single 100% partition (no hashing needed), else None;
    ``bounds`` pairs each treatment with its cumulative upper bucket; ``checks`` are the matchers
    left once the always-true ones (plain ALL_KEYS) are dropped from the AND."""

    is_rollout: bool
    matchers: tuple[Matcher, ...]
    checks: tuple[Matcher, ...]
    partitions: tuple[Partition, ...]
    label: str | None
    whole: str | None
    bounds: tuple[tuple[int, str], ...]

    @classmethod
    def build(
        cls,
        is_rollout: bool,
        matchers: tuple[Matcher, ...],
        partitions: tuple[Partition, ...],
        label: str | None,
    ) -> Condition:
        whole = partitions[0].treatment if len(partitions) == 1 and partitions[0].size == 100 \
            else None
        bounds: list[tuple[int, str]] = []
        total = 0
        for partition in partitions:
            total += partition.size
            bounds.append((total, partition.treatment))
        checks = tuple(m for m in matchers if not (type(m) is AllKeys and not m.negate))
        return cls(is_rollout, matchers, checks, partitions, label, whole, tuple(bounds))


def parse_condition(raw: Any) -> Condition:
    """Compile one condition; raises on anything malformed (the caller degrades the flag)."""
    if not isinstance(raw, dict):
        raise ValueError("condition is not an object")
    condition_type = raw.get("conditionType", "WHITELIST")
    if condition_type not in ("WHITELIST", "ROLLOUT"):
        raise ValueError(f"unknown conditionType {condition_type!r}")
    group = raw["matcherGroup"]
    if group["combiner"] != "AND":
        raise ValueError(f"unknown combiner {group['combiner']!r}")
    raw_matchers = group["matchers"]
    if not isinstance(raw_matchers, list):
        raise ValueError("matcherGroup.matchers is not a list")
    matchers = tuple(build_matcher(m) for m in raw_matchers)
    partitions = []
    for part in raw.get("partitions") or ():
        size = part["size"]
        treatment = part["treatment"]
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= 100:
            raise ValueError(f"partition size {size!r} is not 0..100")
        if not isinstance(treatment, str):
            raise ValueError(f"partition treatment {treatment!r} is not a string")
        partitions.append(Partition(treatment, size))
    label = raw.get("label")
    return Condition.build(
        condition_type == "ROLLOUT",
        matchers,
        tuple(partitions),
        label if isinstance(label, str) else None,
    )


def unsupported_template() -> Condition:
    """What the official SDK puts in place of a flag's conditions when one cannot be used."""
    return Condition.build(
        True, (AllKeys(False, None),), (Partition(CONTROL, 100),), UNSUPPORTED_LABEL
    )


def conditions_match(
    conditions: tuple[Condition, ...], mk: str, bk: str, attributes: Any, ctx: Any
) -> bool:
    """Whether any condition's matchers all hold (rule-based segments ignore partitions)."""
    for condition in conditions:
        for matcher in condition.checks:
            if not matcher.evaluate(mk, bk, attributes, ctx):
                break
        else:
            return True
    return False
