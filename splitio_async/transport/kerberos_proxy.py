"""``KERBEROS_PROXY``: ``Proxy-Authorization: Negotiate``, a new token per tunnel and per request.

httpx gives a proxy's headers to httpcore once, and httpcore sends those same bytes with every
CONNECT. A Kerberos token is single-use (the proxy's replay cache refuses an authenticator it has
seen), so a fixed header would open one tunnel. This transport opens tunnels itself: httpcore's
pool asks its network back end for a connection to the target, and ours connects to the proxy,
sends ``CONNECT host:port`` with a fresh token, reads the answer and hands the tunnel back; httpcore
then does TLS and HTTP on it as on any connection (asyncio and trio alike: anyio streams).
Plain-http targets go the forwarding way (the absolute URL sent to the proxy), each request with a
fresh token. A ``407`` to a valid token means the proxy will not take this principal:
``KerberosRefused``, like a refused password. splitio_client authenticates only its CONNECTs.

The proxy is ``proxyUrl``; without one, the environment's ``HTTPS_PROXY`` / ``HTTP_PROXY`` /
``ALL_PROXY`` and ``NO_PROXY``, as the requests-based official SDK reads them.
"""

from __future__ import annotations

import logging
import ssl
import urllib.request
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import httpcore
import httpx

from .errors import KerberosRefused
from .kerberos import Negotiator

_LOGGER = logging.getLogger("splitio.api.client")
_MAX_HEAD = 65536  # bytes of a CONNECT answer before we call it broken


def proxy_transport(
    negotiator: Negotiator, proxy_url: str | None, tls: bool, env_proxy: bool = True
) -> httpx.AsyncBaseTransport | None:
    """The transport for ``KERBEROS_PROXY``, or None (and a warning) when no proxy is set."""
    if proxy_url:
        proxy = _url(proxy_url)
        proxies, no_proxy = {"http": proxy, "https": proxy}, None
    else:
        env = urllib.request.getproxies_environment() if env_proxy else {}
        proxies = {scheme: _url(env.get(scheme) or env["all"])
                   for scheme in ("http", "https") if env.get(scheme) or env.get("all")}
        no_proxy = env.get("no")
    if not proxies:
        _LOGGER.warning("httpAuthenticateScheme is KERBEROS_PROXY but no proxy is set (proxyUrl, "
                        "HTTPS_PROXY or HTTP_PROXY): connecting directly, without Kerberos")
        return None
    return NegotiateProxyTransport(
        negotiator, proxies, no_proxy, httpx.create_ssl_context() if tls else None
    )


class NegotiateProxyTransport(httpx.AsyncBaseTransport):
    """Routes each request: direct (``NO_PROXY``), tunnelled (https) or forwarded (http)."""

    def __init__(
        self, negotiator: Negotiator, proxies: dict[str, httpx.URL], no_proxy: str | None,
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        self._negotiator = negotiator
        self._proxies = proxies
        self._no_proxy = no_proxy
        self._direct = httpcore.AsyncConnectionPool(ssl_context=ssl_context)
        self._tunnels: httpcore.AsyncConnectionPool | None = None
        self._forward: httpcore.AsyncHTTPProxy | None = None
        if "https" in proxies:
            self._tunnels = httpcore.AsyncConnectionPool(
                ssl_context=ssl_context,
                network_backend=_TunnelBackend(proxies["https"], negotiator, ssl_context),
            )
        if "http" in proxies:
            proxy = proxies["http"]
            self._forward = httpcore.AsyncHTTPProxy(
                httpcore.URL(scheme=proxy.raw_scheme, host=proxy.raw_host, port=proxy.port,
                             target=b"/"),
                ssl_context=ssl_context,
                proxy_ssl_context=ssl_context if proxy.scheme == "https" else None,
            )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        headers = request.headers.raw
        proxy = self._proxy_for(url)  # a proxy for https implies tunnels, for http forwarding
        pool: httpcore.AsyncConnectionPool | None = self._direct
        if proxy is not None and url.scheme == "https":
            pool = self._tunnels
        elif proxy is not None:
            exchange = await self._negotiator.start(proxy.host)
            headers = [*headers, (b"Proxy-Authorization", exchange.header.encode())]
            pool = self._forward
        assert pool is not None
        assert isinstance(request.stream, httpx.AsyncByteStream)
        core = httpcore.Request(
            request.method,
            httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port,
                         target=url.raw_path),
            headers=headers, content=request.stream, extensions=request.extensions,
        )
        with _httpx_errors():
            response = await pool.handle_async_request(core)
        if pool is self._forward and response.status == 407:
            await response.aclose()
            assert proxy is not None
            raise _refused(proxy.host, self._negotiator)
        return httpx.Response(
            response.status, headers=response.headers, stream=_Body(response),
            extensions=response.extensions,
        )

    def _proxy_for(self, url: httpx.URL) -> httpx.URL | None:
        proxy = self._proxies.get(url.scheme)
        return None if self._no_proxy and _bypassed(url.host, self._no_proxy) else proxy

    async def aclose(self) -> None:
        for pool in (self._direct, self._tunnels, self._forward):
            if pool is not None:
                await pool.aclose()


