"""A fake Split backend on 127.0.0.1 for the benchmarks: SDK, events, auth, telemetry, streaming.

Built for measuring; the test suite's fake (tests/fakes/split_server.py) is built for faults and
edge cases. What a measurement needs that a test fake does not:

* Stored bytes, as a CDN serves them. Every body is JSON-encoded once, gzipped once (level 6, when
  the client sends ``Accept-Encoding: gzip``, as the CDN does) and kept, so neither the server's
  encoding nor its compression is inside an SDK's figures. ``prepare()`` encodes what a starting
  SDK asks for before any SDK starts (the big first pages); anything else is encoded on its first
  request and kept (a CDN miss).
* Versioned data. Flags, rule-based segments and segment keys change with a change number each,
  so any ``since`` gets exactly what changed after it; ``reset()`` returns to the initial data
  without re-encoding it, so one server (and one encoding of a 1M-key segment) serves many SDK
  processes one after the other.
* Streaming with timestamps. ``/api/v2/auth`` issues a token when ``streaming`` is on;
  ``/event-stream`` sends the control channels' occupancy at once (as Split's service does when a
  client attaches) and then what is pushed. Every pushed message has an id, and the monotonic time
  at which its bytes were written to the socket is kept (``wait_written``), so latencies start at
  the server's write, not at the moment a benchmark asked for a push. SSE comment keepalives go out
  every ``keepalive_s`` seconds when set.
* Accounting. Requests are counted per path (``hits``) and logged with their arrival time
  (``requests_since``); POST bodies are tallied by kind of record (``records``), so a benchmark can
  check that nothing went missing.

It runs in the benchmark's parent process (stdlib only), so serving never competes with a
measured process for its GIL.
"""

from __future__ import annotations

import base64
import dataclasses
import gzip
import itertools
import json
import queue
import select
import socket
import threading
import time
import zlib
from collections import Counter
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qs, unquote, urlsplit

import _bench_data

Json = dict[str, Any]

GZIP_LEVEL = 6  # what CDNs commonly use for on-the-fly gzip
_B64_ORG_ENV = "YmVuY2gtb3Jn_YmVuY2gtZW52"  # channel prefix <b64 org>_<b64 env>
SPLITS_CHANNEL = f"{_B64_ORG_ENV}_splits"
SEGMENTS_CHANNEL = f"{_B64_ORG_ENV}_segments"
_OCCUPANCY = "[?occupancy=metrics.publishers]"
_IDLE_CHECK_S = 0.05  # how often an idle stream handler looks for a hang-up or a stop


class Request(NamedTuple):
    """One request as it arrived (``t`` is time.monotonic())."""

    t: float
    method: str
    path: str
    query: dict[str, str]


class Body(NamedTuple):
    status: int
    raw: bytes
    gzipped: bytes | None  # filled on the first request that accepts gzip


@dataclasses.dataclass
class _Segment:
    base: list[str]
    deltas: list[tuple[int, tuple[str, ...], tuple[str, ...]]]  # (change number, added, removed)


class _Stream:
    """One open SSE connection: its handler thread writes what is queued here."""

    def __init__(self) -> None:
        self.outbox: queue.SimpleQueue[tuple[str | None, bytes] | None] = queue.SimpleQueue()


