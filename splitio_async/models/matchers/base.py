"""What every compiled matcher shares, and what it may ask of the evaluation in progress.

A matcher is compiled once when its flag is parsed. At evaluation time it receives the matching key,
the bucketing key, the user's attributes and a ``MatchContext``: the narrow read side of the data
(segment membership, rule-based segments) plus the evaluator itself for dependencies. Keeping the
context this narrow is what lets Redis mode gather everything in one round trip and then run the
same matchers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..rule_based_segments import RuleBasedSegment

Attributes = dict[str, Any]


class MatchContext(Protocol):
    """The evaluation in progress, as matchers see it."""

    def in_segment(self, segment_name: str, key: str) -> bool:
        """Whether ``key`` belongs to the standard segment (False for unknown segments)."""
        ...

    def rule_based_segment(self, name: str) -> RuleBasedSegment | None:
        """The rule-based segment, or None when the data has none of that name."""
        ...

    def treatment_of(
        self, flag_name: str, matching_key: str, bucketing_key: str, attributes: Attributes | None
    ) -> str:
        """The full evaluation of another flag (dependencies and prerequisites), no impression."""
        ...


class MissingRuleBasedSegment(Exception):
    """A flag names a rule-based segment the data does not hold: the evaluation fails (label
    ``exception``), as the official asyncio client does."""


class Matcher:
    """Base of every matcher: selects the input, applies ``negate`` after ``_match``.

    A named attribute that is absent or None makes ``_match`` false without being called, so a
    negated matcher on a missing attribute is true (official behaviour).
    """

    __slots__ = ("attribute", "negate")

    def __init__(self, negate: bool, attribute: str | None) -> None:
        self.negate = negate
        self.attribute = attribute

    def evaluate(
        self, mk: str, bk: str, attributes: Attributes | None, ctx: MatchContext
    ) -> bool:
        if self.attribute is None:
            return self._match(mk, mk, bk, attributes, ctx) is not self.negate
        if attributes is None:
            return self.negate
        value = attributes.get(self.attribute)
        if value is None:
            return self.negate
        return self._match(value, mk, bk, attributes, ctx) is not self.negate

    def _match(
        self, value: Any, mk: str, bk: str, attributes: Attributes | None, ctx: MatchContext
    ) -> bool:
        raise NotImplementedError


class KeyMatcher(Matcher):
    """A matcher that only ever looks at the matching key; ``_match_key`` skips input selection."""

    __slots__ = ()

    def evaluate(
        self, mk: str, bk: str, attributes: Attributes | None, ctx: MatchContext
    ) -> bool:
        if self.attribute is not None and (
            attributes is None or attributes.get(self.attribute) is None
        ):
            return self.negate
        return self._match(mk, mk, bk, attributes, ctx) is not self.negate
