"""The storage actor: the single writer of the snapshot.

Sources (syncers, the streamer, the localhost file reader) send it messages; it derives the next
immutable snapshot with the pure functions of ``storage.snapshot``, publishes it with one
reference swap, and raises SDK events. Nothing else ever writes flag or segment data, so there is
nothing to lock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal

import anyio
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream

from ..lifecycle import READY, FactoryState
from ..sdk_events import SdkEventsHub, SdkEventType
from ..status import Change
from ..storage.snapshot import (
    apply_flag_changes,
    apply_segment_change,
    drop_segments,
    kill_flag,
)
from .messages import ApplyFlags, ApplySegment, KillFlag, MarkReady, StorageMessage

_LOGGER = logging.getLogger("splitio.storage")

INBOX_SIZE = 64  # senders wait when the storage actor is behind: updates are never dropped


class StorageActor:
    def __init__(
        self,
        state: FactoryState,
        inbox: MemoryObjectReceiveStream[StorageMessage],
        hub: SdkEventsHub,
        flag_sets_filter: frozenset[str] | None,
        on_ready: Callable[[], None],
        on_change: Callable[[Change], None] | None = None,
    ) -> None:
        self._state = state
        self._inbox = inbox
        self._hub = hub
        self._filter = flag_sets_filter
        self._on_ready = on_ready
        self._on_change = on_change

    def _changed(self, kind: Literal["flags", "segments"], names: frozenset[str],
                 change_number: int | None) -> None:
        if self._on_change is not None:
            self._on_change(Change(kind, names, change_number))

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        async with self._inbox:
            async for message in self._inbox:
                try:
                    self._apply(message)
                except Exception:  # a bad message must not take the only writer down
                    _LOGGER.exception("storage: could not apply %s", type(message).__name__)
                applied = getattr(message, "applied", None)
                if applied is not None:
                    applied.set()

    def apply_now(self, message: StorageMessage) -> None:
        """Apply one message at once, bypassing the inbox (loop thread only; the testing kit's
        immediate updates). ``_apply`` never awaits, so this cannot interleave with ``run``."""
        self._apply(message)

    def _apply(self, message: StorageMessage) -> None:
        state = self._state
        if isinstance(message, ApplyFlags):
            before = state.snapshot.referenced_segments()
            snapshot, changed = apply_flag_changes(state.snapshot, message.changes, self._filter)
            unused = before - snapshot.referenced_segments()
            state.snapshot = drop_segments(snapshot, unused)
            if changed:
                self._hub.emit_update(SdkEventType.FLAG_UPDATE, changed)
                self._changed("flags", changed, state.snapshot.flags_change_number)
            elif message.changes.rule_based_segments:
                self._hub.emit_update(SdkEventType.SEGMENTS_UPDATE, frozenset())
                self._changed(
                    "segments",
                    frozenset(rbs.name for rbs in message.changes.rule_based_segments),
                    state.snapshot.rule_based_segments_change_number,
                )
        elif isinstance(message, ApplySegment):
            if message.if_referenced and message.name not in state.snapshot.segments and (
                not state.snapshot.references(message.name)
            ):
                return
            state.snapshot = apply_segment_change(
                state.snapshot, message.name, message.added, message.removed, message.till,
                message.replace,
            )
            if message.added or message.removed or message.replace:
                self._hub.emit_update(SdkEventType.SEGMENTS_UPDATE, frozenset())
                self._changed("segments", frozenset({message.name}), message.till)
        elif isinstance(message, KillFlag):
            killed = kill_flag(
                state.snapshot, message.name, message.default_treatment, message.change_number
            )
            if killed is not None:
                state.snapshot = killed
                self._hub.emit_update(SdkEventType.FLAG_UPDATE, frozenset({message.name}))
                self._changed("flags", frozenset({message.name}), message.change_number)
        elif isinstance(message, MarkReady) and state.status is not READY:
            self._on_ready()
            self._hub.emit_ready()
