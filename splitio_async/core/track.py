"""``track``'s input checks, with the official log lines: what makes an event valid."""

from __future__ import annotations

import logging
import time
from typing import Any

from ..lifecycle import DESTROYED, WAITING_FORK
from ..limits import is_finite_number
from ..models.events import Event
from ..properties import validate_properties
from ..validation import EVENT_TYPE_RE, MAX_KEY_LENGTH, validate_track_key

_LOGGER = logging.getLogger("splitio.client.client")
_VALIDATION_LOGGER = logging.getLogger("splitio.client.input_validator")

KNOWN_EVENT_TYPES = 1000  # valid event types remembered per factory
_new_event = tuple.__new__  # skips NamedTuple's Python-level __new__ on the track path


def check_event(
    status: str, key: Any, traffic_type: Any, event_type: Any, value: Any, properties: Any,
    known_event_types: set[str],
) -> Event | None:
    """The event a ``track`` call records, or None (logged) when it records nothing: invalid
    input, or a factory that cannot record (destroyed, waiting for a fork). Valid event types
    are remembered in ``known_event_types`` (bounded), so that the regular expression runs once
    per event type."""
    # fast paths for what nearly every call passes: a clean key, a lower-case traffic type
    # and an event type seen before (valid event types are few; the set is bounded)
    if type(traffic_type) is str and traffic_type and traffic_type.lower() == traffic_type \
            and not traffic_type.isspace():
        traffic: str | None = traffic_type
    else:
        traffic = _validate_traffic_type(traffic_type)
    if traffic is None:
        return None
    if status is DESTROYED:
        _LOGGER.error("Client has already been destroyed - no calls possible")
        return None
    if status is WAITING_FORK:
        _LOGGER.error("Client is not ready - no calls possible")
        return None
    if type(key) is str and 0 < len(key) <= MAX_KEY_LENGTH and not key.isspace():
        matching_key: str | None = key
    else:
        matching_key = validate_track_key(key)
    if matching_key is None:
        return None
    if type(event_type) is not str or event_type not in known_event_types:
        if not _valid_event_type(event_type):
            return None
        if len(known_event_types) < KNOWN_EVENT_TYPES:
            known_event_types.add(event_type)
    if value is not None and not is_finite_number(value):  # NaN is not JSON: refused
        _VALIDATION_LOGGER.error("track: value must be a number.")
        return None
    valid, cleaned, size = validate_properties(properties, "track")
    if not valid:
        return None
    return _new_event(Event, (
        matching_key, traffic, event_type, value, int(time.time() * 1000), cleaned, size
    ))


def warn_traffic_type(traffic_type: str) -> None:
    """The official warning for an event whose traffic type no flag uses (it is kept)."""
    _VALIDATION_LOGGER.warning(
        "track: Traffic Type %s does not have any corresponding Feature flags in this "
        "environment, make sure you're tracking your events to a valid traffic type "
        "defined in the Split user interface.", traffic_type,
    )


def _validate_traffic_type(traffic_type: Any) -> str | None:
    if traffic_type is None:
        _VALIDATION_LOGGER.error(
            "track: you passed a null traffic_type, traffic_type must be a non-empty string."
        )
        return None
    if not isinstance(traffic_type, str):
        _VALIDATION_LOGGER.error(
            "track: you passed an invalid traffic_type, traffic_type must be a non-empty string."
        )
        return None
    if not traffic_type.strip():
        _VALIDATION_LOGGER.error(
            "track: you passed an empty traffic_type, traffic_type must be a non-empty string."
        )
        return None
    if traffic_type.lower() != traffic_type:
        _VALIDATION_LOGGER.warning(
            "track: traffic type '%s' should be all lowercase - converting string to lowercase",
            traffic_type,
        )
    return traffic_type.lower()


def _valid_event_type(event_type: Any) -> bool:
    if event_type is None:
        _VALIDATION_LOGGER.error(
            "track: you passed a null event_type, event_type must be a non-empty string."
        )
        return False
    if not isinstance(event_type, str):
        _VALIDATION_LOGGER.error(
            "track: you passed an invalid event_type, event_type must be a non-empty string."
        )
        return False
    if not event_type:
        _VALIDATION_LOGGER.error(
            "track: you passed an empty event_type, event_type must be a non-empty string."
        )
        return False
    if not EVENT_TYPE_RE.fullmatch(event_type):
        _VALIDATION_LOGGER.error(
            "track: you passed %s, an event name must adhere to the regular expression %s. This "
            "means an event name must be alphanumeric, cannot be more than 80 characters long, "
            "and can only include a dash, underscore, period, or colon as separators of "
            "alphanumeric characters.", event_type, EVENT_TYPE_RE.pattern,
        )
        return False
    return True
