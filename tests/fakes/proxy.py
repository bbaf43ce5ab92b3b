"""A forwarding HTTP proxy on 127.0.0.1 with Basic proxy authentication, for the tests of the
SDK's proxy settings (``proxyUrl``, ``HTTP(S)_PROXY``) and of what it logs about them.

Plain-http targets only: a client sends ``GET http://host:port/path`` with a
``Proxy-Authorization`` header; the proxy checks it (407 otherwise), connects to the target and
then relays bytes both ways until either side closes (so keep-alive requests and SSE streams
that follow on the same connection pass through too). Standard library only, daemon threads.
"""

from __future__ import annotations

import base64
import contextlib
import socket
import socketserver
import threading
from types import TracebackType
from urllib.parse import urlsplit


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        client: socket.socket = self.request
        head = b""
        while b"\r\n\r\n" not in head:
            data = client.recv(65536)
            if not data:
                return
            head += data
        header, _, rest = head.partition(b"\r\n\r\n")
        lines = header.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ", 2)
        fields = [line.split(":", 1) for line in lines[1:] if ":" in line]
        credentials = next((v.strip() for k, v in fields if k.lower() == "proxy-authorization"),
                           None)
        if credentials != self.server.expected:
            client.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                           b"Proxy-Authenticate: Basic\r\nContent-Length: 0\r\n\r\n")
            return
        with self.server.lock:
            self.server.forwarded += 1
        parts = urlsplit(target)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        kept = "".join(f"{k}:{v}\r\n" for k, v in fields if not k.lower().startswith("proxy-"))
        upstream = socket.create_connection((parts.hostname, parts.port or 80))
        with upstream:
            upstream.sendall(f"{method} {path} {version}\r\n{kept}\r\n".encode("latin-1") + rest)
            relay = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
            relay.start()
            _pipe(client, upstream)
            relay.join(2)


def _pipe(source: socket.socket, target: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            target.sendall(data)
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, expected: str) -> None:
        self.expected = expected
        self.forwarded = 0
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)


class AuthProxy:
    """``with AuthProxy("user", "secret") as proxy: ... proxy.url`` (credentials included)."""

    def __init__(self, user: str, password: str) -> None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self._server = _Server(f"Basic {token}")
        self.url = f"http://{user}:{password}@127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever,
                                         kwargs={"poll_interval": 0.05}, daemon=True,
                                         name="fake-split-proxy")

    @property
    def forwarded(self) -> int:
        """Requests authenticated and forwarded (one per client connection)."""
        with self._server.lock:
            return self._server.forwarded

    def __enter__(self) -> AuthProxy:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
