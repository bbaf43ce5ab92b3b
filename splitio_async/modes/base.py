"""What every mode provides, and the parts of a factory a mode is built from.

A mode is one way of getting flag data and delivering records: standalone (Split's API),
localhost (files), testing (a data source passed in the config), Redis (the Split Synchronizer's
cache). The factory picks one (``modes.select``), builds it from ``Parts`` and then only drives
its lifecycle: ``open()`` (connections; returns the recorders' ``Sink``), ``start(tg)`` (the
mode's actors, in the factory's task group), ``final_flush()`` and ``aclose()`` at shutdown.
In between, the clients use the mode's ``core`` and ``manager_core``, and ``status()`` asks
the mode for its ``ModeStatus``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectSendStream

from ..actors.messages import StorageMessage
from ..actors.storage import INBOX_SIZE, StorageActor
from ..config import Config
from ..lifecycle import FactoryState
from ..lowlevel import EvaluationCore, Steps
from ..manager import ManagerCore
from ..recording import Recording, Sink
from ..sdk_events import SdkEventsHub
from ..status import ChangeFeed, ModeStatus
from ..steps import drive_sync
from ..storage.snapshot import Snapshot

if TYPE_CHECKING:
    from ..actors.push import PushSupervisor


@dataclass(frozen=True, slots=True)
class Parts:
    """What the factory builds for every mode: the shared state clients read, the in-memory
    evaluation core, the SDK-events hub, the change feed, the recording side, and the
    lifecycle callback a mode calls once its data is complete."""

    sdk_key: str
    config: Config
    urls: dict[str, str | None]
    state: FactoryState
    core: EvaluationCore
    hub: SdkEventsHub
    changes: ChangeFeed
    recording: Recording
    mark_ready: Callable[[], None]
    seed: Snapshot | None  # live data handed over to a preforked worker
    live_totals: Callable[[], tuple[int, int]]  # live and redundant factories (telemetry)
    created: float  # time.monotonic() at construction (telemetry's time until ready)


class Mode:
    """One way of running a factory (see the module docstring). Subclasses set ``name`` and
    ``applies``; the defaults here are those of a mode with in-memory data and no telemetry."""

    name: ClassVar[str]
    # flags come from local data (files, a test's data): no traffic type is ever unknown
    local_data: ClassVar[bool] = False

    push: PushSupervisor | None = None  # streaming's supervisor (standalone mode)
    last_error: str | None = None  # a problem that stopped syncing for good
    bootstrapped_from: str | None = None  # the snapshot file served before live data

    @classmethod
    def applies(cls, sdk_key: str, config: Config) -> bool:
        """Whether this mode serves ``sdk_key`` with ``config`` (asked in ``modes.MODES``
        order; the first that applies wins)."""
        raise NotImplementedError

    def __init__(self, parts: Parts) -> None:
        self.parts = parts
        self.core: EvaluationCore = parts.core
        self.manager_core: ManagerCore = ManagerCore(parts.state)

    async def open(self) -> Sink:
        """Open what the mode connects to; where the recorders deliver."""
        raise NotImplementedError

    async def start(self, tg: TaskGroup) -> None:
        """Start the mode's actors in ``tg`` (after the recorders); raises a start-up error."""
        raise NotImplementedError

    def status(self, ready: bool, destroyed: bool) -> ModeStatus:
        """The mode's part of ``factory.status()``."""
        raise NotImplementedError

    async def final_flush(self) -> None:
        """At shutdown, after the recorders' final flush and under the same deadline."""

    async def aclose(self) -> None:
        """Close what ``open()`` opened (shielded; runs whether or not ``start`` succeeded)."""

    # telemetry of the lifecycle (standalone mode reports them to Split)

    def note_ready(self, elapsed_ms: float) -> None:
        """The factory became ready ``elapsed_ms`` after it was built."""

    def note_ready_timeout(self) -> None:
        """A ``block_until_ready`` timed out."""

    # calls whose data needs I/O (Redis consumer mode; see ``steps``)

    async def run_steps(self, steps: Steps[Any]) -> Any:
        """Run a call's steps on this event loop."""
        return drive_sync(steps, not_connected)

    def run_steps_blocking(self, steps: Steps[Any]) -> Any:
        """Run a call's steps in the calling thread."""
        return drive_sync(steps, not_connected)

    # for the modes whose data lives in memory

    async def start_storage(
        self, tg: TaskGroup
    ) -> tuple[MemoryObjectSendStream[StorageMessage], StorageActor]:
        """Start the storage actor, the single writer of the snapshot; its inbox's send end."""
        parts = self.parts
        send, receive = anyio.create_memory_object_stream[StorageMessage](INBOX_SIZE)
        storage = StorageActor(
            parts.state, receive, parts.hub, parts.config.flag_sets_filter, parts.mark_ready,
            parts.changes.publish,
        )
        await tg.start(storage.run)
        return send, storage


def not_connected(batch: Any) -> list[Any]:
    """The executor of a mode that has no connection for steps (yet, or any more): the call
    fails like a lost Redis."""
    raise ConnectionError("the factory is not connected to Redis")


def destroyed_status(mode: str) -> ModeStatus:
    return ModeStatus(mode, "none", "factory destroyed")
