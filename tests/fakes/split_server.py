"""A fake Split service (SDK, events, auth, telemetry and streaming APIs) for the test suite.

Why a real HTTP server instead of transport mocks: the SDK under test runs on asyncio *or* trio
and talks HTTP/1.1 + Server-Sent Events through its own client; only a real socket exercises
keep-alive, gzip, chunked streaming, dropped connections and timeouts the way production does.
The server is built on the standard library only (``ThreadingHTTPServer``) and runs in daemon
threads, so it is independent of the async backend of the test. It listens on 127.0.0.1 on a
free port.

Every public method is thread-safe: all state is guarded by one lock, and waits use a
``threading.Condition`` on that lock. From async tests call the blocking waits
(``wait_for_requests``, ``wait_for_streams``) through ``anyio.to_thread.run_sync``.

Data model (mirrors the real service, see ``shared/spec/api.md`` §3-§4):

* One server-wide change-number counter: the first change gets ``1000``, every later change
  ``+1``. Flags, rule-based segments and segments all draw from it.
* Flags and rule-based segments keep an append-only history of versions, so that any
  ``since`` gets exactly the objects changed after it (archived ones included, so the SDK can
  delete them), and so that ``cdn_lag`` can serve the state *before* the latest change.
* Segments keep a history of member snapshots; deltas are ``members(now) - members(since)``.

Choices where the real service is not specified:

* ``set_flags`` "replaces everything": flags / rule-based segments that existed before and are
  not in the new lists become ``ARCHIVED`` tombstones with the new change number (an SDK with an
  older ``since`` is told to delete them; a fresh SDK never sees them). ``None`` for
  ``rule_based_segments`` means "none".
* Unknown segment: an empty segment whose ``till`` equals the requested ``since`` (so ``-1`` for
  a first fetch), which ends the SDK's fetch loop immediately.
* A splitChanges request whose ``since`` is ahead of the server answers ``s == t == since``.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import gzip
import hashlib
import hmac
import http
import json
import logging
import queue
import select
import socket
import socketserver
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, cast
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = ["FakeSplitServer", "Headers", "RecordedRequest"]

_log = logging.getLogger("tests.fakes.split_server")

FIRST_CHANGE_NUMBER = 1000
"""Change number given to the first change of a fresh server."""

ORG_ID = "123456789"
ENV_ID = "1234567890"
CHANNEL_PREFIX = (
    base64.b64encode(ORG_ID.encode()).decode() + "_" + base64.b64encode(ENV_ID.encode()).decode()
)
"""``<b64 org>_<b64 env>`` like the real channel names (the env part has ``==`` padding)."""

OCCUPANCY_PREFIX = "[?occupancy=metrics.publishers]"
_JWT_SECRET = b"fake-split-server"
_STREAM_POLL_S = 0.05  # how often an idle SSE handler checks for client disconnect / shutdown
_JOIN_TIMEOUT_S = 2.0


class Headers(Mapping[str, str]):
    """Read-only request headers with case-insensitive lookups (the SDK sends e.g. ``accept``).

    Iteration yields the names as received; repeated headers are joined with ``", "``.
    """

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        self._items: dict[str, tuple[str, str]] = {}
        for name, value in items:
            key = name.lower()
            if key in self._items:
                first_name, first_value = self._items[key]
                self._items[key] = (first_name, f"{first_value}, {value}")
            else:
                self._items[key] = (name, value)

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return (original for original, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"


@dataclasses.dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it (recorded before any fault is applied).

    ``query`` keeps the last value of each parameter (already percent-decoded);
    ``query_string`` is the raw string, for asserting the exact parameter order the CDN relies
    on. ``body`` is the raw body; ``json`` is the parsed body (gunzipped first if the request
    said ``Content-Encoding: gzip``) or ``None`` when empty/not JSON. ``time`` is
    ``time.monotonic()`` at arrival, for measuring retry backoffs.
    """

    method: str
    path: str
    query: dict[str, str]
    query_string: str
    headers: Headers
    body: bytes
    json: Any
    time: float

    @property
    def url(self) -> str:
        """Path plus raw query string, as on the request line."""
        return f"{self.path}?{self.query_string}" if self.query_string else self.path


@dataclasses.dataclass
class _Fault:
    kind: Literal["fail", "body", "drop", "truncate", "delay", "generate"]
    prefix: str
    remaining: int | None
    status: int = 200
    body: bytes = b"{}"
    seconds: float = 0.0
    skip: int = 0  # matching requests let through before this fault applies
    generate: Callable[[], Iterable[bytes]] | None = None  # "generate": the body, lazily
    headers: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class _Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    compressible: bool = True


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _matches(path: str, prefix: str) -> bool:
    return path.startswith(prefix)


