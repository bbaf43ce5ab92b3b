"""Applies streaming update notifications: an instant update when the payload follows our
change number, otherwise a fetch up to the notified change number (spec streaming.md §4, with
the recommended fixes S1, S3 and S4: new segments are fetched without a ``till``, each kind of
notification fetches up to its own change number, and a payload that cannot be applied falls
back to a fetch)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import anyio
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ..models.notifications import (
    FlagKill,
    FlagUpdate,
    NotificationError,
    RuleBasedSegmentUpdate,
    SegmentUpdate,
    decode_payload,
)
from ..models.rule_based_segments import parse_rule_based_segment
from ..models.splits import parse_split
from ..storage.snapshot import FlagChanges
from ..storage.state import FactoryState
from ..transport.errors import APIError
from .flag_syncer import FlagSyncer
from .messages import ApplyFlags, StorageMessage
from .segment_syncer import SegmentSyncer

_LOGGER = logging.getLogger("splitio.push.workers")

Update = FlagUpdate | RuleBasedSegmentUpdate | FlagKill | SegmentUpdate
QUEUE_SIZE = 1000  # notifications waiting; past that the streamer asks for a full sync instead


class PushWorker:
    def __init__(
        self,
        state: FactoryState,
        outbox: MemoryObjectSendStream[StorageMessage],
        flags: FlagSyncer,
        segments: SegmentSyncer,
        inbox: MemoryObjectReceiveStream[Update],
    ) -> None:
        self._state = state
        self._outbox = outbox
        self._flags = flags
        self._segments = segments
        self._inbox = inbox
        self.instant_updates = 0
        self.on_instant_update: Callable[[str], None] | None = None  # telemetry ("sp"/"rbs")

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        async with self._inbox:
            async for update in self._inbox:
                try:
                    await self._handle(update)
                except APIError as exc:
                    _LOGGER.warning("Fetching after a %s failed: %s", type(update).__name__, exc)
                except Exception:  # a bug must not stop streaming updates for good
                    _LOGGER.exception("Exception handling %s", update)

    async def _handle(self, update: Update) -> None:
        if isinstance(update, SegmentUpdate):
            await self._segments.sync(update.segment_name, update.change_number)
            return
        if isinstance(update, FlagKill):
            await self._flags.sync(till=update.change_number)
        elif isinstance(update, FlagUpdate):
            if not await self._instant_flag(update):
                await self._flags.sync(till=update.change_number)
        elif not await self._instant_rbs(update):
            await self._flags.sync(rbs_till=update.change_number)
        await self._segments.sync_new()

    async def _instant_flag(self, update: FlagUpdate) -> bool:
        snapshot = self._state.snapshot
        if (update.compression is None or update.payload is None
                or update.previous_change_number != snapshot.flags_change_number):
            return False
        try:
            split = parse_split(decode_payload(update.payload, update.compression))
        except (NotificationError, ValueError) as exc:
            _LOGGER.warning("Instant update not applicable (%s); fetching instead", exc)
            return False
        async with self._flags.busy:  # no fetch in flight: its older answer cannot undo this
            if update.previous_change_number != self._state.snapshot.flags_change_number:
                return False  # a fetch moved us meanwhile
            await self._apply(FlagChanges(flags=(split,), flags_till=update.change_number))
        if split.rule_based_segment_names - set(self._state.snapshot.rule_based_segments):
            await self._flags.sync()  # it needs rule-based segments we do not hold yet
        return True

    async def _instant_rbs(self, update: RuleBasedSegmentUpdate) -> bool:
        snapshot = self._state.snapshot
        if (update.compression is None or update.payload is None
                or update.previous_change_number != snapshot.rule_based_segments_change_number):
            return False
        try:
            segment = parse_rule_based_segment(
                decode_payload(update.payload, update.compression)
            )
        except (NotificationError, ValueError, KeyError, TypeError) as exc:
            _LOGGER.warning("Instant update not applicable (%s); fetching instead", exc)
            return False
        async with self._flags.busy:  # as for flags: not undone by a fetch in flight
            if (update.previous_change_number
                    != self._state.snapshot.rule_based_segments_change_number):
                return False
            await self._apply(FlagChanges(
                rule_based_segments=(segment,), rule_based_segments_till=update.change_number
            ), "rbs")
        return True

    async def _apply(self, changes: FlagChanges, kind: str = "sp") -> None:
        applied = anyio.Event()
        await self._outbox.send(ApplyFlags(changes, applied))
        await applied.wait()
        self.instant_updates += 1
        if self.on_instant_update is not None:
            self.on_instant_update(kind)