class _Data:
    """The versioned objects; every method runs under the server's lock."""

    def __init__(self, flags: list[Json], segments: dict[str, list[str]], rbs: list[Json],
                 change_number: int) -> None:
        self.base_cn = self.cn = change_number
        self.flags = {f["name"]: (change_number, f) for f in flags}
        self.rbs = {r["name"]: (change_number, r) for r in rbs}
        self.ff_till = change_number
        self.rbs_till = change_number if rbs else -1
        self.segments = {name: _Segment(list(keys), []) for name, keys in segments.items()}
        self.version = 0  # bumped by every change: the cache key of any body that depends on it

    def next_cn(self) -> int:
        self.cn += 1
        self.version += 1
        return self.cn

    @staticmethod
    def _page(objs: dict[str, tuple[int, Json]], since: int, till: int) -> Json:
        if since == -1:
            items = [o for _, o in objs.values() if o.get("status", "ACTIVE") == "ACTIVE"]
        else:
            items = [o for cn, o in objs.values() if cn > since]
        return {"d": items, "s": since, "t": max(till, since)}

    def split_changes(self, since: int, rb_since: int) -> Json:
        return {"ff": self._page(self.flags, since, self.ff_till),
                "rbs": self._page(self.rbs, rb_since, self.rbs_till)}

    def segment_changes(self, name: str, since: int) -> Json:
        segment = self.segments.get(name)
        if segment is None:  # an unknown segment is an empty one (as Split's API answers)
            return {"name": name, "added": [], "removed": [], "since": since, "till": since}
        till = segment.deltas[-1][0] if segment.deltas else self.base_cn
        if since < self.base_cn:  # -1 (or older than anything): the whole segment
            if not segment.deltas:
                added: list[str] = segment.base
            else:
                members = set(segment.base)
                for _, plus, minus in segment.deltas:
                    members.update(plus)
                    members.difference_update(minus)
                added = sorted(members)
            return {"name": name, "added": added, "removed": [], "since": since, "till": till}
        last: dict[str, bool] = {}  # key -> added (True) or removed (False) by the latest change
        for cn, plus, minus in segment.deltas:
            if cn > since:
                last.update(dict.fromkeys(plus, True))
                last.update(dict.fromkeys(minus, False))
        return {"name": name, "added": [k for k, v in last.items() if v],
                "removed": [k for k, v in last.items() if not v], "since": since,
                "till": max(till, since)}


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _token(ttl_s: int = 3600) -> str:
    """A JWT shaped like Split's (the SDKs read its claims; nobody checks the signature)."""
    channels = {SEGMENTS_CHANNEL: ["subscribe"], SPLITS_CHANNEL: ["subscribe"],
                "control_pri": ["subscribe", "channel-metadata:publishers"],
                "control_sec": ["subscribe", "channel-metadata:publishers"]}
    now = int(time.time())
    claims = {"x-ably-capability": json.dumps(channels, separators=(",", ":")),
              "x-ably-clientId": "bench", "iat": now, "exp": now + ttl_s}
    parts = [_json({"alg": "HS256", "typ": "JWT"}), _json(claims), b"not-signed"]
    return ".".join(_b64url(part) for part in parts)


def encode_payload(obj: Json, compression: int) -> str:
    """The ``d`` of an update notification: base64 of the JSON, gzip (1) or zlib (2) first."""
    raw = _json(obj)
    if compression == 1:
        raw = gzip.compress(raw)
    elif compression == 2:
        raw = zlib.compress(raw)
    return base64.b64encode(raw).decode()