class _TunnelBackend(httpcore.AsyncNetworkBackend):
    """A "connection to host:port" that is a CONNECT tunnel through the proxy, one token each."""

    def __init__(
        self, proxy: httpx.URL, negotiator: Negotiator, ssl_context: ssl.SSLContext | None
    ) -> None:
        self._proxy = proxy
        self._negotiator = negotiator
        self._ssl_context = ssl_context
        self._network = httpcore.AnyIOBackend()  # anyio: asyncio and trio

    async def connect_tcp(
        self, host: str, port: int, timeout: float | None = None,  # noqa: ASYNC109 - httpcore's
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        proxy = self._proxy
        stream = await self._network.connect_tcp(
            proxy.host, proxy.port or (443 if proxy.scheme == "https" else 80), timeout=timeout,
            local_address=local_address, socket_options=socket_options,
        )
        try:
            if proxy.scheme == "https":
                stream = await stream.start_tls(
                    self._ssl_context or httpx.create_ssl_context(), server_hostname=proxy.host,
                    timeout=timeout,
                )
            exchange = await self._negotiator.start(proxy.host)
            authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            await stream.write(
                f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n"
                f"Proxy-Authorization: {exchange.header}\r\n\r\n".encode(), timeout=timeout,
            )
            status, reason = await _read_answer(stream, timeout)
            if status == 407:
                raise _refused(proxy.host, self._negotiator)
            if not 200 <= status < 300:
                raise httpcore.ProxyError(f"the proxy refused the tunnel to {authority}: "
                                          f"HTTP {status} {reason}")
        except BaseException:
            await _close(stream)
            raise
        return _Tunnel(stream)

    async def sleep(self, seconds: float) -> None:
        await self._network.sleep(seconds)


class _Tunnel(httpcore.AsyncNetworkStream):
    """The tunnel, closed for sure when the TLS handshake on it fails or is cancelled (httpcore
    closes a stream whose ``start_tls`` raises an Exception, not one cancelled meanwhile, which
    would leave the socket to the garbage collector)."""

    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self._stream = stream

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        return await self._stream.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
    ) -> httpcore.AsyncNetworkStream:
        try:
            return await self._stream.start_tls(ssl_context, server_hostname, timeout)
        except BaseException:
            await _close(self._stream)
            raise

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


async def _close(stream: httpcore.AsyncNetworkStream) -> None:
    with anyio.CancelScope(shield=True):  # even when cancelled: the socket must not linger
        await stream.aclose()


async def _read_answer(
    stream: httpcore.AsyncNetworkStream, seconds: float | None
) -> tuple[int, str]:
    """Status and reason of the proxy's answer to CONNECT (its headers are not needed)."""
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > _MAX_HEAD:
            raise httpcore.ProxyError("the proxy's answer to CONNECT has no end")
        chunk = await stream.read(4096, timeout=seconds)
        if not chunk:
            raise httpcore.ProxyError("the proxy closed the connection during CONNECT")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    parts = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise httpcore.ProxyError(f"the proxy's answer to CONNECT is not HTTP: {parts!r:.100}")
    status = int(parts[1])
    if rest and 200 <= status < 300:  # the target speaks first only after our TLS hello
        raise httpcore.ProxyError("the proxy sent data before the tunnel was used")
    return status, parts[2] if len(parts) > 2 else ""


def _refused(proxy_host: str, negotiator: Negotiator) -> KerberosRefused:
    return KerberosRefused(
        f"Kerberos: the proxy {proxy_host} refused the ticket of {negotiator.who} (HTTP 407)", 407
    )


def _bypassed(host: str, no_proxy: str) -> bool:
    """``NO_PROXY`` as curl and requests read it: ``*``, or hosts and domain suffixes."""
    for entry in no_proxy.replace(" ", "").lower().split(","):
        name = entry.rsplit(":", 1)[0] if entry.count(":") == 1 else entry  # drop a port
        name = name.lstrip("*").lstrip(".")
        if entry == "*" or (name and (host == name or host.endswith("." + name))):
            return True
    return False


def _url(value: str) -> httpx.URL:
    return httpx.URL(value if "://" in value else f"http://{value}")


class _Body(httpx.AsyncByteStream):
    """httpcore's response body with httpcore's errors turned into httpx's (a read timeout on
    the SSE stream must be ``httpx.ReadTimeout`` for the streaming code)."""

    def __init__(self, response: httpcore.Response) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _httpx_errors():
            async for part in self._response.aiter_stream():
                yield part

    async def aclose(self) -> None:
        await self._response.aclose()


@contextmanager
def _httpx_errors() -> Iterator[None]:
    """httpcore's exceptions as the httpx ones of the same name (the two trees match)."""
    try:
        yield
    except httpcore.ConnectionNotAvailable:
        raise
    except Exception as exc:
        if type(exc).__module__.split(".")[0] != "httpcore":
            raise
        for cls in type(exc).__mro__:
            mapped = getattr(httpx, cls.__name__, None)
            if isinstance(mapped, type) and issubclass(mapped, httpx.HTTPError):
                raise mapped(str(exc)) from exc
        raise
