"""The Split Proxy spec fallback's rules (spec api.md §3.4) with a fake clock, and the spec 1.1
request and answer on the wire (respx)."""

from __future__ import annotations

import logging

import httpx
import pytest
import respx

from splitio_async.runtime.spec_version import RECHECK_INTERVAL, SpecVersion
from splitio_async.transport.errors import APIError, URITooLongError
from splitio_async.transport.http import SplitAPI, build_client, resolve_urls
from splitio_async.transport.metadata import SdkMetadata


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_proxy_refusing_1_3_means_1_1_for_a_day(caplog: pytest.LogCaptureFixture) -> None:
    """400 to 1.3 switches to 1.1 (logged as the official SDK does); 1.3 is tried again once
    24 hours have passed, not a moment earlier."""
    clock = Clock()
    spec = SpecVersion(True, clock=clock)
    assert RECHECK_INTERVAL == 86_400
    assert spec.version == "1.3" and not spec.retry_latest()
    assert spec.refused(APIError("splitChanges: HTTP 400", 400))
    assert spec.version == "1.1" and spec.legacy
    assert (
        "Detected proxy response error, changing spec version from 1.3 to 1.1 and re-fetching."
        in caplog.text
    )
    assert not spec.refused(APIError("splitChanges: HTTP 400", 400))  # already on 1.1
    clock.now += RECHECK_INTERVAL - 0.001
    assert not spec.retry_latest() and spec.version == "1.1"
    clock.now += 0.001
    with caplog.at_level(logging.INFO, logger="splitio.api.splits"):
        assert spec.retry_latest()
    assert spec.version == "1.3" and not spec.legacy
    assert "Switching to new Feature flag spec (1.3) and fetching." in caplog.text
    assert not spec.retry_latest()  # once per switch


def test_a_refused_retry_waits_another_interval() -> None:
    clock = Clock()
    spec = SpecVersion(True, recheck_interval=10, clock=clock)
    assert spec.refused(APIError("HTTP 400", 400))
    clock.now += 10
    assert spec.retry_latest()
    assert spec.refused(APIError("HTTP 400", 400))  # still an old proxy
    clock.now += 9.9
    assert not spec.retry_latest()
    clock.now += 0.1
    assert spec.retry_latest()


@pytest.mark.parametrize(
    "error",
    [APIError("HTTP 500", 500), APIError("network", -1), APIError("HTTP 404", 404),
     URITooLongError("HTTP 414", 414)],
)
def test_only_a_400_means_an_old_proxy(error: APIError) -> None:
    spec = SpecVersion(True)
    assert not spec.refused(error)
    assert spec.version == "1.3"


def test_split_s_own_api_never_falls_back() -> None:
    spec = SpecVersion(False)
    assert not spec.refused(APIError("HTTP 400", 400))
    assert spec.version == "1.3"


META = SdkMetadata("python-0.1.0", "10.0.0.1", "ip-10-0-0-1")


def _api(sdk_url: str | None) -> SplitAPI:
    return SplitAPI(build_client("SDK-KEY-1234", META, 1500, tls=False),
                    resolve_urls({"sdk": sdk_url}))


def test_only_another_sdk_url_is_overridden() -> None:
    assert not _api(None).sdk_url_overridden
    assert not _api("https://sdk.split.io/api/").sdk_url_overridden  # same, trailing slash
    assert _api("http://split-proxy:3000/api").sdk_url_overridden


@pytest.mark.anyio
@respx.mock
async def test_spec_1_1_request_and_answer() -> None:
    """No ``rbSince`` in the query (official order otherwise); the old shape is converted to
    the 1.3 shape with an empty rule-based segment section."""
    route = respx.get("http://proxy.test/api/splitChanges").mock(
        return_value=httpx.Response(200, json={"splits": [{"name": "f"}], "since": 4, "till": 9})
    )
    api = _api("http://proxy.test/api")
    body = await api.split_changes(4, 7, "a,b", 12, spec="1.1")
    assert route.calls.last.request.url.query == b"s=1.1&since=4&sets=a,b&till=12"
    assert body == {"ff": {"d": [{"name": "f"}], "s": 4, "t": 9},
                    "rbs": {"d": [], "s": -1, "t": -1}}
    route.mock(return_value=httpx.Response(200, json={"ff": {"d": [], "s": 1, "t": 1}}))
    with pytest.raises(APIError, match="no 'splits' list"):
        await api.split_changes(4, 7, spec="1.1")
    await api.close()
