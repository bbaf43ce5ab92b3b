"""Real ``redis-server`` processes for the Redis consumer-mode tests.

Three topologies, each on free loopback ports in its own temporary directory:

* :class:`RedisServer` -- one standalone server, optionally TLS-only (``RedisServer(tls=True)``);
  ``kill()`` (SIGKILL) and ``restart()`` (same port, same directory) for "Redis lost mid-run" and
  "Redis comes back" tests.
* :class:`SentinelSet` -- a master, one replica and three sentinels, tuned so that a failover
  completes in a few seconds; optionally TLS everywhere (data nodes, replication, sentinels).
* :class:`RedisCluster` -- three cluster masters, no replicas, built with
  ``redis-cli --cluster create``.

Every process runs in its own session (process group), is stopped by ``stop()``/``close()`` or the
context manager, and at interpreter exit whatever is still running is SIGKILLed and its directory
removed (set ``SPLITIO_KEEP_REDIS_DIRS=1`` to keep the directories and their logs). A server or
topology that fails to start raises :class:`RedisStartError` with the tail of its logs (also
printed) and keeps its directory; a missing ``redis-server`` raises :class:`RedisUnavailable`,
missing TLS support (no ``openssl`` CLI, or a build without TLS) :class:`TlsUnavailable`
(fixtures turn those into skips). This Debian build (7.0.15) has TLS, Sentinel over TLS included.

Nothing here needs redis-py except the ``client()`` conveniences: readiness checks speak RESP over
a plain (or TLS) socket. Every wait polls with a deadline; none sleeps a fixed time.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "HOST",
    "Address",
    "RedisCluster",
    "RedisServer",
    "RedisStartError",
    "RedisUnavailable",
    "ReplyError",
    "SentinelSet",
    "TlsFiles",
    "TlsUnavailable",
    "execute",
    "free_port",
    "redis_server_path",
    "tls_files",
    "wait_until",
]

HOST = "127.0.0.1"
Address = tuple[str, int]
T = TypeVar("T")

_POLL = 0.01  # seconds between readiness probes
_RESTART_MARK = "----- (re)start -----"
_RESERVED_PORTS = frozenset({6379, 6380, 16379, 26379})  # the system Redis and its usual friends


# ---------------------------------------------------------------------------------------------
# Errors


class RedisUnavailable(RuntimeError):
    """``redis-server`` (or a tool it needs) is not installed: tests should skip, not fail."""


class TlsUnavailable(RedisUnavailable):
    """TLS cannot be used: no ``openssl`` CLI, or a ``redis-server`` built without TLS."""


class RedisStartError(RuntimeError):
    """A process did not come up (or a topology did not converge) within its deadline."""


class ReplyError(Exception):
    """An error reply (``-ERR ...``) from a server."""


# ---------------------------------------------------------------------------------------------
# Small utilities


def redis_server_path() -> str:
    """Absolute path of ``redis-server``; :class:`RedisUnavailable` if it is not on PATH."""
    path = shutil.which("redis-server")
    if path is None:
        raise RedisUnavailable("redis-server is not on PATH (apt-get install redis-server)")
    return path


def _redis_cli_path() -> str:
    path = shutil.which("redis-cli")
    if path is None:
        raise RedisUnavailable("redis-cli is not on PATH (apt-get install redis-tools)")
    return path


def wait_until(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    interval: float = _POLL,
) -> T:
    """Call ``probe`` until it returns something other than None/False; its last error otherwise.

    Exceptions raised by ``probe`` count as "not yet"; the last one is chained to the
    :class:`RedisStartError` raised when ``timeout`` expires.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            result = probe()
        except (OSError, ReplyError, ValueError, LookupError, TypeError) as exc:
            last_error = exc
        else:
            if result is not None and result is not False:
                return result
        if time.monotonic() >= deadline:
            raise RedisStartError(
                f"timed out after {timeout:.1f}s waiting for {what}"
                + (f" (last error: {last_error!r})" if last_error else "")
            ) from last_error
        time.sleep(interval)


