"""The Split REST API over one shared ``httpx.AsyncClient`` per factory.

Every httpx error becomes an ``APIError`` so the syncers deal with one error type. Runs on
asyncio and trio (httpx uses anyio). Nothing a server sends is trusted: each request has a total
deadline (connect, headers and body: ``httpRequestTimeout``), bodies are read as they arrive and
refused past ``httpMaxResponseBytes`` on the wire or once unpacked, and JSON is decoded in slices
with a nesting limit (``transport.bounded``, ``bounded_json``); any of these failures is an
``APIError`` like a malformed answer, naming the limit.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Protocol
from urllib.parse import quote

import anyio
import httpcore  # noqa: F401 - httpx imports it lazily on the first client (0.2 s): pay at import
import httpx

from .. import bounded_json
from .. import redaction as redact
from ..config import KerberosSettings
from ..limits import DATA_ERRORS, Limits, describe_data_error
from .bounded import describe_error, discard_body, drive, read_body
from .errors import APIError, AuthError, URITooLongError
from .metadata import SdkMetadata
from .protocols import LEGACY_SPEC_VERSION, SPEC_VERSION

_LOGGER = logging.getLogger("splitio.api.client")

DEFAULT_URLS = {
    "sdk": "https://sdk.split.io/api",
    "events": "https://events.split.io/api",
    "auth": "https://auth.split.io/api",
    "telemetry": "https://telemetry.split.io/api",
    "streaming": "https://streaming.split.io",
}
# Bodies are built by us (no cycles possible) and read by machines: compact and without the
# circular-reference check, about 20 % faster for a 5,000-record bulk. NaN and infinities are
# not JSON: a strict server refuses the whole bulk, so they are refused here (``track`` already
# rejects them; this is the last line of defence).
_ENCODER = json.JSONEncoder(separators=(",", ":"), check_circular=False, allow_nan=False)
POST_ANSWER_BYTES = 64 * 1024  # what is read of an answer to a post (its content is unused)


def resolve_urls(overrides: dict[str, str | None]) -> dict[str, str]:
    """Base URLs with the user's overrides, without a trailing slash (no double slashes)."""
    return {k: (overrides.get(k) or v).rstrip("/") for k, v in DEFAULT_URLS.items()}


def build_client(
    sdk_key: str,
    metadata: SdkMetadata,
    timeout_ms: int,
    proxy: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    tls: bool = True,
    kerberos: KerberosSettings | None = None,
    env_proxy: bool = True,
) -> httpx.AsyncClient:
    """The factory's HTTP client. Building one reads CA certificates and proxy settings from
    disk (about 0.05 s), so callers do it in a worker thread, never on the event loop. ``tls``
    False (every URL is plain http, e.g. a local Split Proxy) skips loading certificates that
    no connection would use. ``kerberos``: ``httpAuthenticateScheme`` (transport/kerberos.py)."""
    headers = {
        "Authorization": f"Bearer {sdk_key}",
        "Content-Type": "application/json",
        "Accept-Encoding": "gzip",
        **metadata.headers(),
    }
    timeout = httpx.Timeout(timeout_ms / 1000) if timeout_ms else httpx.Timeout(None)
    return httpx.AsyncClient(
        headers=headers, timeout=timeout,
        **_options(proxy, tls, kerberos, transport, env_proxy),
    )


def build_stream_client(
    sdk_key: str, metadata: SdkMetadata, proxy: str | None = None, tls: bool = True,
    kerberos: KerberosSettings | None = None,
    env_proxy: bool = True,
) -> httpx.AsyncClient:
    """The client of the SSE connection: the SDK metadata and the key's last four characters,
    no Authorization header (the token travels in the URL), and no overall timeout (the stream
    is long-lived; its read timeout is the keepalive window)."""
    headers = {"SplitSDKClientKey": sdk_key[-4:], **metadata.headers()}
    return httpx.AsyncClient(
        headers=headers, timeout=httpx.Timeout(10.0, read=None),
        **_options(proxy, tls, kerberos, env_proxy=env_proxy),
    )


