"""Which ``splitChanges`` spec the flag syncer asks for (spec api.md §3.4).

Split's API and current Split Proxies speak spec 1.3: flags and rule-based segments. A Split Proxy
that predates rule-based segments answers 400 to ``s=1.3``. Behind one (only when the SDK URL is
not Split's own: Split's API answering 400 is an error, never a reason to downgrade) the official
SDK switches to spec 1.1 (flags only, no rule-based segments), keeps syncing, and tries 1.3 again
after a day, so an upgraded proxy is picked up without a restart. The first 1.3 request after
that asks for everything (``since=-1&rbSince=-1``) and its answer replaces what is held, the
spec's recommendation: the official keeps its old ``since`` and clears storage, which loses the
flags that did not change in that delta.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from ..transport.errors import APIError
from ..transport.protocols import LEGACY_SPEC_VERSION, SPEC_VERSION

_LOGGER = logging.getLogger("splitio.api.splits")

RECHECK_INTERVAL = 24 * 60 * 60.0  # seconds on spec 1.1 before trying 1.3 again (official)


class SpecVersion:
    """The spec in use and when to try the newer one again. Not thread-safe: the flag syncer
    (one sync at a time) is its only user."""

    __slots__ = ("_allowed", "_clock", "_fell_back_at", "_interval", "version")

    def __init__(
        self,
        fallback_allowed: bool,
        recheck_interval: float = RECHECK_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._allowed = fallback_allowed
        self._interval = recheck_interval
        self._clock = clock
        self._fell_back_at = 0.0
        self.version = SPEC_VERSION

    @property
    def legacy(self) -> bool:
        """On spec 1.1: no rule-based segments come, so no rule-based target can be reached."""
        return self.version == LEGACY_SPEC_VERSION

    def retry_latest(self) -> bool:
        """Called before each request. True when the time on 1.1 is up: this request is the
        1.3 retry, and it must fetch (and replace) everything."""
        if not self.legacy or self._clock() - self._fell_back_at < self._interval:
            return False
        _LOGGER.info("Switching to new Feature flag spec (%s) and fetching.", SPEC_VERSION)
        self.version = SPEC_VERSION
        return True

    def refused(self, error: APIError) -> bool:
        """Whether a failed request was a proxy refusing 1.3: then the spec is now 1.1 and the
        caller asks again at once (with its own change number, without ``rbSince``)."""
        if not self._allowed or error.status != 400 or self.legacy:
            return False
        _LOGGER.warning(
            "Detected proxy response error, changing spec version from %s to %s and re-fetching.",
            SPEC_VERSION, LEGACY_SPEC_VERSION,
        )
        self.version = LEGACY_SPEC_VERSION
        self._fell_back_at = self._clock()
        return True