_port_lock = threading.Lock()
_handed_out: set[int] = set()
_random = random.SystemRandom()  # independent of any seeding the tests do


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A currently free 127.0.0.1 port, never handed out twice by this process.

    Picked at random below the usual ephemeral range (so outgoing connections do not grab it in
    the meantime); a concurrent process may still take it first, which is why the servers retry
    with another port when their bind fails.
    """
    with _port_lock:
        for _ in range(200):
            port = _random.randrange(20000, 32000)
            if port in _handed_out or port in _RESERVED_PORTS:
                continue
            if _port_is_free(port):
                _handed_out.add(port)
                return port
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:  # fall back to the OS
            sock.bind((HOST, 0))
            port = int(sock.getsockname()[1])
        _handed_out.add(port)
        return port


# ---------------------------------------------------------------------------------------------
# TLS material


@dataclass(frozen=True)
class TlsFiles:
    """A throw-away CA and one leaf certificate signed by it.

    The leaf (SAN ``IP:127.0.0.1``, ``DNS:localhost``, no extended key usage) is used by the
    servers and works as a client certificate too, should a test enable ``tls-auth-clients``.
    """

    ca_file: str
    cert_file: str
    key_file: str

    def ssl_context(self) -> ssl.SSLContext:
        """A client context trusting the CA and presenting the leaf certificate."""
        context = ssl.create_default_context(cafile=self.ca_file)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


_tls_lock = threading.Lock()
_tls_files: TlsFiles | None = None


def tls_files() -> TlsFiles:
    """The process-wide :class:`TlsFiles`, generated with the ``openssl`` CLI on first use."""
    global _tls_files
    with _tls_lock:
        if _tls_files is None:
            _tls_files = _generate_tls_files()
        return _tls_files


def _generate_tls_files() -> TlsFiles:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise TlsUnavailable("the openssl CLI is not on PATH (apt-get install openssl)")
    directory = Path(tempfile.mkdtemp(prefix="splitio-redis-tls-"))
    _temp_dirs.add(directory)
    ca_key, ca_crt = directory / "ca.key", directory / "ca.crt"
    key, csr, crt = directory / "redis.key", directory / "redis.csr", directory / "redis.crt"
    ext = directory / "redis.ext"
    ext.write_text(
        "basicConstraints=CA:FALSE\n"
        "keyUsage=digitalSignature,keyEncipherment\n"
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
    )
    curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    steps = [
        [openssl, "req", "-x509", *curve, "-keyout", str(ca_key), "-out", str(ca_crt),
         "-days", "2", "-subj", "/CN=splitio-async test CA"],
        [openssl, "req", *curve, "-keyout", str(key), "-out", str(csr),
         "-subj", "/CN=localhost"],
        [openssl, "x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key),
         "-CAcreateserial", "-out", str(crt), "-days", "2", "-extfile", str(ext)],
    ]  # fmt: skip
    for step in steps:
        result = subprocess.run(step, capture_output=True, text=True, check=False, timeout=30)
        if result.returncode != 0:
            raise TlsUnavailable(
                f"openssl failed ({' '.join(step)}):\n{result.stdout}{result.stderr}"
            )
    for secret in (ca_key, key):
        secret.chmod(0o600)
    return TlsFiles(ca_file=str(ca_crt), cert_file=str(crt), key_file=str(key))


# ---------------------------------------------------------------------------------------------
# A minimal RESP2 client for readiness checks and topology management


def _encode(args: Iterable[object]) -> bytes:
    parts = [arg if isinstance(arg, bytes) else str(arg).encode() for arg in args]
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        out.append(b"$%d\r\n%s\r\n" % (len(part), part))
    return b"".join(out)


def _read_reply(stream: Any) -> Any:
    line: bytes = stream.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError("connection closed in the middle of a reply")
    kind, body = line[:1], line[1:-2]
    if kind == b"+":
        return body.decode()
    if kind == b"-":
        raise ReplyError(body.decode())
    if kind == b":":
        return int(body)
    if kind == b"$":
        size = int(body)
        if size < 0:
            return None
        data: bytes = stream.read(size + 2)
        return data[:-2].decode(errors="replace")
    if kind == b"*":
        size = int(body)
        return None if size < 0 else [_read_reply(stream) for _ in range(size)]
    raise ConnectionError(f"unexpected reply {line!r}")


def execute(
    address: Address,
    *args: object,
    tls: TlsFiles | None = None,
    timeout: float = 2.0,
) -> Any:
    """Run one command on a fresh connection and return the decoded RESP2 reply.

    Strings come back as ``str``, arrays as lists, errors raise :class:`ReplyError`.
    """
    raw = socket.create_connection(address, timeout=timeout)
    with contextlib.ExitStack() as stack:
        sock: socket.socket = stack.enter_context(raw)
        if tls is not None:
            sock = stack.enter_context(
                tls.ssl_context().wrap_socket(raw, server_hostname=address[0])
            )
        sock.sendall(_encode(args))
        stream = stack.enter_context(sock.makefile("rb"))
        return _read_reply(stream)


def _info(address: Address, section: str, tls: TlsFiles | None) -> dict[str, str]:
    text = execute(address, "INFO", section, tls=tls)
    fields: dict[str, str] = {}
    for line in str(text).splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key] = value
    return fields


def _pairs(flat: list[Any]) -> dict[str, Any]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


# ---------------------------------------------------------------------------------------------
# Process bookkeeping: everything still alive at exit is SIGKILLed, temp dirs removed

_live_lock = threading.Lock()
_live: set[RedisServer] = set()
_temp_dirs: set[Path] = set()


def _keep_dirs() -> bool:
    return os.environ.get("SPLITIO_KEEP_REDIS_DIRS", "") not in ("", "0")


def _remove_dir(directory: Path) -> None:
    _temp_dirs.discard(directory)
    if not _keep_dirs():
        shutil.rmtree(directory, ignore_errors=True)


@atexit.register
def _cleanup_at_exit() -> None:
    with _live_lock:
        servers = list(_live)
    for server in servers:
        with contextlib.suppress(Exception):
            server.kill()
    for directory in list(_temp_dirs):
        _remove_dir(directory)


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)  # the process leads its own session, so its group too


# ---------------------------------------------------------------------------------------------
# One server process


class _TlsFileNames:
    """``tls_files`` and its paths (None without TLS), for whatever holds ``_tls_files``."""

    _tls_files: TlsFiles | None

    @property
    def tls_files(self) -> TlsFiles | None:
        return self._tls_files

    @property
    def ca_file(self) -> str | None:
        return self._tls_files.ca_file if self._tls_files else None

    @property
    def cert_file(self) -> str | None:
        return self._tls_files.cert_file if self._tls_files else None

    @property
    def key_file(self) -> str | None:
        return self._tls_files.key_file if self._tls_files else None


class RedisServer(_TlsFileNames):
    """One ``redis-server`` on a free 127.0.0.1 port, in its own temporary directory.

    Started by the constructor (unless ``start=False``). ``tls=True`` listens on TLS only
    (``port 0`` + ``tls-port``) with :func:`tls_files`; clients verify with ``ca_file``.
    ``config`` adds redis.conf directive lines (e.g. ``["maxmemory 10mb"]``).
    Persistence is off (``save ""``, ``appendonly no``): a killed or stopped server comes back
    empty unless it was stopped with ``stop(save=True)``, which writes ``dump.rdb`` that the next
    start loads.
    """

    host: str
    port: int
    tls: bool
    dir: Path
    log_file: Path

    def __init__(
        self,
        *,
        tls: bool = False,
        port: int | None = None,
        config: Iterable[str] = (),
        tls_auth_clients: bool = False,
        start: bool = True,
        startup_timeout: float = 10.0,
        name: str = "redis",
    ) -> None:
        self._executable = redis_server_path()
        self.host = HOST
        self.tls = tls
        self._tls_files = tls_files() if tls else None
        self._tls_auth_clients = tls_auth_clients
        self._extra_config = list(config)
        self._fixed_port = port is not None
        self.port = port if port is not None else free_port()
        self.startup_timeout = startup_timeout
        self.dir = Path(tempfile.mkdtemp(prefix=f"splitio-{name}-"))
        _temp_dirs.add(self.dir)
        self.config_file = self.dir / "redis.conf"
        self.log_file = self.dir / "redis.log"
        self._stdout_file = self.dir / "stdout.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._config_written = False
        self._deadline = 0.0
        if start:
            try:
                self.start()
            except RedisStartError:
                self.kill()
                _temp_dirs.discard(self.dir)  # keep the directory: its log explains the failure
                raise
            except BaseException:
                self.close()
                raise

    # -- addresses and TLS files ----------------------------------------------------------

    @property
    def address(self) -> Address:
        return (self.host, self.port)

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT`` (``rediss://`` with TLS)."""
        return f"{'rediss' if self.tls else 'redis'}://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self.running and self._process else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # -- configuration ---------------------------------------------------------------------

    def _port_lines(self) -> list[str]:
        if not self.tls:
            return [f"port {self.port}"]
        files = self._tls_files
        assert files is not None
        return [
            "port 0",
            f"tls-port {self.port}",
            f"tls-cert-file {files.cert_file}",
            f"tls-key-file {files.key_file}",
            f"tls-ca-cert-file {files.ca_file}",
            f"tls-auth-clients {'yes' if self._tls_auth_clients else 'no'}",
            "tls-replication yes",
        ]

    def _config_lines(self) -> list[str]:
        return [
            *self._port_lines(),
            f"bind {self.host}",
            f"dir {self.dir}",
            f"logfile {self.log_file}",
            'save ""',
            "appendonly no",
            "dbfilename dump.rdb",
            "shutdown-timeout 0",  # SIGTERM does not wait for lagging replicas
            "repl-diskless-sync-delay 0",  # a replica syncs at once, not after 5 s
            *self._extra_config,
        ]

    def _command_line(self) -> list[str]:
        return [self._executable, str(self.config_file)]

    def _write_config(self) -> None:
        # Written once: Sentinel (and CONFIG REWRITE) persist state in it across restarts.
        if not self._config_written:
            self.config_file.write_text("\n".join(self._config_lines()) + "\n")
            self._config_written = True

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Start the process (no-op if running) and wait until it answers PING (and is ours).

        If the port was taken meanwhile (another test run, say), a first start on a port that
        was not given retries on a fresh port; a restart keeps retrying its port until the
        deadline.
        """
        if not self.running:
            self._launch()
            self._await_launch()

    def _launch(self) -> None:
        """Spawn without waiting (see :func:`_start_together`)."""
        self._deadline = time.monotonic() + self.startup_timeout
        self._write_config()
        self._spawn()

    def _await_launch(self) -> None:
        while True:
            try:
                self._wait_ready(self._deadline)
                self._fixed_port = True  # from now on: restarts come back on this port
                return
            except RedisStartError as error:
                port_taken = "Address already in use" in self._current_log()
                if self._process is not None and self._process.poll() is None:
                    _signal_group(self._process, signal.SIGKILL)
                self._reap()
                if port_taken and time.monotonic() < self._deadline:
                    if self._fixed_port:
                        time.sleep(0.1)  # maybe a lingering process of ours; poll until deadline
                    else:
                        self._repick_port()
                    self._write_config()
                    self._spawn()
                    continue
                message = self._failure_report(str(error))
                print(message)  # shows up in pytest's captured output too
                raise RedisStartError(message) from None

    def _current_log(self) -> str:
        """This run's part of the log (plus stdout), for diagnosing a failed start."""
        log = ""
        with contextlib.suppress(OSError):
            log = self.log_file.read_text(errors="replace").rpartition(_RESTART_MARK)[2]
        with contextlib.suppress(OSError):
            log += self._stdout_file.read_text(errors="replace")
        return log

    def _repick_port(self) -> None:
        self.port = free_port()
        self._config_written = False

    def _spawn(self) -> None:
        if self.log_file.exists():  # keep the previous run's log, mark the new one
            with self.log_file.open("a") as log:
                log.write(f"\n{_RESTART_MARK} at {time.strftime('%H:%M:%S')}\n")
        self._stdout_file.write_bytes(b"")
        with self._stdout_file.open("ab") as out:
            self._process = subprocess.Popen(
                self._command_line(),
                cwd=self.dir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        with _live_lock:
            _live.add(self)

    def _ping(self) -> bool:
        """Ours (not some other process's server on a port taken meanwhile) and serving?"""
        assert self._process is not None
        server = _info(self.address, "server", self._tls_files)
        if server.get("process_id") != str(self._process.pid):
            return False
        return bool(self.execute("PING", timeout=1.0) == "PONG")  # ReplyError while LOADING

    def _wait_ready(self, deadline: float) -> None:
        process = self._process
        assert process is not None
        while True:
            if process.poll() is not None:
                raise RedisStartError(f"exited with status {process.returncode}")
            try:
                if self._ping():
                    return
            except (OSError, ReplyError):  # refused / LOADING / handshake not ready
                pass
            if time.monotonic() >= deadline:
                raise RedisStartError(f"no PONG within {self.startup_timeout:.1f}s")
            time.sleep(_POLL)

    def _failure_report(self, reason: str) -> str:
        log = self.log_tail(60)
        if self.tls and _tls_missing(self._current_log()):
            raise TlsUnavailable(f"this redis-server was built without TLS support:\n{log}")
        return (
            f"{type(self).__name__} on {self.host}:{self.port} failed to start: {reason}"
            f"\n  command: {' '.join(self._command_line())}\n  directory: {self.dir}"
            f"\n----- log tail -----\n{log}\n--------------------"
        )

    def log_tail(self, lines: int = 50) -> str:
        """The last ``lines`` lines of the server log and its stdout/stderr."""
        chunks = []
        for path in (self._stdout_file, self.log_file):
            with contextlib.suppress(OSError):
                text = path.read_text(errors="replace").splitlines()[-lines:]
                if text:
                    chunks.append("\n".join(text))
        return "\n".join(chunks)

    def _reap(self, timeout: float = 10.0) -> None:
        process = self._process
        if process is None:
            return
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait()
        finally:
            with _live_lock:
                _live.discard(self)

    def stop(self, *, save: bool = False, timeout: float = 10.0) -> None:
        """Stop gracefully (``SHUTDOWN``; SIGTERM, then SIGKILL, if that does not work). Idempotent.

        ``save=True`` writes ``dump.rdb`` first (``SHUTDOWN SAVE``; a failed save raises
        :class:`ReplyError` and leaves the server running) so that the next
        ``start()``/``restart()`` comes back with the same data.
        """
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            try:
                self.execute("SHUTDOWN", "SAVE" if save else "NOSAVE", timeout=min(timeout, 2.0))
            except OSError:
                pass  # the expected outcome: the server closes the connection and exits
            except ReplyError:
                if save:
                    raise
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGTERM)
        self._reap(timeout)

    def kill(self) -> None:
        """SIGKILL the process group at once (no shutdown, no save): "Redis lost mid-run"."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            _signal_group(process, signal.SIGKILL)
        self._reap()

    def restart(self, *, save: bool = False) -> None:
        """Stop (if running) and start again on the same port with the same directory/config."""
        self.stop(save=save)
        self.start()

    def close(self) -> None:
        """SIGKILL and remove the temporary directory (kept if ``SPLITIO_KEEP_REDIS_DIRS=1``).

        SIGKILL because there is nothing to flush and SIGTERM costs a server-cron tick (~100 ms).
        """
        self.kill()
        _remove_dir(self.dir)

    def __enter__(self) -> RedisServer:
        if not self.running:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<{type(self).__name__} {self.url} {state} dir={self.dir}>"

    # -- talking to it ----------------------------------------------------------------------

    def execute(self, *args: object, timeout: float = 2.0) -> Any:
        """One command over a fresh connection (see :func:`execute`)."""
        return execute(self.address, *args, tls=self._tls_files, timeout=timeout)

    def info(self, section: str = "default") -> dict[str, str]:
        """``INFO section`` as a dict of strings."""
        return _info(self.address, section, self._tls_files)

    def flushall(self) -> None:
        self.execute("FLUSHALL")

    def connection_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``redis.Redis`` / ``redis.asyncio.Redis``."""
        kwargs: dict[str, Any] = {"host": self.host, "port": self.port}
        kwargs.update(_redis_py_tls_kwargs(self._tls_files))
        return kwargs

    def client(self, **kwargs: Any) -> Any:
        """A ``redis.Redis`` connected to this server (caller closes it)."""
        import redis  # noqa: PLC0415 - only the client() helpers need redis-py

        return redis.Redis(**{**self.connection_kwargs(), **kwargs})


