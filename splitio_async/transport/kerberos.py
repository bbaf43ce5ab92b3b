"""Kerberos (HTTP ``Negotiate``) for ``httpAuthenticateScheme``: the tokens, and the server side.

``KERBEROS_SPNEGO``: a Split endpoint (or whatever stands in front of it) that answers ``401`` with
``WWW-Authenticate: Negotiate`` gets the request again with ``Authorization: Negotiate <token>``, in
place of the ``Bearer`` key, as splitio_client does; once a host has asked, every later request to
it carries a token from the start, which saves a round trip (and a re-sent bulk body) per call.
``KERBEROS_PROXY`` is in ``kerberos_proxy.py``: ``Proxy-Authorization`` on CONNECT and on
forwarded requests.

Tokens come from pyspnego, the library requests-kerberos (splitio_client's kerberos extra) runs
on: GSSAPI on Linux and macOS, SSPI on Windows; plain Kerberos tokens for ``HTTP@<host>``, with
mutual authentication and sequence detection requested, as requests-kerberos does. Every token is
new: an authenticator is single-use (a replay cache refuses one it has seen). Making a token may
talk to the KDC, so it happens in a worker thread, never on the event loop: 0.4 ms once the
service ticket is cached, a few ms for the first one (measured against a loopback KDC).

With ``kerberosPrincipalPassword`` pyspnego gets the principal's own ticket-granting ticket into a
private in-memory credential cache (the user's cache is neither read nor written), once per host,
and again when it stops working (expired). A password or principal the KDC refuses is never tried
again: an SDK retrying every few seconds would lock the account in most directories. Without a
password the tickets come from the credential cache (``kinit``, ``KRB5CCNAME``), read afresh
whenever the cached one stops working, so a renewed ``kinit`` is picked up.
"""

from __future__ import annotations

import base64
import importlib
import re
import sys
import threading
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

import httpx

from .._threads import to_worker_thread
from ..config import KerberosSettings
from ..errors import MissingDependencyError
from .errors import APIError, KerberosRefused

if TYPE_CHECKING:
    from spnego import ContextProxy

EXTRA = "pip install 'splitio_async[kerberos]'"
# krb5 error codes that mean the KDC refused this principal or its password: retrying cannot help
_REFUSED = {
    -1765328378,  # KDC_ERR_C_PRINCIPAL_UNKNOWN
    -1765328366,  # KDC_ERR_CLIENT_REVOKED (disabled or locked out)
    -1765328361,  # KDC_ERR_KEY_EXP (password expired)
    -1765328360,  # KDC_ERR_PREAUTH_FAILED (wrong password)
    -1765328353,  # KRB5KRB_AP_ERR_BAD_INTEGRITY (wrong password, no pre-authentication)
}
_NEGOTIATE = re.compile(r"(?:^|,)\s*Negotiate(?:\s+([A-Za-z0-9+/=]+))?\s*(?=,|$)", re.IGNORECASE)


class KerberosUnavailable(APIError, httpx.TransportError):
    """No Kerberos ticket now (KDC unreachable, nothing in the credential cache, a service the KDC
    does not know): retried like a network failure, by the caller's backoff."""


def load_spnego(scheme: str) -> ModuleType:
    """pyspnego with its Kerberos back end, or one error that says what to install."""
    try:
        spnego = importlib.import_module("spnego")
        if sys.platform != "win32":  # SSPI on Windows; elsewhere GSSAPI, and krb5 for passwords
            importlib.import_module("gssapi")
            importlib.import_module("krb5")
    except ImportError as exc:
        raise MissingDependencyError(
            f"httpAuthenticateScheme {scheme}", f"Kerberos support ({exc.name})", "kerberos"
        ) from None
    return spnego


@dataclass(slots=True)
class Exchange:
    """One token on its way: the header to send and the context that checks the reply."""

    host: str
    header: str
    context: ContextProxy


