"""Applies streaming update notifications: an instant update when the payload follows our
change number, otherwise a fetch up to the notified change number (spec streaming.md §4, with
the recommended fixes S1, S3 and S4: new segments are fetched without a ``till``, each kind of
notification fetches up to its own change number, and a payload that cannot be applied falls
back to a fetch).

Payloads are unpacked within ``streamingMaxPayloadBytes`` and decoded in slices; what cannot be
used (too large, malformed, nested too deeply) is logged at most once a minute per kind and the
update is fetched instead. Failed fetches and refused payloads show in ``status()`` (``problems``)
until an update is applied again."""

from __future__ import annotations

import logging
from collections.abc import Callable

import anyio
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream

from .. import bounded_json
from ..lifecycle import FactoryState
from ..limits import DATA_ERRORS, Limits, describe_data_error
from ..models.notifications import (
    FlagKill,
    FlagUpdate,
    NotificationError,
    PayloadTooLarge,
    RuleBasedSegmentUpdate,
    SegmentUpdate,
    decode_payload_json,
    unpack_payload,
)
from ..models.rule_based_segments import parse_rule_based_segment
from ..models.splits import parse_split
from ..runtime.backoff import ProblemLog, ThrottledLog
from ..runtime.slices import drive
from ..storage.snapshot import FlagChanges
from ..transport.errors import APIError
from .flag_syncer import FlagSyncer
from .messages import ApplyFlags
from .segment_syncer import SegmentSyncer
from .storage import StorageWriter

_LOGGER = logging.getLogger("splitio.push.workers")

Update = FlagUpdate | RuleBasedSegmentUpdate | FlagKill | SegmentUpdate
QUEUE_SIZE = 1000  # notifications waiting; past that the streamer asks for a full sync instead


class PushWorker:
    def __init__(
        self,
        state: FactoryState,
        storage: StorageWriter,
        flags: FlagSyncer,
        segments: SegmentSyncer,
        inbox: MemoryObjectReceiveStream[Update],
        limits: Limits | None = None,
        on_instant_update: Callable[[str], None] | None = None,
    ) -> None:
        self._state = state
        self._storage = storage
        self._flags = flags
        self._segments = segments
        self._inbox = inbox
        self._limits = limits or Limits()
        self._problems = ProblemLog(_LOGGER)  # fetches: recovered by the next handled update
        self._refusals = ProblemLog(_LOGGER)  # payloads: recovered when one is applied again
        self._throttled = ThrottledLog(_LOGGER)
        self.instant_updates = 0
        self._on_instant_update = on_instant_update  # telemetry: "sp" or "rbs"

    @property
    def last_problem(self) -> str | None:
        """The last problem with streamed updates (a refused payload, a failed fetch) that
        has not been recovered from."""
        return self._refusals.current or self._problems.current

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        async with self._inbox:
            async for update in self._inbox:
                try:
                    await self._handle(update)
                except APIError as exc:
                    self._problems.problem(f"Fetching after a streamed update failed: {exc}")
                except Exception:  # a bug must not stop streaming updates for good
                    _LOGGER.exception("Exception handling %s", type(update).__name__)
                else:
                    self._problems.recovered("streamed updates")

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
        raw = await self._payload(update.payload, update.compression)
        if raw is None:
            return False
        try:
            split = parse_split(raw)
        except DATA_ERRORS as exc:
            self._not_applicable(describe_data_error(exc))
            return False
        if not await self._apply(ApplyFlags(  # on the change number it follows, or not at all
            FlagChanges(flags=(split,), flags_till=update.change_number),
            expect_flags=update.previous_change_number,
        )):
            return False  # a fetch moved us meanwhile
        if split.rule_based_segment_names - set(self._state.snapshot.rule_based_segments):
            await self._flags.sync()  # it needs rule-based segments we do not hold yet
        return True

    async def _instant_rbs(self, update: RuleBasedSegmentUpdate) -> bool:
        snapshot = self._state.snapshot
        if (update.compression is None or update.payload is None
                or update.previous_change_number != snapshot.rule_based_segments_change_number):
            return False
        raw = await self._payload(update.payload, update.compression)
        if raw is None:
            return False
        try:
            segment = parse_rule_based_segment(raw)
        except DATA_ERRORS as exc:
            self._not_applicable(describe_data_error(exc))
            return False
        return await self._apply(ApplyFlags(
            FlagChanges(rule_based_segments=(segment,),
                        rule_based_segments_till=update.change_number),
            expect_rbs=update.previous_change_number,
        ), "rbs")

    async def _payload(self, payload: str, compression: int) -> dict[str, object] | None:
        """The payload's JSON object, or None (logged) when it cannot be used."""
        limits = self._limits
        try:
            raw = unpack_payload(payload, compression, limits.streaming_max_payload_bytes)
            value = await drive(bounded_json.parse_steps(raw, limits.json_max_depth))
            return decode_payload_json(value, limits.json_max_depth)
        except PayloadTooLarge as exc:  # a constant text: logged once until an update applies
            self._refusals.problem(f"Instant update refused: {exc}; fetching instead")
        except NotificationError as exc:
            self._not_applicable(str(exc))
        except DATA_ERRORS as exc:
            self._not_applicable(describe_data_error(exc, limits.json_max_depth))
        return None

    def _not_applicable(self, problem: str) -> None:
        self._throttled.log(logging.WARNING, "payload",
                            "Instant update not applicable (%s); fetching instead", problem)

    async def _apply(self, message: ApplyFlags, kind: str = "sp") -> bool:
        """Apply an instant update; False when the data moved since the notification."""
        if not await self._storage.apply(message):
            return False
        self._refusals.recovered("instant updates")
        self.instant_updates += 1
        if self._on_instant_update is not None:
            self._on_instant_update(kind)
        return True
