"""Set matchers. The input goes through Python's ``set()`` as in the official SDK, so a string
attribute is compared as the set of its characters and a dict as the set of its keys."""

from __future__ import annotations

from typing import Any

from .base import Attributes, MatchContext, Matcher
from .coercion import to_set


class SetMatcher(Matcher):
    __slots__ = ("members",)

    def __init__(self, negate: bool, attribute: str | None, members: frozenset[str]) -> None:
        super().__init__(negate, attribute)
        self.members = members


class EqualToSet(SetMatcher):
    __slots__ = ()

    def _match(
        self, value: Any, mk: str, bk: str, attributes: Attributes | None, ctx: MatchContext
    ) -> bool:
        given = to_set(value)
        return given is not None and given == self.members


class ContainsAnyOfSet(SetMatcher):
    __slots__ = ()

    def _match(
        self, value: Any, mk: str, bk: str, attributes: Attributes | None, ctx: MatchContext
    ) -> bool:
        given = to_set(value)
        return given is not None and not given.isdisjoint(self.members)


class ContainsAllOfSet(SetMatcher):
    __slots__ = ()

    def _match(
        self, value: Any, mk: str, bk: str, attributes: Attributes | None, ctx: MatchContext
    ) -> bool:
        given = to_set(value)
        return given is not None and self.members <= given


class PartOfSet(SetMatcher):
    __slots__ = ()

    def _match(
        self, value: Any, mk: str, bk: str, attributes: Attributes | None, ctx: MatchContext
    ) -> bool:
        given = to_set(value)
        return given is not None and bool(given) and given <= self.members
