"""Validation of the ``sets`` of a flag read from a localhost JSON file.

The official SDK runs a flag's sets through the same validator as user-supplied flag sets (method
name ``Localhost Validator``), so a hand-written file with ``" Backend"`` still lands in set
``backend`` and users see the familiar log lines. It lives apart from ``json_file`` because the
rules and their messages are a contract of their own.
"""

from __future__ import annotations

import re
from typing import Any

from splitio_async.localhost._common import LOGGER

_METHOD = "Localhost Validator"
_FLAG_SET_RE = re.compile(r"^[a-z0-9][_a-z0-9]{0,49}$")


def _one(value: Any) -> str | None:
    if value is None:
        LOGGER.error(
            "%s: you passed a null flag set, flag set must be a non-empty string.", _METHOD
        )
        return None
    if not isinstance(value, str):
        LOGGER.error(
            "%s: you passed an invalid flag set, flag set must be a non-empty string.", _METHOD
        )
        return None
    trimmed = value.strip()
    if trimmed != value:
        LOGGER.warning("%s: flag set '%s' has extra whitespace, trimming.", _METHOD, value)
    lowered = trimmed.lower()
    if lowered != trimmed:
        LOGGER.warning(
            "%s: flag set '%s' should be all lowercase - converting string to lowercase",
            _METHOD,
            trimmed,
        )
    if not _FLAG_SET_RE.fullmatch(lowered):
        LOGGER.error(
            "%s: you passed %s, a flag set must adhere to the regular expression "
            "^[a-z0-9][_a-z0-9]{0,49}$. This means a flag set must be alphanumeric, cannot be "
            "more than 50 characters long, and can only include a dash, underscore, period, or "
            "colon as separators of alphanumeric characters.",
            _METHOD,
            lowered,
        )
        return None
    return lowered


def validate_flag_sets(raw: Any) -> list[str]:
    """Return the valid, normalised, de-duplicated sets of ``raw``, sorted for stable output.

    A missing or null ``sets`` is simply "no sets"; any other non-list is discarded with the
    official warning.
    """
    if raw is None:
        return []
    if not isinstance(raw, list):
        LOGGER.warning(
            "%s: flag sets parameter type should be list object, parameter is discarded", _METHOD
        )
        return []
    return sorted({valid for valid in map(_one, raw) if valid is not None})