def _post_mortem(servers: list[RedisServer]) -> str:
    """Kill ``servers`` but keep their directories (not removed at exit); print their logs."""
    parts = []
    for server in servers:
        server.kill()
        _temp_dirs.discard(server.dir)
        parts.append(f"----- {server.address} in {server.dir} -----\n{server.log_tail(30)}")
    report = "\n".join(parts)
    print(report)
    return report


def _tls_missing(log: str) -> bool:
    """Does a failed start's log say the build lacks TLS? (Non-TLS builds reject ``tls-*``.)"""
    lowered = log.lower()
    rejected_directive = "bad directive" in lowered and ">>> 'tls-" in lowered
    no_support = "tls" in lowered and any(
        phrase in lowered for phrase in ("not supported", "not built", "not available")
    )
    return rejected_directive or no_support


def _start_together(servers: list[RedisServer]) -> None:
    """Spawn all, then wait for each: peers that dial each other at boot find each other up."""
    for server in servers:
        server._launch()
    for server in servers:
        server._await_launch()


def _redis_py_tls_kwargs(files: TlsFiles | None) -> dict[str, Any]:
    if files is None:
        return {}
    return {
        "ssl": True,
        "ssl_ca_certs": files.ca_file,
        "ssl_certfile": files.cert_file,
        "ssl_keyfile": files.key_file,
    }


