"""The streaming auth call and its JWT: which channels to subscribe to and when to refresh.
``SplitAuth`` is the ``AuthAPI`` port over Split's REST API."""

from __future__ import annotations

import base64
import json
from typing import Any

from ..models.notifications import OCCUPANCY_PREFIX
from .errors import APIError
from .http import SplitAPI
from .protocols import PushDisabled, Token


def parse_token(body: Any) -> Token:
    """Raises PushDisabled when the answer says so or the token is unusable (official)."""
    if not isinstance(body, dict) or body.get("pushEnabled") is not True:
        raise PushDisabled("push is disabled for this SDK key")
    jwt = body.get("token")
    if not isinstance(jwt, str) or jwt.count(".") < 1:
        raise PushDisabled("the auth answer has no usable token")
    try:
        payload = jwt.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        capability = json.loads(claims["x-ably-capability"])
    except (ValueError, KeyError, TypeError) as exc:
        raise PushDisabled(f"the token cannot be read: {exc}") from None
    regular = [ch for ch, ops in capability.items() if ops == ["subscribe"]]
    occupancy = [OCCUPANCY_PREFIX + ch for ch, ops in capability.items()
                 if "channel-metadata:publishers" in ops]
    return Token(jwt, tuple(regular + occupancy), int(claims.get("exp", 0)),
                 int(claims.get("iat", 0)))


class SplitAuth:
    """``GET {auth}/v2/auth?s=1.3``. APIError (any status) means retryable; PushDisabled not."""

    def __init__(self, api: SplitAPI) -> None:
        self._api = api

    async def authenticate(self) -> Token:
        return parse_token(await self._api.auth())


__all__ = ["APIError", "PushDisabled", "SplitAuth", "Token", "parse_token"]