def _options(
    proxy: str | None, tls: bool, kerberos: KerberosSettings | None,
    transport: httpx.AsyncBaseTransport | None = None, env_proxy: bool = True,
) -> dict[str, Any]:
    options: dict[str, Any] = {
        "proxy": proxy, "transport": transport, "verify": tls,
        # HTTP(S)_PROXY etc. from the environment unless proxyUrl is set or proxyFromEnvironment
        # is off
        "trust_env": proxy is None and env_proxy,
    }
    if kerberos is not None:
        from .kerberos import client_options  # noqa: PLC0415 - only with httpAuthenticateScheme

        options.update(client_options(kerberos, proxy, tls, env_proxy))
    return options


def environment_proxies(urls: dict[str, str]) -> dict[str, str]:
    """The proxies the environment (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``) gives the
    schemes of ``urls``, credentials masked: what is logged when they are followed."""
    from urllib.request import getproxies  # noqa: PLC0415 - reads the environment once

    found = getproxies()
    schemes = {url.split(":", 1)[0].lower() for url in urls.values()}
    return {
        scheme: redact.redact(found.get(scheme) or found["all"])
        for scheme in sorted(schemes) if found.get(scheme) or found.get("all")
    }


def needs_tls(urls: dict[str, str], proxy: str | None) -> bool:
    return any(u.lower().startswith("https:") for u in [*urls.values(), proxy or ""])


class HttpObserver(Protocol):
    """Told about every request (telemetry): resource code (``sp``, ``se``, ``im``, ``ic``,
    ``ev``, ``te``, ``to``), HTTP status (None for a network failure) and latency in ms."""

    def record_http(self, resource: str, status: int | None, latency_ms: float) -> None: ...


