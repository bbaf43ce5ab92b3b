"""The storage actor: the single writer of the snapshot, and ``StorageWriter``, the one way to
write to it.

Sources (syncers, the streamer, the localhost file reader, bootstrap, the testing kit) hold a
``StorageWriter``. Every write is a message in the actor's inbox, applied in the order it
entered: the actor derives the next immutable snapshot with the pure functions of
``storage.snapshot``, publishes it with one reference swap, and raises SDK events. Nothing else
ever writes flag or segment data, so there is nothing to lock, and write order is the inbox's
alone (a fetched page and an instant update that race are told apart by the change numbers they
expect, see ``ApplyFlags``).

The inbox is bounded (``INBOX_SIZE``): senders wait for room when the actor is behind, updates
are never dropped. ``apply`` is a message with a reply (LaunchDarkly's
``_post_message_and_wait``); ``apply_now`` serves synchronous callers on the loop thread: it
applies the inbox up to its own message on the caller's stack, which is safe because applying
never awaits.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import anyio
import anyio.lowlevel
from anyio.abc import TaskStatus

from ..lifecycle import READY, FactoryState
from ..sdk_events import SdkEventsHub, SdkEventType
from ..status import Change
from ..storage.snapshot import (
    apply_flag_changes,
    apply_segment_change,
    drop_segments,
    kill_flag,
)
from .messages import ApplyFlags, ApplySegment, KillFlag, StorageMessage

_LOGGER = logging.getLogger("splitio.storage")

INBOX_SIZE = 64  # senders wait when the storage actor is behind: updates are never dropped


@dataclass(slots=True, eq=False)
class _Letter:
    """A message in the inbox, with its reply when the sender waits for one."""

    message: StorageMessage
    done: anyio.Event | None = None
    applied: bool = False
    lost: bool = False  # the actor stopped before applying it


class StorageWriter:
    """The send side of the storage actor's inbox, shared by every source."""

    __slots__ = ("_actor",)

    def __init__(self, actor: StorageActor) -> None:
        self._actor = actor

    async def apply(self, message: StorageMessage) -> bool:
        """Send ``message`` and wait until it is applied (the new snapshot is published).
        False when the actor refused it: an ``ApplyFlags`` whose expected change numbers
        moved, a fetched segment no flag references any more, a kill older than the flag.
        ``anyio.BrokenResourceError`` once the actor has stopped."""
        letter = _Letter(message, anyio.Event())
        await self._actor._put(letter)
        assert letter.done is not None
        await letter.done.wait()
        if letter.lost:
            raise anyio.BrokenResourceError
        return letter.applied

    async def post(self, message: StorageMessage) -> None:
        """Send ``message`` without waiting for it to be applied (only for room in the
        inbox)."""
        await self._actor._put(_Letter(message))

    def apply_now(self, message: StorageMessage) -> bool:
        """Apply ``message`` before returning, from synchronous code on the event loop's
        thread (the testing kit: a change is visible as soon as its call returns). What is
        already in the inbox is applied first, so the order of writes stays the inbox's."""
        return self._actor._apply_now(message)


class StorageActor:
    def __init__(
        self,
        state: FactoryState,
        hub: SdkEventsHub,
        flag_sets_filter: frozenset[str] | None,
        on_ready: Callable[[], None],
        on_change: Callable[[Change], None] | None = None,
        inbox_size: int = INBOX_SIZE,
    ) -> None:
        self._state = state
        self._hub = hub
        self._filter = flag_sets_filter
        self._on_ready = on_ready
        self._on_change = on_change
        self._inbox: deque[_Letter] = deque()
        self._room = anyio.Semaphore(inbox_size)
        self._arrived = anyio.Event()
        self._stopped = False
        self.writer = StorageWriter(self)

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        try:
            while True:
                while not self._inbox:
                    await self._arrived.wait()
                    self._arrived = anyio.Event()
                self._deliver(self._take())
                await anyio.lowlevel.checkpoint()  # senders and readers run between messages
        finally:
            self._stopped = True
            while self._inbox:
                letter = self._take()
                letter.lost = True
                if letter.done is not None:
                    letter.done.set()

    # ------------------------------------------------------------------ the inbox

    async def _put(self, letter: _Letter) -> None:
        if self._stopped:
            raise anyio.BrokenResourceError
        try:  # room nearly always: no checkpoint on the way into the inbox
            self._room.acquire_nowait()
        except anyio.WouldBlock:
            await self._room.acquire()
        if self._stopped:
            self._room.release()
            raise anyio.BrokenResourceError
        self._inbox.append(letter)
        self._arrived.set()

    def _take(self) -> _Letter:
        letter = self._inbox.popleft()
        self._room.release()
        return letter

    def _apply_now(self, message: StorageMessage) -> bool:
        while self._inbox:
            self._deliver(self._take())
        letter = _Letter(message)
        self._deliver(letter)
        return letter.applied

    def _deliver(self, letter: _Letter) -> None:
        try:
            letter.applied = self._apply(letter.message)
        except Exception:  # a bad message must not take the only writer down
            _LOGGER.exception("storage: could not apply %s", type(letter.message).__name__)
        if letter.done is not None:
            letter.done.set()

    # ------------------------------------------------------------------ applying (never awaits)

    def _changed(self, kind: Literal["flags", "segments"], names: frozenset[str],
                 change_number: int | None) -> None:
        if self._on_change is not None:
            self._on_change(Change(kind, names, change_number))

    def _apply(self, message: StorageMessage) -> bool:
        if isinstance(message, ApplyFlags):
            return self._apply_flags(message)
        if isinstance(message, ApplySegment):
            return self._apply_segment(message)
        if isinstance(message, KillFlag):
            return self._kill(message)
        if self._state.status is not READY:  # MarkReady
            self._on_ready()
            self._hub.emit_ready()
        return True

    def _apply_flags(self, message: ApplyFlags) -> bool:
        state = self._state
        if (message.expect_flags is not None
                and state.snapshot.flags_change_number != message.expect_flags) or (
            message.expect_rbs is not None
                and state.snapshot.rule_based_segments_change_number != message.expect_rbs):
            return False  # something else changed the data meanwhile: the sender fetches again
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
        return True

    def _apply_segment(self, message: ApplySegment) -> bool:
        state = self._state
        if message.if_referenced and message.name not in state.snapshot.segments and (
            not state.snapshot.references(message.name)
        ):
            return False
        state.snapshot = apply_segment_change(
            state.snapshot, message.name, message.added, message.removed, message.till,
            message.replace,
        )
        if message.added or message.removed or message.replace:
            self._hub.emit_update(SdkEventType.SEGMENTS_UPDATE, frozenset())
            self._changed("segments", frozenset({message.name}), message.till)
        return True

    def _kill(self, message: KillFlag) -> bool:
        state = self._state
        killed = kill_flag(
            state.snapshot, message.name, message.default_treatment, message.change_number
        )
        if killed is None:
            return False
        state.snapshot = killed
        self._hub.emit_update(SdkEventType.FLAG_UPDATE, frozenset({message.name}))
        self._changed("flags", frozenset({message.name}), message.change_number)
        return True
