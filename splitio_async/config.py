"""The official configuration keys, their defaults and their validation, as one frozen object.

Unknown keys are ignored (as the official SDK does), so a config dict written for
``splitio_client`` works unchanged, but each one is named in a warning (``config_keys``).
Validation logs the official warnings and falls back to the default; it never raises, and
never lets through a value that would fail later: a number must be finite and within a sane
range for its key (NaN, infinities, negative periods, a 1,000-year refresh rate are logged
and replaced by the default), ``proxyUrl`` must be a URL with a host (else it is logged,
with any password masked, and ignored).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .config_keys import warn_unknown
from .limits import Limits, checked_number, is_finite_number, safe_repr
from .models.fallback import Fallbacks
from .redaction import redact
from .validation import validate_flag_sets

_LOGGER = logging.getLogger("splitio.client.config")

MODES = ("OPTIMIZED", "DEBUG", "NONE")
AUTH_SCHEMES = ("NONE", "KERBEROS_SPNEGO", "KERBEROS_PROXY")
DAY = 86400.0
MAX_PERIOD = 365 * DAY  # seconds: longer than any sensible refresh rate or timeout
MAX_COUNT = 100_000_000  # queue and bulk sizes
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")
DEBUG_IMPRESSIONS_REFRESH_RATE = 60.0  # impressionsRefreshRate's default in DEBUG mode (official)


def _default_split_file() -> str:
    return os.path.join(os.path.expanduser("~"), ".split")


@dataclass(frozen=True, slots=True)
class KerberosSettings:
    """``httpAuthenticateScheme`` other than ``NONE``: Negotiate to Split's endpoints
    (``KERBEROS_SPNEGO``) or to the proxy (``KERBEROS_PROXY``), as ``principal`` (None: the
    default credentials of the credential cache). With a password the SDK gets its own ticket
    and never touches the user's credential cache."""

    scheme: str
    principal: str | None = None
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Config:
    connection_timeout_ms: int = 1500
    streaming_enabled: bool = True
    features_refresh_rate: float = 30
    segments_refresh_rate: float = 30
    metrics_refresh_rate: float = 3600
    impressions_mode: str = "OPTIMIZED"
    impressions_refresh_rate: float = 300
    impressions_bulk_size: int = 5000
    impressions_queue_size: int = 10000
    events_push_rate: float = 10
    events_bulk_size: int = 5000
    events_queue_size: int = 10000
    labels_enabled: bool = True
    ip_addresses_enabled: bool = True
    machine_name: str | None = None
    machine_ip: str | None = None
    impression_listener: Any = None
    listener_in_worker: bool = False  # ours: impressionListenerDelivery "worker" (else inline)
    flag_sets_filter: frozenset[str] | None = None
    fallbacks: Fallbacks = field(default_factory=Fallbacks)
    proxy_url: str | None = None
    kerberos: KerberosSettings | None = None  # httpAuthenticateScheme + kerberosPrincipal*
    preforked_initialization: bool = False
    split_file: str = field(default_factory=_default_split_file)
    segment_directory: str = field(default_factory=lambda: os.path.expanduser("~"))
    localhost_refresh_enabled: bool = False
    destroy_timeout: float = 10.0  # ours: hard deadline of the final flush on destroy
    sync_retry_base: float = 10.0  # ours: first wait after a failed fetch (official: 10 s)
    sync_retry_max: float = 30.0  # ours: longest wait between retries (official: 30 s)
    streaming_reconnect_base: float = 1.0  # ours: first wait before reconnecting (official 1 s)
    streaming_keepalive: float = 70.0  # ours: silence that means the stream is dead (official)
    spec_recheck_interval: float = 86400.0  # ours: time on spec 1.1 (old Split Proxy) before 1.3
    bootstrap_file: str | None = None  # ours: serve from this JSON snapshot until live data
    cache_file: str | None = None  # ours: last-known-good data, written and bootstrapped from
    proxy_from_environment: bool = True  # ours: follow HTTP(S)_PROXY when proxyUrl is unset
    limits: Limits = field(default_factory=Limits)  # ours: bounds on what is read
    raw: dict[str, Any] = field(default_factory=dict, repr=False)  # may hold a password

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> Config:
        """The settings of a config dict, each validated; a default is the field's above (the
        one place it is written; the configuration reference is checked against it)."""
        if raw is not None and not isinstance(raw, dict):
            _LOGGER.warning("config: expected a dict of settings, not %s; using the defaults.",
                            type(raw).__name__)
            raw = None
        raw = dict(raw or {})
        warn_unknown(raw)
        defaults = cls()
        mode = raw.get("impressionsMode", defaults.impressions_mode)
        if not isinstance(mode, str) or mode.upper() not in MODES:
            _LOGGER.warning(
                "You passed an invalid impressionsMode, impressionsMode should be one of the "
                "following values: `debug`, `none` or `optimized`.  Defaulting to `optimized` "
                "mode."
            )
            mode = defaults.impressions_mode
        mode = mode.upper()
        debug = mode == "DEBUG"
        minimum_refresh = 1 if debug else 60
        refresh_raw = raw.get("impressionsRefreshRate")
        if is_finite_number(refresh_raw) and refresh_raw < minimum_refresh:  # type: ignore[operator]
            refresh_raw = minimum_refresh  # official: raised to the minimum, silently
        refresh = _period(
            dict(raw, impressionsRefreshRate=refresh_raw) if refresh_raw is not None else raw,
            "impressionsRefreshRate",
            DEBUG_IMPRESSIONS_REFRESH_RATE if debug else defaults.impressions_refresh_rate,
        )
        metrics = raw.get("metricsRefreshRate", defaults.metrics_refresh_rate)
        if is_finite_number(metrics) and metrics < 60:
            _LOGGER.warning(
                "metricRefreshRate parameter minimum value is 60 seconds, defaulting to %d "
                "seconds.", defaults.metrics_refresh_rate,
            )
            metrics = defaults.metrics_refresh_rate
        metrics = _period(dict(raw, metricsRefreshRate=metrics), "metricsRefreshRate",
                          defaults.metrics_refresh_rate)
        sets_filter = raw.get("flagSetsFilter")
        flag_sets: frozenset[str] | None = None
        if sets_filter is not None:
            flag_sets = frozenset(
                validate_flag_sets(sets_filter, "SDK Config")
                if isinstance(sets_filter, list | tuple) else ()
            ) or None
        plain: dict[str, Any] = {
            **{name: _period(raw, key, getattr(defaults, name)) for name, key in _PERIODS.items()},
            **{name: _count(raw, key, getattr(defaults, name)) for name, key in _COUNTS.items()},
            **{name: bool(raw.get(key, getattr(defaults, name)))
               for name, key in _SWITCHES.items()},
            **{name: _path(raw, key) or getattr(defaults, name) for name, key in _PATHS.items()},
        }
        return cls(
            **plain,
            # official: 0 (falsy) means no timeout
            connection_timeout_ms=int(checked_number(
                raw, "connectionTimeout", defaults.connection_timeout_ms, 0, MAX_PERIOD * 1000
            )),
            metrics_refresh_rate=metrics,
            impressions_mode=mode,
            impressions_refresh_rate=refresh,
            machine_name=raw.get("machineName"),
            machine_ip=raw.get("machineIp"),
            impression_listener=raw.get("impressionListener"),
            listener_in_worker=str(_text(raw, "impressionListenerDelivery") or "").lower()
            == "worker",
            flag_sets_filter=flag_sets,
            fallbacks=Fallbacks.from_config(raw.get("fallbackTreatments")),
            proxy_url=_proxy_url(raw.get("proxyUrl")),
            kerberos=_kerberos(raw),
            destroy_timeout=_period(raw, "destroyTimeout", defaults.destroy_timeout, minimum=0),
            limits=Limits.from_config(raw),
            raw=raw,
        )


