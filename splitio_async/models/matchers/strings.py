"""Text matchers: prefixes, suffixes, substrings, regular expressions, booleans.

Regular expressions are compiled once. A leading or trailing ``.*`` in a *search* changes nothing
but the cost (it can always match the empty string), so it is dropped before compiling; a pattern
left without metacharacters becomes a plain substring test.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from .base import Attributes, MatchContext, Matcher
from .coercion import to_str

_META = frozenset(".^$*+?{}[]\\|()")


class StartsWith(Matcher):
    __slots__ = ("prefixes",)

    def __init__(self, negate: bool, attribute: str | None, prefixes: tuple[str, ...]) -> None:
        super().__init__(negate, attribute)
        self.prefixes = prefixes

    def _match(
        self, value: Any, mk: str, bk: str, attributes: Attributes | None, ctx: MatchContext
    ) -> bool:
        text = to_str(value)
        return text is not None and text.startswith(self.prefixes)


class EndsWith(Matcher):
    __slots__ = ("suffixes",)

    def __init__(self, negate: bool, attribute: str | None, suffixes: tuple[str, ...]) -> None:
        super().__init__(negate, attribute)
        self.suffixes = suffixes

    def _match(
        self, value: Any, mk: str, bk: str, attributes: Attributes | None, ctx: MatchContext
    ) -> bool:
        text = to_str(value)
        return text is not None and text.endswith(self.suffixes)


class ContainsString(Matcher):
    __slots__ = ("parts",)

    def __init__(self, negate: bool, attribute: str | None, parts: tuple[str, ...]) -> None:
        super().__init__(negate, attribute)
        self.parts = parts

    def _match(
        self, value: Any, mk: str, bk: str, attributes: Attributes | None, ctx: MatchContext
    ) -> bool:
        text = to_str(value)
        return text is not None and any(part in text for part in self.parts)


def _strip_wildcards(pattern: str) -> str:
    """Drop a leading and a trailing bare ``.*`` (or ``.*?``), which cannot change a search."""
    if pattern.startswith(".*?"):
        pattern = pattern[3:]
    elif pattern.startswith(".*") and not pattern.startswith((".*+", ".*{")):
        pattern = pattern[2:]
    for tail in (".*?", ".*"):
        if pattern.endswith(tail):
            head = pattern[: -len(tail)]
            backslashes = len(head) - len(head.rstrip("\\"))
            if backslashes % 2 == 0 and not head.endswith("|") and head != "":
                pattern = head
            break
    return pattern


def compile_search(pattern: str) -> Callable[[str], bool]:
    """A predicate equivalent to ``re.search(pattern, text) is not None``.

    Raises ``re.error`` for an invalid pattern (the flag then degrades alone).
    """
    compiled = re.compile(pattern)
    core = _strip_wildcards(pattern)
    if core and not (_META & set(core)):
        return lambda text: core in text
    try:
        search = re.compile(core).search
    except re.error:  # cannot happen for a valid pattern, but never trade correctness for speed
        search = compiled.search
    return lambda text: search(text) is not None


class MatchesString(Matcher):
    __slots__ = ("predicate",)

    def __init__(self, negate: bool, attribute: str | None, pattern: str) -> None:
        super().__init__(negate, attribute)
        self.predicate = compile_search(pattern)

    def _match(
        self, value: Any, mk: str, bk: str, attributes: Attributes | None, ctx: MatchContext
    ) -> bool:
        text = to_str(value)
        return text is not None and self.predicate(text)


class EqualToBoolean(Matcher):
    """Accepts real booleans and strings whose lower-cased JSON parse is a boolean."""

    __slots__ = ("expected",)

    def __init__(self, negate: bool, attribute: str | None, expected: bool) -> None:
        super().__init__(negate, attribute)
        self.expected = expected

    def _match(
        self, value: Any, mk: str, bk: str, attributes: Attributes | None, ctx: MatchContext
    ) -> bool:
        if type(value) is bool:
            return value is self.expected
        if isinstance(value, str):
            try:
                parsed = json.loads(value.lower())
            except ValueError:
                return False
            return type(parsed) is bool and parsed is self.expected
        return False
