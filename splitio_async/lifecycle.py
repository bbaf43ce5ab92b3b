"""A factory's lifecycle status, with the only code that changes it, and the registry of live
factories.

The status is read everywhere (one attribute read on the hot path) and written only by the
transitions of ``FactoryState``, each allowed from the states drawn here and returning whether
it happened, so that whoever asked for it knows whether to act (set the factory's events, log
the fork message)::

    NOT_INITIALIZED --become_ready--> READY
    NOT_INITIALIZED, READY --pause_for_fork--> WAITING_FORK   (the child of a fork: the event
                                                              loop stayed with the parent)
    DESTROYED --keep_for_fork--> WAITING_FORK                 (preforkedInitialization: data
                                                              loaded in the master, waiting for
                                                              resume() in each worker)
    any but DESTROYED --destroy--> DESTROYED

``SplitFactory`` drives them (ready, destroy, forks through ``prefork.forks``); the sync shim
asks the factory, never the state. Pure: no I/O, no event loop.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter

from .storage.snapshot import Snapshot

_LOGGER = logging.getLogger("splitio.client.factory")

NOT_INITIALIZED = "NOT_INITIALIZED"
READY = "READY"
DESTROYED = "DESTROYED"
WAITING_FORK = "WAITING_FORK"


class FactoryState:
    """What every client of one factory reads: its lifecycle ``status`` and the current
    ``snapshot`` (replaced, never mutated, by the storage actor).

    ``localhost``: the flags come from local data (files, a test's data), so no traffic type is
    unknown."""

    __slots__ = ("localhost", "snapshot", "status")

    def __init__(self, localhost: bool = False) -> None:
        self.status = NOT_INITIALIZED
        self.snapshot = Snapshot()
        self.localhost = localhost

    def become_ready(self) -> bool:
        """The first complete data set is in."""
        return self._move((NOT_INITIALIZED,), READY)

    def destroy(self) -> bool:
        """Ended for good (``destroy()``, or the factory's task group is gone)."""
        return self._move((NOT_INITIALIZED, READY, WAITING_FORK), DESTROYED)

    def pause_for_fork(self) -> bool:
        """In the child of a fork: the factory's event loop stayed with the parent."""
        return self._move((NOT_INITIALIZED, READY), WAITING_FORK)

    def keep_for_fork(self) -> bool:
        """A factory stopped after loading its data in a master process, kept for the forked
        workers to resume from."""
        return self._move((DESTROYED,), WAITING_FORK)

    def _move(self, sources: tuple[str, ...], target: str) -> bool:
        if self.status not in sources:
            return False
        self.status = target
        return True


class LiveFactories:
    """Live factories per SDK key, for the official "multiple factories" warnings and the
    telemetry of how many there are.

    The one piece of process-wide state about factories besides the fork registry
    (``prefork.forks``); tests reset it with ``reset()``.
    """

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, sdk_key: str) -> None:
        with self._lock:
            count = self._counts.get(sdk_key, 0)
            if self._counts and count > 0:
                _LOGGER.warning(
                    "factory instantiation: You already have %d %s with this SDK Key. We "
                    "recommend keeping only one instance of the factory at all times (Singleton "
                    "pattern) and reusing it throughout your application.",
                    count, "factory" if count == 1 else "factories",
                )
            elif self._counts and sdk_key not in self._counts:
                _LOGGER.warning(
                    "factory instantiation: You already have an instance of the Split factory. "
                    "Make sure you definitely want this additional instance. We recommend "
                    "keeping only one instance of the factory at all times (Singleton pattern) "
                    "and reusing it throughout your application."
                )
            self._counts[sdk_key] = count + 1

    def remove(self, sdk_key: str) -> None:
        with self._lock:
            self._counts[sdk_key] = max(0, self._counts.get(sdk_key, 0) - 1)

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()

    def totals(self) -> tuple[int, int]:
        """Live factories over all keys, and how many are redundant (telemetry ``aF``, ``rF``)."""
        with self._lock:
            counts = list(self._counts.values())
        return sum(counts), sum(max(0, count - 1) for count in counts)


live_factories = LiveFactories()
