"""Opening a standalone factory's edges to Split's services: one REST client shared by every
actor and recorder, the streaming client, and the ports the actors take over them.

Building an httpx client reads CA certificates and proxy settings from disk, and detecting the
machine's address resolves its name: both are done in a worker thread when they happen at all.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import httpx

from .._threads import to_worker_thread
from ..config import Config
from .auth import SplitAuth
from .http import (
    HttpObserver,
    SplitAPI,
    build_client,
    build_stream_client,
    environment_proxies,
    needs_tls,
    resolve_urls,
)
from .metadata import sdk_metadata
from .sse import SplitEventStream

_LOGGER = logging.getLogger("splitio.client.factory")


@dataclass(frozen=True, slots=True)
class SplitEdges:
    """The ports over one factory's HTTP clients; ``aclose()`` releases the clients."""

    api: SplitAPI
    auth: SplitAuth
    events: SplitEventStream | None  # None when streaming is disabled
    stream_client: httpx.AsyncClient | None

    async def aclose(self) -> None:
        await self.api.close()
        if self.stream_client is not None:
            await self.stream_client.aclose()


async def connect(
    sdk_key: str, config: Config, url_overrides: dict[str, str | None],
    observer: HttpObserver | None = None,
) -> SplitEdges:
    """The clients for ``config`` (one connection pool for every actor); ``observer`` is told
    about every request (telemetry)."""
    urls = resolve_urls(url_overrides)
    tls = needs_tls(urls, config.proxy_url)
    env_proxy = config.proxy_from_environment

    def build() -> tuple[httpx.AsyncClient, httpx.AsyncClient | None]:
        metadata = sdk_metadata(
            config.ip_addresses_enabled, config.machine_ip, config.machine_name
        )
        rest = build_client(sdk_key, metadata, config.connection_timeout_ms,
                            config.proxy_url, tls=tls, kerberos=config.kerberos,
                            env_proxy=env_proxy)
        stream = build_stream_client(
            sdk_key, metadata, config.proxy_url, tls, config.kerberos, env_proxy,
        ) if config.streaming_enabled else None
        return rest, stream

    if config.proxy_url is None and env_proxy:
        proxies = environment_proxies(urls)
        if proxies:  # followed like requests (the official sync SDK) does: said once
            _LOGGER.info("Using the proxy from the environment for %s (proxyUrl is not "
                         "set; proxyFromEnvironment: False ignores it)",
                         ", ".join(f"{k}: {v}" for k, v in proxies.items()))

    if tls or config.kerberos or (config.ip_addresses_enabled and not (
            config.machine_ip and config.machine_name)):
        rest, stream = await to_worker_thread(build)  # disk, DNS
    else:  # nothing to read from disk or resolve: no reason to hop to a thread
        rest, stream = build()
    api = SplitAPI(rest, urls, observer=observer, limits=config.limits)
    events = SplitEventStream(stream, urls["streaming"], config.streaming_keepalive,
                              config.limits) if stream is not None else None
    return SplitEdges(api, SplitAuth(api), events, stream)
