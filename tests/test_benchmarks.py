"""The benchmarks' own instruments work: the backend serves stored bytes and versioned changes
and timestamps its SSE writes, and a propagation run on our asyncio API produces a well-formed
report (no official SDK needed: its venv is built only when a benchmark compares with it)."""

from __future__ import annotations

import gzip
import http.client
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

BENCHMARKS = REPO / "benchmarks"


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The benchmark backend module (benchmarks/ is a folder of scripts, not a package)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import _bench_server  # noqa: PLC0415

    yield _bench_server


def _get(port: int, path: str, gzip_ok: bool) -> tuple[bytes, str | None]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path, headers={"Accept-Encoding": "gzip"} if gzip_ok else {})
        response = connection.getresponse()
        return response.read(), response.getheader("Content-Encoding")
    finally:
        connection.close()


def test_backend_serves_stored_bytes_and_versioned_changes(bench: Any) -> None:
    flag = {"name": "f1", "status": "ACTIVE", "changeNumber": 5}
    server = bench.FakeSplitServer([flag], {"seg": ["a", "b"]}, change_number=5)
    server.start()
    try:
        port = int(server.base_url.rsplit(":", 1)[1])
        stored = server.prepare()
        assert stored["raw_mib"] > 0 and stored["gzip_mib"] > 0
        plain, encoding = _get(port, "/api/splitChanges?s=1.3&since=-1&rbSince=-1", False)
        zipped, zipped_encoding = _get(port, "/api/splitChanges?s=1.3&since=-1&rbSince=-1", True)
        assert encoding is None and zipped_encoding == "gzip"
        assert gzip.decompress(zipped) == plain
        assert json.loads(plain)["ff"] == {"d": [flag], "s": -1, "t": 5}
        assert server.gzipped == 1
        cn = server.upsert_flag({**flag, "killed": True})
        delta = json.loads(_get(port, "/api/splitChanges?since=5&rbSince=-1", False)[0])
        assert delta["ff"]["t"] == cn and [f["killed"] for f in delta["ff"]["d"]] == [True]
        cn = server.update_segment("seg", added=["c"], removed=["a"])
        seg = json.loads(_get(port, "/api/segmentChanges/seg?since=5", False)[0])
        assert (seg["added"], seg["removed"], seg["till"]) == (["c"], ["a"], cn)
        server.reset()
        again = json.loads(_get(port, "/api/splitChanges?since=5&rbSince=-1", False)[0])
        assert again["ff"] == {"d": [], "s": 5, "t": 5}
    finally:
        server.stop()


def test_backend_stream_timestamps_what_it_writes(bench: Any) -> None:
    server = bench.FakeSplitServer([], {}, streaming=True)
    server.start()
    connection = http.client.HTTPConnection("127.0.0.1", int(server.base_url.rsplit(":", 1)[1]),
                                            timeout=5)
    try:
        connection.request("GET", "/event-stream?v=1.1")
        response = connection.getresponse()
        server.wait_for_streams(1, 5)
        message_id = server.reserve_id()
        server.push_segment_update("seg", 7, message_id=message_id)
        written = server.wait_written(message_id, 5)
        received = b""
        while f"id:{message_id}".encode() not in received:
            received += response.fp.readline()  # chunked framing lines and SSE lines alike
        assert b"[meta]occupancy" in received  # sent when the stream opened
        assert written > 0
    finally:
        connection.close()
        server.stop()


def test_propagation_quick_run_reports(tmp_path: Path) -> None:
    out = tmp_path / "propagation.json"
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_propagation.py"), "--only", "ours-asyncio",
         "--kinds", "payload", "segment", "--pushes", "1", "--warmup", "0", "--json", str(out)],
        capture_output=True, text=True, timeout=120, check=False, cwd=REPO,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    kinds = json.loads(out.read_text())["results"]["ours-asyncio"]["kinds"]
    payload, segment = kinds["payload"], kinds["segment"]
    assert payload["lost"] == segment["lost"] == 0
    assert payload["fetches"] == 0 and segment["fetches"] >= 1  # instant vs fetched
    for kind in (payload, segment):
        assert 0 <= kind["recv_ms"] <= kind["median_ms"]
    assert "SEGMENT_UPDATE" in done.stdout and "ours asyncio" in done.stdout


def test_the_hook_cost_benchmark_runs() -> None:
    """bench_hooks.py's smoke run: every variant timed through both APIs."""
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_hooks.py"), "--quick", "--budget", "0.01"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    for row in ("shim/get_treatment", "asyncio/get_treatments(3)"):
        assert row in done.stdout
    assert "otel-spans" in done.stdout.splitlines()[0]
