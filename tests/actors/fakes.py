"""Fakes for driving one actor alone: a clock moved by hand, a scripted Split API, auth and SSE
source, a recording sync control and telemetry, and a storage actor to write into.

Determinism rules of this suite (tests/actors): no sleep and no wall-clock timing; time moves
only when a test calls ``FakeClock.advance``, which fires the due timers in order and lets every
task run to a standstill (``anyio.wait_all_tasks_blocked``) after each; every wait is bounded by
``anyio.fail_after``; both anyio backends.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from splitio_async.actors.storage import StorageActor, StorageWriter
from splitio_async.lifecycle import FactoryState
from splitio_async.sdk_events import SdkEventsHub
from splitio_async.transport.errors import StreamError
from splitio_async.transport.protocols import SPEC_VERSION, PushDisabled, Token

WAIT = 5.0  # seconds any single wait of a test may take before it fails


class FakeClock:
    """The ``Clock`` port, moved by hand. ``sleep`` and ``deadline`` register timers that
    ``advance`` fires when their time comes."""

    def __init__(self, start: float = 1000.0, epoch: float = 1_700_000_000.0) -> None:
        self._now = start
        self._epoch_offset = epoch - start
        self._timers: list[list[Any]] = []  # [due, scope]

    def now(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._now + self._epoch_offset

    @contextmanager
    def deadline(self, seconds: float, shield: bool = False) -> Iterator[anyio.CancelScope]:
        scope = anyio.CancelScope(shield=shield)
        timer = [self._now + seconds, scope]
        self._timers.append(timer)
        if seconds <= 0:
            scope.cancel()
        try:
            with scope:
                yield scope
        finally:
            self._timers.remove(timer)

    async def sleep(self, seconds: float) -> None:
        with self.deadline(seconds):
            await anyio.sleep_forever()

    @property
    def sleepers(self) -> list[float]:
        """Seconds from now until each pending timer fires, soonest first."""
        return sorted(due - self._now for due, scope in self._timers if not scope.cancel_called)

    def jump(self, seconds: float) -> None:
        """Move time without firing timers: for code that only reads the clock."""
        self._now += seconds

    async def settle(self) -> None:
        """Let every task run until all of them wait (on the clock, a fake, an event)."""
        with anyio.fail_after(WAIT):
            await anyio.wait_all_tasks_blocked()

    async def advance(self, seconds: float) -> None:
        """Move time ``seconds`` forward, firing the due timers in order of their time."""
        target = self._now + seconds
        while True:
            await self.settle()
            due = [t for t in self._timers if t[0] <= target and not t[1].cancel_called]
            if not due:
                break
            first = min(t[0] for t in due)
            self._now = max(self._now, first)
            for timer in due:
                if timer[0] == first:
                    timer[1].cancel()
        self._now = max(self._now, target)
        await self.settle()


async def eventually(condition: Callable[[], bool]) -> None:
    """Wait until ``condition()`` holds, yielding to the other tasks (and worker threads)
    between checks; no time passes on any clock."""
    with anyio.fail_after(WAIT):
        while not condition():
            await anyio.wait_all_tasks_blocked()
            if not condition():
                await anyio.lowlevel.checkpoint()


# ---------------------------------------------------------------------------- Split API


def page(flags: list[dict[str, Any]], since: int, till: int,
         rbs: list[dict[str, Any]] | None = None, rb_since: int = -1,
         rb_till: int = -1) -> dict[str, Any]:
    """A ``splitChanges`` answer in the 1.3 shape."""
    return {"ff": {"d": flags, "s": since, "t": till},
            "rbs": {"d": rbs or [], "s": rb_since, "t": rb_till}}


@dataclass
class SplitCall:
    since: int
    rb_since: int
    sets: str | None
    till: int | None
    spec: str


Answer = dict[str, Any] | Exception


class FakeChangesAPI:
    """The ``ChangesAPI`` port, scripted: each request takes the next answer queued for it (an
    exception is raised); with nothing queued, it answers "no change since what you hold".
    ``hold`` makes the next requests wait until ``release``."""

    def __init__(self) -> None:
        self.split_answers: list[Answer] = []
        self.segment_answers: dict[str, list[Answer]] = {}
        self.split_calls: list[SplitCall] = []
        self.segment_calls: list[tuple[str, int, int | None]] = []
        self._gate: anyio.Event | None = None
        self.waiting = 0  # requests held at the gate

    def hold(self) -> None:
        self._gate = anyio.Event()

    def release(self) -> None:
        if self._gate is not None:
            self._gate.set()
            self._gate = None

    async def _gated(self) -> None:
        gate = self._gate
        if gate is not None:
            self.waiting += 1
            try:
                await gate.wait()
            finally:
                self.waiting -= 1

    async def split_changes(
        self, since: int, rb_since: int, sets: str | None = None, till: int | None = None,
        spec: str = SPEC_VERSION,
    ) -> dict[str, Any]:
        self.split_calls.append(SplitCall(since, rb_since, sets, till, spec))
        await self._gated()
        answer = self.split_answers.pop(0) if self.split_answers else page(
            [], since, since, rb_since=rb_since, rb_till=rb_since)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def segment_changes(
        self, name: str, since: int, till: int | None = None
    ) -> dict[str, Any]:
        self.segment_calls.append((name, since, till))
        await self._gated()
        answers = self.segment_answers.get(name)
        answer = answers.pop(0) if answers else segment_page(name, [], since, since)
        if isinstance(answer, Exception):
            raise answer
        return answer


def segment_page(name: str, added: list[str], since: int, till: int,
                 removed: list[str] | None = None) -> dict[str, Any]:
    return {"name": name, "added": added, "removed": removed or [], "since": since,
            "till": till}


# ---------------------------------------------------------------------------- streaming


def token(expires_in: int = 3600, issued_at: int = 1_700_000_000) -> Token:
    return Token("a.b.c", ("splits", "[?occupancy=metrics.publishers]control_pri"),
                 issued_at + expires_in, issued_at)


class FakeAuth:
    """The ``AuthAPI`` port: the next scripted answer (a token, or an exception raised)."""

    def __init__(self, *answers: Token | Exception) -> None:
        self.answers = list(answers)
        self.calls = 0

    async def authenticate(self) -> Token:
        self.calls += 1
        answer = self.answers.pop(0) if self.answers else token()
        if isinstance(answer, Exception):
            raise answer
        return answer


@dataclass(frozen=True)
class Event:
    """A server-sent event (the ``ServerEvent`` port's shape)."""

    event: str = "message"
    data: str = ""


def message(channel: str, data: dict[str, Any], name: str | None = None,
            timestamp: int = 1) -> Event:
    """A ``message`` event with an Ably envelope on ``channel``."""
    envelope: dict[str, Any] = {"id": "x", "timestamp": timestamp, "encoding": "json",
                                "channel": channel, "data": json.dumps(data)}
    if name is not None:
        envelope["name"] = name
    return Event("message", json.dumps(envelope))


def occupancy(publishers: int, channel: str = "control_pri", timestamp: int = 1) -> Event:
    return message("[?occupancy=metrics.publishers]" + channel,
                   {"metrics": {"publishers": publishers}}, "[meta]occupancy", timestamp)


def control(control_type: str, timestamp: int = 1) -> Event:
    return message("control_pri", {"type": "CONTROL", "controlType": control_type},
                   timestamp=timestamp)


def notification(data: dict[str, Any]) -> Event:
    return message("splits", data)


@dataclass
class Connection:
    """One connection of ``FakeSSE``: the test sends it events and ends it."""

    token: Token
    _send: MemoryObjectSendStream[Event | Exception]
    closed: bool = False

    async def send(self, *events: Event) -> None:
        for event in events:
            await self._send.send(event)

    async def fail(self, error: Exception) -> None:
        """End the connection with ``error`` (a ``StreamError`` for a cut)."""
        await self._send.send(error)

    async def end(self) -> None:
        """The server closes the connection."""
        await self._send.aclose()


class FakeSSE:
    """The ``SSESource`` port: each ``connect`` opens a ``Connection`` the test drives, or
    raises the next scripted failure."""

    def __init__(self) -> None:
        self.connections: list[Connection] = []
        self.refusals: list[Exception] = []
        self._opened = anyio.Event()

    async def next_connection(self, count: int) -> Connection:
        """The ``count``-th connection (1-based), once opened."""
        with anyio.fail_after(WAIT):
            while len(self.connections) < count:
                await self._opened.wait()
                self._opened = anyio.Event()
        return self.connections[count - 1]

    @asynccontextmanager
    async def connect(self, token: Token) -> AsyncIterator[AsyncIterator[Event]]:
        if self.refusals:
            raise self.refusals.pop(0)
        send, receive = anyio.create_memory_object_stream[Event | Exception](100)
        connection = Connection(token, send)
        self.connections.append(connection)
        self._opened.set()
        try:
            yield _events(receive)
        finally:
            connection.closed = True
            send.close()
            receive.close()


async def _events(receive: MemoryObjectReceiveStream[Event | Exception]) -> AsyncIterator[Event]:
    async for item in receive:
        if isinstance(item, Exception):
            raise item
        yield item


def cut(limit: bool = False) -> StreamError:
    return StreamError("connection lost", limit=limit)


def disabled() -> PushDisabled:
    return PushDisabled("push is disabled for this SDK key")


@dataclass
class FakeSyncControl:
    """The synchronizer's ``SyncControl``, recording what the push supervisor asks."""

    polling: bool = False
    starts: int = 0
    stops: int = 0
    full_syncs: int = 0

    def start_polling(self) -> None:
        self.polling = True
        self.starts += 1

    def stop_polling(self) -> None:
        self.polling = False
        self.stops += 1

    def sync_all_soon(self) -> None:
        self.full_syncs += 1


@dataclass
class FakeTelemetry:
    """What streaming reports (``PushTelemetry``)."""

    events: list[tuple[int, int]] = field(default_factory=list)
    token_refreshes: int = 0
    auth_rejections: int = 0

    def record_streaming_event(self, event_type: int, data: int) -> None:
        self.events.append((event_type, data))

    def record_token_refresh(self) -> None:
        self.token_refreshes += 1

    def record_auth_rejection(self) -> None:
        self.auth_rejections += 1

    def of_type(self, event_type: int) -> list[int]:
        return [data for kind, data in self.events if kind == event_type]


# ---------------------------------------------------------------------------- storage


class Storage:
    """A real storage actor (the single writer) over a fresh state: what sources write into."""

    def __init__(self, flag_sets: frozenset[str] | None = None) -> None:
        self.state = FactoryState()
        self.hub = SdkEventsHub()
        self.ready_calls = 0
        self.actor = StorageActor(self.state, self.hub, flag_sets, self._ready)
        self.writer: StorageWriter = self.actor.writer

    def _ready(self) -> None:
        self.ready_calls += 1
        self.state.become_ready()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        await self.actor.run(task_status=task_status)

    @property
    def snapshot(self) -> Any:
        return self.state.snapshot


@asynccontextmanager
async def running(*actors: Any) -> AsyncIterator[anyio.abc.TaskGroup]:
    """A task group with each actor's ``run`` started in it, cancelled when the block ends."""
    async with anyio.create_task_group() as tg:
        for actor in actors:
            await tg.start(actor.run)
        yield tg
        tg.cancel_scope.cancel()
