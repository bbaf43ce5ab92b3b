"""The shared conformance set: every treatment, config and label the official SDK gives.

Runs the cases in-process through the async API on both backends and through the shim, and once
through the shared set's own runner and comparer (the acceptance check of the project).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from splitio_async import Key, open_factory
from splitio_sync_shim import get_factory
from tests.conftest import CONFORMANCE

pytestmark = pytest.mark.skipif(
    not (CONFORMANCE / "cases.jsonl").exists(), reason="shared conformance set not present"
)

Result = dict[str, Any]


def _load(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (CONFORMANCE / name).read_text().splitlines() if line]


class Recorder:
    """Impression listener collecting (flag, label) pairs of the current call."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str | None]] = []

    def log_impression(self, data: dict[str, Any]) -> None:
        impression = data["impression"]
        self.items.append((impression.feature_name, impression.label))

    def take(self) -> dict[str, str | None]:
        labels: dict[str, str | None] = {}
        for flag, label in self.items:
            labels.setdefault(flag, label)
        self.items = []
        return labels


def _arguments(case: dict[str, Any]) -> tuple[str, Any, Any, Any]:
    key: Any = case.get("mk")
    if case.get("key_obj") or case.get("bk") is not None:
        key = Key(case.get("mk"), case.get("bk"))
    flag = case["flags"] if case["method"] == "get_treatments_with_config" else case.get("flag")
    return case["method"], key, flag, case.get("attrs")


def _shape(case: dict[str, Any], raw: Any, labels: dict[str, str | None]) -> Result:
    if case["method"] == "get_treatments_with_config":
        return {"results": {
            name: {"treatment": t, "config": c, "label": labels.get(name)}
            for name, (t, c) in raw.items()
        }}
    flag = case.get("flag")
    label = labels.get(flag.strip()) if isinstance(flag, str) else None
    if case["method"] == "get_treatment":
        return {"result": {"treatment": raw, "label": label}}
    return {"result": {"treatment": raw[0], "config": raw[1], "label": label}}


def _matches(actual: Result, expected: dict[str, Any]) -> bool:
    wanted = {k: v for k, v in expected.items() if k in ("result", "results")}
    alternative = expected.get("alt")
    return actual == wanted or (alternative is not None and actual == alternative)


def _config(recorder: Recorder) -> dict[str, Any]:
    return {
        "splitFile": str(CONFORMANCE / "splits.json"),
        "segmentDirectory": str(CONFORMANCE / "segments"),
        "impressionListener": recorder,
        "impressionsMode": "DEBUG",
    }


def _check(run: Callable[[dict[str, Any]], Result]) -> None:
    expected = {row["id"]: row for row in _load("expected.jsonl") if "id" in row}
    mismatches = []
    for case in _load("cases.jsonl"):
        actual = run(case)
        if not _matches(actual, expected[case["id"]]):
            mismatches.append((case["id"], actual, expected[case["id"]]))
    assert not mismatches, f"{len(mismatches)} mismatches, first: {mismatches[:3]}"


@pytest.mark.anyio
async def test_async_api_matches_the_official_sdk() -> None:
    recorder = Recorder()
    async with open_factory("localhost", config=_config(recorder)) as factory:
        client = factory.client()
        results: dict[str, Result] = {}
        for case in _load("cases.jsonl"):
            method, key, flag, attrs = _arguments(case)
            raw = await getattr(client, method)(key, flag, attrs)
            results[case["id"]] = _shape(case, raw, recorder.take())
    _check(lambda case: results[case["id"]])


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_sync_shim_matches_the_official_sdk(backend: str) -> None:
    recorder = Recorder()
    factory = get_factory("localhost", config=_config(recorder), async_backend=backend)
    assert factory is not None
    factory.block_until_ready(10)
    client = factory.client()

    def run(case: dict[str, Any]) -> Result:
        method, key, flag, attrs = _arguments(case)
        return _shape(case, getattr(client, method)(key, flag, attrs), recorder.take())

    try:
        _check(run)
    finally:
        factory.destroy()


@pytest.mark.parametrize("api", ["sync", "async"])
def test_shared_runner_reports_full_conformance(api: str, tmp_path: Path) -> None:
    """The acceptance command of the issue, as a user would run it."""
    out = tmp_path / "results.jsonl"
    subprocess.run(
        [sys.executable, str(CONFORMANCE / "run_candidate.py"), "--set", str(CONFORMANCE),
         "--python", sys.executable, "--api", api, "--out", str(out)],
        check=True, capture_output=True, timeout=120,
    )
    compared = subprocess.run(
        [sys.executable, str(CONFORMANCE / "compare.py"), str(CONFORMANCE / "expected.jsonl"),
         str(out)], capture_output=True, text=True, timeout=60, check=False,
    )
    assert compared.stdout.strip().splitlines()[-1].endswith("(100%)"), compared.stdout[-2000:]
    assert compared.returncode == 0
