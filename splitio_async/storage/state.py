"""The state every client of one factory shares: its status and the current snapshot.

``snapshot`` is replaced (never mutated) by the storage actor; readers take one attribute read.
"""

from __future__ import annotations

from .snapshot import Snapshot

NOT_INITIALIZED = "NOT_INITIALIZED"
READY = "READY"
DESTROYED = "DESTROYED"
WAITING_FORK = "WAITING_FORK"


class FactoryState:
    __slots__ = ("localhost", "snapshot", "status")

    def __init__(self, localhost: bool = False) -> None:
        self.status = NOT_INITIALIZED
        self.snapshot = Snapshot()
        self.localhost = localhost
