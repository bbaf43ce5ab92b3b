"""Validation of event and impression properties (shared by ``track`` and evaluation options).

Numbers must be finite (NaN and infinities are not JSON: one of them would make Split's API
refuse the whole bulk of events), and values are never formatted in full into a log line (a
value nested a thousand levels deep cannot even be printed)."""

from __future__ import annotations

import logging
from typing import Any

from .limits import is_finite_number, safe_repr

LOGGER = logging.getLogger("splitio.client.input_validator")

BASE_EVENT_SIZE = 1024
MAX_PROPERTIES_SIZE = 32768
MAX_PROPERTIES = 300


def validate_properties(
    properties: Any, source: str
) -> tuple[bool, dict[str, Any] | None, int]:
    """``(valid, cleaned properties or None, estimated size)`` with the official log lines."""
    size = BASE_EVENT_SIZE
    if properties is None:
        return True, None, size
    if not isinstance(properties, dict):
        LOGGER.error("%s: properties must be of type dictionary.", source)
        return False, None, size
    cleaned: dict[str, Any] = {}
    for name, value in properties.items():
        if not isinstance(name, str):
            continue
        size += len(name)
        if value is None:
            cleaned[name] = None
            continue
        if not isinstance(value, str | int | float | bool):
            LOGGER.warning(
                "%s: Property %s is of invalid type. Setting value to None", source,
                safe_repr(value),
            )
            value = None
        elif not isinstance(value, str | bool) and not is_finite_number(value):
            LOGGER.error(
                "%s: Property %s must be a finite number, not %s. Event not queued", source,
                safe_repr(name), safe_repr(value),
            )
            return False, None, size
        if isinstance(value, str):
            size += len(value)
        if size > MAX_PROPERTIES_SIZE:
            LOGGER.error(
                "%s: The maximum size allowed for the properties is 32768 bytes. Current one is "
                "%s bytes. Event not queued", source, size,
            )
            return False, None, size
        cleaned[name] = value
    if len(cleaned) > MAX_PROPERTIES:
        LOGGER.warning(
            "%s: Event has more than 300 properties. Some of them will be trimmed when processed",
            source,
        )
    return True, cleaned or None, size
