"""A health endpoint as a plain ASGI callable (no framework): ``factory.status()`` as JSON, with
HTTP 200 while the factory is ready and 503 otherwise. Mount ``health_app(factory)`` under any
ASGI server or router; run this file to see one answer printed (localhost mode, no network).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio

from splitio_async import SplitFactory, open_factory

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[dict[str, Any], Receive, Send], Awaitable[None]]


def health_app(factory: SplitFactory) -> ASGIApp:
    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        status = factory.status()  # a plain call: no await, no lock
        healthy = status.ready and not status.destroyed
        body = json.dumps(dataclasses.asdict(status)).encode()
        await send({
            "type": "http.response.start",
            "status": 200 if healthy else 503,
            "headers": [(b"content-type", b"application/json")],
        })
        await send({"type": "http.response.body", "body": body})

    return app


async def main() -> None:
    flags = Path(__file__).with_name("flags.yaml")
    async with open_factory("localhost", config={"splitFile": str(flags)}) as factory:
        await factory.block_until_ready(5)

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                print("status:", message["status"])
            else:
                print(message["body"].decode())

        await health_app(factory)({"type": "http", "method": "GET", "path": "/health"},
                                  receive, send)


if __name__ == "__main__":
    anyio.run(main)
