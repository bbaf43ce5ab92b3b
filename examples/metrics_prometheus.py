"""A Prometheus text endpoint for the SDK's health figures (``pip install
'splitio_async[prometheus]'``): ``splitio_async.prometheus.StatusCollector`` reads
``factory.status()`` at each scrape, and prometheus_client's WSGI app serves it. Mount
``metrics_app(factory)`` at ``/metrics`` under any WSGI server (or, for the async API, wrap the
same registry with ``prometheus_client.make_asgi_app``); run this file to serve it once on
127.0.0.1 and print the answer (localhost mode, no network beyond loopback).
"""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

from splitio_async.prometheus import StatusCollector
from splitio_sync_shim import SyncSplitFactory, get_factory

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def metrics_app(factory: SyncSplitFactory) -> WSGIApp:
    registry = CollectorRegistry()  # its own registry: only the SDK's figures
    registry.register(StatusCollector(factory, labels={"service": "checkout"}))
    app: WSGIApp = make_wsgi_app(registry)
    return app


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No access log on the console."""


def main() -> None:
    flags = Path(__file__).with_name("flags.yaml")
    factory = get_factory("localhost", config={"splitFile": str(flags)})
    assert factory is not None
    factory.block_until_ready(5)
    factory.client().get_treatment("alice", "new_checkout")
    with make_server("127.0.0.1", 0, metrics_app(factory), handler_class=_Quiet) as server:
        thread = threading.Thread(target=server.handle_request)
        thread.start()
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            print(response.read().decode(), end="")
        thread.join()
    factory.destroy()


if __name__ == "__main__":
    main()
