"""Exponential backoff with jitter, "log each distinct problem once per backoff cycle", and
rate-limited warnings for what can arrive in floods."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable


class Backoff:
    """``base * 2**attempt`` capped at ``cap``, each wait jittered to 50-100 % so that many SDK
    instances restarted together do not retry in lockstep."""

    def __init__(self, base: float, cap: float) -> None:
        self.base = base
        self.cap = cap
        self.attempt = 0

    def next(self) -> float:
        wait: float = min(self.base * (2 ** self.attempt), self.cap)
        self.attempt += 1
        return wait * random.uniform(0.5, 1.0)

    def reset(self) -> None:
        self.attempt = 0


class ProblemLog:
    """Logs a problem the first time it is seen in a cycle (a cycle ends with a success), so a
    service that is down for an hour gives one line per kind of failure, not one per request."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._seen: set[str] = set()
        self.current: str | None = None  # the last problem since the last recovery

    def problem(
        self, message: str, level: int = logging.WARNING, exc_info: BaseException | None = None
    ) -> None:
        """Record a problem; log it (with ``exc_info``'s traceback, for a bug) the first time
        it is seen in this cycle."""
        self.current = message
        if message not in self._seen:
            if len(self._seen) >= 100:  # bounded: a flood of distinct messages
                self._seen.clear()
            self._seen.add(message)
            self._logger.log(level, "%s", message, exc_info=exc_info)

    def recovered(self, what: str, forget: bool = True) -> None:
        """The problem is over. ``forget`` False keeps the problems seen, so they are not
        logged again if they come back (a recovery that may not last)."""
        self.current = None
        if self._seen and forget:
            self._seen.clear()
            self._logger.info("%s: recovered", what)


class ThrottledLog:
    """At most one line per kind of message every ``interval`` seconds; the next line of that
    kind says how many were left out meanwhile. For what a server can send in floods (thousands
    of malformed messages a second must not become thousands of log lines)."""

    def __init__(
        self, logger: logging.Logger, interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._interval = interval
        self._clock = clock
        self._kinds: dict[str, tuple[float, int]] = {}  # kind -> (last logged at, left out)
        self.suppressed = 0  # lines left out in all

    def log(self, level: int, kind: str, message: str, *args: object) -> None:
        now = self._clock()
        last, left_out = self._kinds.get(kind, (None, 0))
        if last is not None and now - last < self._interval:
            self._kinds[kind] = (last, left_out + 1)
            self.suppressed += 1
            return
        if len(self._kinds) >= 100 and kind not in self._kinds:  # bounded: forget the oldest
            del self._kinds[min(self._kinds, key=lambda k: self._kinds[k][0])]
        self._kinds[kind] = (now, 0)
        if left_out and last is not None:
            message += " (%d more like this in the last %d s)"
            args = (*args, left_out, round(now - last))
        self._logger.log(level, message, *args)
