"""Reading what a server sends without trusting it: bounded bodies, sliced decoding.

``read_body`` reads a response's raw bytes as they arrive, counting them on the wire and again
after decompression (gzip, deflate, identity: what the SDK asks for), and stops at the limit:
a 1 GiB gzip bomb or an endless body costs at most ``limit`` bytes of memory and never a long
stall, since the loop gets a checkpoint after each megabyte unpacked. ``drive`` (from
``runtime.slices``) runs the sliced JSON decoder (``bounded_json``) with a checkpoint between
slices.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.lowlevel
import httpx

from ..inflate import GZIP, Inflater
from ..limits import LimitExceeded
from ..runtime.slices import drive

_ENCODINGS: dict[str, int | None] = {"gzip": GZIP, "x-gzip": GZIP, "deflate": None}


class UnsupportedEncoding(ValueError):
    """The server compressed the body in a way the SDK did not ask for."""


async def read_body(response: httpx.Response, limit: int, what: str) -> bytes:
    """The body, decompressed; ``LimitExceeded`` (naming ``httpMaxResponseBytes``) as soon as
    more than ``limit`` bytes arrive or unpack."""
    encodings = [
        token.strip().lower()
        for token in response.headers.get("content-encoding", "").split(",")
        if token.strip() and token.strip().lower() != "identity"
    ]
    if len(encodings) > 1 or (encodings and encodings[0] not in _ENCODINGS):
        raise UnsupportedEncoding(f"{what}: unsupported Content-Encoding {encodings!r}")
    inflater = (
        Inflater(_ENCODINGS[encodings[0]], limit, f"{what}: the response body once unpacked",
                 "httpMaxResponseBytes")
        if encodings else None
    )
    body = bytearray()
    received = 0
    async with finishing(response.aiter_raw()) as chunks:
        async for chunk in chunks:
            received += len(chunk)
            if received > limit:
                raise LimitExceeded(f"{what}: the response body", "httpMaxResponseBytes", limit)
            if inflater is None:
                body += chunk
                continue
            for piece in inflater.feed(chunk):
                body += piece
                await anyio.lowlevel.checkpoint()
    if inflater is not None:
        inflater.finish()
    return bytes(body)


async def discard_body(response: httpx.Response, limit: int) -> None:
    """Read (and drop) at most ``limit`` bytes of an answer whose content does not matter,
    so that a small one leaves the connection reusable; a larger one is not read further
    (the connection is closed instead)."""
    received = 0
    async with finishing(response.aiter_raw()) as chunks:
        async for chunk in chunks:
            received += len(chunk)
            if received > limit:
                return


@asynccontextmanager
async def finishing(chunks: AsyncIterator[bytes]) -> AsyncIterator[AsyncIterator[bytes]]:
    """``chunks`` (httpx's ``aiter_raw()``), left in a finished state however the block ends.

    httpx's body iterator is a chain of async generators. Leaving it early by raising from our
    own frame (a limit) would leave the inner ones suspended, and trio warns when the garbage
    collector finds them; closing the outer one does not close the inner ones. Asking for one
    more chunk inside a cancelled scope makes the innermost one raise the cancellation at its
    network read, which unwinds (finishes) every generator of the chain.
    """
    try:
        yield chunks
    finally:
        with anyio.CancelScope(shield=False) as scope:
            scope.cancel()
            try:
                while True:  # buffered chunks come without a checkpoint; the read does not
                    await chunks.__anext__()
            except StopAsyncIteration:
                pass


def describe_error(exc: BaseException) -> str:
    """``Type: message`` of a transport error, with the reason taken from its causes when
    the error itself has none (on trio, a TLS failure is a ``ConnectError`` with an empty
    message whose cause holds the certificate problem)."""
    message = str(exc)
    cause: BaseException | None = exc
    seen = 0
    while not message and cause is not None and seen < 10:
        cause = cause.__cause__ or cause.__context__
        seen += 1
        if cause is not None:
            message = str(cause) or message
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


__all__ = ["LimitExceeded", "UnsupportedEncoding", "describe_error", "discard_body", "drive",
           "read_body"]
