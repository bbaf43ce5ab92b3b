"""The SSE connection to Split's streaming service, over httpx-sse.

``open_stream`` yields parsed SSE events; every way the connection can fail (refused, an error
status, a read timeout past the keepalive window, a cut) surfaces as ``StreamError`` so the
supervisor has one thing to handle.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import quote

import httpx
from httpx_sse import EventSource, SSEError

KEEPALIVE_TIMEOUT = 70.0  # seconds of silence that mean the connection is dead (official)


class StreamError(Exception):
    """The stream could not be opened or broke; reconnecting may help."""


def stream_url(base: str, token: str, channels: tuple[str, ...]) -> str:
    joined = ",".join(quote(ch, safe="") for ch in channels)
    return f"{base}/event-stream?v=1.1&accessToken={token}&channels={joined}"


@asynccontextmanager
async def open_stream(
    client: httpx.AsyncClient, url: str, read_timeout: float = KEEPALIVE_TIMEOUT
) -> AsyncIterator[EventSource]:
    timeout = httpx.Timeout(connect=10.0, read=read_timeout, write=10.0, pool=10.0)
    try:
        async with client.stream(
            "GET", url, headers={"Accept": "text/event-stream"}, timeout=timeout
        ) as response:
            if response.status_code != 200:
                body = (await response.aread())[:300]
                raise StreamError(f"streaming refused: HTTP {response.status_code} {body!r}")
            yield EventSource(response)
    except httpx.TimeoutException as exc:
        raise StreamError(f"no data from the stream for {read_timeout:g} s") from exc
    except (httpx.HTTPError, SSEError) as exc:
        raise StreamError(f"stream connection lost: {type(exc).__name__}: {exc}") from exc