# The settings read as they are, field -> config key; the default is the field's.
_PERIODS = {  # seconds
    "features_refresh_rate": "featuresRefreshRate",
    "segments_refresh_rate": "segmentsRefreshRate",
    "events_push_rate": "eventsPushRate",
    "sync_retry_base": "syncRetryBackoffBase",
    "sync_retry_max": "syncRetryBackoffMax",
    "streaming_reconnect_base": "streamingReconnectBackoffBase",
    "streaming_keepalive": "streamingKeepaliveTimeout",
    "spec_recheck_interval": "specRecheckInterval",
}
_COUNTS = {  # queue and bulk sizes
    "impressions_bulk_size": "impressionsBulkSize",
    "impressions_queue_size": "impressionsQueueSize",
    "events_bulk_size": "eventsBulkSize",
    "events_queue_size": "eventsQueueSize",
}
_SWITCHES = {  # anything, read as a bool
    "streaming_enabled": "streamingEnabled",
    "labels_enabled": "labelsEnabled",
    "ip_addresses_enabled": "IPAddressesEnabled",
    "preforked_initialization": "preforkedInitialization",
    "localhost_refresh_enabled": "localhostRefreshEnabled",
    "proxy_from_environment": "proxyFromEnvironment",
}
_PATHS = {  # a file or directory
    "split_file": "splitFile",
    "segment_directory": "segmentDirectory",
    "bootstrap_file": "bootstrapFile",
    "cache_file": "cacheFile",
}


