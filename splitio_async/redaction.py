"""Keep credentials out of log lines, ours and those of the libraries the SDK drives (pure:
stdlib only, so the config validation can mask a proxy password too).

httpx logs every request's URL at INFO (``HTTP Request: GET .../event-stream?...&accessToken=
<JWT>``), and the streaming token in that URL lets anyone subscribe to the environment's flag
updates. ``install()`` adds a filter to the loggers of httpx and httpcore that rewrites such
records before any handler sees them: the ``accessToken`` query value, a password in a URL's
user info (``http://user:***@proxy``) and ``Bearer`` credentials are replaced by ``***``. It
changes only records that contain one of these, so other users of httpx in the process keep
their logs otherwise unchanged. ``redact()`` applies the same rules to text the SDK logs itself
(exception messages from the transport).

redis-py never logs command arguments (AUTH included) and our Redis client logs none, so Redis
needs no filter; the test of this module checks every logger at DEBUG anyway.
"""

from __future__ import annotations

import logging
import re

_PATTERNS = (
    (re.compile(r"(accessToken=)[^&\s\"'>]+", re.IGNORECASE), r"\1***"),
    (re.compile(r"([a-z][a-z0-9+.-]*://[^/\s:@'\"]*:)[^/\s@'\"]+@", re.IGNORECASE), r"\1***@"),
    (re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1***"),
)
_MARKERS = ("accesstoken=", "@", "bearer")

LIBRARY_LOGGERS = (
    "httpx", "httpcore.connection", "httpcore.http11", "httpcore.http2", "httpcore.proxy",
    "httpcore.socks",
)


def redact(text: str) -> str:
    lowered = text.lower()
    if not any(marker in lowered for marker in _MARKERS):
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites a record whose message holds a credential (see the module docstring)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the handler's own error path
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def install() -> None:
    """Add the filter to the libraries' loggers (once; safe to call for every factory)."""
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, RedactingFilter) for existing in logger.filters):
            logger.addFilter(RedactingFilter())