class _VersionedStore:
    """Append-only history of one kind of named object (flags or rule-based segments).

    Keeping every version (rather than only the current one) is what lets the server answer any
    ``since`` exactly and serve a stale view for ``cdn_lag``.
    """

    def __init__(self) -> None:
        self._versions: list[tuple[int, str, dict[str, Any]]] = []
        self._bumps: list[int] = []

    def put(self, cn: int, obj: dict[str, Any]) -> None:
        self._versions.append((cn, obj["name"], obj))
        self.bump(cn)

    def bump(self, cn: int) -> None:
        """Advance this kind's change number without a new object (e.g. ``set_flags([])``)."""
        self._bumps.append(cn)

    def latest(self, view: int | None = None) -> dict[str, tuple[int, dict[str, Any]]]:
        """Newest version of each object with change number <= ``view`` (None = now)."""
        out: dict[str, tuple[int, dict[str, Any]]] = {}
        for cn, name, obj in self._versions:
            if view is None or cn <= view:
                out[name] = (cn, obj)
        return out

    def change_number(self, view: int | None = None) -> int:
        eligible = [cn for cn in self._bumps if view is None or cn <= view]
        return max(eligible, default=-1)

    def page(self, since: int, view: int | None) -> tuple[list[dict[str, Any]], int]:
        """Objects changed after ``since`` and the ``till`` to report (``since`` if none)."""
        current = self.change_number(view)
        versions = sorted(self.latest(view).values(), key=lambda v: (v[0], v[1]["name"]))
        if since == -1:
            objs = [obj for _, obj in versions if obj.get("status") != "ARCHIVED"]
        else:
            objs = [obj for cn, obj in versions if cn > since]
        return objs, (current if current > since else since)


StreamItem = bytes | Callable[[], Iterable[bytes]]
"""What an SSE connection is sent: bytes, or a function giving the (possibly endless) chunks to
write one after the other (hostile tests: lines that never end, floods)."""


class _SseStream:
    """One open Server-Sent-Events connection; its handler thread drains ``outbox``."""

    CLOSE_ABRUPT = b"\x00abrupt"
    CLOSE_GRACEFUL = b"\x00graceful"

    def __init__(self, request: RecordedRequest) -> None:
        self.request = request
        self.outbox: queue.SimpleQueue[StreamItem] = queue.SimpleQueue()


class _Server(ThreadingHTTPServer):
    """``ThreadingHTTPServer`` that knows its fake and tracks connections so ``stop`` can end
    them (idle keep-alive and SSE handler threads would otherwise outlive the test)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, fake: FakeSplitServer) -> None:
        self.fake = fake
        self.connections: set[socket.socket] = set()
        self.handler_threads: list[threading.Thread] = []
        self.conn_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn); skip it, it can be slow.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=f"fake-split-conn-{client_address[1]}",
            daemon=True,
        )
        with self.conn_lock:
            self.handler_threads = [t for t in self.handler_threads if t.is_alive()]
            self.handler_threads.append(thread)
        thread.start()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up (timeouts, dropped streams) are normal here; don't spam stderr.
        _log.debug("connection from %s ended with an error", client_address, exc_info=True)

    def close_all_connections(self) -> None:
        with self.conn_lock:
            conns = list(self.connections)
            threads = list(self.handler_threads)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + _JOIN_TIMEOUT_S
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))


class _Handler(BaseHTTPRequestHandler):
    """Records each request, applies faults, then routes it to the fake's endpoints."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: avoid 40 ms stalls
    server_version = "FakeSplit/1.0"
    sys_version = ""

    @property
    def _srv(self) -> _Server:
        return cast(_Server, self.server)

    def setup(self) -> None:
        super().setup()
        with self._srv.conn_lock:
            self._srv.connections.add(self.connection)

    def finish(self) -> None:
        try:
            with contextlib.suppress(OSError):
                super().finish()
        finally:
            with self._srv.conn_lock:
                self._srv.connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    # -- plumbing ---------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts: list[bytes] = []
            while True:
                size_line = self.rfile.readline()
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _record(self) -> RecordedRequest:
        split = urlsplit(self.path)
        body = self._read_body()
        parsed: Any = None
        if body:
            raw = body
            if "gzip" in self.headers.get("Content-Encoding", "").lower():
                with contextlib.suppress(OSError, EOFError):
                    raw = gzip.decompress(body)
            with contextlib.suppress(ValueError):
                parsed = json.loads(raw)
        return RecordedRequest(
            method=self.command,
            path=split.path,
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
            query_string=split.query,
            headers=Headers(self.headers.items()),
            body=body,
            json=parsed,
            time=time.monotonic(),
        )

    def _send(self, resp: _Response, request: RecordedRequest, *, truncate: bool = False) -> None:
        body = resp.body
        gzipped = (
            resp.compressible
            and request.method == "GET"
            and self._srv.fake.gzip_responses
            and "gzip" in request.headers.get("Accept-Encoding", "").lower()
        )
        if gzipped:
            body = gzip.compress(body)
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.content_type)
        if gzipped:
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if request.method == "HEAD":
            body = b""
        if truncate:
            # Announce the full length, send half, hang up: a "payload error" for the client.
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)
        self.wfile.flush()

    def _handle(self) -> None:
        fake = self._srv.fake
        request = self._record()
        fake._record(request)
        delay, action = fake._take_faults(request.path)
        if delay and not fake._sleep(delay):
            self.close_connection = True  # server stopping
            return
        truncate = False
        if action is not None:
            if action.kind == "drop" or (action.kind == "truncate" and _is_stream(request)):
                self.close_connection = True
                return
            if action.kind == "fail":
                self._send(_Response(action.status, b"{}", compressible=False), request)
                return
            if action.kind == "body":
                self._send(_Response(action.status, action.body, compressible=False), request)
                return
            if action.kind == "generate":
                self._send_generated(action)
                return
            truncate = action.kind == "truncate"
        if request.method == "GET" and _is_stream(request):
            self._serve_stream(request)
            return
        refused = fake._rejection(request)
        if refused is not None:
            self._send(_Response(refused, b'{"error": "bad record"}', compressible=False),
                       request)
            return
        response = fake._route(request)
        self._send(response, request, truncate=truncate)
        if request.method == "POST" and 200 <= response.status < 300 and not truncate:
            fake._accept(request)

    def _send_generated(self, action: _Fault) -> None:
        """Status, headers, then the generated chunks (chunked unless a Content-Length is
        given) until they end, the client goes away or the server stops."""
        assert action.generate is not None
        self.send_response(action.status)
        chunked = "Content-Length" not in action.headers
        for name, value in action.headers.items():
            self.send_header(name, value)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.close_connection = True
        if self._write_chunks(action.generate(), chunked) and chunked:
            with contextlib.suppress(OSError):
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

    def _write_chunks(self, chunks: Iterable[bytes], chunked: bool) -> bool:
        """False when the client went away (or the server is stopping)."""
        fake = self._srv.fake
        try:
            for chunk in chunks:
                if fake._stopping.is_set():
                    return False
                if chunked:
                    self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                else:
                    self.wfile.write(chunk)
                self.wfile.flush()
        except OSError:
            return False
        return True

    # -- SSE ----------------------------------------------------------------------------------

    def _serve_stream(self, request: RecordedRequest) -> None:
        fake = self._srv.fake
        refusal = fake._take_stream_refusal()
        if refusal is not None:
            phrase = _reason(refusal)
            body = _json_bytes(
                {"message": phrase, "code": refusal * 100, "statusCode": refusal, "href": ""}
            )
            self._send(_Response(refusal, body, compressible=False), request)
            return
        stream = _SseStream(request)
        fake._register_stream(stream)  # before the headers, so pushes right after are queued
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.flush()
            last_write = time.monotonic()
            while True:
                try:
                    item = stream.outbox.get(timeout=_STREAM_POLL_S)
                except queue.Empty:
                    if fake._stopping.is_set() or self._peer_closed():
                        break
                    keepalive = fake.stream_keepalive
                    if keepalive is not None and time.monotonic() - last_write >= keepalive:
                        self.wfile.write(b"b\r\n:keepalive\n\r\n")
                        self.wfile.flush()
                        last_write = time.monotonic()
                    continue
                if item is _SseStream.CLOSE_ABRUPT:
                    break
                if item is _SseStream.CLOSE_GRACEFUL:
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                    break
                if callable(item):
                    if not self._write_chunks(item(), chunked=True):
                        break
                else:
                    self.wfile.write(f"{len(item):x}\r\n".encode() + item + b"\r\n")
                    self.wfile.flush()
                last_write = time.monotonic()
        except OSError:
            pass
        finally:
            self.close_connection = True
            fake._unregister_stream(stream)

    def _peer_closed(self) -> bool:
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if not readable:
                return False
            return bool(self.connection.recv(1, socket.MSG_PEEK) == b"")
        except OSError:
            return True


