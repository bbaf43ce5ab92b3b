"""A real MIT Kerberos realm on loopback, and HTTP servers that demand ``Negotiate``, for the tests
of ``httpAuthenticateScheme``.

* :class:`KerberosRealm` -- ``krb5kdc`` on a free 127.0.0.1 port (TCP and UDP), its database,
  configuration, credential cache and replay cache in a temporary directory; ``env`` holds the
  ``KRB5_*`` variables that point the Kerberos libraries there (the tests set them, so nothing
  reads or writes the machine's own configuration or credential cache). Principals and keytabs
  are made with ``kadmin.local``; users require pre-authentication, as in Active Directory, so a
  wrong password is a ``PREAUTH_FAILED`` line in the KDC log (``failed_logins``).
* :class:`NegotiateServer` -- on 127.0.0.1, either an HTTP proxy (``CONNECT`` tunnels and
  forwarded absolute-URL requests) that wants ``Proxy-Authorization: Negotiate`` and otherwise
  answers ``407`` + ``Proxy-Authenticate: Negotiate``, or a gateway in front of one upstream that
  wants ``Authorization: Negotiate`` (``401`` + ``WWW-Authenticate: Negotiate`` otherwise) and
  answers with the mutual-authentication token. Tokens are checked with the service keytab
  through GSSAPI, with a replay cache, so a token is good once.
* :class:`TlsFront` -- TLS on 127.0.0.1 in front of a plain-HTTP upstream (the fake Split
  server), so the proxy's ``CONNECT`` path carries real TLS.

Everything runs in daemon threads with plain sockets, independent of the test's async backend.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import selectors
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "HOST", "REALM", "Accepted", "KerberosRealm", "KerberosToolsMissing", "NegotiateServer",
    "TlsFront", "url_kwargs",
]

HOST = "127.0.0.1"
REALM = "SPLIT.TEST"
_TOOLS = ("krb5kdc", "kdb5_util", "kadmin.local", "kinit", "kdestroy")
_HEAD_LIMIT = 65536


class KerberosToolsMissing(Exception):
    """The MIT Kerberos tools or the Python GSSAPI bindings are not installed."""


class KerberosRealm:
    """A throw-away realm ``SPLIT.TEST`` with its KDC running; ``stop()`` (or ``with``) ends it."""

    def __init__(self) -> None:
        missing = [tool for tool in _TOOLS if shutil.which(tool) is None]
        if missing:
            raise KerberosToolsMissing(
                f"{', '.join(missing)} not on PATH (apt-get install krb5-kdc krb5-admin-server "
                "krb5-user)"
            )
        self.dir = Path(tempfile.mkdtemp(prefix="splitio-krb5-"))
        self.ccache = self.dir / "ccache"
        self.env = {
            "KRB5_CONFIG": str(self.dir / "krb5.conf"),
            "KRB5_KDC_PROFILE": str(self.dir / "kdc.conf"),
            "KRB5CCNAME": f"FILE:{self.ccache}",
            "KRB5_KTNAME": f"FILE:{self.dir / 'default.keytab'}",
            "KRB5_CLIENT_KTNAME": f"FILE:{self.dir / 'client.keytab'}",
            "KRB5RCACHEDIR": str(self.dir),
        }
        self.port = 0
        self._kdc: subprocess.Popen[bytes] | None = None
        try:
            self._write_config(_free_port())
            self._run("kdb5_util", "create", "-s", "-r", REALM, "-P", secrets.token_hex(16))
            self._start()
        except BaseException:
            self.stop()
            raise

    def __enter__(self) -> KerberosRealm:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def add_user(self, name: str, password: str) -> str:
        """A user principal that must pre-authenticate (as in Active Directory)."""
        self._kadmin(f"addprinc +requires_preauth -pw {password} {name}")
        return f"{name}@{REALM}"

    def add_service(self, name: str) -> Path:
        """A service principal with a random key, exported to its own keytab."""
        self._kadmin(f"addprinc -randkey {name}")
        keytab = self.dir / (name.replace("/", "_") + ".keytab")
        self._kadmin(f"ktadd -k {keytab} {name}")
        return keytab

    def kinit(self, principal: str, password: str) -> None:
        """Put a ticket-granting ticket for ``principal`` in the realm's credential cache."""
        self._run("kinit", principal, stdin=password + "\n")

    def kdestroy(self) -> None:
        self._run("kdestroy", check=False)

    def failed_logins(self, name: str) -> int:
        """Wrong-password attempts for ``name`` that reached the KDC (its log)."""
        log = self.dir / "kdc.log"
        lines = log.read_text(errors="replace").splitlines() if log.exists() else []
        return sum(1 for line in lines if "PREAUTH_FAILED" in line and f" {name}@" in line)

    def stop(self) -> None:
        kdc, self._kdc = self._kdc, None
        if kdc is not None:
            kdc.kill()
            kdc.wait(5)
        if not os.environ.get("SPLITIO_KEEP_KRB5_DIRS"):
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- plumbing ----------------------------------------------------------------------------

    def _write_config(self, port: int) -> None:
        directory = self.dir
        (directory / "krb5.conf").write_text(
            "[libdefaults]\n"
            f" default_realm = {REALM}\n"
            " dns_lookup_kdc = false\n dns_lookup_realm = false\n"
            " dns_canonicalize_hostname = false\n rdns = false\n"
            " udp_preference_limit = 1\n"  # TCP: no UDP retransmission waits
            " kdc_timeout = 2s\n max_retries = 1\n"
            f"[realms]\n {REALM} = {{\n  kdc = {HOST}:{port}\n }}\n"
        )
        (directory / "kdc.conf").write_text(
            f"[kdcdefaults]\n kdc_listen = {HOST}:{port}\n kdc_tcp_listen = {HOST}:{port}\n"
            f"[realms]\n {REALM} = {{\n"
            f"  database_name = {directory / 'principal'}\n"
            f"  key_stash_file = {directory / 'stash'}\n"
            f"  acl_file = {directory / 'kadm5.acl'}\n"
            "  supported_enctypes = aes256-cts-hmac-sha1-96:normal\n"
            " }\n"
            f"[logging]\n kdc = FILE:{directory / 'kdc.log'}\n"
        )
        self.port = port

    def _start(self) -> None:
        for attempt in range(5):
            if attempt:
                self._write_config(_free_port())
            kdc = subprocess.Popen(
                ["krb5kdc", "-n", "-r", REALM], env={**os.environ, **self.env},
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            )
            self._kdc = kdc
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and kdc.poll() is None:
                with contextlib.suppress(OSError), socket.create_connection((HOST, self.port), 0.2):
                    return
                time.sleep(0.01)
            kdc.kill()
            kdc.wait(5)
            self._kdc = None
        log = self.dir / "kdc.log"
        raise KerberosToolsMissing(
            "krb5kdc did not start: " + (log.read_text()[-2000:] if log.exists() else "")
        )

    def _kadmin(self, query: str) -> None:
        self._run("kadmin.local", "-r", REALM, "-q", query)

    def _run(self, *command: str, stdin: str | None = None, check: bool = True) -> None:
        result = subprocess.run(
            command, input=stdin, env={**os.environ, **self.env}, capture_output=True, text=True,
            timeout=30, check=False,
        )
        failed = result.returncode != 0 or "error" in result.stderr.lower()
        if check and failed:
            raise KerberosToolsMissing(f"{' '.join(command[:2])} failed: {result.stderr.strip()}")


