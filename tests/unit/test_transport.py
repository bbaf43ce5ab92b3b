"""The Split API client against respx mocks: exact URLs and headers, and every failure turned into
one error type the syncers understand (spec: api.md §2-§4)."""

from __future__ import annotations

import httpx
import pytest
import respx

from splitio_async.transport.errors import APIError, AuthError, URITooLongError
from splitio_async.transport.http import SplitAPI, build_client, needs_tls, resolve_urls
from splitio_async.transport.metadata import SdkMetadata, sdk_metadata

pytestmark = pytest.mark.anyio

URLS = resolve_urls({"sdk": "http://split.test/api/"})
META = SdkMetadata("python-0.1.0", "10.0.0.1", "ip-10-0-0-1")
SPLIT_CHANGES = {"ff": {"d": [], "s": 5, "t": 5}, "rbs": {"d": [], "s": 2, "t": 2}}


def _api() -> SplitAPI:
    return SplitAPI(build_client("SDK-KEY-1234", META, 1500, tls=False), URLS)


@respx.mock
async def test_split_changes_query_order_and_headers() -> None:
    """Query in the official order (the CDN caches on it) and the official headers."""
    route = respx.get("http://split.test/api/splitChanges").mock(
        return_value=httpx.Response(200, json=SPLIT_CHANGES)
    )
    api = _api()
    body = await api.split_changes(5, 2, "a,b", 7)
    await api.close()
    assert body == SPLIT_CHANGES
    request = route.calls.last.request
    assert request.url.query == b"s=1.3&since=5&rbSince=2&sets=a,b&till=7"
    assert request.headers["Authorization"] == "Bearer SDK-KEY-1234"
    assert request.headers["SplitSDKVersion"] == "python-0.1.0"
    assert request.headers["SplitSDKMachineIP"] == "10.0.0.1"
    assert request.headers["SplitSDKMachineName"] == "ip-10-0-0-1"
    assert request.headers["Cache-Control"] == "no-cache"
    assert "gzip" in request.headers["Accept-Encoding"]


@respx.mock
async def test_missing_rbs_section_defaults() -> None:
    respx.get("http://split.test/api/splitChanges").mock(
        return_value=httpx.Response(200, json={"ff": {"d": [], "s": 1, "t": 1}})
    )
    api = _api()
    assert (await api.split_changes(1, -1))["rbs"] == {"d": [], "s": -1, "t": -1}
    await api.close()


@respx.mock
async def test_segment_changes_url() -> None:
    route = respx.get("http://split.test/api/segmentChanges/beta%20users").mock(
        return_value=httpx.Response(
            200, json={"name": "beta users", "added": ["a"], "removed": [], "since": -1, "till": 3}
        )
    )
    api = _api()
    body = await api.segment_changes("beta users", -1)
    await api.close()
    assert body["added"] == ["a"]
    assert route.calls.last.request.url.query == b"since=-1"


@pytest.mark.parametrize(
    ("response", "error", "status"),
    [
        (httpx.Response(500), APIError, 500),
        (httpx.Response(401), AuthError, 401),
        (httpx.Response(403), AuthError, 403),
        (httpx.Response(414), URITooLongError, 414),
        (httpx.Response(200, content=b'{"ff": {"d": ['), APIError, 200),
        (httpx.Response(200, json=["not", "an", "object"]), APIError, 200),
    ],
)
@respx.mock
async def test_failures_become_api_errors(
    response: httpx.Response, error: type[APIError], status: int
) -> None:
    respx.get("http://split.test/api/splitChanges").mock(return_value=response)
    api = _api()
    with pytest.raises(error) as caught:
        await api.split_changes(-1, -1)
    await api.close()
    assert caught.value.status == status


@pytest.mark.parametrize(
    "exc",
    [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("cut")],
)
@respx.mock
async def test_network_errors_have_status_minus_one(exc: Exception) -> None:
    respx.get("http://split.test/api/segmentChanges/s").mock(side_effect=exc)
    api = _api()
    with pytest.raises(APIError) as caught:
        await api.segment_changes("s", -1)
    await api.close()
    assert caught.value.status == -1


def test_ip_addresses_disabled_omits_machine_headers() -> None:
    metadata = sdk_metadata(False, "1.2.3.4", "host")
    assert metadata.machine_ip == "NA"
    assert set(metadata.headers()) == {"SplitSDKVersion"}


def test_configured_machine_ip_names_the_machine() -> None:
    metadata = sdk_metadata(True, "10.1.2.3", None)
    assert metadata.machine_name == "ip-10-1-2-3"


def test_tls_only_when_some_url_uses_it() -> None:
    assert needs_tls(resolve_urls({}), None)
    local = {k: "http://127.0.0.1:1/api" for k in ("sdk", "events", "auth", "telemetry",
                                                    "streaming")}
    assert not needs_tls(resolve_urls(local), None)
    assert needs_tls(resolve_urls(local), "https://proxy:8443")
