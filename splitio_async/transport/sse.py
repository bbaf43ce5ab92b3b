"""The SSE connection to Split's streaming service, read with bounds.

``open_stream`` yields an ``EventSource`` whose ``aiter_sse()`` gives ``httpx_sse``'s
``ServerSentEvent`` objects. Lines are split here (as the SSE specification says: ``\\r\\n``,
``\\r`` or ``\\n``) rather than by httpx, whose line reader keeps whatever has not ended yet in
memory: a line longer than ``streamingMaxLineBytes``, an event longer than
``streamingMaxEventBytes``, or an event still incomplete after the keepalive window ends the
connection with a ``StreamError`` whose ``limit`` is set (the supervisor reconnects with
backoff, polling meanwhile). A compressed stream is unpacked a megabyte at a time.

Every way the connection can fail (refused, an error status, a read timeout past the keepalive
window, a cut) surfaces as ``StreamError`` so the supervisor has one thing to handle.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing, asynccontextmanager
from urllib.parse import quote

import anyio.lowlevel
import httpx
from httpx_sse import ServerSentEvent, SSEError

from ..inflate import GZIP, Inflater
from ..limits import Limits
from ..redaction import redact
from .bounded import describe_error, finishing
from .errors import StreamError
from .protocols import Token

KEEPALIVE_TIMEOUT = 70.0  # seconds of silence that mean the connection is dead (official)
_LINES_PER_CHECKPOINT = 256
_FEED_BYTES = 8192  # fed to the decoder at a time: at most ~1,000 lines between checkpoints
_UNBOUNDED = 2**62  # a stream has no total size; its lines and events are bounded instead


def stream_url(base: str, token: str, channels: tuple[str, ...]) -> str:
    joined = ",".join(quote(ch, safe="") for ch in channels)
    return f"{base}/event-stream?v=1.1&accessToken={token}&channels={joined}"


class EventSource:
    """Server-sent events from one response, within ``limits``."""

    def __init__(self, response: httpx.Response, limits: Limits, stall: float) -> None:
        self._response = response
        self._limits = limits
        self._stall = stall

    @property
    def response(self) -> httpx.Response:
        return self._response

    async def aiter_sse(self) -> AsyncGenerator[ServerSentEvent, None]:
        content_type = self._response.headers.get("content-type", "").partition(";")[0]
        if "text/event-stream" not in content_type:
            raise StreamError(f"the stream answered with Content-Type {content_type!r}")
        decoder = _EventDecoder(self._limits, self._stall)
        encoding = self._response.headers.get("content-encoding", "").strip().lower()
        inflater = (
            Inflater(GZIP if "gzip" in encoding else None, _UNBOUNDED, "the stream", "")
            if encoding in ("gzip", "x-gzip", "deflate") else None
        )
        lines = 0
        async with finishing(self._response.aiter_raw()) as chunks:
            async for chunk in chunks:
                pieces = inflater.feed(chunk) if inflater is not None else (chunk,)
                try:
                    for piece in pieces:
                        for start in range(0, len(piece), _FEED_BYTES):
                            for event in decoder.feed(piece[start:start + _FEED_BYTES]):
                                yield event
                            lines += decoder.lines_taken()
                            if lines >= _LINES_PER_CHECKPOINT:  # a flood of tiny lines
                                lines = 0
                                await anyio.lowlevel.checkpoint()
                except ValueError as exc:  # corrupt compression
                    raise StreamError(f"the stream cannot be read: {exc}", limit=True) \
                        from None


class _EventDecoder:
    """Bytes in, events out (the SSE interpretation rules, as httpx-sse applies them)."""

    def __init__(self, limits: Limits, stall: float) -> None:
        self._max_line = limits.streaming_max_line_bytes
        self._max_event = limits.streaming_max_event_bytes
        self._stall = stall
        self._buffer = bytearray()
        self._event = ""
        self._data: list[str] = []
        self._id = ""
        self._retry: int | None = None
        self._event_bytes = 0
        self._started: float | None = None  # when the event (or line) in progress began
        self._lines = 0
        self._scanned = 0

    def lines_taken(self) -> int:
        taken, self._lines = self._lines, 0
        return taken

    def feed(self, data: bytes) -> list[ServerSentEvent]:
        buffer = self._buffer
        buffer += data
        events: list[ServerSentEvent] = []
        position = 0
        search = self._scanned  # the bytes before it hold no line end: never scanned twice
        with memoryview(buffer) as view:  # one copy per line, not two
            while True:
                end = _line_end(buffer, search)
                if end < 0:
                    break
                width = 2 if buffer[end:end + 2] == b"\r\n" else 1
                if buffer[end] == 13 and end + 1 == len(buffer):
                    break  # a final "\r" may be the first half of "\r\n"
                line = bytes(view[position:end])
                position = search = end + width
                self._lines += 1
                event = self._line(line)
                if event is not None:
                    events.append(event)
        del buffer[:position]
        self._scanned = max(0, len(buffer) - 1)  # all scanned but a possible final "\r"
        if len(buffer) > self._max_line:
            raise StreamError(
                f"the stream sent a line longer than streamingMaxLineBytes "
                f"({self._max_line:,} bytes)", limit=True,
            )
        if not buffer and not self._event_bytes:
            self._started = None  # between events
        elif self._started is None:
            self._started = time.monotonic()
        elif time.monotonic() - self._started > self._stall:
            raise StreamError(
                f"an event took longer than the keepalive window ({self._stall:g} s) to "
                "arrive", limit=True,
            )
        return events

    def _line(self, raw: bytes) -> ServerSentEvent | None:
        if len(raw) > self._max_line:
            raise StreamError(
                f"the stream sent a line longer than streamingMaxLineBytes "
                f"({self._max_line:,} bytes)", limit=True,
            )
        if not raw:
            return self._dispatch()
        if raw.startswith(b":"):
            return None  # a comment (keepalive)
        self._event_bytes += len(raw)
        if self._event_bytes > self._max_event:
            raise StreamError(
                f"the stream sent an event longer than streamingMaxEventBytes "
                f"({self._max_event:,} bytes)", limit=True,
            )
        if self._started is None:
            self._started = time.monotonic()
        field, _, value = raw.decode("utf-8", "replace").partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            self._event = value
        elif field == "data":
            self._data.append(value)
        elif field == "id":
            if "\0" not in value:
                self._id = value
        elif field == "retry" and value.isdigit() and len(value) < 10:
            self._retry = int(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        self._started = None
        self._event_bytes = 0
        if not self._event and not self._data and not self._id and self._retry is None:
            return None
        event = ServerSentEvent(self._event, "\n".join(self._data), self._id, self._retry)
        self._event, self._data, self._retry = "", [], None  # the id persists (SSE rules)
        return event


def _line_end(buffer: bytearray, start: int) -> int:
    """The index of the first "\\r" or "\\n" from ``start``, or -1 (C-speed finds: a
    regular expression scans a 4 MiB line a hundred times slower)."""
    newline = buffer.find(b"\n", start)
    carriage = buffer.find(b"\r", start, newline if newline >= 0 else len(buffer))
    return carriage if carriage >= 0 else newline


@asynccontextmanager
async def open_stream(
    client: httpx.AsyncClient, url: str, read_timeout: float = KEEPALIVE_TIMEOUT,
    limits: Limits | None = None,
) -> AsyncIterator[EventSource]:
    timeout = httpx.Timeout(connect=10.0, read=read_timeout, write=10.0, pool=10.0)
    limits = limits or Limits()
    try:
        async with client.stream(
            "GET", url, headers={"Accept": "text/event-stream"}, timeout=timeout
        ) as response:
            if response.status_code != 200:
                body = bytearray()
                async with finishing(response.aiter_raw()) as chunks:  # 300 bytes at most
                    async for chunk in chunks:
                        body += chunk
                        if len(body) >= 300:
                            break
                raise StreamError(
                    f"streaming refused: HTTP {response.status_code} {bytes(body[:300])!r}"
                )
            yield EventSource(response, limits, read_timeout)
    except httpx.TimeoutException as exc:
        raise StreamError(f"no data from the stream for {read_timeout:g} s") from exc
    except (httpx.HTTPError, SSEError) as exc:
        raise StreamError(f"stream connection lost: {redact(describe_error(exc))}") from exc


class SplitEventStream:
    """The ``SSESource`` port over the factory's streaming client: a connection's events, read
    within ``limits``, silent for at most ``keepalive`` seconds."""

    def __init__(
        self, client: httpx.AsyncClient, base_url: str, keepalive: float = KEEPALIVE_TIMEOUT,
        limits: Limits | None = None,
    ) -> None:
        self._client = client
        self._base_url = base_url
        self._keepalive = keepalive
        self._limits = limits or Limits()

    @asynccontextmanager
    async def connect(self, token: Token) -> AsyncIterator[AsyncIterator[ServerSentEvent]]:
        url = stream_url(self._base_url, token.jwt, token.channels)
        async with (
            open_stream(self._client, url, self._keepalive, self._limits) as source,
            aclosing(source.aiter_sse()) as events,  # closed however the reader's loop ends
        ):
            yield events


__all__ = ["KEEPALIVE_TIMEOUT", "EventSource", "SplitEventStream", "StreamError", "open_stream",
           "stream_url"]