class Negotiator:
    """Kerberos tokens for ``HTTP@<host>``, as one principal (thread-safe)."""

    def __init__(self, settings: KerberosSettings) -> None:
        self._spnego = load_spnego(settings.scheme)
        self._principal = settings.principal
        self._password = settings.password
        self.who = repr(settings.principal) if settings.principal else "the default principal"
        self._lock = threading.Lock()
        self._templates: dict[str, ContextProxy] = {}  # per host: holds the credential
        self._refused: KerberosRefused | None = None

    async def start(self, host: str) -> Exchange:
        """A new token for ``host``: ``KerberosRefused`` (for good) or ``KerberosUnavailable``."""
        return await to_worker_thread(self._start, host, abandon_on_cancel=True)

    async def verify(self, exchange: Exchange, token: str) -> None:
        """Mutual authentication: the server's reply token must complete the context."""

        def finish() -> None:
            exchange.context.step(base64.b64decode(token, validate=True))

        try:
            await to_worker_thread(finish, abandon_on_cancel=True)
        except Exception as exc:
            raise APIError(
                f"Kerberos: {exchange.host} failed mutual authentication ({_reason(exc)})"
            ) from exc

    def _start(self, host: str) -> Exchange:
        failure: Exception | None = None
        for _attempt in range(2):
            template, fresh = self._template(host)
            context = template.new_context()
            try:
                token = context.step()
            except Exception as exc:
                with self._lock:
                    if self._templates.get(host) is template:
                        del self._templates[host]
                failure = exc
                if fresh:
                    break
                continue  # it worked before: its ticket has probably expired; get a new one
            if not token:
                raise KerberosUnavailable(f"Kerberos: no token for HTTP/{host}")
            return Exchange(host, "Negotiate " + base64.b64encode(token).decode(), context)
        assert failure is not None
        raise self._failure(failure, f"a ticket for HTTP/{host}") from failure

    def _template(self, host: str) -> tuple[ContextProxy, bool]:
        with self._lock:
            if self._refused is not None:  # a new exception each time: callers in many threads
                raise KerberosRefused(str(self._refused), self._refused.status)
            template = self._templates.get(host)
            if template is not None:
                return template, False
            spnego = self._spnego
            try:
                template = spnego.client(
                    self._principal, self._password, hostname=host, service="HTTP",
                    protocol="kerberos",
                    context_req=spnego.ContextReq.mutual_auth | spnego.ContextReq.sequence_detect,
                )
            except Exception as exc:
                failure = self._failure(exc, "credentials")
                if isinstance(failure, KerberosRefused):
                    self._refused = failure
                raise failure from exc
            self._templates[host] = template
            return template, True

    def _failure(self, exc: Exception, what: str) -> APIError:
        if getattr(exc, "err_code", None) in _REFUSED:
            return KerberosRefused(f"Kerberos: the KDC refused {self.who} ({_reason(exc)})", 401)
        return KerberosUnavailable(f"Kerberos: cannot get {what} for {self.who} ({_reason(exc)})")


class NegotiateAuth(httpx.Auth):
    """``KERBEROS_SPNEGO``: answer a ``Negotiate`` challenge, then keep answering it up front."""

    def __init__(self, negotiator: Negotiator) -> None:
        self._negotiator = negotiator
        self._challenged: set[str] = set()

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        host = request.url.host
        if host not in self._challenged:
            response = yield request
            if response.status_code != 401 or challenge(response, "WWW-Authenticate") is None:
                return
            self._challenged.add(host)
        exchange = await self._negotiator.start(host)
        request.headers["Authorization"] = exchange.header
        response = yield request
        reply = challenge(response, "WWW-Authenticate")
        if response.status_code == 401 and reply is not None:
            raise KerberosRefused(
                f"Kerberos: {host} refused the ticket of {self._negotiator.who} (HTTP 401)", 401
            )
        if reply:
            await self._negotiator.verify(exchange, reply)


def challenge(response: httpx.Response, header: str) -> str | None:
    """The ``Negotiate`` token of a challenge header: None if absent, "" if it has none."""
    for value in response.headers.get_list(header):
        match = _NEGOTIATE.search(value)
        if match:
            return match.group(1) or ""
    return None


def client_options(
    settings: KerberosSettings, proxy: str | None, tls: bool, env_proxy: bool = True
) -> dict[str, Any]:
    """``httpx.AsyncClient`` arguments that apply ``settings`` over the plain ones
    (``env_proxy`` False: proxies from the environment are not followed)."""
    negotiator = Negotiator(settings)
    if settings.scheme == "KERBEROS_SPNEGO":
        return {"auth": NegotiateAuth(negotiator)}
    from .kerberos_proxy import proxy_transport  # noqa: PLC0415 - KERBEROS_PROXY only

    transport = proxy_transport(negotiator, proxy, tls, env_proxy)
    return {} if transport is None else {"transport": transport, "proxy": None, "trust_env": False}


def _reason(exc: BaseException) -> str:
    """The readable part of a krb5 / GSSAPI error (the minor status says what happened)."""
    text = str(getattr(exc, "base_error", None) or exc)
    minor = re.search(r"Minor \(\d+\): (.*)$", text)
    if minor:
        return minor.group(1)
    return re.sub(r"\s+-?\d{6,}$", "", text) or type(exc).__name__
