"""The status API: ``factory.status()`` (a plain call) and ``factory.changes()`` (async only).

``FactoryStatus`` is a frozen picture of one factory, read from what its actors already keep:
readiness, how data is kept current and why, when the last fetch succeeded, change numbers,
what waits to be sent, delivery counts, and the problems not recovered from yet.

``changes()`` needs an event loop: each subscriber gets its own bounded memory object stream of
``CHANGES_BUFFER`` ``Change`` objects fed by the storage actor. When a slow subscriber's stream is
full the *oldest* waiting change is dropped (the newest ones describe the current data best) and
counted in the subscription's ``dropped``. Iteration ends when the factory is destroyed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

if TYPE_CHECKING:
    from .actors.push import PushSupervisor
    from .hooks import HookRunner
    from .recording import Recording
    from .storage.snapshot import Snapshot

KINDS = ("impressions", "events")
CHANGES_BUFFER = 100  # changes waiting per subscriber before the oldest is dropped


@dataclass(frozen=True, slots=True)
class Change:
    """Flags or segments the storage actor just changed (a kill, an update, a segment)."""

    kind: Literal["flags", "segments"]
    names: frozenset[str]
    change_number: int | None = None


@dataclass(frozen=True, slots=True)
class FactoryStatus:
    """What one factory is doing right now (see docs/status.md)."""

    ready: bool
    destroyed: bool
    mode: str  # "standalone" | "localhost" | "testing" | "redis" | "pluggable"
    sync_mode: str  # "streaming" | "polling" | "files" | "consumer" | "none"
    sync_reason: str
    last_sync: dict[str, int | None]  # epoch ms of the last successful fetch: flags, segments
    change_numbers: dict[str, object]  # flags, rule_based_segments: int; segments: {name: int}
    queue_depths: dict[str, int]  # impressions, events: buffered plus pending in the recorder
    delivered: dict[str, int]
    dropped: dict[str, int]
    lost: dict[str, int]
    last_errors: dict[str, str]  # per source: the last problem not recovered from yet
    # health figures (docs/observability.md): per kind (impressions, events) unless noted
    queued: dict[str, int] = field(default_factory=dict)  # handed to the recorder, cumulative
    post_failures: dict[str, int] = field(default_factory=dict)  # failed sends (each retried)
    last_delivery: dict[str, int | None] = field(default_factory=dict)  # epoch ms
    streaming: dict[str, object] = field(default_factory=dict)  # connected, connections, ...
    hooks: dict[str, int] = field(default_factory=dict)  # registered, off_hot_path, errors...


class ChangeSubscription:
    """One subscriber of ``factory.changes()``: ``async for change in subscription``.

    Ends when the factory is destroyed or on ``aclose()`` (also ``async with``)."""

    def __init__(self, feed: ChangeFeed) -> None:
        self._feed = feed
        self._send: MemoryObjectSendStream[Change]
        self._receive: MemoryObjectReceiveStream[Change]
        self._send, self._receive = anyio.create_memory_object_stream[Change](CHANGES_BUFFER)
        self.dropped = 0  # changes dropped because this subscriber's stream was full

    def _offer(self, change: Change) -> None:
        try:
            self._send.send_nowait(change)
        except anyio.WouldBlock:  # full: drop the oldest waiting change, keep the newest
            self.dropped += 1
            self._receive.receive_nowait()
            self._send.send_nowait(change)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass

    def _end(self) -> None:
        """No more changes: what is buffered is still delivered, then iteration stops."""
        self._send.close()

    def __aiter__(self) -> ChangeSubscription:
        return self

    async def __anext__(self) -> Change:
        try:
            return await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            await self.aclose()
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        """Stop receiving changes (iteration ends); idempotent, never raises."""
        self._feed.unsubscribe(self)
        self._send.close()
        self._receive.close()

    async def __aenter__(self) -> ChangeSubscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __del__(self) -> None:  # an abandoned subscription: close its stream quietly
        self._send.close()
        self._receive.close()


class ChangeFeed:
    """Fans the storage actor's changes out to every subscriber (event loop thread only)."""

    def __init__(self) -> None:
        self._subscribers: list[ChangeSubscription] = []
        self._closed = False

    def subscribe(self) -> ChangeSubscription:
        subscription = ChangeSubscription(self)
        if self._closed:
            subscription._end()
        else:
            self._subscribers.append(subscription)
        return subscription

    def unsubscribe(self, subscription: ChangeSubscription) -> None:
        if subscription in self._subscribers:
            self._subscribers.remove(subscription)

    def publish(self, change: Change) -> None:
        for subscription in self._subscribers:
            subscription._offer(change)

    def close(self) -> None:
        self._closed = True
        for subscription in self._subscribers:
            subscription._end()
        self._subscribers.clear()


@dataclass(frozen=True, slots=True)
class ModeStatus:
    """A mode's part of ``status()``: what it is, how it keeps data current and why, when its
    last fetch succeeded, and its parts' current problems."""

    mode: str
    sync_mode: str
    sync_reason: str
    last_sync: dict[str, int | None] = field(
        default_factory=lambda: {"flags": None, "segments": None}
    )
    problems: dict[str, str] = field(default_factory=dict)
    streaming: dict[str, object] = field(default_factory=lambda: streaming_figures(None))


def describe(
    *,
    ready: bool,
    destroyed: bool,
    mode: ModeStatus,
    snapshot: Snapshot,
    recording: Recording,
    hooks: HookRunner | None = None,
) -> FactoryStatus:
    """Assemble ``factory.status()`` from the mode's part, the recorders and the snapshot (plain
    reads, any thread)."""
    counts = recording.delivery_counts()
    return FactoryStatus(
        ready=ready,
        destroyed=destroyed,
        mode=mode.mode,
        sync_mode=mode.sync_mode,
        sync_reason=mode.sync_reason,
        last_sync=dict(mode.last_sync),
        change_numbers={
            "flags": snapshot.flags_change_number,
            "rule_based_segments": snapshot.rule_based_segments_change_number,
            "segments": dict(snapshot.segment_change_numbers),
        },
        queue_depths=recording.queue_depths(),
        delivered={kind: counts.get(f"{kind}_delivered", 0) for kind in KINDS},
        dropped={kind: counts.get(f"{kind}_dropped", 0) for kind in KINDS},
        lost={kind: counts.get(f"{kind}_lost", 0) for kind in KINDS},
        last_errors={**recording.problems(), **mode.problems},
        **recording.health(),
        streaming=dict(mode.streaming),
        hooks=hook_figures(hooks),
    )


def hook_figures(runner: HookRunner | None) -> dict[str, int]:
    """Hooks registered, how many were moved off the hot path (too slow), the exceptions they
    raised, and the off-path calls dropped because the hook worker's queue was full."""
    entries = runner.entries if runner is not None else ()
    return {
        "registered": len(entries),
        "off_hot_path": sum(1 for entry in entries if entry.deferred and not entry.is_async),
        "errors": sum(entry.errors for entry in entries),
        "dropped": runner.dropped if runner is not None else 0,
    }


def streaming_figures(push: PushSupervisor | None) -> dict[str, object]:
    """Whether the stream is up now, how many times it was opened, and so how many times it
    had to be opened again (a token refresh counts: it reconnects)."""
    connections = push.connections if push is not None else 0
    return {
        "enabled": push is not None,
        "connected": bool(push is not None and push.streaming),
        "connections": connections,
        "reconnects": max(0, connections - 1),
    }
