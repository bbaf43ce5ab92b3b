"""``httpAuthenticateScheme`` (Kerberos) end to end, against a real MIT Kerberos KDC on loopback.

The module starts one realm (``tests/kerberos_servers.py``): user principals ``alice`` and
``bob`` (pre-authentication required, as in Active Directory) and the service ``HTTP/127.0.0.1``,
whose keytab the test proxy and the test gateway verify tokens with (replay cache on, so each
token is good once). Every test points ``KRB5_CONFIG`` / ``KRB5CCNAME`` / ... at the realm's
directory. The Split side is the fake Split server; for https targets a TLS front on loopback
(certificate trusted through ``SSL_CERT_FILE``).

Without the MIT tools or the ``kerberos`` extra the tests skip, unless ``SPLITIO_REQUIRE_KERBEROS``
is set (CI), then they fail.
"""

from __future__ import annotations

import functools
import gc
import logging
import os
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import anyio
import httpx
import pytest

from splitio_async import MissingDependencyError, SplitFactory, TimeoutException, get_factory_async
from splitio_async.config import KerberosSettings
from splitio_async.lowlevel import internals
from splitio_async.transport.kerberos import KerberosUnavailable, Negotiator, client_options
from splitio_sync_shim import get_factory
from tests.fakes.split_server import FakeSplitServer
from tests.helpers import rollout_flag, until
from tests.kerberos_servers import (
    KerberosRealm,
    KerberosToolsMissing,
    NegotiateServer,
    TlsFront,
    url_kwargs,
)
from tests.redis_servers import TlsUnavailable, tls_files

pytestmark = pytest.mark.anyio

ALICE, ALICE_PASSWORD = "alice", "alice-Secret-1"
BOB, BOB_PASSWORD = "bob", "bob-Secret-2"
SERVICE = "HTTP/127.0.0.1"
BASE: dict[str, Any] = {
    "featuresRefreshRate": 0.1,
    "segmentsRefreshRate": 0.1,
    "syncRetryBackoffBase": 0.02,
    "syncRetryBackoffMax": 0.1,
    "streamingReconnectBackoffBase": 0.05,
    "connectionTimeout": 3000,
    "impressionsMode": "DEBUG",
    "machineIp": "127.0.0.1",
    "machineName": "test",
}
# STOPPED: the tests of a refused principal run without streaming. A factory stopped for good
# before its first sync never starts its push supervisor, whose update stream then stays open
# until garbage collection (a ResourceWarning on trio); refused SDK keys do the same.
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
EVENTS, IMPRESSIONS = "/api/events/bulk", "/api/testImpressions/bulk"
CONFIG, USAGE = "/api/v1/metrics/config", "/api/v1/metrics/usage"


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("SPLITIO_REQUIRE_KERBEROS", "") not in ("", "0"):
        pytest.fail(f"{reason} (and SPLITIO_REQUIRE_KERBEROS is set)", pytrace=False)
    pytest.skip(reason)


@dataclass
class Realm:
    kdc: KerberosRealm
    keytab: Path


@pytest.fixture(scope="module")
def realm() -> Iterator[Realm]:
    for module in ("spnego", "gssapi", "krb5"):
        try:
            __import__(module)
        except ImportError as exc:
            _unavailable(f"the kerberos extra is not installed ({exc})")
    try:
        kdc = KerberosRealm()
    except KerberosToolsMissing as exc:
        _unavailable(str(exc))
    with kdc:
        kdc.add_user(ALICE, ALICE_PASSWORD)
        kdc.add_user(BOB, BOB_PASSWORD)
        yield Realm(kdc, kdc.add_service(SERVICE))


@pytest.fixture
def kerberos(realm: Realm, monkeypatch: pytest.MonkeyPatch) -> Iterator[Realm]:
    """The realm, with the environment pointing the Kerberos libraries at it (and no proxy
    variables from the machine)."""
    for name, value in realm.kdc.env.items():
        monkeypatch.setenv(name, value)
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    realm.kdc.kdestroy()
    yield realm
    realm.kdc.kdestroy()


