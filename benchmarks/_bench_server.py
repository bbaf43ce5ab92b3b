"""A tiny fake Split backend on 127.0.0.1 for the official SDK's standalone (in-memory) mode.

The benchmark wants the official SDK exactly as production users run it (HTTP sync, background
recorders, OPTIMIZED impressions), but no real network.  This server answers the few endpoints the
SDK touches with the benchmark data set and accepts every POST (impressions, counts, events,
telemetry), counting the records each carried (`records`).  It runs in the parent process, so
serving requests never competes with a measured process for its GIL.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import _bench_data


class FakeSplitServer:
    """Serve splitChanges/segmentChanges from memory; count requests per path for the report."""

    def __init__(self, flags: list[dict[str, Any]], segments: dict[str, list[str]]) -> None:
        self.flags = flags
        self.segments = segments
        self.hits: Counter[str] = Counter()
        self.records: Counter[str] = Counter()  # what the POST bodies carried, see _tally
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def url_kwargs(self) -> dict[str, str]:
        """The get_factory keyword arguments that point every SDK endpoint here."""
        api = f"{self.base_url}/api"
        return {
            "sdk_api_base_url": api,
            "events_api_base_url": api,
            "auth_api_base_url": api,
            "streaming_api_base_url": self.base_url,
            "telemetry_api_base_url": api,
        }

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def snapshot(self) -> Counter[str]:
        """A copy of the request counts, safe while handler threads are counting."""
        with self._lock:
            return Counter(self.hits)

    def records_snapshot(self) -> Counter[str]:
        """A copy of the record counts (impressions, events... accepted so far)."""
        with self._lock:
            return Counter(self.records)

    def _tally(self, path: str, body: bytes, encoding: str | None) -> None:
        """Count the records a POST delivered, so a benchmark can check nothing went missing."""
        try:
            data = json.loads(gzip.decompress(body) if encoding == "gzip" else body)
            counted = _records_in(path, data)
        except (ValueError, TypeError, AttributeError, OSError):
            counted = Counter({"unparsed POST bodies": 1})
        with self._lock:
            self.records.update(counted)

    def _count(self, method: str, path: str) -> None:
        if path.startswith("/api/segmentChanges/"):
            path = "/api/segmentChanges/*"
        with self._lock:
            self.hits[f"{method} {path}"] += 1

    def _get(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        since = int(query.get("since", ["-1"])[0])
        if path == "/api/splitChanges":
            rb_since = int(query.get("rbSince", ["-1"])[0])
            return 200, _bench_data.split_changes(self.flags, since, rb_since)
        if path.startswith("/api/segmentChanges/"):
            name = path.rsplit("/", 1)[1]
            if name not in self.segments:
                return 404, {"error": "unknown segment"}
            return 200, _bench_data.segment_changes(name, self.segments[name], since)
        if path == "/api/v2/auth":
            return 200, {"pushEnabled": False}
        return 404, {"error": "not found"}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # A real service answers without Nagle delays; with them, a response written in two
            # sends (headers, body) can stall 40 ms on the client's delayed ACK, for either SDK.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                """Keep the benchmark output clean."""

            def _reply(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                server._count("GET", parts.path)
                self._reply(*server._get(parts.path, parse_qs(parts.query)))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                path = urlsplit(self.path).path
                server._tally(path, body, self.headers.get("Content-Encoding"))
                server._count("POST", path)
                self._reply(200, {})

        return Handler


# Telemetry usage fields (spec: api.md) that tell what the SDK itself queued, deduped and dropped.
_USAGE = {"iQ": "telemetry: impressions queued", "iDe": "telemetry: impressions deduped",
          "iDr": "telemetry: impressions dropped", "eQ": "telemetry: events queued",
          "eD": "telemetry: events dropped"}


def _records_in(path: str, data: Any) -> Counter[str]:
    """Records in one POST body, by kind; unknown paths count nothing."""
    out: Counter[str] = Counter()
    if path.endswith("/testImpressions/bulk"):
        out["impressions"] = sum(len(group.get("i", [])) for group in data)
    elif path.endswith("/testImpressions/count"):
        out["counted impressions"] = sum(int(c.get("rc", 0)) for c in data.get("pf", []))
    elif path.endswith("/events/bulk"):
        out["events"] = len(data)
    elif path.endswith("/keys/ss"):
        out["unique keys"] = sum(len(entry.get("ks", [])) for entry in data.get("keys", []))
    elif path.endswith("/metrics/usage"):
        out["telemetry usage reports"] = 1  # so a field absent from `records` means 0
        for field, name in _USAGE.items():
            if isinstance(data.get(field), int):
                out[name] = data[field]
    return out
