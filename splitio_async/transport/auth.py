"""The streaming auth call and its JWT: which channels to subscribe to and when to refresh."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import Any

from .errors import APIError
from .http import SplitAPI

OCCUPANCY_PREFIX = "[?occupancy=metrics.publishers]"
REFRESH_GRACE = 600  # seconds before expiry (official)


class PushDisabled(Exception):
    """Streaming is not available for this SDK key: poll instead, for good."""


@dataclass(frozen=True, slots=True)
class Token:
    jwt: str
    channels: tuple[str, ...]
    expires_at: int
    issued_at: int

    def refresh_in(self, now: float | None = None) -> float:
        """Seconds until the token should be replaced: its lifetime minus ten minutes."""
        lifetime = self.expires_at - self.issued_at
        if self.issued_at <= 0:  # no iat claim: count from now
            lifetime = self.expires_at - int(now if now is not None else time.time())
        if lifetime > REFRESH_GRACE:
            return float(lifetime - REFRESH_GRACE)
        return max(lifetime / 2, 1.0)  # a short-lived token: never reconnect in a tight loop


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


async def authenticate(api: SplitAPI) -> Token:
    """``GET {auth}/v2/auth?s=1.3``. APIError (any status) means retryable; PushDisabled not."""
    body = await api.auth()
    return parse_token(body)


__all__ = ["APIError", "PushDisabled", "Token", "authenticate", "parse_token"]
