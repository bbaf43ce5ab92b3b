"""Every configuration key the SDK reads, to catch misspellings.

The official SDK ignores unknown keys silently, so ``{"splitfile": ...}`` quietly reads
``~/.split`` instead of the user's file. We still ignore them (a config written for
``splitio_client`` must work unchanged) but warn once per key, naming the closest known key.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterable

_LOGGER = logging.getLogger("splitio.client.config")

OFFICIAL = frozenset({
    "connectionTimeout", "streamingEnabled", "featuresRefreshRate", "segmentsRefreshRate",
    "metricsRefreshRate", "impressionsMode", "impressionsRefreshRate", "impressionsBulkSize",
    "impressionsQueueSize", "eventsPushRate", "eventsBulkSize", "eventsQueueSize",
    "labelsEnabled", "IPAddressesEnabled", "machineName", "machineIp", "impressionListener",
    "flagSetsFilter", "fallbackTreatments", "proxyUrl", "httpAuthenticateScheme",
    "kerberosPrincipalUser", "kerberosPrincipalPassword", "preforkedInitialization",
    "splitFile", "segmentDirectory", "localhostRefreshEnabled", "dataSampling", "storageType",
    "storageWrapper", "storagePrefix", "operationMode",
    # the official user guide lists these; the official code does not read them
    "readTimeoutInMs", "readTimeout", "ready",
    # Redis consumer mode
    "redisHost", "redisPort", "redisDb", "redisPassword", "redisUsername", "redisPrefix",
    "redisSocketTimeout", "redisSocketConnectTimeout", "redisSocketKeepalive",
    "redisSocketKeepaliveOptions", "redisConnectionPool", "redisUnixSocketPath",
    "redisEncoding", "redisEncodingErrors", "redisErrors", "redisDecodeResponses",
    "redisRetryOnTimeout", "redisSsl", "redisSslKeyfile", "redisSslCertfile",
    "redisSslCertReqs", "redisSslCaCerts", "redisMaxConnections", "redisSentinels",
    "redisMasterService", "redisLocalCacheEnabled", "redisLocalCacheTTL",
})

OURS = frozenset({
    "impressionListenerDelivery", "destroyTimeout", "syncRetryBackoffBase",
    "syncRetryBackoffMax", "streamingReconnectBackoffBase", "streamingKeepaliveTimeout",
    "bootstrapFile", "cacheFile", "redisClusterNodes", "testData", "specRecheckInterval",
    "proxyFromEnvironment", "hooks", "hookBudgetMs",
    # limits on what is read (limits.py)
    "httpMaxResponseBytes", "httpRequestTimeout", "streamingMaxLineBytes",
    "streamingMaxEventBytes", "streamingMaxPayloadBytes", "maxFileBytes", "yamlMaxNodes",
    "jsonMaxDepth",
})

KNOWN = OFFICIAL | OURS


def warn_unknown(keys: Iterable[object]) -> None:
    """One warning per unknown key, with the closest known key when one is close."""
    for key in keys:
        if not isinstance(key, str):
            _LOGGER.warning("config: ignoring a key that is not a string: %r", key)
            continue
        if key in KNOWN:
            continue
        close = difflib.get_close_matches(key, KNOWN, n=1, cutoff=0.6) or [
            known for known in KNOWN if known.lower() == key.lower()
        ]
        if close:
            _LOGGER.warning(
                "config: unknown key %r is ignored; did you mean %r?", key, close[0]
            )
        else:
            _LOGGER.warning("config: unknown key %r is ignored", key)
