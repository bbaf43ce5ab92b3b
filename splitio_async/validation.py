"""Input validation of the public methods, with the official SDK's exact log lines.

Every function returns the cleaned value or None (invalid, already logged); the callers turn None
into ``control`` / ``False`` / ``{}``. The plain-string fast paths come first because they are what
almost every call passes.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable
from typing import Any

from .key import Key

LOGGER = logging.getLogger("splitio.client.input_validator")

MAX_KEY_LENGTH = 250
FLAG_SET_RE = re.compile(r"^[a-z0-9][_a-z0-9]{0,49}$")
EVENT_TYPE_RE = re.compile(r"^[a-zA-Z0-9][-_.:a-zA-Z0-9]{0,79}$")


def _key_part(value: Any, method: str, name: str) -> str | None:
    """One key (or one part of a ``Key``), official rules."""
    if type(value) is str and 0 < len(value) <= MAX_KEY_LENGTH and not value.isspace():
        return str(value)
    if value is None:
        LOGGER.error("%s: you passed a null %s, %s must be a non-empty string.", method, name, name)
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        LOGGER.error(
            "%s: you passed an invalid %s, %s must be a non-empty string.", method, name, name
        )
        return None
    if not isinstance(value, str):
        try:  # a non-finite float, or an int too long to print (past 4,300 digits)
            text = str(value) if not isinstance(value, float) or math.isfinite(value) else None
        except ValueError:
            text = None
        if text is None:
            LOGGER.error(
                "%s: you passed an invalid %s, %s must be a non-empty string.", method, name, name
            )
            return None
        LOGGER.warning("%s: %s %s is not of type string, converting.", method, name, text)
        value = text
    if not value.strip():
        LOGGER.error(
            "%s: you passed an empty %s, %s must be a non-empty string.", method, name, name
        )
        return None
    if len(value) > MAX_KEY_LENGTH:
        LOGGER.error(
            "%s: %s too long - must be %s characters or less.", method, name, MAX_KEY_LENGTH
        )
        return None
    return str(value)


def validate_key(key: Any, method: str) -> tuple[str, str | None] | None:
    """``(matching key, bucketing key or None)`` for a plain key or a ``Key``."""
    if type(key) is str and 0 < len(key) <= MAX_KEY_LENGTH and not key.isspace():
        return key, None
    if isinstance(key, Key):
        matching = _key_part(key.matching_key, method, "matching_key")
        if matching is None:
            return None
        bucketing = _key_part(key.bucketing_key, method, "bucketing_key")
        if bucketing is None:
            return None
        return matching, bucketing
    matching = _key_part(key, method, "key")
    return None if matching is None else (matching, None)


def validate_track_key(key: Any) -> str | None:
    """``track`` takes plain keys only."""
    if isinstance(key, Key):
        LOGGER.error("track: you passed an invalid key, key must be a non-empty string.")
        return None
    return _key_part(key, "track", "key")


def validate_flag_name(name: Any, method: str, trim: bool = True) -> str | None:
    """The name to look up, or None (logged). ``trim`` False (the manager's ``split``, as the
    official): surrounding spaces are kept, so such a name is looked up as given."""
    if type(name) is str and name and name.strip() == name:
        return name
    if name is None:
        LOGGER.error(
            "%s: you passed a null feature_flag_name, feature_flag_name must be a non-empty "
            "string.", method,
        )
        return None
    if not isinstance(name, str):
        LOGGER.error(
            "%s: you passed an invalid feature_flag_name, feature_flag_name must be a non-empty "
            "string.", method,
        )
        return None
    stripped = name.strip()
    if not stripped:
        LOGGER.error(
            "%s: you passed an empty feature_flag_name, feature_flag_name must be a non-empty "
            "string.", method,
        )
        return None
    if not trim:
        return name
    if stripped != name:
        LOGGER.warning(
            "%s: feature flag name '%s' has extra whitespace, trimming.", method, name
        )
    return stripped


def validate_flag_names(names: Any, method: str) -> list[str] | None:
    """De-duplicated, trimmed names (first-seen order); None when nothing valid is left."""
    if not isinstance(names, list) or not names:
        LOGGER.error("%s: feature flag names must be a non-empty array.", method)
        return None
    valid: dict[str, None] = {}
    for name in names:
        if name is None:
            continue
        if not isinstance(name, str):
            LOGGER.error(
                "%s: you passed an invalid feature flag name, feature flag name must be a "
                "non-empty string.", method,
            )
            continue
        stripped = name.strip()
        if not stripped:
            LOGGER.error(
                "%s: you passed an empty feature flag name, feature flag name must be a "
                "non-empty string.", method,
            )
            continue
        if stripped != name:
            LOGGER.warning(
                "%s: feature flag name '%s' has extra whitespace, trimming.", method, name
            )
        valid[stripped] = None
    if not valid:
        LOGGER.error("%s: feature flag names must be a non-empty array.", method)
        return None
    return list(valid)


def raw_flag_names(names: Any) -> list[str]:
    """The names a destroyed or invalid-input ``get_treatments`` call still answers for."""
    if not isinstance(names, list):
        return []
    return [n for n in names if isinstance(n, str) and n.strip()]


def validate_attributes(attributes: Any, method: str) -> bool:
    if attributes is None or isinstance(attributes, dict):
        return True
    LOGGER.error("%s: attributes must be of type dictionary.", method)
    return False


def validate_flag_sets(flag_sets: Iterable[Any], method: str) -> list[str]:
    """Trimmed, lower-cased, regex-checked, de-duplicated and sorted flag-set names."""
    valid: set[str] = set()
    for flag_set in flag_sets:
        if flag_set is None:
            LOGGER.error(
                "%s: you passed a null flag set, flag set must be a non-empty string.", method
            )
            continue
        if not isinstance(flag_set, str):
            LOGGER.error(
                "%s: you passed an invalid flag set, flag set must be a non-empty string.", method
            )
            continue
        if flag_set.strip() != flag_set:
            LOGGER.warning("%s: flag set '%s' has extra whitespace, trimming.", method, flag_set)
            flag_set = flag_set.strip()
        if flag_set.lower() != flag_set:
            LOGGER.warning(
                "%s: flag set '%s' should be all lowercase - converting string to lowercase",
                method, flag_set,
            )
            flag_set = flag_set.lower()
        if not FLAG_SET_RE.fullmatch(flag_set):
            LOGGER.error(
                "%s: you passed %s, a flag set must adhere to the regular expression %s. This "
                "means a flag set must be alphanumeric, cannot be more than 50 characters long, "
                "and can only include a dash, underscore, period, or colon as separators of "
                "alphanumeric characters.", method, flag_set, FLAG_SET_RE.pattern,
            )
            continue
        valid.add(flag_set)
    return sorted(valid)
