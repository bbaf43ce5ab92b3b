"""The sync supervisor of streaming mode: SSE when it works, polling whenever it does not.

One task owns the switch. It authenticates, opens the stream, and reacts to what the stream
says: the first event means streaming is up (polling stops, a full sync closes any gap),
occupancy or control messages may pause it (polling starts) or disable it for good, Ably token
errors and dropped connections reconnect with backoff (polling meanwhile), and the token is
renewed ten minutes before it expires. Update notifications go to the push worker; a kill is
applied locally at once, before the follow-up fetch.

A stream that breaks a limit (a line, an event or a message too large, see ``transport.sse``)
is not trusted again at once: after it the reconnect backoff is only reset, and the problem only
cleared from ``status()``, once a new connection has stayed up for a keepalive window (at most
``STABLE_AFTER``), so a server that misbehaves right after each connect is retried less and less
often and logged once, not once per reconnect. Malformed messages are logged at most once a
minute per kind, with a count of those left out.
"""

from __future__ import annotations

import enum
import logging
from typing import Protocol

import anyio
from anyio.streams.memory import MemoryObjectSendStream

from ..limits import Limits
from ..models import telemetry
from ..models.notifications import (
    AblyError,
    Control,
    FlagKill,
    NotificationError,
    Occupancy,
    parse_error,
    parse_message,
)
from ..runtime.backoff import Backoff, ProblemLog, ThrottledLog
from ..runtime.clock import SYSTEM_CLOCK
from ..runtime.push_status import PushStatus, StatusTracker
from ..transport.errors import APIError, StreamError
from ..transport.protocols import AuthAPI, Clock, PushDisabled, ServerEvent, SSESource, Token
from .messages import KillFlag
from .push_worker import Update
from .storage import StorageWriter
from .synchronizer import SyncControl

_LOGGER = logging.getLogger("splitio.push.manager")

_STATUS_CODES = {PushStatus.UP: 0, PushStatus.OFF: 1, PushStatus.DOWN: 2}  # STREAMING_STATUS
STABLE_AFTER = 30.0  # seconds up after which a stream that broke a limit is trusted again


class PushTelemetry(Protocol):
    """What streaming reports to telemetry (the telemetry actor implements it)."""

    def record_streaming_event(self, event_type: int, data: int) -> None: ...

    def record_token_refresh(self) -> None: ...

    def record_auth_rejection(self) -> None: ...


class Outcome(enum.Enum):
    RETRY = "retry"  # reconnect after a backoff, polling meanwhile
    OFF = "off"  # never stream again: poll
    REFRESH = "refresh"  # the token is about to expire: reconnect now


