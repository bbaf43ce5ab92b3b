"""Events recorded by ``track``."""

from __future__ import annotations

from typing import Any, NamedTuple


class Event(NamedTuple):
    key: str
    traffic_type_name: str
    event_type_id: str
    value: float | None
    timestamp: int
    properties: dict[str, Any] | None
    size: int
