"""What every mode provides, and the parts of a factory a mode is built from.

A mode is one way of getting flag data and delivering records: standalone (Split's API),
localhost (files), testing (a data source passed in the config), Redis (the Split Synchronizer's
cache). The factory picks one (``modes.select``), builds it from ``Parts`` and then only drives
its lifecycle: ``open()`` (connections; returns the recorders' ``Sink``), ``start(tg)`` (the
mode's actors, in the factory's task group), ``final_flush()`` and ``aclose()`` at shutdown.
In between, the clients use the mode's ``core``, ``manager_core`` and ``driver`` (a mode composes
its telemetry and, for a remote store, its reads into the cores: see ``core``), and ``status()``
asks the mode for its ``ModeStatus``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Protocol

from anyio.abc import TaskGroup
from anyio.lowlevel import checkpoint

from ..actors.storage import StorageActor, StorageWriter
from ..config import Config
from ..core.evaluation import EvaluationCore
from ..core.manager import ManagerCore
from ..core.remote import Remote
from ..core.steps import Driver
from ..lifecycle import FactoryState
from ..models.telemetry import CallRecord
from ..recording import Recording, Sink
from ..runtime.intake import Intake
from ..sdk_events import SdkEventsHub
from ..status import ChangeFeed, ModeStatus
from ..storage.snapshot import Snapshot

if TYPE_CHECKING:
    from ..actors.push import PushSupervisor


class CoreBuilder(Protocol):
    """Builds the factory's evaluation core (its state, evaluator, intakes and listener) with
    what the mode composes in."""

    def __call__(
        self, *, telemetry: Intake[CallRecord] | None = None, remote: Remote | None = None
    ) -> EvaluationCore: ...


@dataclass(frozen=True, slots=True)
class Parts:
    """What the factory builds for every mode: the shared state clients read, the builder of
    the evaluation core, the SDK-events hub, the change feed, the recording side, and the
    lifecycle callback a mode calls once its data is complete."""

    sdk_key: str
    config: Config
    urls: dict[str, str | None]
    state: FactoryState
    core: CoreBuilder
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

    def __init__(
        self, parts: Parts, *, telemetry: Intake[CallRecord] | None = None,
        remote: Remote | None = None,
    ) -> None:
        """``telemetry``: the intake the hot path times its calls into (None: not timed);
        ``remote``: the store whose reads need I/O, for the consumer modes (None: the snapshot)."""
        self.parts = parts
        self.core: EvaluationCore = parts.core(telemetry=telemetry, remote=remote)
        self.manager_core = ManagerCore(parts.state, remote)
        # settles the cores' answers; a remote mode connects it to its store in ``open()``
        self.driver = Driver(self.core.backlogged, checkpoint)

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

    # for the modes whose data lives in memory

    async def start_storage(self, tg: TaskGroup) -> StorageWriter:
        """Start the storage actor, the single writer of the snapshot; the one way to write to
        it."""
        parts = self.parts
        storage = StorageActor(
            parts.state, parts.hub, parts.config.flag_sets_filter, parts.mark_ready,
            parts.changes.publish,
        )
        await tg.start(storage.run)
        return storage.writer


def destroyed_status(mode: str) -> ModeStatus:
    return ModeStatus(mode, "none", "factory destroyed")
