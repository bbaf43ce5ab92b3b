"""Errors of the Split API edge.

    APIError                a request failed: HTTP status (or -1 for a network failure)
    ├── AuthError           401/403: the SDK key is not accepted; retrying cannot help
    │   └── KerberosRefused the KDC, the proxy or the server refused the Kerberos credentials
    └── URITooLongError     414: too many flag sets in the query
    StreamError             the streaming connection could not be opened or broke

``kerberos.KerberosUnavailable`` (no Kerberos ticket now: KDC unreachable, empty credential cache)
is an ``APIError`` and an ``httpx.TransportError``, so it is retried like a network failure.
"""

from __future__ import annotations


class APIError(Exception):
    def __init__(self, message: str, status: int = -1) -> None:
        super().__init__(message)
        self.status = status


class AuthError(APIError):
    """The SDK key was refused."""

    hint = "Check the SDK key (server-side key of the right environment)"


class KerberosRefused(AuthError):
    """The Kerberos credentials were refused (wrong password, unknown or locked principal, a
    ticket the proxy or server does not accept): the SDK stops rather than retry, which could
    lock the account."""

    hint = "Check kerberosPrincipalUser and kerberosPrincipalPassword"


class URITooLongError(APIError):
    """The flag-set filter makes the URL too long for the service."""


class StreamError(Exception):
    """The stream could not be opened or broke; reconnecting may help. ``limit`` is set when
    the stream sent more than a limit allows (a misbehaving or hostile server)."""

    def __init__(self, message: str, limit: bool = False) -> None:
        super().__init__(message)
        self.limit = limit