class SplitAPI:
    """Split's REST API over the factory's client. ``close()`` releases the pool."""

    def __init__(
        self, client: httpx.AsyncClient, urls: dict[str, str],
        observer: HttpObserver | None = None, limits: Limits | None = None,
    ) -> None:
        self._client = client
        self._urls = urls
        self._observer = observer
        self.limits = limits or Limits()
        self.answered = False  # some server answered (any status): the service is reachable
        redact.install()

    async def close(self) -> None:
        await self._client.aclose()

    @property
    def sdk_url_overridden(self) -> bool:
        """The flags come from somewhere else than Split's own API (e.g. a Split Proxy)."""
        return self._urls["sdk"] != DEFAULT_URLS["sdk"].rstrip("/")

    async def split_changes(
        self, since: int, rb_since: int, sets: str | None = None, till: int | None = None,
        spec: str = SPEC_VERSION,
    ) -> dict[str, Any]:
        """One page of flag and rule-based segment changes (query order as the official SDK).
        Spec 1.1 has no ``rbSince`` and answers ``{splits, since, till}``: converted to the 1.3
        shape with an empty ``rbs`` section."""
        query = f"s={spec}&since={since}"
        if spec != LEGACY_SPEC_VERSION:
            query += f"&rbSince={rb_since}"
        if sets:
            query += f"&sets={sets}"
        if till is not None:
            query += f"&till={till}"
        body = await self._get(f"{self._urls['sdk']}/splitChanges?{query}", "sp")
        if spec == LEGACY_SPEC_VERSION:
            return _from_legacy_spec(body)
        if not isinstance(body, dict) or not isinstance(body.get("ff"), dict):
            raise APIError("splitChanges: the response has no 'ff' section", 200)
        body.setdefault("rbs", {"d": [], "s": -1, "t": -1})
        return body

    async def segment_changes(
        self, name: str, since: int, till: int | None = None
    ) -> dict[str, Any]:
        query = f"since={since}" + (f"&till={till}" if till is not None else "")
        body = await self._get(
            f"{self._urls['sdk']}/segmentChanges/{quote(name, safe='')}?{query}", "se"
        )
        if not isinstance(body, dict) or not isinstance(body.get("till"), int):
            raise APIError(f"segmentChanges {name}: the response is not a segment change", 200)
        return body

    async def auth(self) -> Any:
        """The streaming auth token (4xx is retryable here: the caller decides, not us)."""
        try:
            return await self._get(f"{self._urls['auth']}/v2/auth?s={SPEC_VERSION}", "to")
        except AuthError as exc:  # a 401 from auth: reported as a plain failure, retried
            raise APIError(str(exc), exc.status) from exc

    @property
    def streaming_url(self) -> str:
        return self._urls["streaming"]

    # ------------------------------------------------------------------ recording

    async def post_impressions(self, body: list[dict[str, Any]], mode: str) -> None:
        await self._post(f"{self._urls['events']}/testImpressions/bulk", body, "im",
                         {"SplitSDKImpressionsMode": mode})

    async def post_impression_counts(self, body: dict[str, Any], mode: str) -> None:
        await self._post(f"{self._urls['events']}/testImpressions/count", body, "ic",
                         {"SplitSDKImpressionsMode": mode})

    async def post_events(self, body: list[dict[str, Any]]) -> None:
        await self._post(f"{self._urls['events']}/events/bulk", body, "ev")

    async def post_unique_keys(self, body: dict[str, Any]) -> None:
        await self._post(f"{self._urls['telemetry']}/v1/keys/ss", body, "te")

    async def post_telemetry_config(self, body: dict[str, Any]) -> None:
        await self._post(f"{self._urls['telemetry']}/v1/metrics/config", body, "te")

    async def post_telemetry_usage(self, body: dict[str, Any]) -> None:
        await self._post(f"{self._urls['telemetry']}/v1/metrics/usage", body, "te")

    # ------------------------------------------------------------------ plumbing

    async def _get(self, url: str, resource: str) -> Any:
        body = await self._send("GET", url, resource, {"Cache-Control": "no-cache"})
        try:
            return await drive(bounded_json.parse_steps(body, self.limits.json_max_depth))
        except DATA_ERRORS as exc:
            problem = describe_data_error(exc, self.limits.json_max_depth)
            raise APIError(f"{_NAMES[resource]}: malformed JSON ({problem})", 200) from None

    async def _post(
        self, url: str, body: Any, resource: str, headers: dict[str, str] | None = None
    ) -> None:
        await self._send("POST", url, resource, headers, _ENCODER.encode(body).encode())

    async def _send(
        self, method: str, url: str, resource: str, headers: dict[str, str] | None,
        content: bytes | None = None,
    ) -> bytes:
        """The body of a 2xx answer (empty for a post). One deadline covers the whole request:
        a server that trickles its answer a byte at a time is cut like one that never answers."""
        name = _NAMES[resource]
        limits = self.limits
        started = time.perf_counter()
        status: int | None = None
        try:
            with anyio.fail_after(limits.http_request_timeout):
                async with self._client.stream(
                    method, url, headers=headers, content=content
                ) as response:
                    status = response.status_code
                    self.answered = True
                    if method != "GET" or not 200 <= status < 300:
                        await discard_body(response, POST_ANSWER_BYTES)
                        body = b""
                    else:
                        body = await read_body(response, limits.http_max_response_bytes, name)
        except TimeoutError:
            self._observe(resource, None, started)
            raise APIError(
                f"{name}: no complete answer within httpRequestTimeout "
                f"({limits.http_request_timeout:g} s)"
            ) from None
        except httpx.TimeoutException as exc:
            self._observe(resource, None, started)
            raise APIError(f"{name}: timed out ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            self._observe(resource, None, started)
            raise APIError(f"{name}: {redact.redact(describe_error(exc))}") from exc
        except ValueError as exc:  # over a limit, an unknown or corrupt compression
            self._observe(resource, None, started)
            raise APIError(str(exc), status or -1) from None
        assert status is not None
        self._observe(resource, status, started)
        if status in (401, 403):
            raise AuthError(f"{name}: the SDK key was refused (HTTP {status})", status)
        if status == 414:
            raise URITooLongError(f"{name}: URI too long (HTTP 414)", status)
        if not 200 <= status < 300:
            raise APIError(f"{name}: HTTP {status}", status)
        return body

    def _observe(self, resource: str, status: int | None, started: float) -> None:
        if self._observer is not None:
            self._observer.record_http(resource, status, (time.perf_counter() - started) * 1000)


def _from_legacy_spec(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get("splits"), list):
        raise APIError("splitChanges: the spec 1.1 response has no 'splits' list", 200)
    return {
        "ff": {"d": body["splits"], "s": body.get("since"), "t": body.get("till")},
        "rbs": {"d": [], "s": -1, "t": -1},
    }


_NAMES = {
    "sp": "splitChanges", "se": "segmentChanges", "im": "testImpressions/bulk",
    "ic": "testImpressions/count", "ev": "events/bulk", "te": "telemetry", "to": "auth",
}
