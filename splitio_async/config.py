"""The official configuration keys, their defaults and their validation, as one frozen object.

Unknown keys are ignored (as the official SDK does), so a config dict written for
``splitio_client`` works unchanged, but each one is named in a warning (``config_keys``).
Validation logs the official warnings and falls back to the default; it never raises.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

from .config_keys import warn_unknown
from .models.fallback import Fallbacks
from .validation import validate_flag_sets

_LOGGER = logging.getLogger("splitio.client.config")

MODES = ("OPTIMIZED", "DEBUG", "NONE")
AUTH_SCHEMES = ("NONE", "KERBEROS_SPNEGO", "KERBEROS_PROXY")


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
    raw: dict[str, Any] = field(default_factory=dict, repr=False)  # may hold a password

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> Config:
        raw = dict(raw or {})
        warn_unknown(raw)
        mode = raw.get("impressionsMode", "OPTIMIZED")
        if not isinstance(mode, str) or mode.upper() not in MODES:
            _LOGGER.warning(
                "You passed an invalid impressionsMode, impressionsMode should be one of the "
                "following values: `debug`, `none` or `optimized`.  Defaulting to `optimized` "
                "mode."
            )
            mode = "OPTIMIZED"
        mode = mode.upper()
        minimum_refresh = 1 if mode == "DEBUG" else 60
        refresh = raw.get("impressionsRefreshRate", 60 if mode == "DEBUG" else 300)
        refresh = max(_number(refresh, minimum_refresh), minimum_refresh)
        metrics = _number(raw.get("metricsRefreshRate", 3600), 3600)
        if metrics < 60:
            _LOGGER.warning(
                "metricRefreshRate parameter minimum value is 60 seconds, defaulting to 3600 "
                "seconds."
            )
            metrics = 3600
        sets_filter = raw.get("flagSetsFilter")
        flag_sets: frozenset[str] | None = None
        if sets_filter is not None:
            flag_sets = frozenset(
                validate_flag_sets(sets_filter, "SDK Config")
                if isinstance(sets_filter, list | tuple) else ()
            ) or None
        defaults = cls()
        return cls(
            connection_timeout_ms=int(_number(raw.get("connectionTimeout", 1500), 1500)),
            streaming_enabled=bool(raw.get("streamingEnabled", True)),
            features_refresh_rate=_number(raw.get("featuresRefreshRate", 30), 30),
            segments_refresh_rate=_number(raw.get("segmentsRefreshRate", 30), 30),
            metrics_refresh_rate=metrics,
            impressions_mode=mode,
            impressions_refresh_rate=refresh,
            impressions_bulk_size=int(_number(raw.get("impressionsBulkSize", 5000), 5000)),
            impressions_queue_size=int(_number(raw.get("impressionsQueueSize", 10000), 10000)),
            events_push_rate=_number(raw.get("eventsPushRate", 10), 10),
            events_bulk_size=int(_number(raw.get("eventsBulkSize", 5000), 5000)),
            events_queue_size=int(_number(raw.get("eventsQueueSize", 10000), 10000)),
            labels_enabled=bool(raw.get("labelsEnabled", True)),
            ip_addresses_enabled=bool(raw.get("IPAddressesEnabled", True)),
            machine_name=raw.get("machineName"),
            machine_ip=raw.get("machineIp"),
            impression_listener=raw.get("impressionListener"),
            listener_in_worker=str(raw.get("impressionListenerDelivery", "inline")).lower()
            == "worker",
            flag_sets_filter=flag_sets,
            fallbacks=Fallbacks.from_config(raw.get("fallbackTreatments")),
            proxy_url=raw.get("proxyUrl"),
            kerberos=_kerberos(raw),
            preforked_initialization=bool(raw.get("preforkedInitialization", False)),
            split_file=str(raw.get("splitFile") or defaults.split_file),
            segment_directory=str(raw.get("segmentDirectory") or defaults.segment_directory),
            localhost_refresh_enabled=bool(raw.get("localhostRefreshEnabled", False)),
            destroy_timeout=_number(raw.get("destroyTimeout", 10.0), 10.0),
            sync_retry_base=_number(raw.get("syncRetryBackoffBase", 10.0), 10.0),
            sync_retry_max=_number(raw.get("syncRetryBackoffMax", 30.0), 30.0),
            streaming_reconnect_base=_number(raw.get("streamingReconnectBackoffBase", 1.0), 1.0),
            streaming_keepalive=_number(raw.get("streamingKeepaliveTimeout", 70.0), 70.0),
            spec_recheck_interval=_number(raw.get("specRecheckInterval", 86400.0), 86400.0),
            bootstrap_file=str(raw["bootstrapFile"]) if raw.get("bootstrapFile") else None,
            cache_file=str(raw["cacheFile"]) if raw.get("cacheFile") else None,
            raw=raw,
        )


def _number(value: Any, default: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return value


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
