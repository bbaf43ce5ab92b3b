"""Matchers about who the key is: everyone, a whitelist, a segment, a rule-based segment."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import Attributes, KeyMatcher, MatchContext, Matcher, MissingRuleBasedSegment
from .coercion import to_str

if TYPE_CHECKING:
    from ..rule_based_segments import RuleBasedSegment


class AllKeys(KeyMatcher):
    __slots__ = ()

    def evaluate(
        self, mk: str, bk: str, attributes: Attributes | None, ctx: MatchContext
    ) -> bool:
        return not self.negate

    def _match(
        self, value: Any, mk: str, bk: str, attributes: Attributes | None, ctx: MatchContext
    ) -> bool:
        return True


class Whitelist(Matcher):
    __slots__ = ("keys",)

    def __init__(self, negate: bool, attribute: str | None, keys: frozenset[str]) -> None:
        super().__init__(negate, attribute)
        self.keys = keys

    def evaluate(
        self, mk: str, bk: str, attributes: Attributes | None, ctx: MatchContext
    ) -> bool:
        if self.attribute is None:
            return (mk in self.keys) is not self.negate
        return super().evaluate(mk, bk, attributes, ctx)

    def _match(
        self, value: Any, mk: str, bk: str, attributes: Attributes | None, ctx: MatchContext
    ) -> bool:
        text = to_str(value)
        return text is not None and text in self.keys


class InSegment(KeyMatcher):
    """Membership is always checked for the matching key, even when an attribute is named (the
    attribute then only has to be present: official behaviour)."""

    __slots__ = ("segment_name",)

    def __init__(self, negate: bool, attribute: str | None, segment_name: str) -> None:
        super().__init__(negate, attribute)
        self.segment_name = segment_name

    def _match(
        self, value: Any, mk: str, bk: str, attributes: Attributes | None, ctx: MatchContext
    ) -> bool:
        return ctx.in_segment(self.segment_name, mk)


class InRuleBasedSegment(Matcher):
    """Ignores the key selector's attribute; the segment's own conditions read attributes."""

    __slots__ = ("segment_name",)

    def __init__(self, negate: bool, attribute: str | None, segment_name: str) -> None:
        super().__init__(negate, attribute)
        self.segment_name = segment_name

    def evaluate(
        self, mk: str, bk: str, attributes: Attributes | None, ctx: MatchContext
    ) -> bool:
        return self._match(mk, mk, bk, attributes, ctx) is not self.negate

    def _match(
        self, value: Any, mk: str, bk: str, attributes: Attributes | None, ctx: MatchContext
    ) -> bool:
        rbs = _required_rbs(ctx, self.segment_name)
        if mk in rbs.excluded_keys or _excluded_by_segments(rbs, mk, bk, attributes, ctx):
            return False
        return rbs.conditions_match(mk, bk, attributes, ctx)


def _required_rbs(ctx: MatchContext, name: str) -> RuleBasedSegment:
    rbs = ctx.rule_based_segment(name)
    if rbs is None:
        raise MissingRuleBasedSegment(name)
    return rbs


def _excluded_by_segments(
    rbs: RuleBasedSegment, mk: str, bk: str, attributes: Attributes | None, ctx: MatchContext
) -> bool:
    """The official scan, quirk included: a key in the excluded keys of an excluded rule-based
    segment ends the whole scan with "not excluded"."""
    for name, is_rule_based in rbs.excluded_segments:
        if not is_rule_based:
            if ctx.in_segment(name, mk):
                return True
            continue
        inner = _required_rbs(ctx, name)
        if mk in inner.excluded_keys:
            return False
        if _excluded_by_segments(inner, mk, bk, attributes, ctx) or inner.conditions_match(
            mk, bk, attributes, ctx
        ):
            return True
    return False


class Dependency(KeyMatcher):
    """True when another flag, evaluated for the same keys and attributes, gives one of
    ``treatments`` (no impression for the inner evaluation)."""

    __slots__ = ("flag_name", "treatments")

    def __init__(
        self, negate: bool, attribute: str | None, flag_name: str, treatments: frozenset[str]
    ) -> None:
        super().__init__(negate, attribute)
        self.flag_name = flag_name
        self.treatments = treatments

    def _match(
        self, value: Any, mk: str, bk: str, attributes: Attributes | None, ctx: MatchContext
    ) -> bool:
        return ctx.treatment_of(self.flag_name, mk, bk, attributes) in self.treatments
