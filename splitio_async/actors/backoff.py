"""Exponential backoff with jitter, and "log each distinct problem once per backoff cycle"."""

from __future__ import annotations

import logging
import random


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

    def problem(self, message: str, level: int = logging.WARNING) -> None:
        self.current = message
        if message not in self._seen:
            self._seen.add(message)
            self._logger.log(level, "%s", message)

    def recovered(self, what: str) -> None:
        self.current = None
        if self._seen:
            self._seen.clear()
            self._logger.info("%s: recovered", what)
