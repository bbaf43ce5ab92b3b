"""Whether streaming is usable, from occupancy and control notifications (pure logic).

Split's control channels report how many publishers are alive and whether streaming is
enabled, paused or disabled; this turns that into UP / DOWN / OFF decisions, ignoring stale
messages, as the official status tracker does (spec streaming.md §5).
"""

from __future__ import annotations

import enum

from ..models.notifications import Control, Occupancy


class PushStatus(enum.Enum):
    UP = "up"
    DOWN = "down"  # temporarily: poll, keep the connection and wait
    OFF = "off"  # disabled for good: poll forever


ENABLED = frozenset({"STREAMING_ENABLED", "STREAMING_RESUMED"})
PAUSED = "STREAMING_PAUSED"
DISABLED = "STREAMING_DISABLED"
KNOWN = ENABLED | {PAUSED, DISABLED}


class StatusTracker:
    def __init__(self) -> None:
        self.publishers = {"control_pri": 2, "control_sec": 2}
        self.last_control = "STREAMING_ENABLED"
        self.status = PushStatus.UP
        self._occupancy_time = -1
        self._control_time = -1

    def on_occupancy(self, message: Occupancy) -> PushStatus | None:
        """The new status if it changed, else None."""
        if message.channel not in self.publishers or message.timestamp < self._occupancy_time:
            return None
        self._occupancy_time = message.timestamp
        self.publishers[message.channel] = message.publishers
        return self._evaluate()

    def on_control(self, message: Control) -> PushStatus | None:
        if message.control_type not in KNOWN or message.timestamp < self._control_time:
            return None  # unknown types (e.g. STREAMING_RESET) must not replace the last one
        self._control_time = message.timestamp
        self.last_control = message.control_type
        return self._evaluate()

    def _evaluate(self) -> PushStatus | None:
        occupied = any(n > 0 for n in self.publishers.values())
        enabled = self.last_control in ENABLED
        new = self.status
        if self.last_control == DISABLED:
            new = PushStatus.OFF
        elif self.status is PushStatus.UP and (not occupied or self.last_control == PAUSED):
            new = PushStatus.DOWN
        elif self.status is PushStatus.DOWN and occupied and enabled:
            new = PushStatus.UP
        if new is self.status:
            return None
        self.status = new
        return new
