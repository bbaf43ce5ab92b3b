"""Django integration: one blocking factory per process, configured from ``settings.SPLITIO``.

    # settings.py
    SPLITIO = {
        "apiKey": "YOUR_SDK_KEY",            # or "localhost" with config={"splitFile": ...}
        "config": {"impressionsMode": "optimized"},
        "sdkApiBaseUrl": None,               # optional URL overrides (official names, camelCase)
        "timeout": 5,                        # optional: block_until_ready on first use
    }

    # views.py
    from splitio_sync_shim.django import get_client

    def checkout(request):
        treatment = get_client().get_treatment(request.user.username, "new_checkout")

The factory is created lazily, once, on first use (thread-safe), and lives until
``destroy_factory()`` or interpreter exit (the shim flushes at exit).

Preforked servers (gunicorn, uWSGI, Celery): a factory created in the master is paused in each
forked worker (evaluations give ``control`` and one error is logged) until you call
``get_factory().resume()`` in the post-fork hook, e.g. gunicorn::

    def post_fork(server, worker):
        from splitio_sync_shim.django import get_factory
        get_factory().resume()

A factory first used in the worker itself (the default: nothing touches it at import time) needs
no hook.
"""

from __future__ import annotations

import threading
from typing import Any

from splitio_async.lowlevel import require
from splitio_async.prefork import forks

require("django", "splitio_sync_shim.django")  # before the imports: a clear message

from django.conf import settings  # noqa: E402
from django.core.exceptions import ImproperlyConfigured  # noqa: E402

from .client import Client  # noqa: E402
from .factory import SyncSplitFactory  # noqa: E402
from .factory import get_factory as _new_factory  # noqa: E402

__all__ = ("SETTING", "URL_SETTINGS", "destroy_factory", "get_client", "get_factory")

SETTING = "SPLITIO"
# settings key -> the official ``get_factory`` keyword
URL_SETTINGS = {
    "sdkApiBaseUrl": "sdk_api_base_url",
    "eventsApiBaseUrl": "events_api_base_url",
    "authApiBaseUrl": "auth_api_base_url",
    "streamingApiBaseUrl": "streaming_api_base_url",
    "telemetryApiBaseUrl": "telemetry_api_base_url",
}
_KNOWN = {"apiKey", "config", "timeout", "asyncBackend", *URL_SETTINGS}

_lock = threading.Lock()
_factory: SyncSplitFactory | None = None


def _settings() -> dict[str, Any]:
    raw = getattr(settings, SETTING, None)
    if not isinstance(raw, dict):
        raise ImproperlyConfigured(f"settings.{SETTING} must be a dict with at least 'apiKey'")
    unknown = set(raw) - _KNOWN
    if unknown:
        raise ImproperlyConfigured(f"settings.{SETTING}: unknown keys {sorted(unknown)}")
    if not raw.get("apiKey"):
        raise ImproperlyConfigured(f"settings.{SETTING}['apiKey'] is required")
    return raw


def _create() -> SyncSplitFactory:
    conf = _settings()
    urls = {kwarg: conf[key] for key, kwarg in URL_SETTINGS.items() if conf.get(key)}
    factory = _new_factory(
        conf["apiKey"], dict(conf.get("config") or {}),
        async_backend=str(conf.get("asyncBackend", "asyncio")), **urls,
    )
    if factory is None:
        raise ImproperlyConfigured(f"settings.{SETTING}: the SDK refused this configuration")
    timeout = conf.get("timeout")
    if timeout is not None:
        factory.block_until_ready(float(timeout))
    return factory


def get_factory() -> SyncSplitFactory:
    """This process's factory, created from ``settings.SPLITIO`` on first call."""
    global _factory
    factory = _factory
    if factory is not None and not factory.destroyed:
        return factory
    with _lock:
        if _factory is None or _factory.destroyed:
            _factory = _create()
        return _factory


def get_client() -> Client:
    """A client of this process's factory (clients are cheap facades)."""
    return get_factory().client()


def destroy_factory() -> None:
    """Flush and stop this process's factory; the next ``get_factory()`` creates a new one
    (for tests, and for settings changes)."""
    global _factory
    with _lock:
        factory, _factory = _factory, None
    if factory is not None:
        factory.destroy()


def _reset_lock_in_child() -> None:
    """A fork taken while another thread held the lock must not deadlock the child."""
    global _lock
    _lock = threading.Lock()


forks.reset_in_child(_reset_lock_in_child)
