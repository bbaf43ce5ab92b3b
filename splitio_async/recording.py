"""The recording side every mode shares: the hot path's two intakes (impressions, events), the
recorder actors that drain them into the mode's ``Sink``, and the counts ``status()`` and
telemetry read.

Only where records go differs between modes (Split's API, Redis lists, a test's ``recorded``
lists, nowhere in localhost mode), so a mode describes that with a ``Sink`` and everything else
(buffer sizes, wake-up thresholds, the final flush, the counts) is written once here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
from anyio.abc import TaskStatus

from .actors.impression_counters import CountsDestination, ImpressionCounters
from .actors.recorder import Recorder, discard
from .config import Config
from .engine.impressions import ImpressionsStrategy
from .models.events import Event
from .models.impressions import Impression, ImpressionRecord
from .models.telemetry import RecordingStats
from .runtime.intake import Intake

EVENTS_FLUSH_BYTES = 5 * 1024 * 1024  # queued event bytes that trigger a flush (official cap)
KINDS = ("impressions", "events")


def wake_threshold(bulk_size: int, capacity: int) -> int:
    """Wake the recorder at a bulk, or at half of the buffer if that comes first, so it has
    room to drain before a burst fills the buffer (the official SDK drops there instead)."""
    return max(1, min(bulk_size, capacity // 2))


@dataclass(frozen=True, slots=True)
class Sink:
    """Where a mode's recorders deliver.

    ``on_flush(final)`` runs after each flush (impression counts and unique keys, which the
    impressions mode only counted); ``give_up()`` says the destination never answered, so the
    final flush need not wait for the shutdown deadline; ``prepare_impressions`` replaces the
    impressions mode (dedup, counts) when the destination wants every impression."""

    send_impressions: Callable[[Sequence[Impression]], Awaitable[None]]
    send_events: Callable[[Sequence[Event]], Awaitable[None]]
    on_flush: Callable[[bool], Awaitable[None]]
    give_up: Callable[[], bool] | None = None
    prepare_impressions: Callable[[list[ImpressionRecord]], list[Impression]] | None = None


class Recording:
    """The intakes the hot path appends to and the two recorders that drain them."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self.impressions: Intake[ImpressionRecord] = Intake(
            config.impressions_queue_size,
            wake_threshold(config.impressions_bulk_size, config.impressions_queue_size),
        )
        self.events: Intake[Event] = Intake(
            config.events_queue_size,
            wake_threshold(config.events_bulk_size, config.events_queue_size),
            EVENTS_FLUSH_BYTES,
        )
        self.strategy = ImpressionsStrategy(config.impressions_mode)
        self.recorders: list[Recorder[Any, Any]] = []
        self._deduplicated = 0
        self._done = anyio.Event()

    # ------------------------------------------------------------------ sinks

    def counted_sink(
        self,
        counts: CountsDestination,
        send_impressions: Callable[[Sequence[Impression]], Awaitable[None]],
        send_events: Callable[[Sequence[Event]], Awaitable[None]],
        give_up: Callable[[], bool],
    ) -> Sink:
        """A destination that also takes impression counts and unique keys (Split's API,
        Redis)."""
        counters = ImpressionCounters(counts, self.strategy, self._config.impressions_mode)
        return Sink(send_impressions, send_events, counters.flush, give_up)

    def discarding_sink(self) -> Sink:
        """Nowhere (localhost mode, as the official SDK): the impressions mode still runs, so
        the hot path costs what it will in production, and its counts are forgotten."""
        strategy = self.strategy

        async def forget_counts(final: bool) -> None:
            strategy.pop_counts()
            if final or strategy.unique_keys_due:
                strategy.pop_unique_keys()

        return Sink(discard, discard, forget_counts)

    # ------------------------------------------------------------------ running

    async def start(self, tg: anyio.abc.TaskGroup, sink: Sink) -> None:
        """Start both recorders, delivering to ``sink``."""
        config = self._config
        strategy = self.strategy

        def prepare(records: list[ImpressionRecord]) -> list[Impression]:
            processed = strategy.process(records)
            self._deduplicated += processed.deduplicated
            return processed.to_send

        def keep(items: list[Event]) -> list[Event]:
            return items

        base, cap = config.sync_retry_base, config.sync_retry_max
        self.recorders = [
            Recorder("impressions", self.impressions, sink.prepare_impressions or prepare,
                     sink.send_impressions, config.impressions_refresh_rate,
                     config.impressions_bulk_size, sink.on_flush,
                     max_pending=config.impressions_queue_size + config.impressions_bulk_size,
                     retry_base=base, retry_cap=cap, give_up=sink.give_up),
            Recorder("events", self.events, keep, sink.send_events, config.events_push_rate,
                     config.events_bulk_size,
                     max_pending=config.events_queue_size + config.events_bulk_size,
                     retry_base=base, retry_cap=cap, give_up=sink.give_up),
        ]
        await tg.start(self._run)

    async def _run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        try:
            async with anyio.create_task_group() as recorders:
                for recorder in self.recorders:
                    await recorders.start(recorder.run)
                task_status.started()
        finally:
            self._done.set()

    def stop(self) -> None:
        """Ask every recorder for its final flush."""
        for recorder in self.recorders:
            recorder.stop()

    async def wait_done(self) -> None:
        """Until every recorder has made its final flush (or never started)."""
        if self.recorders:
            await self._done.wait()

    # ------------------------------------------------------------------ counts

    def delivery_counts(self) -> dict[str, int]:
        """Per kind (impressions, events): records delivered, dropped at a bound (a full buffer,
        or too many still waiting for the service) and lost at the shutdown deadline."""
        counts = {"impressions_dropped": self.impressions.dropped,
                  "events_dropped": self.events.dropped}
        for recorder in self.recorders:
            counts[f"{recorder.name}_delivered"] = recorder.delivered
            counts[f"{recorder.name}_lost"] = recorder.lost
            counts[f"{recorder.name}_dropped"] += recorder.dropped
        return counts

    def queue_depths(self) -> dict[str, int]:
        """Per kind: records buffered in the intake plus those the recorder holds."""
        pending = {recorder.name: recorder.pending for recorder in self.recorders}
        return {
            "impressions": len(self.impressions) + pending.get("impressions", 0),
            "events": len(self.events) + pending.get("events", 0),
        }

    def health(self) -> dict[str, Any]:
        """The health figures of ``FactoryStatus`` per kind: ``queued`` (handed to the
        recorder, after dedup), ``post_failures`` (failed sends, each retried) and
        ``last_delivery`` (epoch ms of the last flush that sent everything)."""
        recorders = {recorder.name: recorder for recorder in self.recorders}
        return {
            "queued": {kind: recorders[kind].received if kind in recorders else 0
                       for kind in KINDS},
            "post_failures": {kind: recorders[kind].failures if kind in recorders else 0
                              for kind in KINDS},
            "last_delivery": {kind: recorders[kind].last_success if kind in recorders else None
                              for kind in KINDS},
        }

    def problems(self) -> dict[str, str]:
        """Each recorder's last sending problem not recovered from yet."""
        return {recorder.name: recorder.last_problem for recorder in self.recorders
                if recorder.last_problem is not None}

    def stats(self) -> RecordingStats:
        """Cumulative counts for telemetry: queued = went through a recorder (after dedup),
        dropped = refused by a full buffer or a full retry list."""
        recorders = {recorder.name: recorder for recorder in self.recorders}
        impressions, events = recorders.get("impressions"), recorders.get("events")
        return RecordingStats(
            impressions_queued=impressions.delivered + impressions.lost if impressions else 0,
            impressions_deduped=self._deduplicated,
            impressions_dropped=self.impressions.dropped
            + (impressions.dropped if impressions else 0),
            events_queued=events.delivered + events.lost if events else 0,
            events_dropped=self.events.dropped + (events.dropped if events else 0),
        )