@pytest.fixture
def proxy(realm: Realm, tmp_path: Path) -> Iterator[NegotiateServer]:
    with NegotiateServer(realm.keytab, tmp_path / "proxy.rcache") as server:
        yield server


@pytest.fixture
def front(server: FakeSplitServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[TlsFront]:
    """TLS in front of the fake server; the SDK trusts its CA through SSL_CERT_FILE."""
    try:
        files = tls_files()
    except TlsUnavailable as exc:
        _unavailable(str(exc))
    monkeypatch.setenv("SSL_CERT_FILE", files.ca_file)
    tls = TlsFront(server.port, files.cert_file, files.key_file)
    yield tls
    tls.stop()


def alice(scheme: str, **config: Any) -> dict[str, Any]:
    return {**BASE, "httpAuthenticateScheme": scheme, "kerberosPrincipalUser": ALICE,
            "kerberosPrincipalPassword": ALICE_PASSWORD, **config}


def move_kdc(config: Path, copy: Path, port: int, new_port: int) -> None:
    copy.write_text(config.read_text().replace(f":{port}", f":{new_port}"))


async def in_thread(call: Any, *args: Any) -> Any:
    return await anyio.to_thread.run_sync(functools.partial(call, *args))


async def started(config: dict[str, Any], urls: dict[str, str]) -> SplitFactory:
    factory = await get_factory_async("SDK-KEY-0001", config=config, **urls)
    assert factory is not None
    await factory.block_until_ready(5)
    return factory


async def stream_update(factory: SplitFactory, server: FakeSplitServer) -> None:
    """Streaming comes up and a pushed change reaches the client without a poll."""
    await in_thread(server.wait_for_streams, 1, 5.0)
    assert server.push_occupancy("control_pri", 2) >= 1
    await until(lambda: internals(factory).push is not None and internals(factory).push.streaming)
    flag = rollout_flag("f", (("pushed", 100),))
    server.push_split_update(server.upsert_flag(flag), flag, pcn=server.flags_change_number - 1)
    client = factory.client()
    with anyio.fail_after(5):
        while await client.get_treatment("k", "f") != "pushed":  # noqa: ASYNC110
            await anyio.sleep(0.005)


async def record_and_destroy(factory: SplitFactory, server: FakeSplitServer) -> None:
    client = factory.client()
    assert await client.get_treatment("k2", "f") in ("on", "pushed", "polled")
    assert await client.track("k2", "user", "clicked", 1.5)
    with anyio.fail_after(10):
        await factory.destroy()
    assert [e["eventTypeId"] for b in server.accepted(EVENTS) for e in b] == ["clicked"]
    assert server.accepted(IMPRESSIONS)
    assert server.accepted(CONFIG) and server.accepted(USAGE)


# ------------------------------------------------------------------------- KERBEROS_PROXY


async def test_proxy_tunnels_polling_streaming_and_posts_each_with_its_own_token(
    kerberos: Realm, server: FakeSplitServer, proxy: NegotiateServer, front: TlsFront,
) -> None:
    """https targets: every connection is a CONNECT tunnel whose request carries a new valid
    Negotiate token for alice; flags, segments, auth, SSE, impressions, events and telemetry all
    go through it. The password gets a private ticket: the credential cache is never written."""
    server.set_flags([rollout_flag("f", (("on", 100),))])
    factory = await started(alice("kerberos_proxy", proxyUrl=proxy.url),
                            url_kwargs(front.base_url))
    assert await factory.client().get_treatment("k", "f") == "on"
    await stream_update(factory, server)
    await record_and_destroy(factory, server)

    assert server.requests_to("/api/splitChanges") and server.requests_to("/api/v2/auth")
    targets = proxy.targets()
    assert targets and set(targets) == {f"CONNECT 127.0.0.1:{front.port}"}
    tokens = proxy.tokens()
    assert len(tokens) >= 2 and len(set(tokens)) == len(tokens)  # REST and SSE connections
    assert {a.principal for a in proxy.accepted} == {f"{ALICE}@SPLIT.TEST"}
    assert proxy.refused == [] and proxy.challenged == 0
    assert not kerberos.kdc.ccache.exists()


async def test_proxy_forwards_plain_http_requests_with_a_token_each(
    kerberos: Realm, server: FakeSplitServer, proxy: NegotiateServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """http targets, proxy from HTTP_PROXY: each request goes to the proxy with its own token;
    polling (streaming off) picks up a change."""
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    server.set_flags([rollout_flag("f", (("on", 100),))])
    factory = await started(alice("KERBEROS_PROXY", streamingEnabled=False), server.url_kwargs())
    client = factory.client()
    assert await client.get_treatment("k", "f") == "on"
    server.upsert_flag(rollout_flag("f", (("polled", 100),)))
    with anyio.fail_after(5):
        while await client.get_treatment("k", "f") != "polled":  # noqa: ASYNC110
            await anyio.sleep(0.005)
    await record_and_destroy(factory, server)

    tokens = proxy.tokens()
    assert len(tokens) == len(server.requests) and len(set(tokens)) == len(tokens)
    assert all(t.startswith("GET http://127.0.0.1") or t.startswith("POST http://127.0.0.1")
               for t in proxy.targets())
    assert proxy.refused == [] and proxy.challenged == 0


async def test_a_tunnel_cancelled_during_its_tls_handshake_is_closed(
    kerberos: Realm, proxy: NegotiateServer
) -> None:
    """A request cancelled while TLS is being set up inside the tunnel (a destroy during the SSE
    connect, say) closes the tunnel's socket at once: nothing is left to the garbage collector
    (whose ResourceWarning fails the test)."""
    settings = KerberosSettings("KERBEROS_PROXY", ALICE, ALICE_PASSWORD)
    options = await anyio.to_thread.run_sync(client_options, settings, proxy.url, True)
    with socket.create_server(("127.0.0.1", 0)) as silent:  # never accepts: TLS never answers
        port = silent.getsockname()[1]
        url = f"https://127.0.0.1:{port}/api/splitChanges"
        async with httpx.AsyncClient(**options) as client, anyio.create_task_group() as tg:
            tg.start_soon(client.get, url)
            await until(lambda: bool(proxy.targets()))
            tg.cancel_scope.cancel()
    gc.collect()
    assert proxy.targets() == [f"CONNECT 127.0.0.1:{port}"]


async def test_a_proxy_that_refuses_the_principal_stops_the_sdk_with_one_error(
    kerberos: Realm, server: FakeSplitServer, realm: Realm, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A valid ticket the proxy does not accept (407): one error naming the proxy and the
    principal, no ready."""
    server.set_flags([rollout_flag("f", (("on", 100),))])
    with NegotiateServer(realm.keytab, tmp_path / "rc", principals={f"{ALICE}@SPLIT.TEST"}) as only:
        config = {**BASE, "httpAuthenticateScheme": "kerberos_proxy", "proxyUrl": only.url,
                  "kerberosPrincipalUser": BOB, "kerberosPrincipalPassword": BOB_PASSWORD,
                  "streamingEnabled": False}  # see STOPPED
        factory = await get_factory_async("SDK-KEY-0001", config=config, **server.url_kwargs())
        assert factory is not None
        with pytest.raises(TimeoutException):
            await factory.block_until_ready(1)
        with anyio.fail_after(10):
            await factory.destroy()
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [
        "Kerberos: the proxy 127.0.0.1 refused the ticket of 'bob' (HTTP 407). Check "
        "kerberosPrincipalUser and kerberosPrincipalPassword; the SDK will not retry and stays "
        "not ready.",
        "Exception initializing SDK",  # block_until_ready timed out (official message)
    ]
    assert only.accepted == [] and only.refused
    assert not server.requests


# ------------------------------------------------------------------------- KERBEROS_SPNEGO


async def test_spnego_answers_the_challenge_then_sends_tokens_up_front(
    kerberos: Realm, server: FakeSplitServer, tmp_path: Path,
) -> None:
    """A gateway demanding ``Authorization: Negotiate`` in front of every Split endpoint: each
    client is challenged once, every request then carries a new token (mutual authentication
    checked on the way back), and polling, streaming and every post get through."""
    server.set_flags([rollout_flag("f", (("on", 100),))])
    with NegotiateServer(kerberos.keytab, tmp_path / "rc", upstream=server.base_url) as gateway:
        factory = await started(alice("kerberos_spnego"), url_kwargs(gateway.url))
        assert await factory.client().get_treatment("k", "f") == "on"
        await stream_update(factory, server)
        await record_and_destroy(factory, server)
    assert gateway.challenged == 2  # the REST client and the SSE client, once each
    tokens = gateway.tokens()
    assert len(tokens) == len(server.requests) and len(set(tokens)) == len(tokens)
    assert gateway.refused == []
    assert all("Authorization" not in r.headers for r in server.requests)  # the gateway ate it


async def test_spnego_with_the_credential_cache(
    kerberos: Realm, server: FakeSplitServer, tmp_path: Path,
) -> None:
    """No password: the ticket comes from the credential cache (``kinit``), for the named
    principal or, without one, the cache's default."""
    kerberos.kdc.kinit(ALICE, ALICE_PASSWORD)
    server.set_flags([rollout_flag("f", (("on", 100),))])
    with NegotiateServer(kerberos.keytab, tmp_path / "rc", upstream=server.base_url) as gateway:
        for user in (ALICE, None):
            config = {**BASE, "streamingEnabled": False,
                      "httpAuthenticateScheme": "Kerberos_Spnego", "kerberosPrincipalUser": user}
            factory = await started(config, url_kwargs(gateway.url))
            assert await factory.client().get_treatment("k", "f") == "on"
            with anyio.fail_after(10):
                await factory.destroy()
    assert {a.principal for a in gateway.accepted} == {f"{ALICE}@SPLIT.TEST"}


async def test_spnego_checks_the_servers_reply(
    kerberos: Realm, server: FakeSplitServer, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    """Mutual authentication: a gateway whose reply token does not verify is not trusted (its
    answers are not used; the SDK keeps retrying and says why)."""
    server.set_flags([rollout_flag("f", (("on", 100),))])
    with NegotiateServer(kerberos.keytab, tmp_path / "rc", upstream=server.base_url,
                         forge_replies=True) as gateway:
        factory = await get_factory_async(
            "SDK-KEY-0001", config=alice("kerberos_spnego", streamingEnabled=False),
            **url_kwargs(gateway.url),
        )
        assert factory is not None
        with pytest.raises(TimeoutException):
            await factory.block_until_ready(0.5)
        with anyio.fail_after(10):
            await factory.destroy()
    assert gateway.accepted  # the gateway took the tokens; the SDK refused its answers
    assert any("Kerberos: 127.0.0.1 failed mutual authentication" in r.getMessage()
               for r in caplog.records if r.levelno == logging.ERROR)


async def test_a_renewed_credential_cache_is_picked_up(kerberos: Realm) -> None:
    """Without a password, tickets come from the credential cache: once it is emptied tokens
    fail (retryable), and after a new ``kinit`` they work again, with the same negotiator."""
    kerberos.kdc.kinit(ALICE, ALICE_PASSWORD)
    negotiator = Negotiator(KerberosSettings("KERBEROS_PROXY", ALICE))
    first = await negotiator.start("127.0.0.1")
    kerberos.kdc.kdestroy()
    with pytest.raises(KerberosUnavailable, match="alice"):
        await negotiator.start("127.0.0.1")
    kerberos.kdc.kinit(ALICE, ALICE_PASSWORD)
    again = await negotiator.start("127.0.0.1")
    assert again.header.startswith("Negotiate ") and again.header != first.header


async def test_an_unreachable_kdc_is_retried_not_taken_for_a_refusal(
    kerberos: Realm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While the KDC cannot be reached, tokens fail as a network failure would (retryable); the
    same negotiator gets its ticket once the KDC answers."""
    real = Path(kerberos.kdc.env["KRB5_CONFIG"])
    closed = tmp_path / "krb5.conf"  # the same realm, its KDC on a port bound but not listening
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        move_kdc(real, closed, kerberos.kdc.port, port)
        monkeypatch.setenv("KRB5_CONFIG", str(closed))
        negotiator = Negotiator(KerberosSettings("KERBEROS_SPNEGO", ALICE, ALICE_PASSWORD))
        with pytest.raises(KerberosUnavailable, match="Cannot contact any KDC"):
            await negotiator.start("127.0.0.1")
    monkeypatch.setenv("KRB5_CONFIG", str(real))
    assert (await negotiator.start("127.0.0.1")).header.startswith("Negotiate ")


# ------------------------------------------------------------------------- failures


async def test_a_wrong_password_gives_one_error_one_failed_login_and_no_ready(
    kerberos: Realm, server: FakeSplitServer, proxy: NegotiateServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The KDC refuses the password: one clear error, never ready, and the password is not
    tried again (posts at shutdown included), so the account is not locked out."""
    server.set_flags([rollout_flag("f", (("on", 100),))])
    failed_before = kerberos.kdc.failed_logins(ALICE)
    config = alice("kerberos_proxy", proxyUrl=proxy.url, kerberosPrincipalPassword="wrong",
                   streamingEnabled=False, destroyTimeout=0.5)  # see STOPPED
    factory = await get_factory_async("SDK-KEY-0001", config=config, **server.url_kwargs())
    assert factory is not None
    with pytest.raises(TimeoutException):
        await factory.block_until_ready(1)
    assert await factory.client().get_treatment("k", "f") == "control"
    assert await factory.client().track("k", "user", "clicked")
    with anyio.fail_after(10):
        await factory.destroy()
    errors = [r.getMessage() for r in caplog.records
              if r.levelno >= logging.ERROR and "Kerberos" in r.getMessage()]
    assert errors == [
        "Kerberos: the KDC refused 'alice' (Preauthentication failed). Check "
        "kerberosPrincipalUser and kerberosPrincipalPassword; the SDK will not retry and stays "
        "not ready."
    ]
    # the recorders kept trying to post the event and the impression: none went to the KDC
    assert any("events: sending failed (Kerberos" in r.getMessage() for r in caplog.records)
    assert kerberos.kdc.failed_logins(ALICE) == failed_before + 1
    assert proxy.accepted == [] and not server.requests


async def test_without_the_extra_the_factory_says_what_to_install(
    server: FakeSplitServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for module in ("spnego", "gssapi", "krb5"):
        monkeypatch.setitem(sys.modules, module, None)  # import raises ImportError
    config = {**BASE, "httpAuthenticateScheme": "KERBEROS_SPNEGO"}
    with pytest.raises(NotImplementedError) as raised:  # official; MissingDependencyError
        await get_factory_async("SDK-KEY-0001", config=config, **server.url_kwargs())
    assert isinstance(raised.value, MissingDependencyError)
    assert str(raised.value).startswith(
        "httpAuthenticateScheme KERBEROS_SPNEGO needs Kerberos support (spnego), which is not "
        "installed"
    )
    assert str(raised.value).endswith("pip install 'splitio_async[kerberos]'")
    assert not server.requests


# ------------------------------------------------------------------------- blocking API


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_shim_through_the_kerberos_proxy(
    kerberos: Realm, server: FakeSplitServer, proxy: NegotiateServer, front: TlsFront,
    backend: str,
) -> None:
    server.set_flags([rollout_flag("f", (("on", 100),))])
    factory = get_factory("SDK-KEY-0001", config=alice("kerberos_proxy", proxyUrl=proxy.url),
                          async_backend=backend, **url_kwargs(front.base_url))
    assert factory is not None
    try:
        factory.block_until_ready(5)
        client = factory.client()
        assert client.get_treatment("k", "f") == "on"
        assert client.track("k", "user", "clicked")
    finally:
        factory.destroy()
    assert [e["eventTypeId"] for b in server.accepted(EVENTS) for e in b] == ["clicked"]
    assert server.accepted(IMPRESSIONS)
    tokens = proxy.tokens()
    assert tokens and len(set(tokens)) == len(tokens) and proxy.refused == []


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_shim_without_the_extra_says_what_to_install(
    server: FakeSplitServer, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    monkeypatch.setitem(sys.modules, "spnego", None)
    with pytest.raises(NotImplementedError, match=r"pip install 'splitio_async\[kerberos\]'"):
        get_factory("SDK-KEY-0001", config={**BASE, "httpAuthenticateScheme": "kerberos_proxy"},
                    async_backend=backend, **server.url_kwargs())