class _SentinelServer(RedisServer):
    """``redis-server <conf> --sentinel``; its config is the caller's ``config`` lines."""

    def _config_lines(self) -> list[str]:
        return [
            *self._port_lines(),
            f"bind {self.host}",
            f"dir {self.dir}",
            f"logfile {self.log_file}",
            *self._extra_config,
        ]

    def _command_line(self) -> list[str]:
        return [self._executable, str(self.config_file), "--sentinel"]


class _ClusterServer(RedisServer):
    """A cluster node; its bus gets a free port of its own (re-picked along with the port)."""

    def __init__(self, **kwargs: Any) -> None:
        self.bus_port = free_port()
        super().__init__(**kwargs)

    def _config_lines(self) -> list[str]:
        return [*super()._config_lines(), f"cluster-port {self.bus_port}"]

    def _repick_port(self) -> None:
        super()._repick_port()
        self.bus_port = free_port()


# ---------------------------------------------------------------------------------------------
# Sentinel


class _ServerGroup:
    """Several servers stopped and removed together (a context manager)."""

    @property
    def _members(self) -> list[RedisServer]:
        raise NotImplementedError

    def stop(self) -> None:
        """SIGKILL every server, in ``_members`` order; keep the directories."""
        for server in self._members:
            server.kill()

    def close(self) -> None:
        """Stop every server and remove the temporary directories."""
        for server in self._members:
            server.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class SentinelSet(_TlsFileNames, _ServerGroup):
    """A master, one replica and three sentinels (quorum 2) on free ports.

    ``down_after_ms``/``failover_timeout_ms`` are small so that ``failover()`` completes in a few
    seconds (SENTINEL FAILOVER ~1.2 s, SIGKILL of the master ~4 s). ``down_after_ms`` is not
    smaller on purpose: right after a failover forced by a SIGKILL, a sentinel can take up to its
    1 s reconnect period to reach the new master, and with 500 or 1000 ms it then calls the new
    master down too and fails over *again* (seen in a third of loaded runs); 1500 and 2000 never
    did in 60 and 30 loaded runs.

    The sentinels are pre-introduced to each other and to the replica (``known-sentinel``,
    ``known-replica``) so the set is usable as soon as the constructor returns.
    With ``tls=True`` every node listens on TLS only, replication and the sentinels' links use
    TLS too, and clients verify with ``ca_file``.
    """

    def __init__(
        self,
        *,
        master_name: str = "mymaster",
        tls: bool = False,
        down_after_ms: int = 2000,
        failover_timeout_ms: int = 5000,
        startup_timeout: float = 30.0,
    ) -> None:
        self.master_name = master_name
        self.tls = tls
        self.host = HOST
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        self._tls_files = tls_files() if tls else None
        self.data_servers: list[RedisServer] = []
        self.sentinel_servers: list[RedisServer] = []
        try:
            self._start(startup_timeout)
        except RedisStartError as error:
            report = _post_mortem([*self.data_servers, *self.sentinel_servers])
            raise RedisStartError(f"SentinelSet did not come up: {error}\n{report}") from None
        except BaseException:
            self.close()
            raise

    def _start(self, timeout: float) -> None:
        master = RedisServer(tls=self.tls, name="sentinel-master", startup_timeout=timeout)
        self.data_servers.append(master)
        replica = RedisServer(
            tls=self.tls,
            name="sentinel-replica",
            config=[f"replicaof {master.host} {master.port}"],
            startup_timeout=timeout,
        )
        self.data_servers.append(replica)
        self._wait_replica_synced(replica, master.address, timeout)

        ports = [free_port() for _ in range(3)]
        ids = [os.urandom(20).hex() for _ in range(3)]
        for index, port in enumerate(ports):
            peers = [
                f"sentinel known-sentinel {self.master_name} {self.host} {ports[j]} {ids[j]}"
                for j in range(3)
                if j != index
            ]
            sentinel = _SentinelServer(
                tls=self.tls,
                port=port,
                name="sentinel",
                startup_timeout=timeout,
                start=False,
                config=[
                    f"sentinel myid {ids[index]}",
                    f"sentinel monitor {self.master_name} {master.host} {master.port} 2",
                    f"sentinel down-after-milliseconds {self.master_name} {self.down_after_ms}",
                    f"sentinel failover-timeout {self.master_name} {self.failover_timeout_ms}",
                    f"sentinel parallel-syncs {self.master_name} 1",
                    f"sentinel known-replica {self.master_name} {replica.host} {replica.port}",
                    *peers,
                ],
            )
            self.sentinel_servers.append(sentinel)
        # Together: a sentinel that finds a peer not yet listening retries only a second later.
        _start_together(self.sentinel_servers)
        self._wait_sentinels_ready(master.address, timeout)

    # -- addresses ---------------------------------------------------------------------------

    @property
    def sentinels(self) -> list[Address]:
        return [server.address for server in self.sentinel_servers]

    def _ask(self, sentinel: Address, *args: object) -> Any:
        return execute(sentinel, "SENTINEL", *args, tls=self._tls_files, timeout=1.0)

    def _running_sentinels(self) -> list[Address]:
        return [server.address for server in self.sentinel_servers if server.running]

    def master_address(self) -> Address:
        """The master's address according to the first sentinel that answers."""
        errors = []
        for sentinel in self._running_sentinels():
            try:
                reply = self._ask(sentinel, "GET-MASTER-ADDR-BY-NAME", self.master_name)
            except (OSError, ReplyError) as exc:
                errors.append(exc)
                continue
            if reply:
                return (reply[0], int(reply[1]))
        raise RedisStartError(f"no sentinel knows master {self.master_name!r}: {errors!r}")

    def _server_at(self, address: Address) -> RedisServer:
        for server in self.data_servers:
            if server.address == address:
                return server
        raise LookupError(f"{address} is not one of this set's data nodes")

    def master_server(self) -> RedisServer:
        """The data node the sentinels currently call master."""
        return self._server_at(self.master_address())

    def replica_server(self) -> RedisServer:
        """The data node that is not the current master."""
        master = self.master_address()
        return next(server for server in self.data_servers if server.address != master)

    # -- readiness ---------------------------------------------------------------------------

    def _wait_replica_synced(self, replica: RedisServer, master: Address, timeout: float) -> None:
        def synced() -> bool:
            info = replica.info("replication")
            return (
                info.get("role") == "slave"
                and (info.get("master_host"), int(info.get("master_port", 0))) == master
                and info.get("master_link_status") == "up"
            )

        wait_until(synced, timeout=timeout, what=f"{replica.address} to sync from {master}")

    def _wait_sentinels_ready(
        self, master: Address, timeout: float, *, replica_link_ok: bool = True
    ) -> None:
        """Every sentinel names ``master``, sees the replica up and its two peers connected.

        ``replica_link_ok`` also requires the sentinels to have seen the replica's link to the
        master up. Right after a failover that can take a sentinel up to its 10 s INFO period,
        so ``failover()`` checks the link on the replica itself instead.
        """
        replicas = {s.address for s in self.data_servers if s.address != master}
        running = self._running_sentinels()

        def ready(sentinel: Address) -> bool:
            state = _pairs(self._ask(sentinel, "MASTER", self.master_name))
            if (state["ip"], int(state["port"])) != master or state["flags"] != "master":
                return False
            healthy = set()
            for entry in self._ask(sentinel, "REPLICAS", self.master_name):
                fields = _pairs(entry)
                flags = set(fields["flags"].split(","))
                link_ok = fields.get("master-link-status") == "ok" or not replica_link_ok
                if flags == {"slave"} and link_ok:
                    healthy.add((fields["ip"], int(fields["port"])))
            if not replicas <= healthy:
                return False
            peers = [_pairs(peer) for peer in self._ask(sentinel, "SENTINELS", self.master_name)]
            # "master_down" may linger for seconds after a failover: only a peer's link counts
            up = [p for p in peers if not {"s_down", "disconnected"} & set(p["flags"].split(","))]
            return len(up) >= len(running) - 1

        deadline = time.monotonic() + timeout
        for sentinel in running:
            try:
                wait_until(
                    functools.partial(ready, sentinel),
                    timeout=max(deadline - time.monotonic(), 0.1),
                    what=f"sentinel {sentinel} to see master {master} and its replica",
                )
            except RedisStartError as error:
                raise RedisStartError(f"{error}\n{self.describe()}") from None

    def describe(self) -> str:
        """What each sentinel thinks (master, replicas, peers) and each data node's ROLE."""
        lines = []
        for sentinel in self.sentinel_servers:
            if not sentinel.running:
                lines.append(f"sentinel {sentinel.address}: not running")
                continue
            try:
                state = _pairs(self._ask(sentinel.address, "MASTER", self.master_name))
                replicas = [
                    _pairs(r) for r in self._ask(sentinel.address, "REPLICAS", self.master_name)
                ]
                peers = [
                    _pairs(p) for p in self._ask(sentinel.address, "SENTINELS", self.master_name)
                ]
            except (OSError, ReplyError) as exc:
                lines.append(f"sentinel {sentinel.address}: {exc!r}")
                continue
            lines.append(
                f"sentinel {sentinel.address}: master {state['ip']}:{state['port']}"
                f" [{state['flags']}] epoch {state['config-epoch']}"
                f" failover-state {state.get('failover-state', '-')}; replicas "
                + ", ".join(
                    f"{r['ip']}:{r['port']} [{r['flags']}] link {r['master-link-status']}"
                    for r in replicas
                )
                + "; peers "
                + ", ".join(f"{p['ip']}:{p['port']} [{p['flags']}]" for p in peers)
            )
        for server in self.data_servers:
            try:
                role = server.execute("ROLE", timeout=1.0) if server.running else "not running"
            except (OSError, ReplyError) as exc:
                role = repr(exc)
            lines.append(f"data node {server.address}: {role}")
        return "\n".join(lines)

    def wait_converged(self, timeout: float = 30.0) -> Address:
        """Wait until every running sentinel names the same live master, with the same epoch.

        A sentinel restarted with a stale view catches up from its peers' hello messages (every
        2 s); a failover it led before that would lose to its peers' newer epoch.
        Returns the master's address.
        """

        def agreed() -> Address | None:
            views = set()
            for sentinel in self._running_sentinels():
                state = _pairs(self._ask(sentinel, "MASTER", self.master_name))
                views.add((state["ip"], int(state["port"]), state["config-epoch"]))
            if len(views) != 1:
                return None
            host, port, _ = views.pop()
            if self._server_at((host, port)).execute("ROLE", timeout=1.0)[0] != "master":
                return None  # e.g. killed, and the sentinels have not noticed yet
            return (host, port)

        return wait_until(agreed, timeout=timeout, what="the sentinels to agree on the master")

    # -- failover ----------------------------------------------------------------------------

    def failover(
        self, *, kill: bool = False, restore: bool = True, timeout: float = 30.0
    ) -> Address:
        """Move the master role to the replica and return the new master's address.

        ``kill=False`` asks a sentinel (``SENTINEL FAILOVER``); ``kill=True`` SIGKILLs the master
        and lets the sentinels detect it and elect a leader. Waits until every running sentinel
        names the new master and it accepts writes.

        ``restore=True`` (default) then makes the old master (restarted, empty, if killed) a
        synced replica of the new one, so the set is again master + replica, ready for another
        failover. ``restore=False`` returns right away: a killed master stays down; a live one
        keeps acting as a master until Sentinel demotes it (~10 s) -- a split brain on purpose.
        """
        deadline = time.monotonic() + timeout
        old = self.wait_converged(timeout)
        old_server = self._server_at(old)
        if kill:
            old_server.kill()
        else:

            def accepted() -> bool:
                errors = []
                for sentinel in self._running_sentinels():  # any sentinel will do
                    try:
                        return bool(self._ask(sentinel, "FAILOVER", self.master_name) == "OK")
                    except (OSError, ReplyError) as exc:  # INPROG, NOGOODSLAVE, refused
                        errors.append(exc)
                raise ReplyError(f"SENTINEL FAILOVER refused: {errors!r}")

            wait_until(accepted, timeout=timeout, what="SENTINEL FAILOVER to be accepted")

        def remaining() -> float:
            return max(deadline - time.monotonic(), 0.1)

        def promoted() -> Address | None:
            addresses = set()
            for sentinel in self._running_sentinels():
                reply = self._ask(sentinel, "GET-MASTER-ADDR-BY-NAME", self.master_name)
                addresses.add((reply[0], int(reply[1])))
            if len(addresses) != 1 or old in addresses:
                return None
            return addresses.pop()

        new = wait_until(promoted, timeout=remaining(), what="all sentinels to name a new master")
        new_server = self._server_at(new)

        def writable() -> bool:
            if new_server.execute("ROLE")[0] != "master":
                return False
            probe = "__redis_servers_failover_probe__"
            new_server.execute("SET", probe, "1")
            new_server.execute("DEL", probe)
            return True

        wait_until(writable, timeout=remaining(), what=f"new master {new} to accept writes")
        if restore:
            self.restore(timeout=remaining())
        return new

    def restore(self, timeout: float = 30.0) -> Address:
        """Make every other data node a synced replica of the sentinels' current master.

        Restarts (empty) any node that is down and sends it ``REPLICAOF`` (Sentinel would do so
        as well, but only ~10 s later); then waits until the sentinels see it as a healthy
        replica. For tests that kill or demote nodes themselves. Returns the master's address.
        """
        deadline = time.monotonic() + timeout

        def remaining() -> float:
            return max(deadline - time.monotonic(), 0.1)

        master = self.wait_converged(timeout)
        for server in self.data_servers:
            if server.address == master:
                continue
            if not server.running:
                server.start()

            def replicating(server: RedisServer = server) -> bool:
                return bool(server.execute("REPLICAOF", *master) == "OK")

            wait_until(
                replicating, timeout=remaining(), what=f"{server.address} to follow {master}"
            )
            self._wait_replica_synced(server, master, remaining())
        self._wait_sentinels_ready(master, remaining(), replica_link_ok=False)
        return master

    # -- clients -----------------------------------------------------------------------------

    def connection_kwargs(self) -> dict[str, Any]:
        """TLS keyword arguments for redis-py connections to data nodes (empty without TLS)."""
        return _redis_py_tls_kwargs(self._tls_files)

    def sentinel_client(self, **kwargs: Any) -> Any:
        """A ``redis.sentinel.Sentinel`` over the three sentinels (TLS configured if needed)."""
        from redis.sentinel import Sentinel  # noqa: PLC0415

        tls = self.connection_kwargs()
        sentinel_kwargs = {**tls, **kwargs.pop("sentinel_kwargs", {})}
        return Sentinel(self.sentinels, sentinel_kwargs=sentinel_kwargs, **{**tls, **kwargs})

    def flushall(self) -> None:
        """FLUSHALL on the current master (replicated to the replica)."""
        self.master_server().execute("FLUSHALL")

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def _members(self) -> list[RedisServer]:
        """Sentinels first, so that none fails over while the data nodes go down."""
        return [*self.sentinel_servers, *self.data_servers]


