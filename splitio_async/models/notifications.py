"""Streaming notifications: the Ably-style envelope of Split's SSE messages, parsed (pure).

``parse_message(data)`` turns the ``data`` of one SSE ``message`` event into a notification or
raises ``NotificationError`` (logged and ignored by the streamer: garbage never takes the SDK
down). Payloads of instant updates are decoded by ``decode_payload`` (plain, gzip or zlib, in
base64), never unpacking more than ``max_bytes`` (``streamingMaxPayloadBytes``): a payload that
would is refused with ``PayloadTooLarge`` and the update is fetched instead. Every data error
(malformed or too deeply nested JSON, numbers Python cannot convert) is a
``NotificationError``.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from .. import bounded_json
from ..inflate import GZIP, ZLIB, inflate
from ..limits import DATA_ERRORS, LimitExceeded, Limits, describe_data_error, safe_repr

_DEFAULTS = Limits()

OCCUPANCY_PREFIX = "[?occupancy=metrics.publishers]"


class NotificationError(ValueError):
    """A message that is not a notification this SDK understands."""


class PayloadTooLarge(NotificationError):
    """An instant update whose payload unpacks past ``streamingMaxPayloadBytes``."""


@dataclass(frozen=True, slots=True)
class Occupancy:
    channel: str  # control_pri / control_sec (prefix stripped)
    publishers: int
    timestamp: int


@dataclass(frozen=True, slots=True)
class Control:
    control_type: str  # STREAMING_ENABLED / STREAMING_RESUMED / STREAMING_PAUSED / ...DISABLED
    timestamp: int


@dataclass(frozen=True, slots=True)
class FlagUpdate:
    change_number: int
    previous_change_number: int | None
    compression: int | None
    payload: str | None


@dataclass(frozen=True, slots=True)
class RuleBasedSegmentUpdate:
    change_number: int
    previous_change_number: int | None
    compression: int | None
    payload: str | None


@dataclass(frozen=True, slots=True)
class FlagKill:
    change_number: int
    flag_name: str
    default_treatment: str


@dataclass(frozen=True, slots=True)
class SegmentUpdate:
    change_number: int
    segment_name: str


@dataclass(frozen=True, slots=True)
class AblyError:
    code: int
    status_code: int | None
    message: str

    @property
    def retryable(self) -> bool:
        return 40140 <= self.code <= 40149

    @property
    def relevant(self) -> bool:
        """Codes outside 40000-49999 are ignored (official)."""
        return 40000 <= self.code <= 49999


Notification = (
    Occupancy | Control | FlagUpdate | RuleBasedSegmentUpdate | FlagKill | SegmentUpdate
)


def _json(text: Any, what: str, max_depth: int) -> dict[str, Any]:
    if not isinstance(text, (str, bytes)):
        raise NotificationError(f"{what} is not a string")
    try:
        value = bounded_json.parse(text, max_depth)
    except DATA_ERRORS as exc:
        raise NotificationError(f"{what} is not usable JSON: "
                                f"{describe_data_error(exc, max_depth)}") from None
    if not isinstance(value, dict):
        raise NotificationError(f"{what} is not an object")
    return value


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise NotificationError(f"{what} is missing or not an integer")
    return value


def _optional_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_message(data: str, max_depth: int = _DEFAULTS.json_max_depth) -> Notification:
    envelope = _json(data, "message data", max_depth)
    channel = envelope.get("channel")
    if not isinstance(channel, str) or "data" not in envelope:
        raise NotificationError("message without channel or data")
    timestamp = _optional_int(envelope.get("timestamp")) or 0
    inner = _json(envelope["data"], "message payload", max_depth)
    if envelope.get("name") == "[meta]occupancy":
        metrics = inner.get("metrics")
        publishers = metrics.get("publishers") if isinstance(metrics, dict) else None
        return Occupancy(channel.removeprefix(OCCUPANCY_PREFIX),
                         _int(publishers, "publishers"), timestamp)
    kind = inner.get("type")
    if kind == "CONTROL":
        control = inner.get("controlType")
        if not isinstance(control, str):
            raise NotificationError("CONTROL without controlType")
        return Control(control, timestamp)
    if kind in ("SPLIT_UPDATE", "RB_SEGMENT_UPDATE"):
        cls = FlagUpdate if kind == "SPLIT_UPDATE" else RuleBasedSegmentUpdate
        payload = inner.get("d")
        return cls(
            _int(inner.get("changeNumber"), "changeNumber"),
            _optional_int(inner.get("pcn")),
            _optional_int(inner.get("c")),
            payload if isinstance(payload, str) else None,
        )
    if kind == "SPLIT_KILL":
        name, default = inner.get("splitName"), inner.get("defaultTreatment")
        if not isinstance(name, str) or not isinstance(default, str):
            raise NotificationError("SPLIT_KILL without splitName or defaultTreatment")
        return FlagKill(_int(inner.get("changeNumber"), "changeNumber"), name, default)
    if kind == "SEGMENT_UPDATE":
        name = inner.get("segmentName")
        if not isinstance(name, str):
            raise NotificationError("SEGMENT_UPDATE without segmentName")
        return SegmentUpdate(_int(inner.get("changeNumber"), "changeNumber"), name)
    raise NotificationError(f"unknown notification type {safe_repr(kind)}")


def parse_error(data: str, max_depth: int = _DEFAULTS.json_max_depth) -> AblyError:
    body = _json(data, "error data", max_depth)
    return AblyError(
        _int(body.get("code"), "code"), _optional_int(body.get("statusCode")),
        str(body.get("message") or "")[:300],
    )


def decode_payload(
    payload: str, compression: int,
    max_bytes: int = _DEFAULTS.streaming_max_payload_bytes,
    max_depth: int = _DEFAULTS.json_max_depth,
) -> dict[str, Any]:
    """The flag or rule-based segment JSON embedded in an instant update."""
    return decode_payload_json(unpack_payload(payload, compression, max_bytes), max_depth)


def unpack_payload(
    payload: str, compression: int, max_bytes: int = _DEFAULTS.streaming_max_payload_bytes,
) -> bytes:
    """The payload's JSON bytes: base64-decoded and unpacked, never past ``max_bytes``."""
    what = "the update payload once unpacked"
    try:
        raw = base64.b64decode(payload)
        if compression == 1:
            raw = inflate(raw, GZIP, max_bytes, what, "streamingMaxPayloadBytes")
        elif compression == 2:
            raw = inflate(raw, ZLIB, max_bytes, what, "streamingMaxPayloadBytes")
        elif compression != 0:
            raise NotificationError(f"unknown compression {compression}")
        elif len(raw) > max_bytes:
            raise LimitExceeded(what, "streamingMaxPayloadBytes", max_bytes)
    except LimitExceeded as exc:
        raise PayloadTooLarge(str(exc)) from None
    except (ValueError, binascii.Error) as exc:
        if isinstance(exc, NotificationError):
            raise
        raise NotificationError(f"undecodable payload: {exc}") from None
    return raw


def decode_payload_json(raw: bytes | dict[str, Any], max_depth: int) -> dict[str, Any]:
    """Payload bytes (or an already decoded value) to the JSON object they must hold."""
    try:
        value = raw if isinstance(raw, dict) else bounded_json.parse(raw, max_depth)
    except DATA_ERRORS as exc:
        raise NotificationError(
            f"undecodable payload: {describe_data_error(exc, max_depth)}"
        ) from None
    if not isinstance(value, dict):
        raise NotificationError("payload is not an object")
    return value