def _kerberos(raw: dict[str, Any]) -> KerberosSettings | None:
    scheme = raw.get("httpAuthenticateScheme")
    if scheme is None:
        return None
    if not isinstance(scheme, str) or scheme.upper() not in AUTH_SCHEMES:
        _LOGGER.warning(
            "You passed an invalid HttpAuthenticationScheme, HttpAuthenticationScheme should be "
            "one of the following values: `none`, `kerberos_proxy` or `kerberos_spnego`.  "
            "Defaulting to `none` mode."
        )
        return None
    if scheme.upper() == "NONE":
        return None
    principal, password = raw.get("kerberosPrincipalUser"), raw.get("kerberosPrincipalPassword")
    if principal is not None and not isinstance(principal, str):
        _LOGGER.warning("kerberosPrincipalUser must be a string; using the default credentials")
    principal = principal if isinstance(principal, str) and principal else None
    if password is not None and (not isinstance(password, str) or principal is None):
        _LOGGER.warning("kerberosPrincipalPassword is ignored: it needs a kerberosPrincipalUser "
                        "and must be a string; using the credential cache")
        password = None
    return KerberosSettings(scheme.upper(), principal, password)
def _period(raw: dict[str, Any], key: str, default: float, minimum: float = 0.001) -> float:
    """Seconds: a positive (``minimum``), finite number below a year."""
    return float(checked_number(raw, key, default, minimum, MAX_PERIOD))


def _count(raw: dict[str, Any], key: str, default: int) -> int:
    return int(checked_number(raw, key, default, 1, MAX_COUNT))


def _text(raw: dict[str, Any], key: str) -> str | None:
    value = raw.get(key)
    if value is None or isinstance(value, str):
        return value
    _LOGGER.warning("%s: %s is not a string; ignoring it.", key, safe_repr(value))
    return None


def _path(raw: dict[str, Any], key: str) -> str | None:
    """A file or directory setting: a string or a path object (``pathlib.Path``)."""
    value = raw.get(key)
    if not value:
        return None
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, bytes):
        value = os.fsdecode(value)
    if isinstance(value, str):
        return value
    _LOGGER.warning("%s: %s is not a path; ignoring it.", key, safe_repr(value))
    return None


def _proxy_url(value: Any) -> str | None:
    """The proxy URL if it can work: a scheme httpx speaks, a host, a numeric port if any.
    Anything else is logged (without its password) and ignored, as the official SDK does."""
    if value is None or value == "":
        return None
    problem = None
    if not isinstance(value, str):
        problem = f"must be a string, not {type(value).__name__}"
    else:
        try:
            parts = urlsplit(value)
            port = parts.port  # raises ValueError for a port that is not a number in range
        except ValueError:
            parts, port = None, None
        if parts is None:
            problem = "is not a URL"
        elif parts.scheme.lower() not in PROXY_SCHEMES:
            problem = f"needs one of the schemes {', '.join(PROXY_SCHEMES)}"
        elif not parts.hostname:
            problem = "has no host"
        del port
    if problem is None:
        return str(value)
    shown = safe_repr(redact(value)) if isinstance(value, str) else f"<{type(value).__name__}>"
    _LOGGER.warning("proxyUrl %s %s (e.g. http://user:password@proxy.example.com:3128); "
                    "ignoring it.", shown, problem)
    return None