def _is_stream(request: RecordedRequest) -> bool:
    return request.path == "/event-stream"


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class FakeSplitServer:
    """In-process fake of the Split cloud (see the module docstring for semantics).

    Typical use::

        with FakeSplitServer() as server:
            server.set_flags([rollout_flag("f1")])
            factory = await get_factory_async("key", sdk_api_base_url=server.sdk_url, ...)
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._cn = FIRST_CHANGE_NUMBER - 1
        self._flags = _VersionedStore()
        self._rbs = _VersionedStore()
        self._segments: dict[str, list[tuple[int, frozenset[str]]]] = {}
        self._requests: list[RecordedRequest] = []
        self._accepted: list[RecordedRequest] = []
        self._faults: list[_Fault] = []
        self._rejections: list[tuple[str, Callable[[Any], bool], int]] = []
        self._cdn_lag = 0
        self._segment_cdn_lag = 0
        self._supported_specs = frozenset({"1.3", "1.1"})
        self._push_enabled = True
        self._token_ttl = 3600
        self._tokens: list[str] = []
        self._streams: list[_SseStream] = []
        self._stream_refusal: tuple[int, int | None] | None = None
        self._message_seq = 0
        self._stream_greeting: list[StreamItem] = []
        self.stream_keepalive: float | None = None
        """Seconds of silence after which an open stream gets a ``:keepalive`` comment
        (None: never, the default; the real service sends them)."""
        self.gzip_responses = True
        """Gzip GET responses when the request accepts it (as the real CDN does)."""
        self.base_url = ""
        self.sdk_url = ""
        self.events_url = ""
        self.auth_url = ""
        self.telemetry_url = ""
        self.streaming_url = ""

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeSplitServer:
        """Bind 127.0.0.1 on a free port and serve in a daemon thread; returns ``self``."""
        if self._server is not None:
            raise RuntimeError("FakeSplitServer already started")
        self._stopping.clear()
        server = _Server(self)
        self._server = server
        self.base_url = f"http://127.0.0.1:{server.server_port}"
        self.sdk_url = self.events_url = self.auth_url = self.telemetry_url = self.base_url + "/api"
        self.streaming_url = self.base_url
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="fake-split-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close every connection (SSE included), free the port and join the threads.

        Idempotent. Pending ``delay`` faults are cut short.
        """
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        with self._cond:
            for stream in self._streams:
                stream.outbox.put(_SseStream.CLOSE_ABRUPT)
            self._cond.notify_all()
        server.shutdown()
        server.server_close()
        server.close_all_connections()
        if thread is not None:
            thread.join(_JOIN_TIMEOUT_S)
        self._server = None
        self._thread = None

    @property
    def port(self) -> int:
        """The bound port (only while started)."""
        if self._server is None:
            raise RuntimeError("FakeSplitServer not started")
        return self._server.server_port

    def __enter__(self) -> FakeSplitServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- data: feature flags and rule-based segments -----------------------------------------

    def _next_cn(self) -> int:
        self._cn += 1
        return self._cn

    @property
    def change_number(self) -> int:
        """The last change number handed out (``FIRST_CHANGE_NUMBER - 1`` before any change)."""
        with self._lock:
            return self._cn

    @property
    def flags_change_number(self) -> int:
        """Current ``ff.t`` (-1 before any flag change)."""
        with self._lock:
            return self._flags.change_number()

    @property
    def rbs_change_number(self) -> int:
        """Current ``rbs.t`` (-1 before any rule-based segment change)."""
        with self._lock:
            return self._rbs.change_number()

    @staticmethod
    def _replace_all(store: _VersionedStore, objs: list[dict[str, Any]], cn: int) -> None:
        new_names = {obj["name"] for obj in objs}
        for name, (_, old) in store.latest().items():
            if name not in new_names and old.get("status") != "ARCHIVED":
                store.put(cn, {**old, "status": "ARCHIVED", "changeNumber": cn})
        for obj in objs:
            obj["changeNumber"] = cn
            store.put(cn, json.loads(json.dumps(obj)))
        store.bump(cn)

    def set_flags(
        self, flags: list[dict[str, Any]], rule_based_segments: list[dict[str, Any]] | None = None
    ) -> int:
        """Replace all flags and rule-based segments in one change; returns its change number.

        Each given dict gets ``changeNumber`` set to it. Objects not in the new lists become
        ARCHIVED tombstones (see the module docstring).
        """
        with self._lock:
            cn = self._next_cn()
            self._replace_all(self._flags, flags, cn)
            self._replace_all(self._rbs, list(rule_based_segments or []), cn)
            return cn

    def upsert_flag(self, flag: dict[str, Any]) -> int:
        """Add or replace one flag as a new change; sets ``flag["changeNumber"]`` and returns it."""
        with self._lock:
            cn = self._next_cn()
            flag["changeNumber"] = cn
            self._flags.put(cn, json.loads(json.dumps(flag)))
            return cn

    def _modify_flag(self, name: str, **fields: Any) -> int:
        with self._lock:
            current = self._flags.latest().get(name)
            if current is None:
                raise KeyError(f"unknown flag {name!r}")
            cn = self._next_cn()
            self._flags.put(cn, {**current[1], **fields, "changeNumber": cn})
            return cn

    def archive_flag(self, name: str) -> int:
        """Mark a flag ARCHIVED as a new change (SDKs behind it will delete it)."""
        return self._modify_flag(name, status="ARCHIVED")

    def kill_flag(self, name: str, default_treatment: str) -> int:
        """Kill a flag (``killed: true`` + default treatment) as a new change (extra helper)."""
        return self._modify_flag(name, killed=True, defaultTreatment=default_treatment)

    def upsert_rule_based_segment(self, rbs: dict[str, Any]) -> int:
        """Add or replace one rule-based segment; sets ``rbs["changeNumber"]`` and returns it."""
        with self._lock:
            cn = self._next_cn()
            rbs["changeNumber"] = cn
            self._rbs.put(cn, json.loads(json.dumps(rbs)))
            return cn

    def archive_rule_based_segment(self, name: str) -> int:
        """Mark a rule-based segment ARCHIVED as a new change (extra helper)."""
        with self._lock:
            current = self._rbs.latest().get(name)
            if current is None:
                raise KeyError(f"unknown rule-based segment {name!r}")
            cn = self._next_cn()
            self._rbs.put(cn, {**current[1], "status": "ARCHIVED", "changeNumber": cn})
            return cn

    def flags(self) -> dict[str, dict[str, Any]]:
        """Current version of every flag by name, archived ones included (copies)."""
        with self._lock:
            latest = self._flags.latest()
            return {name: json.loads(json.dumps(obj)) for name, (_, obj) in latest.items()}

    # -- data: segments ----------------------------------------------------------------------

    def set_segment(self, name: str, keys: Iterable[str]) -> int:
        """Replace a segment's members as a new change; returns its change number."""
        with self._lock:
            cn = self._next_cn()
            self._segments.setdefault(name, []).append((cn, frozenset(keys)))
            return cn

    def update_segment(
        self, name: str, added: Iterable[str] = (), removed: Iterable[str] = ()
    ) -> int:
        """Add/remove members (creating the segment if needed) as a new change."""
        with self._lock:
            history = self._segments.setdefault(name, [])
            members = history[-1][1] if history else frozenset()
            cn = self._next_cn()
            history.append((cn, (members | frozenset(added)) - frozenset(removed)))
            return cn

    def segment_members(self, name: str) -> set[str]:
        """Current members of a segment (empty if unknown)."""
        with self._lock:
            history = self._segments.get(name)
            return set(history[-1][1]) if history else set()

    # -- fault injection ---------------------------------------------------------------------

    def _add_fault(self, fault: _Fault) -> None:
        if not fault.prefix.startswith("/"):
            raise ValueError("path_prefix must start with '/', e.g. '/api/splitChanges'")
        with self._lock:
            self._faults.append(fault)

    def fail(self, path_prefix: str, status: int, times: int | None = None) -> None:
        """Answer ``status`` with body ``{}`` to matching requests, ``times`` times (None = until
        ``clear_faults``). Prefixes match the path without query, e.g. ``/api/splitChanges``."""
        self._add_fault(_Fault("fail", path_prefix, times, status=status))

    def fail_with_body(
        self, path_prefix: str, body: bytes, status: int = 200, times: int | None = None
    ) -> None:
        """Answer ``status`` with exactly ``body`` (e.g. malformed JSON; never gzipped)."""
        self._add_fault(_Fault("body", path_prefix, times, status=status, body=body))

    def delay(
        self, path_prefix: str, seconds: float, times: int | None = None, skip: int = 0
    ) -> None:
        """Sleep ``seconds`` before answering (combines with one other fault; cut by ``stop``),
        from the matching request after the first ``skip`` ones."""
        self._add_fault(_Fault("delay", path_prefix, times, seconds=seconds, skip=skip))

    def drop_connection(self, path_prefix: str, times: int | None = None) -> None:
        """Close the socket without answering."""
        self._add_fault(_Fault("drop", path_prefix, times))

    def truncate_response(self, path_prefix: str, times: int | None = None) -> None:
        """Send the real response's headers (full Content-Length) but only half of its body,
        then close: the "payload error" case of api.md §2.2 (extra; a drop for SSE)."""
        self._add_fault(_Fault("truncate", path_prefix, times))

    def serve_generated(
        self, path_prefix: str, body: Callable[[], Iterable[bytes]], status: int = 200,
        headers: Mapping[str, str] | None = None, times: int | None = None,
    ) -> None:
        """Answer with ``status``, ``headers`` and the chunks ``body()`` gives, written as the
        client reads them (lazily: a 1 GB body or a gzip bomb costs the server nothing up
        front). Chunked unless ``headers`` has a Content-Length."""
        self._add_fault(_Fault("generate", path_prefix, times, status=status, generate=body,
                               headers=dict(headers or {})))

    def clear_faults(self) -> None:
        """Remove every fault, the CDN lags and any stream refusal."""
        with self._lock:
            self._faults.clear()
            self._cdn_lag = 0
            self._segment_cdn_lag = 0
            self._stream_refusal = None
            self._stream_greeting = []
            self._rejections = []

    def reject_posts(
        self, path_prefix: str, refuse: Callable[[Any], bool], status: int = 400
    ) -> None:
        """Answer ``status`` to posts whose parsed body ``refuse(body)`` says is bad (a strict
        API refusing a bulk for one bad record), until ``clear_faults``."""
        with self._lock:
            self._rejections.append((path_prefix, refuse, status))

    def _rejection(self, request: RecordedRequest) -> int | None:
        with self._lock:
            rules = list(self._rejections)
        for prefix, refuse, status in rules:
            if request.method == "POST" and _matches(request.path, prefix) and refuse(
                request.json
            ):
                return status
        return None

    def cdn_lag(self, times: int) -> None:
        """The next ``times`` splitChanges requests *without* ``till`` see the data as it was
        before the latest flag/RBS change (a stale CDN); requests with ``till`` always get fresh
        data (the CDN bypass)."""
        with self._lock:
            self._cdn_lag = times

    def segment_cdn_lag(self, times: int) -> None:
        """Same as ``cdn_lag`` for segmentChanges: the requested segment's latest change is
        hidden from the next ``times`` requests without ``till`` (extra)."""
        with self._lock:
            self._segment_cdn_lag = times

    def set_supported_specs(self, *versions: str) -> None:
        """Spec versions splitChanges accepts (default 1.3 and 1.1); others get 400. Use
        ``set_supported_specs("1.1")`` to emulate an old Split Proxy (api.md §3.4; extra)."""
        with self._lock:
            self._supported_specs = frozenset(versions)

    def proxy_mode(self, upgraded: bool = False) -> None:
        """Behave as a Split Proxy (api.md §3.4). By default one that predates rule-based
        segments: 400 to ``s=1.3``, the old ``{splits, since, till}`` shape to ``s=1.1`` (no
        rule-based segments whatever the server holds). ``upgraded=True``: the same proxy after
        its upgrade, answering both specs."""
        self.set_supported_specs(*(("1.3", "1.1") if upgraded else ("1.1",)))

    def _take_faults(self, path: str) -> tuple[float, _Fault | None]:
        """Consume at most one delay and one response fault matching ``path``."""
        delay = 0.0
        action: _Fault | None = None
        with self._lock:
            for fault in list(self._faults):
                if not _matches(path, fault.prefix):
                    continue
                if fault.skip:
                    fault.skip -= 1
                    continue
                if fault.kind == "delay":
                    if delay:
                        continue
                    delay = fault.seconds
                elif action is None:
                    action = fault
                else:
                    continue
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
        return delay, action

    def _sleep(self, seconds: float) -> bool:
        """Sleep unless the server stops first; False if it stopped."""
        return not self._stopping.wait(seconds)

    # -- observation -------------------------------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._cond:
            self._requests.append(request)
            self._cond.notify_all()

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in arrival order (a snapshot copy)."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        """Forget the recorded requests (e.g. after the start-up sync)."""
        with self._lock:
            self._requests.clear()

    def requests_to(self, path_prefix: str) -> list[RecordedRequest]:
        """Recorded requests whose path (without query) starts with ``path_prefix``."""
        with self._lock:
            return [r for r in self._requests if _matches(r.path, path_prefix)]

    def wait_for_requests(
        self, path_prefix: str, count: int, timeout: float
    ) -> list[RecordedRequest]:
        """Block until at least ``count`` matching requests were recorded; return them all.

        Raises ``TimeoutError`` after ``timeout`` seconds. Blocking: from async code use
        ``anyio.to_thread.run_sync``.
        """

        def matching() -> list[RecordedRequest]:
            return [r for r in self._requests if _matches(r.path, path_prefix)]

        with self._cond:
            if not self._cond.wait_for(lambda: len(matching()) >= count, timeout):
                got = len(matching())
                raise TimeoutError(
                    f"expected {count} requests to {path_prefix!r} within {timeout}s, got {got}"
                )
            return matching()

    def url_kwargs(self) -> dict[str, str]:
        """The ``get_factory`` keyword arguments that point every SDK endpoint at this server."""
        return {
            "sdk_api_base_url": self.sdk_url, "events_api_base_url": self.events_url,
            "auth_api_base_url": self.auth_url, "telemetry_api_base_url": self.telemetry_url,
            "streaming_api_base_url": self.streaming_url,
        }

    def accepted(self, path: str) -> list[Any]:
        """Parsed JSON bodies POSTed to exactly ``path`` that were answered 2xx (and written out:
        a client that gave up before the answer may still count, as with a real service)."""
        with self._lock:
            return [r.json for r in self._accepted if r.path == path]

    def _accept(self, request: RecordedRequest) -> None:
        with self._lock:
            self._accepted.append(request)

    def posted(self, path: str) -> list[Any]:
        """Parsed JSON bodies POSTed to exactly ``path`` (including attempts answered with a
        fault, since requests are recorded first)."""
        with self._lock:
            return [r.json for r in self._requests if r.method == "POST" and r.path == path]

    # -- auth --------------------------------------------------------------------------------

    def set_push_enabled(self, enabled: bool) -> None:
        """What ``/api/v2/auth`` answers in ``pushEnabled`` (default True)."""
        with self._lock:
            self._push_enabled = enabled

    def set_token_ttl(self, seconds: int) -> None:
        """Lifetime of issued tokens: ``exp = iat + seconds`` (default 3600)."""
        with self._lock:
            self._token_ttl = seconds

    @property
    def splits_channel(self) -> str:
        """The flags channel named in issued tokens (``<prefix>_splits``)."""
        return f"{CHANNEL_PREFIX}_splits"

    @property
    def segments_channel(self) -> str:
        """The segments channel named in issued tokens (``<prefix>_segments``)."""
        return f"{CHANNEL_PREFIX}_segments"

    @property
    def issued_tokens(self) -> list[str]:
        """Every token handed out by the auth endpoint, oldest first."""
        with self._lock:
            return list(self._tokens)

    def make_token(self, ttl: int | None = None) -> str:
        """A JWT as the real auth service issues (HS256-signed with a dummy secret).

        Capability order follows the official test token: segments, splits, control_pri,
        control_sec.
        """
        with self._lock:
            ttl = self._token_ttl if ttl is None else ttl
        control = ["subscribe", "channel-metadata:publishers"]
        capability = {
            self.segments_channel: ["subscribe"],
            self.splits_channel: ["subscribe"],
            "control_pri": control,
            "control_sec": control,
        }
        iat = int(time.time())
        header = {"alg": "HS256", "kid": "fake-key", "typ": "JWT"}
        payload = {
            "x-ably-capability": json.dumps(capability, separators=(",", ":")),
            "x-ably-clientId": "clientId",
            "exp": iat + ttl,
            "iat": iat,
        }
        signing_input = f"{_b64url(_json_bytes(header))}.{_b64url(_json_bytes(payload))}"
        signature = hmac.new(_JWT_SECRET, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{_b64url(signature)}"

    # -- streaming ---------------------------------------------------------------------------

    def _register_stream(self, stream: _SseStream) -> None:
        with self._cond:
            for item in self._stream_greeting:
                stream.outbox.put(item)
            self._streams.append(stream)
            self._cond.notify_all()

    def _unregister_stream(self, stream: _SseStream) -> None:
        with self._cond:
            if stream in self._streams:
                self._streams.remove(stream)
            self._cond.notify_all()

    def _take_stream_refusal(self) -> int | None:
        with self._lock:
            if self._stream_refusal is None:
                return None
            status, remaining = self._stream_refusal
            if remaining is not None:
                remaining -= 1
                self._stream_refusal = (status, remaining) if remaining > 0 else None
            return status

    def refuse_streams(self, status: int | None = 401, times: int | None = None) -> None:
        """Answer new ``/event-stream`` requests with ``status`` and an Ably-like JSON error
        body, ``times`` times (None = until cleared). ``status=None`` stops refusing."""
        with self._lock:
            self._stream_refusal = None if status is None else (status, times)

    def stream_connections(self) -> int:
        """Number of currently open SSE connections."""
        with self._lock:
            return len(self._streams)

    def wait_for_streams(self, count: int, timeout: float) -> int:
        """Block until at least ``count`` SSE connections are open; returns the number.

        ``count=0`` waits for all streams to be gone. Raises ``TimeoutError``.
        """

        def ready() -> bool:
            return len(self._streams) == 0 if count == 0 else len(self._streams) >= count

        with self._cond:
            if not self._cond.wait_for(ready, timeout):
                raise TimeoutError(
                    f"expected {count} open streams within {timeout}s, have {len(self._streams)}"
                )
            return len(self._streams)

    def stream_requests(self) -> list[RecordedRequest]:
        """The requests that opened the currently open streams (channels, token, headers)."""
        with self._lock:
            return [s.request for s in self._streams]

    def greet_streams(self, *items: str | StreamItem) -> None:
        """What every *new* stream is sent first, until ``clear_faults`` (text, bytes, or a
        function giving chunks, as ``push_generated`` takes)."""
        with self._lock:
            self._stream_greeting = [i.encode() if isinstance(i, str) else i for i in items]

    def push_generated(self, chunks: Callable[[], Iterable[bytes]]) -> int:
        """Write the chunks ``chunks()`` gives to every open stream, one after the other (the
        stream's handler does nothing else until they end or the client goes away)."""
        with self._lock:
            for stream in self._streams:
                stream.outbox.put(chunks)
            return len(self._streams)

    def push_raw(self, text: str) -> int:
        """Write ``text`` verbatim to every open stream; returns how many got it."""
        data = text.encode()
        with self._lock:
            for stream in self._streams:
                stream.outbox.put(data)
            return len(self._streams)

    def push_sse(self, event: str | None, data: str, id: str | None = None) -> int:
        """Write one SSE event (``id:``, ``event:``, one ``data:`` line per line of ``data``,
        blank line) to every open stream; returns how many got it."""
        lines: list[str] = []
        if id is not None:
            lines.append(f"id:{id}")
        if event is not None:
            lines.append(f"event:{event}")
        lines.extend(f"data:{line}" for line in data.split("\n"))
        return self.push_raw("\n".join(lines) + "\n\n")

    def close_streams(self, graceful: bool = False) -> None:
        """End every open SSE connection: by default abruptly (socket closed mid-body, what a
        network drop looks like); ``graceful=True`` sends the final empty chunk first."""
        marker = _SseStream.CLOSE_GRACEFUL if graceful else _SseStream.CLOSE_ABRUPT
        with self._lock:
            for stream in self._streams:
                stream.outbox.put(marker)

    # Convenience builders of the Ably envelopes the SDK parses (streaming.md §3).

    def message_event(self, channel: str, data: Any, *, name: str | None = None) -> str:
        """The SSE text of a ``message`` event with an Ably envelope on ``channel``; ``data``
        (a dict or an already-encoded string) becomes the envelope's JSON-string ``data``."""
        with self._lock:
            self._message_seq += 1
            seq = self._message_seq
        envelope: dict[str, Any] = {
            "id": f"fake{seq}:0:0",
            "clientId": "pri:ZmFrZQ==",
            "timestamp": int(time.time() * 1000),
            "encoding": "json",
            "channel": channel,
            "data": data if isinstance(data, str) else json.dumps(data),
        }
        if name is not None:
            envelope["name"] = name
        return f"id:{envelope['id']}\nevent:message\ndata:{json.dumps(envelope)}\n\n"

    def push_message(self, channel: str, data: Any, *, name: str | None = None) -> int:
        """Push a ``message`` event (``message_event``) to every open stream."""
        return self.push_raw(self.message_event(channel, data, name=name))

    def occupancy_event(self, control_channel: str = "control_pri", publishers: int = 2) -> str:
        """The SSE text of an occupancy message (what the real service sends on connect)."""
        return self.message_event(OCCUPANCY_PREFIX + control_channel,
                                  {"metrics": {"publishers": publishers}},
                                  name="[meta]occupancy")

    def push_occupancy(self, control_channel: str = "control_pri", publishers: int = 2) -> int:
        """Occupancy of ``control_pri``/``control_sec`` (0 publishers = streaming down)."""
        return self.push_raw(self.occupancy_event(control_channel, publishers))

    def push_control(self, control_type: str, control_channel: str = "control_pri") -> int:
        """``STREAMING_ENABLED`` | ``STREAMING_PAUSED`` | ``STREAMING_DISABLED``."""
        return self.push_message(control_channel, {"type": "CONTROL", "controlType": control_type})

    @staticmethod
    def encode_payload(obj: dict[str, Any], compression: int) -> str:
        """The ``d`` field of an update: base64 of JSON, gzip (c=1) or zlib (c=2) first."""
        raw = _json_bytes(obj)
        if compression == 1:
            raw = gzip.compress(raw)
        elif compression == 2:
            raw = zlib.compress(raw)
        elif compression != 0:
            raise ValueError(f"unknown compression {compression}")
        return base64.b64encode(raw).decode()

    def _push_update(
        self,
        kind: str,
        change_number: int,
        obj: dict[str, Any] | None,
        pcn: int | None,
        compression: int,
    ) -> int:
        payload: dict[str, Any] = {"type": kind, "changeNumber": change_number}
        if pcn is not None:
            payload["pcn"] = pcn
        if obj is not None:
            payload["c"] = compression
            payload["d"] = self.encode_payload(obj, compression)
        return self.push_message(self.splits_channel, payload)

    def push_split_update(
        self,
        change_number: int,
        flag: dict[str, Any] | None = None,
        *,
        pcn: int | None = None,
        compression: int = 0,
    ) -> int:
        """SPLIT_UPDATE; without ``flag`` it carries no payload (the SDK must fetch)."""
        return self._push_update("SPLIT_UPDATE", change_number, flag, pcn, compression)

    def push_rbs_update(
        self,
        change_number: int,
        rbs: dict[str, Any] | None = None,
        *,
        pcn: int | None = None,
        compression: int = 0,
    ) -> int:
        """RB_SEGMENT_UPDATE, like ``push_split_update``."""
        return self._push_update("RB_SEGMENT_UPDATE", change_number, rbs, pcn, compression)

    def push_split_kill(self, name: str, default_treatment: str, change_number: int) -> int:
        """SPLIT_KILL notification."""
        return self.push_message(
            self.splits_channel,
            {
                "type": "SPLIT_KILL",
                "changeNumber": change_number,
                "splitName": name,
                "defaultTreatment": default_treatment,
            },
        )

    def push_segment_update(self, name: str, change_number: int) -> int:
        """SEGMENT_UPDATE notification on the segments channel."""
        return self.push_message(
            self.segments_channel,
            {"type": "SEGMENT_UPDATE", "changeNumber": change_number, "segmentName": name},
        )

    def push_ably_error(
        self, code: int, status_code: int | None = None, message: str = "error"
    ) -> int:
        """An ``error`` event (e.g. 40142 token expired: retryable; 40000..49999: not)."""
        body = {
            "message": message,
            "code": code,
            "statusCode": status_code if status_code is not None else code // 100,
            "href": f"https://help.ably.io/error/{code}",
        }
        return self.push_sse("error", json.dumps(body))

    # -- routing (called from handler threads) -----------------------------------------------

    def _route(self, request: RecordedRequest) -> _Response:
        path, method = request.path, request.method
        if method == "POST":
            return _Response(200, b"{}", compressible=False)
        if method == "GET":
            if path == "/api/splitChanges":
                return self._split_changes(request)
            if path.startswith("/api/segmentChanges/") and len(path) > len("/api/segmentChanges/"):
                return self._segment_changes(request, unquote(path[len("/api/segmentChanges/") :]))
            if path == "/api/v2/auth":
                return self._auth()
        return _error(404)

    def _split_changes(self, request: RecordedRequest) -> _Response:
        query = request.query
        spec = query.get("s")
        try:
            since = int(query.get("since", "-1"))
            rb_since = int(query.get("rbSince", "-1"))
        except ValueError:
            return _error(400)
        sets = {s for s in query.get("sets", "").split(",") if s}
        with self._lock:
            if spec not in self._supported_specs:
                return _error(400)
            view: int | None = None
            if "till" not in query and self._cdn_lag > 0:
                self._cdn_lag -= 1
                latest = max(self._flags.change_number(), self._rbs.change_number())
                view = latest - 1
            flags, till = self._flags.page(since, view)
            rbs, rb_till = self._rbs.page(rb_since, view)
            if sets:
                flags = [f for f in flags if sets.intersection(f.get("sets") or ())]
            if spec == "1.1":
                return _Response(200, _json_bytes({"splits": flags, "since": since, "till": till}))
            body = {
                "ff": {"d": flags, "s": since, "t": till},
                "rbs": {"d": rbs, "s": rb_since, "t": rb_till},
            }
            return _Response(200, _json_bytes(body))

    def _segment_changes(self, request: RecordedRequest, name: str) -> _Response:
        try:
            since = int(request.query.get("since", "-1"))
        except ValueError:
            return _error(400)
        with self._lock:
            history = list(self._segments.get(name, ()))
            if "till" not in request.query and self._segment_cdn_lag > 0 and history:
                self._segment_cdn_lag -= 1
                history = history[:-1]
            if not history:
                body = {"name": name, "added": [], "removed": [], "since": since, "till": since}
                return _Response(200, _json_bytes(body))
        current_cn, current = history[-1]
        if since == -1:
            added, removed = sorted(current), []
        else:
            before: frozenset[str] = frozenset()
            for cn, members in history:
                if cn <= since:
                    before = members
            added, removed = sorted(current - before), sorted(before - current)
        till = current_cn if current_cn > since else since
        body = {"name": name, "added": added, "removed": removed, "since": since, "till": till}
        return _Response(200, _json_bytes(body))

    def _auth(self) -> _Response:
        with self._lock:
            push_enabled = self._push_enabled
        if not push_enabled:
            return _Response(200, _json_bytes({"pushEnabled": False, "token": ""}))
        token = self.make_token()
        with self._lock:
            self._tokens.append(token)
        return _Response(200, _json_bytes({"pushEnabled": True, "token": token}))


def _error(status: int) -> _Response:
    return _Response(status, _json_bytes({"code": status, "message": _reason(status)}))
