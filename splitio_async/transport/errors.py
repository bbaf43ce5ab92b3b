"""Errors of the Split API edge.

    APIError            a request failed: HTTP status (or -1 for a network failure)
    ├── AuthError       401/403: the SDK key is not accepted; retrying cannot help
    └── URITooLongError 414: too many flag sets in the query
"""

from __future__ import annotations


class APIError(Exception):
    def __init__(self, message: str, status: int = -1) -> None:
        super().__init__(message)
        self.status = status


class AuthError(APIError):
    """The SDK key was refused."""


class URITooLongError(APIError):
    """The flag-set filter makes the URL too long for the service."""
