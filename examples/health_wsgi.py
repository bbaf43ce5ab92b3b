"""A health endpoint as a plain WSGI callable (no framework) over the blocking shim:
``factory.status()`` as JSON, 200 while the factory is ready and 503 otherwise. Mount
``health_app(factory)`` under gunicorn, uWSGI or any WSGI router; run this file to serve it once
on 127.0.0.1 and print the answer (localhost mode, no network beyond loopback).
"""

from __future__ import annotations

import dataclasses
import json
import threading
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from splitio_sync_shim import SyncSplitFactory, get_factory

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def health_app(factory: SyncSplitFactory) -> WSGIApp:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        status = factory.status()  # a plain call in the request's thread: no hop, no lock
        healthy = status.ready and not status.destroyed
        body = json.dumps(dataclasses.asdict(status)).encode()
        start_response("200 OK" if healthy else "503 Service Unavailable",
                       [("Content-Type", "application/json"),
                        ("Content-Length", str(len(body)))])
        return [body]

    return app


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No access log on the console."""


def main() -> None:
    flags = Path(__file__).with_name("flags.yaml")
    factory = get_factory("localhost", config={"splitFile": str(flags)})
    assert factory is not None
    factory.block_until_ready(5)
    with make_server("127.0.0.1", 0, health_app(factory), handler_class=_Quiet) as server:
        thread = threading.Thread(target=server.handle_request)
        thread.start()
        url = f"http://127.0.0.1:{server.server_port}/health"
        with urllib.request.urlopen(url, timeout=5) as response:
            print("status:", response.status)
            print(response.read().decode())
        thread.join()
    factory.destroy()


if __name__ == "__main__":
    main()
