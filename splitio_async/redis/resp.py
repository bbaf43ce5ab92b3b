"""A small Redis client on anyio streams, for consumer mode on the event loop (asyncio and trio).

redis-py has no trio client, and its blocking client in a worker thread pays a thread hop per
round trip (about 170 µs on the development VM, more than the loopback round trip itself); its
asyncio client spends about as much again as the round trip on its own machinery. This client
speaks RESP2 directly on anyio's TCP, TLS or Unix streams, so one implementation runs natively
on both backends and a batch costs one write and the reads of its replies. It does only what
consumer mode needs: AUTH, SELECT, pipelined batches of commands, and finding the master through
Sentinel. Redis Cluster keeps using redis-py (asyncio, or the blocking client in worker threads
under trio).

Errors are redis-py's exception types, so the rest of the SDK handles both clients alike.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from typing import Any

import anyio
import redis
from anyio.abc import ByteStream

from .commands import Batch
from .settings import RedisSettings

_CHUNK = 65536


def _encode(value: Any, encoding: str, errors: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode(encoding, errors)
    if isinstance(value, bool):
        raise TypeError("Redis command arguments cannot be booleans")
    return str(value).encode()


_ARRAY_HEADS = [b"*%d\r\n" % n for n in range(32)]
_BULK_HEADS = [b"$%d\r\n" % n for n in range(512)]  # keys and names: formatted once, here


def pack(commands: Sequence[Sequence[Any]], encoding: str = "utf-8",
         errors: str = "strict") -> bytes:
    """Commands as RESP arrays of bulk strings, all in one buffer. (On a batch's path: the
    headers of common sizes are taken ready-made and text is encoded inline, which halves the
    cost of byte-string formatting and a call per argument.)"""
    out = bytearray()
    for command in commands:
        count = len(command)
        out += _ARRAY_HEADS[count] if count < 32 else b"*%d\r\n" % count
        for argument in command:
            data = (
                argument.encode(encoding, errors) if argument.__class__ is str
                else _encode(argument, encoding, errors)
            )
            size = len(data)
            out += _BULK_HEADS[size] if size < 512 else b"$%d\r\n" % size
            out += data
            out += b"\r\n"
    return bytes(out)


class ReplyReader:
    """RESP2 replies parsed from the bytes fed in as they arrive; no I/O of its own, so the
    blocking path (a redis-py connection's socket) and the anyio one share it.

    Parsing is incremental and linear: what has been parsed is never parsed again. A reply that
    has not fully arrived (an ``MGET`` of 20,000 flags comes in hundreds of reads) keeps its
    partial arrays on a stack, and the next ``feed`` resumes where the bytes ran out. (Parsing
    from the start of the buffer on each read made 20,000 flags take seconds.)
    """

    __slots__ = ("_buffer", "_done", "_encoding", "_errors", "_position", "_stack")

    def __init__(self, encoding: str = "utf-8", errors: str = "strict") -> None:
        self._buffer = bytearray()
        self._position = 0  # where parsing resumes in the buffer
        self._stack: list[list[Any]] = []  # arrays being filled: [items, how many still due]
        self._done: list[Any] = []  # complete replies not taken yet
        self._encoding = encoding
        self._errors = errors

    def feed(self, data: bytes) -> None:
        if not data:
            raise redis.ConnectionError("Connection closed by server.")
        self._buffer += data

    def take(self, count: int) -> list[Any] | None:
        """``count`` complete replies, removed from the reader; None (nothing removed) while
        some have not fully arrived. Error replies come back as ``ResponseError`` objects."""
        if len(self._done) < count:
            self._parse()
            if len(self._done) < count:
                return None
        replies = self._done[:count]
        del self._done[:count]
        return replies

    def _parse(self) -> None:
        buffer = self._buffer
        stack = self._stack
        position = self._position
        size_of_buffer = len(buffer)
        while True:
            end = buffer.find(b"\r\n", position)
            if end < 0:
                break
            kind = buffer[position]
            value: Any
            if kind == 36:  # $ bulk string
                size = int(buffer[position + 1:end])
                if size < 0:
                    value, position = None, end + 2
                else:
                    stop = end + 2 + size
                    if size_of_buffer < stop + 2:
                        break
                    value = buffer[end + 2:stop].decode(self._encoding, self._errors)
                    position = stop + 2
            elif kind in (42, 126, 62, 37):  # * array, RESP3 ~ set, > push, % map (pairs)
                count = int(buffer[position + 1:end]) * (2 if kind == 37 else 1)
                position = end + 2
                if count > 0:
                    stack.append([[], count])
                    continue
                value = None if count < 0 else []
            elif kind == 58:  # : integer
                value, position = int(buffer[position + 1:end]), end + 2
            elif kind == 43:  # + simple string
                value = buffer[position + 1:end].decode(self._encoding, self._errors)
                position = end + 2
            elif kind == 95:  # RESP3 _ null
                value, position = None, end + 2
            elif kind == 35:  # RESP3 # boolean
                value, position = buffer[position + 1:end] == b"t", end + 2
            elif kind == 44:  # RESP3 , double
                value, position = float(buffer[position + 1:end]), end + 2
            elif kind == 45:  # - error
                message = buffer[position + 1:end].decode(self._encoding, "replace")
                value, position = redis.ResponseError(message), end + 2
            else:
                raise redis.ConnectionError(
                    f"Protocol error: unexpected reply {bytes(buffer[position:position + 40])!r}"
                )
            while stack:  # a value completes the arrays it ends, innermost first
                frame = stack[-1]
                frame[0].append(value)
                frame[1] -= 1
                if frame[1]:
                    break
                value = stack.pop()[0]
            else:
                self._done.append(value)
        if position >= 65536 or position == size_of_buffer:
            del buffer[:position]  # cheap at the front of a bytearray
            position = 0
        self._position = position


_UNUSABLE = ("READONLY", "LOADING", "MASTERDOWN")


def node_unusable(error: redis.ResponseError) -> bool:
    """An error saying this node cannot serve us as the master right now (demoted by a
    failover, loading its data set, cut from its master): connect afresh rather than retry
    on the same connection."""
    return str(error).startswith(_UNUSABLE)


def first_error(replies: list[Any]) -> redis.ResponseError | None:
    for reply in replies:
        if isinstance(reply, redis.ResponseError):
            return reply
    return None


class _Connection:
    """One connection: RESP2 batches over an anyio byte stream."""

    def __init__(self, stream: ByteStream, encoding: str, errors: str) -> None:
        self.stream = stream
        self._reader = ReplyReader(encoding, errors)
        self._encoding = encoding
        self._errors = errors

    async def execute(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        """Send ``commands`` at once and read one reply each; an error reply is raised after
        all replies were read (the connection stays usable)."""
        await self.stream.send(pack(commands, self._encoding, self._errors))
        reader = self._reader
        while (replies := reader.take(len(commands))) is None:
            try:
                reader.feed(await self.stream.receive(_CHUNK))
            except (anyio.EndOfStream, anyio.BrokenResourceError, OSError) as exc:
                raise redis.ConnectionError("Connection closed by server.") from exc
        error = first_error(replies)
        if error is not None:
            raise error
        return replies

    async def aclose(self) -> None:
        await anyio.aclose_forcefully(self.stream)


def _tls_context(settings: RedisSettings) -> ssl.SSLContext | None:
    if not settings.ssl:
        return None
    context = ssl.create_default_context(cafile=settings.ssl_ca_certs)
    requirement = settings.ssl_cert_reqs
    if requirement in ("none", ssl.CERT_NONE):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif requirement in ("optional", ssl.CERT_OPTIONAL):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_OPTIONAL
    if settings.ssl_certfile:
        context.load_cert_chain(settings.ssl_certfile, settings.ssl_keyfile)
    return context


class NativeRedis:
    """Connections to one Redis (standalone, or the master a Sentinel names), reused between
    batches; a batch that fails on a stale connection is sent once more on a new one."""

    def __init__(self, settings: RedisSettings) -> None:
        self._settings = settings
        self._tls = _tls_context(settings)
        self._idle: list[_Connection] = []
        self._open = 0
        self._closed = False

    async def execute(self, batch: Batch) -> list[Any]:
        for attempt in (0, 1):
            connection = self._idle.pop() if self._idle else await self._connect()
            try:
                if self._settings.socket_timeout is None:  # no cancel scope per call then
                    replies = await connection.execute(batch)
                else:
                    with anyio.fail_after(self._settings.socket_timeout):
                        replies = await connection.execute(batch)
            except redis.ResponseError as exc:
                if not node_unusable(exc):
                    self._idle.append(connection)
                    raise
                # every idle connection goes to the same node: drop them all and send the
                # batch once more (through Sentinel, to the current master)
                stale, self._idle = [connection, *self._idle], []
                self._open -= len(stale)
                with anyio.CancelScope(shield=True):
                    for old in stale:
                        await old.aclose()
                if attempt:
                    raise
                continue
            except BaseException as exc:
                self._open -= 1
                with anyio.CancelScope(shield=True):
                    await connection.aclose()
                if isinstance(exc, TimeoutError):
                    if attempt or not self._settings.retry_on_timeout:
                        raise redis.TimeoutError("Timeout reading from Redis") from exc
                    continue
                if attempt or not isinstance(exc, redis.ConnectionError):
                    raise
                continue
            if self._closed:
                await connection.aclose()
            else:
                self._idle.append(connection)
            return replies
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.aclose()

    async def _connect(self) -> _Connection:
        settings = self._settings
        limit = settings.max_connections
        if limit is not None and self._open >= limit:
            raise redis.ConnectionError("Too many connections")
        if settings.uses_sentinel:
            host, port = await self._master()
        else:
            host, port = settings.host, settings.port
        connection = await self._open_connection(host, port, settings.unix_socket_path)
        try:
            handshake: list[list[Any]] = []
            if settings.password is not None:
                handshake.append(["AUTH", settings.username, settings.password]
                                 if settings.username else ["AUTH", settings.password])
            if settings.db:
                handshake.append(["SELECT", settings.db])
            if settings.uses_sentinel:
                handshake.append(["ROLE"])
            replies = await connection.execute(handshake) if handshake else []
        except BaseException:
            await connection.aclose()
            raise
        if settings.uses_sentinel and (not replies[-1] or replies[-1][0] != "master"):
            await connection.aclose()
            raise redis.ConnectionError("The previous master is now a slave")
        self._open += 1
        return connection

    async def _open_connection(
        self, host: str, port: int, unix_socket_path: str | None = None
    ) -> _Connection:
        settings = self._settings
        try:
            with anyio.fail_after(settings.socket_connect_timeout or settings.socket_timeout):
                stream: ByteStream
                if unix_socket_path:
                    stream = await anyio.connect_unix(unix_socket_path)
                elif self._tls is not None:
                    stream = await anyio.connect_tcp(
                        host, port, ssl_context=self._tls, tls_standard_compatible=False
                    )
                else:
                    stream = await anyio.connect_tcp(host, port)
        except TimeoutError as exc:
            raise redis.TimeoutError(f"Timeout connecting to {host}:{port}") from exc
        except (OSError, ssl.SSLError) as exc:
            raise redis.ConnectionError(f"Error connecting to {host}:{port}: {exc}") from exc
        return _Connection(stream, settings.encoding, settings.encoding_errors)

    async def _master(self) -> tuple[str, int]:
        """The master's address, from the first sentinel that knows it."""
        settings = self._settings
        problems = []
        for host, port in settings.sentinels:
            try:
                sentinel = await self._open_connection(host, port)
            except redis.RedisError as exc:
                problems.append(str(exc))
                continue
            try:
                reply = (await sentinel.execute(
                    [["SENTINEL", "get-master-addr-by-name", settings.master_service or ""]]
                ))[0]
            except redis.RedisError as exc:
                problems.append(str(exc))
                continue
            finally:
                await sentinel.aclose()
            if reply:
                return str(reply[0]), int(reply[1])
        raise redis.ConnectionError(
            f"No master found for {settings.master_service!r} ({'; '.join(problems)})"
        )
