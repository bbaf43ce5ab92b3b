"""Bounds on everything the SDK reads from a server, a file or a stream, and what "over a
bound" means.

A feature-flag SDK reads data it does not control: Split's API (or a proxy in front of it), a
streaming service, files an operator points it at. Each input has a limit here, with a default
large enough for real data and a config key to raise it (docs/limits.md). Going over a limit
is a *data error*: that fetch, message or file is refused with one log line naming the key, and
the data already held keeps being served.

``DATA_ERRORS`` is what parsing foreign data may raise (malformed structure, numbers Python
cannot convert, nesting deeper than the interpreter's recursion limit, a payload too large to
hold); the syncers, the streamer and the file sources treat each of them like malformed JSON,
never as a bug of the SDK.

Pure: stdlib only, no I/O.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, fields
from typing import Any

_LOGGER = logging.getLogger("splitio.client.config")

MiB = 1024 * 1024

DATA_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,  # malformed JSON/YAML, integers past the digit limit, LimitExceeded
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    RecursionError,
    OverflowError,
    MemoryError,
)


class LimitExceeded(ValueError):
    """An input is larger (or deeper) than the limit named by ``key``."""

    def __init__(self, what: str, key: str, limit: int, unit: str = "bytes") -> None:
        super().__init__(f"{what} exceeds {key} ({limit:,} {unit})")
        self.key = key
        self.limit = limit


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits of one factory (config keys in the comments; docs/configuration.md)."""

    http_max_response_bytes: int = 64 * MiB  # httpMaxResponseBytes: on the wire and unpacked
    http_request_timeout: float = 60.0  # httpRequestTimeout: connect + headers + body, seconds
    streaming_max_line_bytes: int = 4 * MiB  # streamingMaxLineBytes: one SSE line
    streaming_max_event_bytes: int = 4 * MiB  # streamingMaxEventBytes: one SSE event
    streaming_max_payload_bytes: int = 4 * MiB  # streamingMaxPayloadBytes: an unpacked update
    max_file_bytes: int = 64 * MiB  # maxFileBytes: localhost, segment, bootstrap, cache files
    yaml_max_nodes: int = 1_000_000  # yamlMaxNodes: YAML nodes once aliases are expanded
    json_max_depth: int = 64  # jsonMaxDepth: nesting of JSON (and YAML) documents

    @classmethod
    def from_config(cls, raw: dict[str, Any]) -> Limits:
        """Each key validated like the official numeric keys: a bad value is logged and
        replaced by the default, never raised."""
        defaults = cls()
        values: dict[str, Any] = {}
        for spec in fields(cls):
            key, minimum, maximum = _KEYS[spec.name]
            default = getattr(defaults, spec.name)
            value = checked_number(raw, key, default, minimum, maximum)
            values[spec.name] = int(value) if isinstance(default, int) else float(value)
        return cls(**values)


# field -> (config key, smallest and largest accepted value)
_KEYS: dict[str, tuple[str, float, float]] = {
    "http_max_response_bytes": ("httpMaxResponseBytes", 1024, 2**40),
    "http_request_timeout": ("httpRequestTimeout", 0.01, 86400),
    "streaming_max_line_bytes": ("streamingMaxLineBytes", 1024, 2**40),
    "streaming_max_event_bytes": ("streamingMaxEventBytes", 1024, 2**40),
    "streaming_max_payload_bytes": ("streamingMaxPayloadBytes", 1024, 2**40),
    "max_file_bytes": ("maxFileBytes", 1024, 2**40),
    "yaml_max_nodes": ("yamlMaxNodes", 1, 2**40),
    "json_max_depth": ("jsonMaxDepth", 2, 10_000),
}


def checked_number(
    raw: dict[str, Any], key: str, default: float, minimum: float, maximum: float,
) -> float:
    """``raw[key]`` if it is a finite number in ``[minimum, maximum]``, else (logged) the
    default. Absent keys give the default silently."""
    if key not in raw:
        return default
    value = raw[key]
    if is_finite_number(value) and minimum <= value <= maximum:
        return value  # type: ignore[no-any-return]
    _LOGGER.warning(
        "%s: %s is not a valid value (expected a number from %s to %s); using the default, %s.",
        key, safe_repr(value), _plain(minimum), _plain(maximum), _plain(default),
    )
    return default


def checked_optional(
    raw: dict[str, Any], key: str, minimum: float, maximum: float
) -> float | None:
    """Like ``checked_number`` for a key whose default is "none" (no timeout, no bound)."""
    value = raw.get(key)
    if value is None:
        return None
    if is_finite_number(value) and minimum <= value <= maximum:
        return value  # type: ignore[no-any-return]
    _LOGGER.warning(
        "%s: %s is not a valid value (expected a number from %s to %s); using none.",
        key, safe_repr(value), _plain(minimum), _plain(maximum),
    )
    return None


def is_finite_number(value: Any) -> bool:
    """A real number JSON can carry: not a bool, not NaN or infinite, and (for integers) one
    that converts to a float, so a 5,000-digit integer is not a number here."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def _plain(number: float) -> str:
    if float(number).is_integer() and abs(number) < 1e15:
        return f"{int(number):,}"
    return f"{number:g}"


def safe_repr(value: Any, limit: int = 80) -> str:
    """A short repr for log lines: never raises (deep nesting, huge integers, a broken
    ``__repr__``) and never floods a log with a megabyte of user data."""
    import reprlib  # noqa: PLC0415 - only on the (rare) error paths

    shortener = reprlib.Repr()
    shortener.maxlevel = 3
    shortener.maxstring = shortener.maxother = shortener.maxlong = limit
    try:
        text = shortener.repr(value)
    except Exception:  # a user object whose __repr__ fails, an int past the digit limit
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe_data_error(exc: BaseException, depth_limit: int | None = None) -> str:
    """One line for a data error: the limit it names, or what went wrong."""
    if isinstance(exc, RecursionError):
        if depth_limit is not None:
            return f"nested too deeply (jsonMaxDepth is {depth_limit})"
        return "nested too deeply"
    if isinstance(exc, MemoryError):
        return "too large to hold in memory"
    text = str(exc)
    if isinstance(exc, KeyError):
        text = f"missing field {text}"
    return text or type(exc).__name__
