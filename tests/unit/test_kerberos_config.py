"""``httpAuthenticateScheme`` and the Kerberos keys: validation as splitio_client 10.7 does it, the
proxy routing of ``KERBEROS_PROXY``, the challenge parsing, and the extra staying optional."""

from __future__ import annotations

import logging
import subprocess
import sys
from typing import Any

import httpx
import pytest

from splitio_async.config import Config, KerberosSettings
from splitio_async.transport.kerberos import challenge
from splitio_async.transport.kerberos_proxy import NegotiateProxyTransport, proxy_transport
from tests.conftest import REPO

INVALID = (
    "You passed an invalid HttpAuthenticationScheme, HttpAuthenticationScheme should be one of "
    "the following values: `none`, `kerberos_proxy` or `kerberos_spnego`.  Defaulting to `none` "
    "mode."
)


@pytest.mark.parametrize(("value", "scheme"), [
    ("KERBEROS_SPNEGO", "KERBEROS_SPNEGO"), ("kerberos_proxy", "KERBEROS_PROXY"),
    ("Kerberos_Spnego", "KERBEROS_SPNEGO"),
])
def test_the_scheme_is_case_insensitive(value: str, scheme: str) -> None:
    config = Config.from_dict({"httpAuthenticateScheme": value, "kerberosPrincipalUser": "bob",
                               "kerberosPrincipalPassword": "pw"})
    assert config.kerberos == KerberosSettings(scheme, "bob", "pw")


@pytest.mark.parametrize("value", [None, "none", "NONE"])
def test_none_means_no_kerberos(value: Any, caplog: pytest.LogCaptureFixture) -> None:
    assert Config.from_dict({"httpAuthenticateScheme": value}).kerberos is None
    assert Config.from_dict({}).kerberos is None
    assert not caplog.records


@pytest.mark.parametrize("value", ["kerberos", "NTLM", 3, ["KERBEROS_PROXY"]])
def test_an_invalid_scheme_warns_and_falls_back_to_none(
    value: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="splitio")
    assert Config.from_dict({"httpAuthenticateScheme": value}).kerberos is None
    assert [r.getMessage() for r in caplog.records] == [INVALID]
    assert caplog.records[0].levelno == logging.WARNING


def test_principal_and_password_are_optional(caplog: pytest.LogCaptureFixture) -> None:
    scheme = {"httpAuthenticateScheme": "kerberos_proxy"}
    assert Config.from_dict(scheme).kerberos == KerberosSettings("KERBEROS_PROXY")
    assert Config.from_dict({**scheme, "kerberosPrincipalUser": "bob@EXAMPLE.COM"}).kerberos == (
        KerberosSettings("KERBEROS_PROXY", "bob@EXAMPLE.COM")
    )
    assert not caplog.records
    lone_password = Config.from_dict({**scheme, "kerberosPrincipalPassword": "pw"})
    assert lone_password.kerberos == KerberosSettings("KERBEROS_PROXY")
    assert "kerberosPrincipalPassword is ignored" in caplog.records[-1].getMessage()


def test_the_password_stays_out_of_reprs() -> None:
    config = Config.from_dict({"httpAuthenticateScheme": "kerberos_proxy",
                               "kerberosPrincipalUser": "bob",
                               "kerberosPrincipalPassword": "s3cr3t-value"})
    assert "s3cr3t-value" not in repr(config) and "bob" in repr(config)


def test_challenges_are_found_among_others() -> None:
    def response(*values: str) -> httpx.Response:
        return httpx.Response(401, headers=[("WWW-Authenticate", v) for v in values])

    assert challenge(response("Negotiate"), "WWW-Authenticate") == ""
    assert challenge(response('Basic realm="x", Negotiate YWJj+/=='), "WWW-Authenticate") == (
        "YWJj+/=="
    )
    assert challenge(response('Basic realm="x"', "negotiate abc="), "WWW-Authenticate") == "abc="
    assert challenge(response('Basic realm="Negotiate"'), "WWW-Authenticate") is None
    assert challenge(response("NegotiateX"), "WWW-Authenticate") is None


# ------------------------------------------------------------------------- proxy routing


def routes(transport: NegotiateProxyTransport, *urls: str) -> list[str | None]:
    found = [transport._proxy_for(httpx.URL(url)) for url in urls]
    return [str(proxy) if proxy is not None else None for proxy in found]


def test_proxy_url_is_used_for_every_target(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "*")  # ignored: proxyUrl is explicit
    transport = proxy_transport(object(), "proxy.corp:3128", tls=False)  # type: ignore[arg-type]
    assert isinstance(transport, NegotiateProxyTransport)
    assert routes(transport, "https://sdk.split.io/api", "http://split-proxy.corp/api") == [
        "http://proxy.corp:3128", "http://proxy.corp:3128",
    ]


def test_environment_proxies_and_no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy",
                 "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://tls-proxy.corp:8080")
    monkeypatch.setenv("NO_PROXY", "localhost, .internal.corp,split-proxy:3000")
    transport = proxy_transport(object(), None, tls=False)  # type: ignore[arg-type]
    assert isinstance(transport, NegotiateProxyTransport)
    assert routes(
        transport, "https://sdk.split.io/api", "http://sdk.split.io/api",
        "https://a.internal.corp/api", "https://split-proxy/api", "https://localhost:9/api",
    ) == ["http://tls-proxy.corp:8080", None, None, None, None]


def test_no_proxy_at_all_warns_and_goes_direct(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                 "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert proxy_transport(object(), None, tls=False) is None  # type: ignore[arg-type]
    assert "KERBEROS_PROXY but no proxy is set" in caplog.records[-1].getMessage()


# ------------------------------------------------------------------------- optional extra


def test_the_sdk_imports_and_runs_without_the_kerberos_libraries() -> None:
    """Nothing imports pyspnego, gssapi or krb5 unless Kerberos is configured: with the three
    made unimportable the SDK imports and serves (localhost mode, blocking API)."""
    code = (
        "import sys\n"
        "sys.modules.update(spnego=None, gssapi=None, krb5=None)\n"
        "import splitio_async, splitio_sync_shim\n"
        "from splitio_async.transport import http, kerberos, kerberos_proxy\n"
        "factory = splitio_sync_shim.get_factory('localhost', "
        "config={'splitFile': 'examples/flags.yaml'})\n"
        "factory.block_until_ready(5)\n"
        "print(factory.client().get_treatment('alice', 'new_checkout'))\n"
        "factory.destroy()\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=60,
                            capture_output=True, text=True)
    assert result.stdout.strip() == "on"
