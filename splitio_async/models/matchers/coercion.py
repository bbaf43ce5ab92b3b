"""The official SDK's input coercions, reproduced because results depend on them.

``to_int`` accepts ints and whatever ``int()`` parses from a string (``" 42 "``, ``"+42"``,
``"4_2"``, Arabic-Indic digits), never floats or booleans. ``to_str`` turns non-strings into JSON
text (``True`` → ``"true"``, ``[1, 2]`` → ``"[1, 2]"``).
"""

from __future__ import annotations

import json
import logging
from typing import Any

_LOGGER = logging.getLogger("splitio_async.matchers")


def to_int(value: Any) -> int | None:
    """The integer a numeric matcher compares, or None for "no match"."""
    kind = type(value)
    if kind is int:
        return int(value)
    if kind is str:
        try:
            number = int(value)
        except ValueError:
            return None
        _LOGGER.warning("Supplied attribute is of type %s and should have been an int. ", kind)
        return number
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    _LOGGER.error("Cannot convert %s to int. Failing.", kind)
    return None


def to_str(value: Any) -> str | None:
    """The text a string matcher compares, or None when the value has no JSON form."""
    if type(value) is str:
        return str(value)
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        return None
    return text


def to_set(value: Any) -> frozenset[Any] | None:
    """Python's ``set()`` of the value (a string becomes its characters), None when impossible."""
    try:
        return frozenset(value)
    except TypeError:
        return None