class PushSupervisor:
    def __init__(
        self,
        auth: AuthAPI,
        source: SSESource,
        storage: StorageWriter,
        updates: MemoryObjectSendStream[Update],
        reconnect_base: float = 1.0,
        reconnect_cap: float = 1800.0,
        keepalive_timeout: float = 70.0,
        limits: Limits | None = None,
        telemetry: PushTelemetry | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._auth = auth
        self._source = source
        self._clock = clock
        self._storage = storage
        self._updates = updates
        self._backoff = Backoff(reconnect_base, reconnect_cap)
        self._keepalive = keepalive_timeout
        self._limits = limits or Limits()
        self._problems = ProblemLog(_LOGGER)
        self._throttled = ThrottledLog(_LOGGER)
        self._suspect = False  # the last connection broke a limit: not trusted until stable
        self._telemetry = telemetry
        self._control: SyncControl | None = None  # the synchronizer's, while running
        self._polling = False
        self.streaming = False  # True while the stream is up and polling is off
        self.off_reason: str | None = None  # why streaming stopped for good (polling since)
        self.connections = 0

    @property
    def polling(self) -> bool:
        """True while polling runs in place of the stream."""
        return self._polling

    @property
    def last_problem(self) -> str | None:
        """The last streaming problem since the stream last came up."""
        return self._problems.current

    def _event(self, event_type: int, data: int) -> None:
        if self._telemetry is not None:
            self._telemetry.record_streaming_event(event_type, data)

    async def run(self, control: SyncControl) -> None:
        """Keep the data current until cancelled (the synchronizer's ``keep_current``):
        streaming while it works, and ``control`` polling whenever it does not."""
        self._control = control
        async with self._updates:
            while True:
                try:
                    await self._supervise()
                except Exception:  # a bug must not end syncing: poll, then start over
                    _LOGGER.exception("Streaming supervisor failed; polling, then restarting")
                    self._fall_back()
                    await self._clock.sleep(self._backoff.next())

    async def _supervise(self) -> None:
        while True:
            try:
                token = await self._auth.authenticate()
            except PushDisabled as exc:
                _LOGGER.info("Streaming is not available (%s); polling instead", exc)
                self.off_reason = "push disabled for this SDK key"
                self._fall_back()
                await anyio.sleep_forever()
            except APIError as exc:
                if 400 <= exc.status < 500 and self._telemetry is not None:
                    self._telemetry.record_auth_rejection()
                self._problems.problem(f"Streaming authentication failed ({exc}); polling")
                self._fall_back()
                await self._clock.sleep(self._backoff.next())
                continue
            if self._telemetry is not None:
                self._telemetry.record_token_refresh()
            self._event(telemetry.TOKEN_REFRESH, token.expires_at * 1000)
            outcome = await self._connect(token)
            if outcome is Outcome.OFF:
                _LOGGER.warning("Streaming disabled by Split; polling from now on")
                self.off_reason = "streaming disabled by Split"
                self._fall_back()
                await anyio.sleep_forever()
            elif outcome is Outcome.RETRY:
                self._fall_back()
                await self._clock.sleep(self._backoff.next())

    async def _connect(self, token: Token) -> Outcome:
        outcome = Outcome.RETRY
        tracker = StatusTracker()
        crashed: Exception | None = None
        async with anyio.create_task_group() as connection:

            async def refresh() -> None:
                nonlocal outcome
                await self._clock.sleep(token.refresh_in(self._clock.wall()))
                outcome = Outcome.REFRESH
                _LOGGER.debug("Streaming token about to expire: reconnecting")
                connection.cancel_scope.cancel()

            connection.start_soon(refresh)
            try:
                async with self._source.connect(token) as events:  # closed however this ends
                    self.connections += 1
                    first, decided = True, False
                    async for event in events:
                        if decided:
                            continue  # already buffered; the cancellation lands at the next read
                        if first:
                            first = False
                            self._event(telemetry.CONNECTION_ESTABLISHED, 0)
                            self._came_up()
                            if self._suspect:
                                connection.start_soon(self._trust_when_stable)
                        try:
                            result = await self._handle(event, tracker)
                        except Exception as exc:  # re-raised below, once the stream is closed
                            crashed, decided = exc, True
                            connection.cancel_scope.cancel()
                            continue
                        if result is not None:
                            # End the stream by cancelling, not with `break`: a cancellation
                            # unwinds the transport's async generators, while a break leaves them
                            # to the garbage collector (trio warns, the socket closes late).
                            outcome, decided = result, True
                            connection.cancel_scope.cancel()
                    if not decided:
                        self._event(telemetry.SSE_CONNECTION_ERROR, 1)
                        self._problems.problem("Streaming connection closed by the server")
            except StreamError as exc:
                self._event(telemetry.SSE_CONNECTION_ERROR, 1)
                if exc.limit:
                    self._suspect = True
                    self._problems.problem(f"Streaming connection cut: {exc}; reconnecting "
                                           "(raise the limit if this data is legitimate)")
                else:
                    self._problems.problem(f"Streaming connection failed: {exc}")
            connection.cancel_scope.cancel()
        if crashed is not None:
            raise crashed
        return outcome

    async def _trust_when_stable(self) -> None:
        """The connection that followed a limit breach has held: trust the stream again."""
        await self._clock.sleep(min(STABLE_AFTER, self._keepalive))
        self._suspect = False
        self._backoff.reset()
        self._problems.recovered("streaming")

    async def _handle(self, event: ServerEvent, tracker: StatusTracker) -> Outcome | None:
        depth = self._limits.json_max_depth
        if event.event == "error":
            try:
                error = parse_error(event.data, depth)
            except NotificationError as exc:
                self._throttled.log(logging.WARNING, "error event",
                                    "Unreadable streaming error event (%s): reconnecting", exc)
                return Outcome.RETRY
            return self._on_ably_error(error)
        if event.event not in ("message", ""):
            self._throttled.log(logging.INFO, "event type",
                                "Ignoring streaming event of unknown type %r", event.event[:50])
            return None
        if not event.data:
            return None  # keepalive artefacts
        try:
            notification = parse_message(event.data, depth)
        except NotificationError as exc:
            self._throttled.log(logging.WARNING, "message",
                                "Ignoring a streaming message: %s", exc)
            return None
        if isinstance(notification, Occupancy | Control):
            if isinstance(notification, Occupancy):
                change = tracker.on_occupancy(notification)
                self._event(telemetry.OCCUPANCY_PRI if notification.channel == "control_pri"
                            else telemetry.OCCUPANCY_SEC, notification.publishers)
            else:
                change = tracker.on_control(notification)
            if change is not None:
                self._event(telemetry.STREAMING_STATUS, _STATUS_CODES[change])
            if change is PushStatus.OFF:
                return Outcome.OFF
            if change is PushStatus.DOWN:
                _LOGGER.info("Streaming paused or without publishers: polling meanwhile")
                self._fall_back()
            elif change is PushStatus.UP:
                self._came_up()
            return None
        if isinstance(notification, FlagKill):
            await self._storage.post(KillFlag(
                notification.flag_name, notification.default_treatment,
                notification.change_number,
            ))
        try:
            self._updates.send_nowait(notification)
        except anyio.WouldBlock:
            self._throttled.log(logging.WARNING, "backlog", "Too many pending streaming "
                                "updates: running a full sync instead")
            self._sync_all_soon()
        return None

    def _on_ably_error(self, error: AblyError) -> Outcome | None:
        if not error.relevant:
            return None
        self._event(telemetry.ABLY_ERROR, error.code)
        if error.retryable:
            _LOGGER.info("Streaming token error %d: reconnecting", error.code)
            return Outcome.RETRY
        _LOGGER.error("Streaming error %d (%s): streaming disabled", error.code, error.message)
        return Outcome.OFF

    # ------------------------------------------------------------------ polling switch

    def _came_up(self) -> None:
        """Streaming works: stop polling, close any gap with a full sync, reset the backoff
        (after a limit breach: only once the connection proves stable)."""
        if not self._suspect:
            self._backoff.reset()
            self._problems.recovered("streaming")
        self.streaming = True
        self._event(telemetry.SYNC_MODE_UPDATE, 0)
        if self._polling:
            self._polling = False
            self._sync_control().stop_polling()
        self._sync_control().sync_all_soon()

    def _fall_back(self) -> None:
        """Streaming is not delivering: poll (and catch up at once)."""
        self.streaming = False
        if not self._polling:
            self._event(telemetry.SYNC_MODE_UPDATE, 1)
            self._polling = True
            self._sync_control().start_polling()
            self._sync_control().sync_all_soon()

    def _sync_all_soon(self) -> None:
        self._sync_control().sync_all_soon()

    def _sync_control(self) -> SyncControl:
        assert self._control is not None, "only while run() runs"
        return self._control