class FakeSplitServer:
    """See the module docstring. Thread-safe: one lock guards data, caches, logs and streams."""

    def __init__(
        self,
        flags: list[Json],
        segments: dict[str, list[str]],
        rule_based_segments: Iterable[Json] = (),
        *,
        change_number: int = _bench_data.CHANGE_NUMBER,
        streaming: bool = False,
        keepalive_s: float | None = None,
    ) -> None:
        self._initial = (flags, segments, list(rule_based_segments), change_number)
        self._data = _Data(*self._initial)
        self.streaming = streaming
        self.keepalive_s = keepalive_s
        self.keepalives_sent = 0
        self.hits: Counter[str] = Counter()
        self.records: Counter[str] = Counter()  # what the POST bodies carried, see _records_in
        self.gzipped = 0  # GET bodies served gzipped (the client accepted gzip)
        self._log: list[Request] = []
        self._bodies: dict[tuple[Any, ...], Body] = {}
        self._streams: list[_Stream] = []
        self._written: dict[str, float] = {}
        self._ids = itertools.count(1)  # message ids (next() on a count is atomic)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._threads = [threading.Thread(target=self._httpd.serve_forever, daemon=True,
                                          kwargs={"poll_interval": 0.1})]
        if keepalive_s:
            self._threads.append(threading.Thread(target=self._keepalives, daemon=True))

    # ------------------------------------------------------------------ lifecycle

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
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self.close_streams()
        self._httpd.shutdown()
        self._httpd.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    def prepare(self) -> dict[str, float]:
        """Encode (and gzip) the first pages every starting SDK asks for; returns what that
        took: MiB raw and gzipped, seconds. Call before timing anything."""
        started = time.perf_counter()
        with self._lock:
            keys = [("ff", -1, -1), *(("seg", name, -1) for name in self._data.segments)]
            bodies = [self._gzipped(*self._body(key)) for key in keys]
        return {"raw_mib": sum(len(b.raw) for b in bodies) / 2**20,
                "gzip_mib": sum(len(b.gzipped or b"") for b in bodies) / 2**20,
                "seconds": time.perf_counter() - started}

    def reset(self) -> None:
        """Back to the initial data (change numbers too); encoded initial pages are kept."""
        with self._lock:
            self._data = _Data(*self._initial)
            self._bodies = {k: v for k, v in self._bodies.items() if k[-1] == 0}
            self._log.clear()
            self._written.clear()

    # ------------------------------------------------------------------ observation

    def snapshot(self) -> Counter[str]:
        """A copy of the request counts, safe while handler threads are counting."""
        with self._lock:
            return Counter(self.hits)

    def records_snapshot(self) -> Counter[str]:
        """A copy of the record counts (impressions, events... accepted so far)."""
        with self._lock:
            return Counter(self.records)

    def requests_since(self, t: float, path_prefix: str = "") -> list[Request]:
        """Requests that arrived at or after monotonic time ``t`` under ``path_prefix``."""
        with self._lock:
            return [r for r in self._log if r.t >= t and r.path.startswith(path_prefix)]

    def stream_count(self) -> int:
        with self._lock:
            return len(self._streams)

    def wait_for_streams(self, count: int, timeout: float) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._streams) >= count, timeout):
                raise TimeoutError(f"{len(self._streams)} of {count} SSE streams open "
                                   f"after {timeout} s")

    def wait_written(self, message_id: str, timeout: float) -> float:
        """Monotonic time just before message ``message_id`` was written to a stream's socket
        (the first stream's write, if several are open)."""
        with self._changed:
            if not self._changed.wait_for(lambda: message_id in self._written, timeout):
                raise TimeoutError(f"message {message_id} not written within {timeout} s")
            return self._written[message_id]

    # ------------------------------------------------------------------ changes

    @property
    def flags_change_number(self) -> int:
        with self._lock:
            return self._data.ff_till

    @property
    def rbs_change_number(self) -> int:
        with self._lock:
            return self._data.rbs_till

    def upsert_flag(self, flag: Json) -> int:
        """Add or replace one flag as a new change; returns its change number."""
        with self._lock:
            cn = self._data.next_cn()
            self._data.flags[flag["name"]] = (cn, {**flag, "changeNumber": cn})
            self._data.ff_till = cn
            return cn

    def kill_flag(self, name: str, default_treatment: str) -> int:
        with self._lock:
            cn = self._data.next_cn()
            _, current = self._data.flags[name]
            self._data.flags[name] = (cn, {**current, "killed": True, "changeNumber": cn,
                                           "defaultTreatment": default_treatment})
            self._data.ff_till = cn
            return cn

    def flag(self, name: str) -> Json:
        with self._lock:
            return dict(self._data.flags[name][1])

    def upsert_rule_based_segment(self, rbs: Json) -> int:
        with self._lock:
            cn = self._data.next_cn()
            self._data.rbs[rbs["name"]] = (cn, {**rbs, "changeNumber": cn})
            self._data.rbs_till = cn
            return cn

    def update_segment(self, name: str, added: Iterable[str] = (),
                       removed: Iterable[str] = ()) -> int:
        with self._lock:
            cn = self._data.next_cn()
            segment = self._data.segments.setdefault(name, _Segment([], []))
            segment.deltas.append((cn, tuple(added), tuple(removed)))
            return cn

    # ------------------------------------------------------------------ streaming

    def _enqueue(self, message_id: str | None, data: bytes) -> None:
        with self._lock:
            for stream in self._streams:
                stream.outbox.put((message_id, data))

    def _message(self, channel: str, data: Json, name: str | None,
                 message_id: str | None = None) -> tuple[str, bytes]:
        """An Ably ``message`` event (id, SSE bytes); its ``id:`` line is unique."""
        message_id = message_id or self.reserve_id()
        envelope: Json = {"id": message_id, "clientId": "pri:YmVuY2g=",
                          "timestamp": int(time.time() * 1000), "encoding": "json",
                          "channel": channel, "data": json.dumps(data)}
        if name is not None:
            envelope["name"] = name
        text = f"id:{message_id}\nevent:message\ndata:{json.dumps(envelope)}\n\n"
        return message_id, text.encode()

    def reserve_id(self) -> str:
        """The id the next push given ``message_id=`` will carry: a worker can be told what to
        look for before the push happens."""
        return f"bench{next(self._ids)}:0:0"

    def push(self, channel: str, data: Json, name: str | None = None,
             message_id: str | None = None) -> str:
        """Push one message event to every open stream; returns its id (see wait_written)."""
        message_id, text = self._message(channel, data, name, message_id)
        self._enqueue(message_id, text)
        return message_id

    def push_occupancy(self, control: str = "control_pri", publishers: int = 2) -> str:
        return self.push(_OCCUPANCY + control, {"metrics": {"publishers": publishers}},
                         name="[meta]occupancy")

    def push_control(self, control_type: str) -> str:
        """STREAMING_ENABLED / STREAMING_PAUSED / STREAMING_DISABLED on control_pri."""
        return self.push("control_pri", {"type": "CONTROL", "controlType": control_type})

    def _push_update(self, kind: str, change_number: int, pcn: int | None, obj: Json | None,
                     compression: int, message_id: str | None) -> str:
        data: Json = {"type": kind, "changeNumber": change_number}
        if pcn is not None:
            data["pcn"] = pcn
        if obj is not None:
            data.update(c=compression, d=encode_payload(obj, compression))
        return self.push(SPLITS_CHANNEL, data, message_id=message_id)

    def push_split_update(self, change_number: int, pcn: int | None = None,
                          flag: Json | None = None, compression: int = 2,
                          message_id: str | None = None) -> str:
        """SPLIT_UPDATE; with ``flag`` its payload (zlib by default, as Split sends), without it
        the SDK has to fetch."""
        return self._push_update("SPLIT_UPDATE", change_number, pcn, flag, compression,
                                 message_id)

    def push_rbs_update(self, change_number: int, pcn: int | None = None,
                        rbs: Json | None = None, compression: int = 2,
                        message_id: str | None = None) -> str:
        return self._push_update("RB_SEGMENT_UPDATE", change_number, pcn, rbs, compression,
                                 message_id)

    def push_split_kill(self, name: str, default_treatment: str, change_number: int,
                        message_id: str | None = None) -> str:
        return self.push(SPLITS_CHANNEL, {"type": "SPLIT_KILL", "changeNumber": change_number,
                                          "splitName": name,
                                          "defaultTreatment": default_treatment},
                         message_id=message_id)

    def push_segment_update(self, name: str, change_number: int,
                            message_id: str | None = None) -> str:
        return self.push(SEGMENTS_CHANNEL, {"type": "SEGMENT_UPDATE",
                                            "changeNumber": change_number, "segmentName": name},
                         message_id=message_id)

    def close_streams(self) -> None:
        with self._lock:
            for stream in self._streams:
                stream.outbox.put(None)

    def _keepalives(self) -> None:
        assert self.keepalive_s
        while not self._stopping.wait(self.keepalive_s):
            self._enqueue(None, b":keepalive\n\n")
            with self._lock:
                self.keepalives_sent += 1

    # ------------------------------------------------------------------ serving

    def _body(self, key: tuple[Any, ...]) -> tuple[tuple[Any, ...], Body]:
        """The cache key and stored body for ``key`` at the current data version (lock held)."""
        data = self._data
        full = (*key, data.version)
        body = self._bodies.get(full)
        if body is None:
            if key[0] == "ff":
                body = Body(200, _json(data.split_changes(key[1], key[2])), None)
            else:
                body = Body(200, _json(data.segment_changes(key[1], key[2])), None)
            self._bodies[full] = body
        return full, body

    def _gzipped(self, key: tuple[Any, ...], body: Body) -> Body:
        if body.gzipped is None:
            body = body._replace(gzipped=gzip.compress(body.raw, GZIP_LEVEL))
            self._bodies[key] = body
        return body

    def _get(self, path: str, query: dict[str, str], gzip_ok: bool) -> tuple[int, bytes, bool]:
        """(status, bytes, gzipped?) for a GET."""
        if path == "/api/v2/auth":
            answer = {"pushEnabled": True, "token": _token()} if self.streaming else {
                "pushEnabled": False, "token": ""}
            return 200, _json(answer), False
        try:
            since = int(query.get("since", "-1"))
            rb_since = int(query.get("rbSince", "-1"))
        except ValueError:
            return 400, b'{"code":400}', False
        with self._lock:
            if path == "/api/splitChanges":
                key, body = self._body(("ff", since, rb_since))
            elif path.startswith("/api/segmentChanges/"):
                key, body = self._body(("seg", unquote(path.rsplit("/", 1)[1]), since))
            else:
                return 404, b'{"code":404}', False
            if gzip_ok:
                body = self._gzipped(key, body)
        if gzip_ok and body.gzipped is not None:
            with self._lock:
                self.gzipped += 1
            return body.status, body.gzipped, True
        return body.status, body.raw, False

    def _note(self, method: str, path: str, query: dict[str, str]) -> None:
        counted = "/api/segmentChanges/*" if path.startswith("/api/segmentChanges/") else path
        with self._changed:
            self.hits[f"{method} {counted}"] += 1
            self._log.append(Request(time.monotonic(), method, path, query))
            self._changed.notify_all()

    def _tally(self, path: str, body: bytes, encoding: str | None) -> None:
        """Count the records a POST delivered, so a benchmark can check nothing went missing."""
        try:
            data = json.loads(gzip.decompress(body) if encoding == "gzip" else body)
            counted = _records_in(path, data)
        except (ValueError, TypeError, AttributeError, OSError):
            counted = Counter({"unparsed POST bodies": 1})
        with self._lock:
            self.records.update(counted)

    def _open_stream(self) -> _Stream:
        stream = _Stream()
        for control in ("control_pri", "control_sec"):  # what the service sends on attach
            occupancy = {"metrics": {"publishers": 2}}
            stream.outbox.put(self._message(_OCCUPANCY + control, occupancy, "[meta]occupancy"))
        with self._changed:
            self._streams.append(stream)
            self._changed.notify_all()
        return stream

    def _close_stream(self, stream: _Stream) -> None:
        with self._changed:
            if stream in self._streams:
                self._streams.remove(stream)
            self._changed.notify_all()

    def _mark_written(self, message_id: str, started: float) -> None:
        with self._changed:
            self._written.setdefault(message_id, started)
            self._changed.notify_all()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # A real service answers without Nagle delays; with them, a response written in two
            # sends (headers, body) can stall 40 ms on the client's delayed ACK, for either SDK.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                """Keep the benchmark output clean."""

            def _reply(self, status: int, data: bytes, gzipped: bool = False) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if gzipped:
                    self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                server._note("GET", parts.path, query)
                if parts.path == "/event-stream":
                    self._stream()
                    return
                gzip_ok = "gzip" in self.headers.get("Accept-Encoding", "")
                self._reply(*server._get(parts.path, query, gzip_ok))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                path = urlsplit(self.path).path
                server._tally(path, body, self.headers.get("Content-Encoding"))
                server._note("POST", path, {})
                self._reply(200, b"{}")

            def _stream(self) -> None:
                if not server.streaming:
                    self._reply(401, b'{"code":40100,"statusCode":401}')
                    return
                stream = server._open_stream()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Cache-Control", "no-cache")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    self.wfile.flush()
                    while True:
                        try:
                            item = stream.outbox.get(timeout=_IDLE_CHECK_S)
                        except queue.Empty:
                            if server._stopping.is_set() or self._hung_up():
                                break
                            continue
                        if item is None:
                            break
                        message_id, data = item
                        chunk = b"%x\r\n%s\r\n" % (len(data), data)
                        started = time.monotonic()  # the bytes cannot arrive before this
                        self.wfile.write(chunk)
                        self.wfile.flush()
                        if message_id is not None:
                            server._mark_written(message_id, started)
                except OSError:
                    pass
                finally:
                    self.close_connection = True
                    server._close_stream(stream)

            def _hung_up(self) -> bool:
                try:
                    readable, _, _ = select.select([self.connection], [], [], 0)
                    return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
                except OSError:
                    return True

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