# ---------------------------------------------------------------------------------------------
# Cluster


class RedisCluster(_ServerGroup):
    """``masters`` cluster nodes (no replicas) joined by ``redis-cli --cluster create``.

    Each node's cluster bus uses its own free port (``cluster-port``), so the usual
    ``port + 10000`` need not be free. The constructor returns once ``CLUSTER INFO`` says
    ``cluster_state:ok`` with all slots assigned on every node.
    """

    def __init__(
        self,
        *,
        masters: int = 3,
        node_timeout_ms: int = 2000,
        startup_timeout: float = 30.0,
    ) -> None:
        self.host = HOST
        self.servers: list[RedisServer] = []
        self.startup_timeout = startup_timeout
        try:
            for _ in range(masters):
                self.servers.append(
                    _ClusterServer(
                        name="cluster",
                        start=False,
                        startup_timeout=startup_timeout,
                        config=[
                            "cluster-enabled yes",
                            "cluster-config-file nodes.conf",
                            f"cluster-node-timeout {node_timeout_ms}",
                        ],
                    )
                )
            _start_together(self.servers)
            self._create()
            self.wait_ok(startup_timeout)
        except RedisStartError as error:
            report = _post_mortem(self.servers)
            raise RedisStartError(f"RedisCluster did not come up: {error}\n{report}") from None
        except BaseException:
            self.close()
            raise

    def _create(self) -> None:
        command = [
            _redis_cli_path(),
            "--cluster", "create",
            *(f"{host}:{port}" for host, port in self.nodes),
            "--cluster-replicas", "0",
            "--cluster-yes",
        ]  # fmt: skip
        try:
            result = subprocess.run(
                command,
                capture_output=True,
                text=True,
                check=False,
                timeout=self.startup_timeout,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            raise RedisStartError(f"redis-cli --cluster create hung: {exc}") from None
        if result.returncode != 0:  # the nodes' logs are added by the constructor
            raise RedisStartError(
                f"redis-cli --cluster create failed ({result.returncode}):\n"
                f"{result.stdout}{result.stderr}"
            )

    @property
    def nodes(self) -> list[Address]:
        return [server.address for server in self.servers]

    def wait_ok(self, timeout: float = 30.0) -> None:
        """Wait until every node reports ``cluster_state:ok``, all slots, all nodes known."""
        count = len(self.servers)

        for server in self.servers:

            def ok(server: RedisServer = server) -> bool:
                info = {}
                for line in str(server.execute("CLUSTER", "INFO")).splitlines():
                    key, _, value = line.partition(":")
                    info[key] = value
                return (
                    info.get("cluster_state") == "ok"
                    and info.get("cluster_slots_ok") == "16384"
                    and info.get("cluster_known_nodes") == str(count)
                )

            wait_until(ok, timeout=timeout, what=f"cluster_state:ok on {server.address}")

    def flushall(self) -> None:
        """FLUSHALL on every master."""
        for server in self.servers:
            server.execute("FLUSHALL")

    def client(self, **kwargs: Any) -> Any:
        """A ``redis.cluster.RedisCluster`` bootstrapped from the first node (caller closes)."""
        from redis.cluster import RedisCluster as Client  # noqa: PLC0415

        host, port = self.nodes[0]
        return Client(host=host, port=port, **kwargs)

    @property
    def _members(self) -> list[RedisServer]:
        return self.servers
