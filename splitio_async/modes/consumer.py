"""What the consumer modes share (spec: storage-redis.md): no sync and no streaming; every call
gathers its data from a store the Split Synchronizer keeps, through the I/O-free steps of one
``ConsumerView`` (composed into the cores as their ``Remote`` store; the factory's ``Driver``
runs the steps, their reads answered by the mode's reader), and the recorders and telemetry
write the Synchronizer's records there. A subclass says how the store is reached (Redis
connections, a user's storage wrapper): ``open`` connects the driver to its reader
(``connect_reader``) and returns the recorders' sink (``consumer_sink``).

Ready once the store answered and every flag definition was read once (the official SDK is ready
at once; we wait so that a store that cannot be read shows as not ready rather than as a stream
of errors).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar, Protocol

import anyio
from anyio.abc import TaskGroup

from .._threads import to_worker_thread
from ..actors.telemetry import new_intake
from ..core.remote import Remote, StorageProblems
from ..core.steps import drive_async
from ..models.events import Event
from ..models.impressions import Impression
from ..recording import Sink
from ..redis.sink import RedisTelemetry
from ..runtime.backoff import Backoff, ProblemLog
from ..status import ModeStatus
from ..storage.consumer_view import ConsumerView
from ..storage.reads import Answers, Reads, describe_error, unavailable
from ..transport.metadata import SdkMetadata, sdk_metadata
from .base import Mode, Parts

_LOGGER = logging.getLogger("splitio.client.factory")

RETRY_CAP = 5.0  # longest wait between attempts to reach the store at start

Read = Callable[[Reads], Awaitable[Answers]]


class ConsumerSink(Protocol):
    """What a consumer mode's sink writes: the recorders' records, the impression counters'
    counts and unique keys, and telemetry."""

    async def send_impressions(self, bulk: Sequence[Impression]) -> None: ...

    async def send_events(self, bulk: Sequence[Event]) -> None: ...

    async def post_impression_counts(self, body: dict[str, Any], mode: str) -> None: ...

    async def post_unique_keys(self, body: dict[str, Any]) -> None: ...

    async def write_init(self, active: int, redundant: int) -> None: ...

    async def write_telemetry(
        self, latencies: Counter[tuple[str, int]], exceptions: Counter[str]
    ) -> None: ...


class ConsumerMode(Mode):
    """A mode reading the Split Synchronizer's store (see the module docstring)."""

    store: ClassVar[str]  # how log lines name the store: "Redis", "the storage wrapper"
    logger: ClassVar[str]  # the logger of read problems
    problem_name: ClassVar[str]  # the key of the store's problem in ``status().last_errors``

    def __init__(self, parts: Parts, cache_ttl: float | None, data_sampling: float) -> None:
        if parts.config.flag_sets_filter is not None:
            _LOGGER.warning(
                "config: FlagSets filter is not applicable for Consumer modes where the SDK "
                "does keep rollout data in sync. FlagSet filter was discarded."
            )
        self._calls = new_intake()  # the hot path's call records, for telemetry
        self._view = ConsumerView(cache_ttl)
        self._remote = Remote(self._view, StorageProblems(self.store, self.logger),
                              data_sampling)
        super().__init__(parts, telemetry=self._calls, remote=self._remote)
        self._read: Read | None = None  # the view's reads, answered from the store
        self._sink: ConsumerSink | None = None
        self._telemetry: RedisTelemetry | None = None
        self._problem: str | None = None  # why the store could not be read at start
        self._reached = False  # the store answered once (destroy does not wait otherwise)

    def connect_reader(self, read: Read, read_blocking: Callable[[Reads], Answers]) -> None:
        """Answer the steps' reads with these: ``read`` in the event loop, ``read_blocking`` in
        a blocking caller's thread."""
        self._read = read
        self.driver.connect(read, read_blocking)

    async def metadata(self) -> SdkMetadata:
        """The machine name and address the records carry (detection in a worker thread)."""
        config = self.parts.config
        if config.ip_addresses_enabled and not (config.machine_ip and config.machine_name):
            return await to_worker_thread(
                sdk_metadata, True, config.machine_ip, config.machine_name
            )
        return sdk_metadata(config.ip_addresses_enabled, config.machine_ip, config.machine_name)

    def consumer_sink(self, sink: ConsumerSink) -> Sink:
        """The recorders' destination for ``sink`` (``open`` returns it)."""
        self._sink = sink
        return self.parts.recording.counted_sink(sink, sink.send_impressions, sink.send_events,
                                                 lambda: not self._reached)

    async def start(self, tg: TaskGroup) -> None:
        assert self._sink is not None
        self._telemetry = RedisTelemetry(self._sink, self._calls)
        await tg.start(self._telemetry.run)
        tg.start_soon(self._warm_up, self._sink)

    async def _warm_up(self, sink: ConsumerSink) -> None:
        """Retry until the store answers (``block_until_ready`` times out meanwhile), then mark
        the factory ready and write the telemetry init record."""
        assert self._read is not None
        backoff = Backoff(self.parts.config.sync_retry_base / 20, RETRY_CAP)
        problems = ProblemLog(_LOGGER)
        store = self.store
        while True:
            try:
                flags = await drive_async(self._view.warm_up(), self._read)
            except Exception as exc:
                if not unavailable(exc):  # data it could not use: calls meet it, and say so
                    _LOGGER.error("Data read from %s at start could not be used (%s); the SDK "
                                  "is ready without it", store, describe_error(exc))
                    flags = 0
                    break
                self._problem = describe_error(exc)
                problems.problem(f"{store[0].upper()}{store[1:]} cannot be read "
                                 f"({self._problem}); the SDK is not ready until it can")
                await anyio.sleep(backoff.next())
                continue
            break
        problems.recovered(store)
        self._problem = None
        self._reached = True
        self._remote.problems.recovered()  # e.g. a manager call made meanwhile
        _LOGGER.debug("%s consumer mode: %d flags in %s", self.name, flags, store)
        self.parts.mark_ready()
        try:
            await sink.write_init(*self.parts.live_totals())
        except Exception as exc:
            _LOGGER.debug("writing the telemetry init record failed: %r", exc)

    async def final_flush(self) -> None:
        if self._telemetry is not None:
            await self._telemetry.flush()

    def consumer_status(self, reason: str) -> ModeStatus:
        """The mode's ``status()``: consumer mode for ``reason``, with the store's current
        problem (a call's failure, or the start's) if it cannot be read now."""
        fragment = ModeStatus(self.name, "consumer", reason)
        problem = self._remote.problems.current or self._problem
        if problem is not None:
            fragment.problems[self.problem_name] = problem
        return fragment