@dataclass(frozen=True)
class Accepted:
    """A request let through: who, what, and the token it carried."""

    principal: str
    method: str
    target: str
    token: str


class NegotiateServer:
    """An HTTP proxy (``upstream`` None) or gateway (``upstream`` = base URL) demanding Kerberos.

    ``accepted`` lists the requests let through; ``challenged`` counts those that came without a
    token; ``refused`` the reasons of tokens that did not verify (wrong key, replayed, principal
    not in ``principals``).
    """

    def __init__(
        self, keytab: Path, rcache: Path, upstream: str | None = None,
        principals: set[str] | None = None, forge_replies: bool = False,
    ) -> None:
        try:
            import gssapi  # noqa: PLC0415 - only the Kerberos tests need it
        except ImportError as exc:
            raise KerberosToolsMissing(f"the gssapi bindings are not installed ({exc})") from exc
        self._gssapi = gssapi
        self._creds = gssapi.Credentials(
            usage="accept", store={"keytab": str(keytab), "rcache": f"file2:{rcache}"}
        )
        self.gateway = upstream is not None
        self._upstream = urlsplit(upstream) if upstream else None
        self._principals = principals
        self._forge_replies = forge_replies  # gateway: a mutual-authentication token not ours
        self.accepted: list[Accepted] = []
        self.challenged = 0
        self.refused: list[str] = []
        self._lock = threading.Lock()
        self._listener = _Listener(self._serve)
        self.port = self._listener.port
        self.url = f"http://{HOST}:{self.port}"

    def __enter__(self) -> NegotiateServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._listener.stop()

    def tokens(self) -> list[str]:
        with self._lock:
            return [a.token for a in self.accepted]

    def targets(self) -> list[str]:
        with self._lock:
            return [f"{a.method} {a.target}" for a in self.accepted]

    # -- connection handling (one thread per connection) --------------------------------------

    def _serve(self, client: _Conn) -> None:
        while True:
            head = client.read_head()
            if head is None:
                return
            method, target, headers = head
            body = client.read_exact(int(headers.get("content-length", "0") or 0))
            wanted = "authorization" if self.gateway else "proxy-authorization"
            principal, reply = self._verify(headers.get(wanted))
            if principal is None:
                status = "401 Unauthorized" if self.gateway else "407 Proxy Authentication Required"
                challenge = "WWW-Authenticate" if self.gateway else "Proxy-Authenticate"
                client.send(f"HTTP/1.1 {status}\r\n{challenge}: Negotiate\r\n"
                            "Content-Length: 0\r\n\r\n".encode())
                continue
            with self._lock:
                self.accepted.append(Accepted(principal, method, target, headers[wanted]))
            if method == "CONNECT":
                self._tunnel(client, target)
                return
            self._forward(client, method, target, headers, body, reply)
            return

    def _verify(self, value: str | None) -> tuple[str | None, bytes | None]:
        if value is None or not value.lower().startswith("negotiate "):
            with self._lock:
                self.challenged += 1
            return None, None
        try:
            token = base64.b64decode(value.split(" ", 1)[1].strip(), validate=True)
            context = self._gssapi.SecurityContext(creds=self._creds, usage="accept")
            reply = context.step(token)
            if not context.complete:
                raise ValueError("the Kerberos exchange needs another leg")
            principal = str(context.initiator_name)
            if self._principals is not None and principal not in self._principals:
                raise ValueError(f"{principal} may not use this server")
        except Exception as exc:
            with self._lock:
                self.refused.append(f"{type(exc).__name__}: {exc}")
            return None, None
        return principal, reply

    def _tunnel(self, client: _Conn, target: str) -> None:
        host, _, port = target.rpartition(":")
        if host != HOST:  # loopback only
            client.send(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        with socket.create_connection((host, int(port)), 5) as upstream:
            client.send(b"HTTP/1.1 200 Connection established\r\n\r\n")
            _pipe(client, _Conn(upstream), self._listener.stopping)

    def _forward(
        self, client: _Conn, method: str, target: str, headers: dict[str, str], body: bytes,
        reply: bytes | None,
    ) -> None:
        if self._upstream is not None:
            address, path = self._upstream, target
        else:
            address = urlsplit(target)
            path = address.path + (f"?{address.query}" if address.query else "")
        if address.hostname != HOST:
            client.send(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        hop = {"connection", "keep-alive", "proxy-connection", "proxy-authorization",
               "authorization" if self.gateway else ""}
        lines = [f"{method} {path} HTTP/1.1"]
        lines += [f"{name}: {value}" for name, value in headers.items() if name not in hop]
        request = ("\r\n".join([*lines, "Connection: close", "", ""])).encode() + body
        with socket.create_connection((HOST, address.port or 80), 5) as raw:
            upstream = _Conn(raw)
            upstream.send(request)
            answer = upstream.read_raw_head()
            if answer is None:
                return
            status_line, *fields = answer.decode("latin-1").split("\r\n")
            fields = [f for f in fields if f.split(":", 1)[0].strip().lower()
                      not in ("connection", "keep-alive")]
            if self.gateway and reply:
                if self._forge_replies:
                    reply = reply[:-8] + bytes(8)
                fields.append(f"WWW-Authenticate: Negotiate {base64.b64encode(reply).decode()}")
            out = "\r\n".join([status_line, *fields, "Connection: close", "", ""]).encode()
            client.send(out + upstream.take_buffer())
            _pipe(client, upstream, self._listener.stopping)


class TlsFront:
    """TLS on 127.0.0.1 for a plain-HTTP ``upstream_port`` (certificate for IP 127.0.0.1)."""

    def __init__(self, upstream_port: int, cert_file: str, key_file: str) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_file, key_file)
        self._context = context
        self._upstream_port = upstream_port
        self._listener = _Listener(self._serve)
        self.port = self._listener.port
        self.base_url = f"https://{HOST}:{self.port}"

    def stop(self) -> None:
        self._listener.stop()

    def _serve(self, client: _Conn) -> None:
        try:
            client.sock = self._context.wrap_socket(client.sock, server_side=True)
        except (OSError, ssl.SSLError):
            return
        with socket.create_connection((HOST, self._upstream_port), 5) as upstream:
            _pipe(client, _Conn(upstream), self._listener.stopping)


def url_kwargs(base_url: str) -> dict[str, str]:
    """``get_factory`` URL keyword arguments with every Split endpoint at ``base_url``."""
    api = base_url + "/api"
    return {"sdk_api_base_url": api, "events_api_base_url": api, "auth_api_base_url": api,
            "telemetry_api_base_url": api, "streaming_api_base_url": base_url}


# -- sockets -----------------------------------------------------------------------------------


class _Conn:
    """A socket with a read buffer: request/response heads are parsed, the rest is relayed."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buffer = b""

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        self._buffer += data
        return bool(data)

    def read_raw_head(self) -> bytes | None:
        while b"\r\n\r\n" not in self._buffer:
            if len(self._buffer) > _HEAD_LIMIT or not self._fill():
                return None
        head, _, self._buffer = self._buffer.partition(b"\r\n\r\n")
        return head

    def read_head(self) -> tuple[str, str, dict[str, str]] | None:
        raw = self.read_raw_head()
        if raw is None:
            return None
        request_line, *fields = raw.decode("latin-1").split("\r\n")
        method, target, _ = request_line.split(" ", 2)
        headers: dict[str, str] = {}
        for field in fields:
            name, _, value = field.partition(":")
            headers[name.strip().lower()] = value.strip()
        return method, target, headers

    def read_exact(self, size: int) -> bytes:
        while len(self._buffer) < size:
            if not self._fill():
                break
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def take_buffer(self) -> bytes:
        data, self._buffer = self._buffer, b""
        return data

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)


def _pipe(a: _Conn, b: _Conn, stopping: threading.Event) -> None:
    """Relay both ways until either side closes (or the server stops)."""
    for conn, other in ((a, b), (b, a)):
        pending = conn.take_buffer()
        if pending:
            other.send(pending)
    with selectors.DefaultSelector() as selector:
        selector.register(a.sock, selectors.EVENT_READ, b)
        selector.register(b.sock, selectors.EVENT_READ, a)
        while not stopping.is_set():
            for key, _ in selector.select(0.05):
                source: socket.socket = key.fileobj  # type: ignore[assignment]
                try:
                    while True:  # a TLS socket may hold decrypted bytes select cannot see
                        data = source.recv(65536)
                        if not data:
                            return
                        key.data.send(data)
                        if not isinstance(source, ssl.SSLSocket) or not source.pending():
                            break
                except OSError:
                    return


class _Listener:
    """Accepts on 127.0.0.1 (free port); one daemon thread per connection; ``stop`` ends all."""

    def __init__(self, handler: Callable[[_Conn], Any]) -> None:
        self._handler = handler
        self._sock = socket.create_server((HOST, 0))
        self.port: int = self._sock.getsockname()[1]
        self.stopping = threading.Event()
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True, name="negotiate-accept")
        self._thread.start()

    def _accept(self) -> None:
        self._sock.settimeout(0.05)
        while not self.stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            with self._lock:
                self._open.add(conn)
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        wrapped = _Conn(conn)
        try:
            self._handler(wrapped)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open.discard(conn)
            with contextlib.suppress(OSError):
                wrapped.sock.close()
            with contextlib.suppress(OSError):
                conn.close()

    def stop(self) -> None:
        self.stopping.set()
        self._thread.join(2)
        self._sock.close()
        with self._lock:
            conns = list(self._open)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


def _free_port() -> int:
    """A port free on 127.0.0.1 for both TCP and UDP (the KDC listens on both)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((HOST, 0))
            port: int = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((HOST, port))
                except OSError:
                    continue
                return port
