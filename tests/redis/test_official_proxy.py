"""Behind a Split Proxy that predates rule-based segments, side by side with the official SDK
(``splitio_client`` 10.7.0, run by ``official_worker.py``): both SDKs sync the conformance
definitions from the fake server in proxy mode (400 to ``s=1.3``, the old shape to ``s=1.1``).
They must ask the same first requests (1.3, then 1.1 from scratch without ``rbSince``) and then
give the same answer to every conformance case and flag-set call, and the same manager views.
With no rule-based segments on spec 1.1, every flag reading one fails in both (control; see
test_official_compat.py for how the official blocking client reports that). One more official
quirk shows here, allowed narrowly: the blocking client's guard around the multi-flag methods
answers control keyed by the names exactly as passed (``None``, empty, with spaces) when an
evaluation fails; ours keys control by the validated names, as for any other call.

Skips when the official SDK cannot be installed (offline), unless ``SPLITIO_REQUIRE_REDIS`` is
set (tests/redis/conftest.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from splitio_sync_shim import get_factory
from tests.fakes.split_server import FakeSplitServer
from tests.redis.official_worker import run_manager
from tests.redis.test_official_compat import (
    Call,
    Written,
    _assert_same_results,
    _evaluation_calls,
    call_all,
)
from tests.redis.test_official_manager import (
    CALLS,
    MEMORY_CONFIG,
    SDK_KEY,
    assert_same,
    load_server,
    official_python,  # noqa: F401 - the fixture
    run_official_job,
)

EVALUATIONS = _evaluation_calls()
FIRST_REQUESTS = ["s=1.3&since=-1&rbSince=-1", "s=1.1&since=-1"]


def _written(results: list[Any]) -> Written:
    return Written(json.loads(json.dumps(results)), [], [], {}, [], {}, {}, {})


def _guard_kept_raw_names(call: Call, mine: Any, theirs: Any) -> bool:
    if call["method"] not in ("get_treatments", "get_treatments_with_config"):
        return False
    control: Any = ["control", None] if "with_config" in call["method"] else "control"
    names = call["args"][0] if isinstance(call["args"][0], list) else []
    raw = {("null" if n is None else str(n)): control for n in names}  # JSON object keys
    valid = {n.strip() for n in names if isinstance(n, str) and n.strip()}
    return bool(valid) and theirs == raw and mine == dict.fromkeys(valid, control)


def run_ours(urls: dict[str, str], backend: str) -> tuple[list[Any], Any]:
    factory = get_factory(SDK_KEY, config=MEMORY_CONFIG, async_backend=backend, **urls)
    assert factory is not None
    try:
        factory.block_until_ready(10)
        return call_all(factory.client(), EVALUATIONS), run_manager(factory.manager(), CALLS)
    finally:
        factory.destroy()


def first_requests(server: FakeSplitServer) -> list[str]:
    return [r.query_string for r in server.requests_to("/api/splitChanges")[:2]]


def test_behind_an_old_split_proxy(
    official_python: Path, server: FakeSplitServer, tmp_path: Path  # noqa: F811
) -> None:
    urls = load_server(server)
    server.proxy_mode()
    official = run_official_job(official_python, tmp_path, "proxy", {
        "sdk_key": SDK_KEY, "config": MEMORY_CONFIG, "urls": urls,
        "calls": EVALUATIONS, "manager": CALLS,
    })
    assert first_requests(server) == FIRST_REQUESTS
    theirs = _written(official["results"])
    assert theirs.results.count("control") > 0  # flags reading rule-based segments
    for backend in ("asyncio", "trio"):
        server.clear_requests()
        results, manager = run_ours(urls, backend)
        assert first_requests(server) == FIRST_REQUESTS
        mine = _written(results)
        for index, call in enumerate(EVALUATIONS):
            if _guard_kept_raw_names(call, mine.results[index], theirs.results[index]):
                mine.results[index] = theirs.results[index]
        _assert_same_results(mine, theirs, EVALUATIONS)
        assert_same(manager, (official["manager"], official["manager_logs"]), CALLS)
