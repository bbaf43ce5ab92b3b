"""Semantic-version matchers. Invalid matcher data makes the matcher say no (then negation
applies), as in the official SDK; it is logged once when the flag is parsed."""

from __future__ import annotations

from typing import Any

from ..semver import Semver
from .base import Attributes, MatchContext, Matcher
from .coercion import to_str


def _version(value: Any) -> Semver | None:
    text = to_str(value)
    return None if text is None else Semver.parse(text)


class EqualToSemver(Matcher):
    __slots__ = ("target",)

    def __init__(self, negate: bool, attribute: str | None, target: Semver | None) -> None:
        super().__init__(negate, attribute)
        self.target = target

    def _match(
        self, value: Any, mk: str, bk: str, attributes: Attributes | None, ctx: MatchContext
    ) -> bool:
        version = _version(value)
        return (
            version is not None
            and self.target is not None
            and version.normalized == self.target.normalized
        )


class GreaterThanOrEqualToSemver(EqualToSemver):
    __slots__ = ()

    def _match(
        self, value: Any, mk: str, bk: str, attributes: Attributes | None, ctx: MatchContext
    ) -> bool:
        version = _version(value)
        return version is not None and self.target is not None and version.compare(self.target) >= 0


class LessThanOrEqualToSemver(EqualToSemver):
    __slots__ = ()

    def _match(
        self, value: Any, mk: str, bk: str, attributes: Attributes | None, ctx: MatchContext
    ) -> bool:
        version = _version(value)
        return version is not None and self.target is not None and version.compare(self.target) <= 0


class BetweenSemver(Matcher):
    __slots__ = ("end", "start")

    def __init__(
        self, negate: bool, attribute: str | None, start: Semver | None, end: Semver | None
    ) -> None:
        super().__init__(negate, attribute)
        self.start = start
        self.end = end

    def _match(
        self, value: Any, mk: str, bk: str, attributes: Attributes | None, ctx: MatchContext
    ) -> bool:
        version = _version(value)
        if version is None or self.start is None or self.end is None:
            return False
        return self.start.compare(version) <= 0 and self.end.compare(version) >= 0


class InListSemver(Matcher):
    __slots__ = ("normalized",)

    def __init__(self, negate: bool, attribute: str | None, normalized: frozenset[str]) -> None:
        super().__init__(negate, attribute)
        self.normalized = normalized

    def _match(
        self, value: Any, mk: str, bk: str, attributes: Attributes | None, ctx: MatchContext
    ) -> bool:
        version = _version(value)
        return version is not None and version.normalized in self.normalized
