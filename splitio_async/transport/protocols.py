"""The ports: what the actors need from the outside world, as Protocols.

Actors depend on these, never on ``transport.http``, ``transport.sse`` or ``transport.auth``
(``tests/test_architecture.py`` checks it). The factory plugs the HTTP adapters in; a unit test
plugs in fakes (``tests/actors/fakes.py``) and drives an actor alone, on a fake clock.

    ChangesAPI   splitChanges and segmentChanges pages (the syncers)
    AuthAPI      the streaming token (the push supervisor)
    SSESource    a connection's server-sent events (the push supervisor)
    Clock        monotonic and wall time, sleeping, deadlines (every actor that waits)

Errors crossing the ports are the ones of ``transport.errors`` (``APIError`` and its family,
``StreamError``) and ``PushDisabled`` below; the values are plain data (``Token``, the event
objects).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

import anyio

SPEC_VERSION = "1.3"
LEGACY_SPEC_VERSION = "1.1"  # what a Split Proxy that predates rule-based segments serves
REFRESH_GRACE = 600  # seconds before a token's expiry when it is renewed (official)


class ChangesAPI(Protocol):
    """Split's ``splitChanges`` and ``segmentChanges`` endpoints. Every failure is an
    ``APIError`` (``AuthError`` for a refused SDK key, ``URITooLongError`` for a 414)."""

    async def split_changes(
        self, since: int, rb_since: int, sets: str | None = None, till: int | None = None,
        spec: str = SPEC_VERSION,
    ) -> dict[str, Any]:
        """One page in the 1.3 shape: ``{"ff": {"d", "s", "t"}, "rbs": {...}}``."""
        ...

    async def segment_changes(
        self, name: str, since: int, till: int | None = None
    ) -> dict[str, Any]:
        """One page of a segment: ``{"added", "removed", "since", "till"}``."""
        ...


class PushDisabled(Exception):
    """Streaming is not available for this SDK key: poll instead, for good."""


@dataclass(frozen=True, slots=True)
class Token:
    """A streaming token: the JWT, the channels it opens, and its lifetime (epoch seconds)."""

    jwt: str
    channels: tuple[str, ...]
    expires_at: int
    issued_at: int

    def refresh_in(self, now: float) -> float:
        """Seconds until the token should be replaced (``now``: epoch seconds, used when the
        token has no ``iat``): its lifetime minus ten minutes."""
        lifetime = self.expires_at - self.issued_at
        if self.issued_at <= 0:  # no iat claim: count from now
            lifetime = self.expires_at - int(now)
        if lifetime > REFRESH_GRACE:
            return float(lifetime - REFRESH_GRACE)
        return max(lifetime / 2, 1.0)  # a short-lived token: never reconnect in a tight loop


class AuthAPI(Protocol):
    """Split's streaming auth endpoint."""

    async def authenticate(self) -> Token:
        """A token; ``APIError`` (any status) means retry later, ``PushDisabled`` never."""
        ...


class ServerEvent(Protocol):
    """One server-sent event (``httpx_sse.ServerSentEvent`` is one)."""

    @property
    def event(self) -> str: ...

    @property
    def data(self) -> str: ...


class SSESource(Protocol):
    """Split's streaming service."""

    def connect(self, token: Token) -> AbstractAsyncContextManager[AsyncIterator[ServerEvent]]:
        """A connection on ``token``'s channels: its events until it ends. Every way it can fail
        (refused, cut, silent past the keepalive window, over a limit) is a ``StreamError``."""
        ...


class Clock(Protocol):
    """Time as the actors see it (``runtime.clock.SYSTEM_CLOCK`` in production): a test moves
    it by hand instead of waiting, on asyncio and trio alike."""

    def now(self) -> float:
        """Seconds on a monotonic clock."""
        ...

    def wall(self) -> float:
        """Seconds since the epoch (what leaves the process: timestamps, token expiry)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""
        ...

    def deadline(
        self, seconds: float, shield: bool = False
    ) -> AbstractContextManager[anyio.CancelScope]:
        """A scope whose body is cancelled after ``seconds`` (``anyio.move_on_after``);
        ``shield``: and only then, not by an outer cancellation (a final write)."""
        ...
