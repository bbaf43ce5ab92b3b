"""Numeric and datetime comparisons, with the official truncation rules.

DATETIME matcher data arrives in epoch milliseconds and user attributes in epoch seconds; both are
truncated to the day for EQUAL_TO and to the minute for the other comparisons, so that a datetime
picked in Split's UI at minute precision matches the attribute the user passes.
"""

from __future__ import annotations

from typing import Any

from .base import Attributes, MatchContext, Matcher
from .coercion import to_int

DAY = 86400
MINUTE = 60


def _truncate(value: float, unit: int) -> float:
    return value - (value % unit)


class NumericMatcher(Matcher):
    """Compares ``to_int(input)`` (truncated for datetimes) with precomputed bounds."""

    __slots__ = ("high", "low", "unit")

    def __init__(
        self,
        negate: bool,
        attribute: str | None,
        low: float | None,
        high: float | None,
        unit: int | None,
    ) -> None:
        super().__init__(negate, attribute)
        self.low = low
        self.high = high
        self.unit = unit

    def _input(self, value: Any) -> float | None:
        number = to_int(value)
        if number is None or self.unit is None:
            return number
        return _truncate(number, self.unit)


class EqualTo(NumericMatcher):
    __slots__ = ()

    def _match(
        self, value: Any, mk: str, bk: str, attributes: Attributes | None, ctx: MatchContext
    ) -> bool:
        number = self._input(value)
        return number is not None and number == self.low


class GreaterThanOrEqualTo(NumericMatcher):
    __slots__ = ()

    def _match(
        self, value: Any, mk: str, bk: str, attributes: Attributes | None, ctx: MatchContext
    ) -> bool:
        number = self._input(value)
        return number is not None and self.low is not None and number >= self.low


class LessThanOrEqualTo(NumericMatcher):
    __slots__ = ()

    def _match(
        self, value: Any, mk: str, bk: str, attributes: Attributes | None, ctx: MatchContext
    ) -> bool:
        number = self._input(value)
        return number is not None and self.high is not None and number <= self.high


class Between(NumericMatcher):
    __slots__ = ()

    def _match(
        self, value: Any, mk: str, bk: str, attributes: Attributes | None, ctx: MatchContext
    ) -> bool:
        number = self._input(value)
        if number is None or self.low is None or self.high is None:
            return False
        return self.low <= number <= self.high


def matcher_data_value(data_type: str, value: Any, unit: int) -> tuple[float, int | None]:
    """Bound and truncation unit for matcher data; raises ValueError on an unknown data type."""
    if data_type == "NUMBER":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"numeric matcher value {value!r} is not a number")
        return value, None
    if data_type == "DATETIME":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"datetime matcher value {value!r} is not a number")
        return _truncate(value / 1000, unit), unit
    raise ValueError(f"unknown dataType {data_type!r}")
