"""``python -m splitio_async``: evaluate, explain and dump, in-process (``cli.main``) on
localhost files and against the fake Split server, plus one real subprocess for ``--help``;
and ``engine/explain.py`` against ``get_treatment`` on the shared conformance flags."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from splitio_async import Key, cli, open_factory
from splitio_async.engine.evaluator import Evaluator
from splitio_async.engine.explain import explain
from splitio_async.lowlevel import internals
from tests.conftest import CONFORMANCE, REPO
from tests.fakes.split_server import FakeSplitServer
from tests.helpers import rollout_flag, write_segment, write_split_changes


def segment_flag(name: str, segment: str) -> dict[str, Any]:
    """Members of ``segment`` get "on" (a WHITELIST condition), everybody else the 50/50."""
    flag = rollout_flag(name)
    flag["conditions"].insert(0, {
        "conditionType": "WHITELIST",
        "matcherGroup": {"combiner": "AND", "matchers": [{
            "keySelector": {"trafficType": "user", "attribute": None},
            "matcherType": "IN_SEGMENT", "negate": False,
            "userDefinedSegmentMatcherData": {"segmentName": segment},
        }]},
        "partitions": [{"treatment": "on", "size": 100}],
        "label": "in segment beta",
    })
    return flag


@pytest.fixture
def files(tmp_path: Path) -> list[str]:
    write_split_changes(tmp_path / "flags.json", [
        rollout_flag("half"),
        rollout_flag("all_on", treatments=(("on", 100),),
                     configurations={"on": '{"color": "red"}'}, sets=["front"]),
        rollout_flag("small", trafficAllocation=10),
        rollout_flag("dead", killed=True, defaultTreatment="dead_default"),
        segment_flag("beta_only", "beta"),
    ], till=42)
    segments = tmp_path / "segments"
    segments.mkdir()
    write_segment(segments, "beta", ["alice", "bob"], till=7)
    return ["--file", str(tmp_path / "flags.json"), "--segments", str(segments)]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_evaluate_text_and_json(files: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "evaluate", "all_on", "--key", "k", *files)
    assert code == 0
    assert out == 'treatment: on\nconfig: {"color": "red"}\nlabel: default rule\n'
    code, out, _ = run(capsys, "evaluate", "beta_only", "--key", "alice", "--json", *files)
    assert code == 0
    assert json.loads(out) == {"flag": "beta_only", "key": "alice", "bucketing_key": None,
                               "treatment": "on", "config": None, "label": "in segment beta",
                               "change_number": 10}


def test_evaluate_matches_the_evaluator(files: list[str],
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """The 50/50 flag splits keys as the SDK does (bucketing key honoured)."""
    seen = set()
    for i in range(20):
        code, out, _ = run(capsys, "evaluate", "half", "--key", "x", "--bucketing-key", f"b{i}",
                           "--json", *files)
        assert code == 0
        seen.add(json.loads(out)["treatment"])
    assert seen == {"on", "off"}


def test_explain(files: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "explain", "beta_only", "--key", "carol", "--json", *files)
    assert code == 0
    data = json.loads(out)
    assert data["treatment"] in ("on", "off") and data["label"] == "default rule"
    first, second = data["conditions"]
    assert (first["index"], first["matched"], first["condition_type"]) == (0, False, "WHITELIST")
    assert first["matchers"][0]["result"] is False
    assert "InSegment" in first["matchers"][0]["matcher"]
    assert (second["index"], second["matched"]) == (1, True)
    assert 1 <= second["bucket"] <= 100
    assert second["partition"] == data["treatment"]
    assert second["partition"] == ("on" if second["bucket"] <= 50 else "off")
    assert data["matched_condition"] == 1

    code, out, _ = run(capsys, "explain", "small", "--key", "carol", *files)
    assert code == 0
    assert "traffic allocation 10%: bucket" in out

    code, out, _ = run(capsys, "explain", "dead", "--key", "carol", *files)
    assert code == 0
    assert "killed: yes" in out and "dead_default" in out


def test_dump(files: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "dump", "--json", *files)
    assert code == 0
    data = json.loads(out)
    assert data["change_numbers"]["flags"] == 42
    flags = {flag["name"]: flag for flag in data["flags"]}
    assert set(flags) == {"half", "all_on", "small", "dead", "beta_only"}
    assert flags["dead"]["killed"] is True
    assert flags["all_on"]["sets"] == ["front"] and flags["half"]["treatments"] == ["on", "off"]
    assert data["segments"] == [{"name": "beta", "members": 2, "change_number": 7}]
    code, out, _ = run(capsys, "dump", *files)
    assert code == 0
    assert "beta: 2 members, change number 7" in out and "dead: KILLED" in out


def test_attributes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flag = rollout_flag("by_age", treatments=(("on", 100),))
    flag["conditions"][0]["matcherGroup"]["matchers"] = [{
        "keySelector": {"trafficType": "user", "attribute": "age"},
        "matcherType": "GREATER_THAN_OR_EQUAL_TO", "negate": False,
        "unaryNumericMatcherData": {"dataType": "NUMBER", "value": 18},
    }]
    path = write_split_changes(tmp_path / "f.json", [flag])
    base = ["evaluate", "by_age", "--key", "k", "--json", "--file", str(path)]
    assert json.loads(run(capsys, *base, "--attr", "age=30")[1])["treatment"] == "on"
    assert json.loads(run(capsys, *base, "--attributes", '{"age": 3}')[1])["treatment"] == "off"
    assert json.loads(run(capsys, *base)[1])["label"] == "default rule"


@pytest.mark.parametrize(("argv", "code", "message"), [
    (["evaluate", "nope", "--key", "k"], 2, "unknown flag 'nope'"),
    (["explain", "nope", "--key", "k"], 2, "unknown flag 'nope'"),
    (["evaluate", "half", "--key", "k", "--attr", "novalue"], 2, "malformed --attr 'novalue'"),
    (["evaluate", "half", "--key", "k", "--attributes", "[1]"], 2, "must be a JSON object"),
    (["evaluate", "half", "--key", "k", "--attributes", "{"], 2, "not valid JSON"),
    (["evaluate", "half", "--key", " "], 2, "--key must not be empty"),
])
def test_usage_errors(files: list[str], capsys: pytest.CaptureFixture[str], argv: list[str],
                      code: int, message: str) -> None:
    result, out, err = run(capsys, *argv, *files)
    assert result == code
    assert message in err and "Traceback" not in err and out == ""


def test_argparse_errors_return_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "evaluate", "f", "--key", "k")[0] == 2  # no source
    assert run(capsys, "evaluate", "f", "--file", "x", "--sdk-key", "k", "--key", "k")[0] == 2
    assert run(capsys, "bogus")[0] == 2


def test_unreadable_and_malformed_files(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    missing = str(tmp_path / "missing.json")
    code, _, err = run(capsys, "dump", "--file", missing)
    assert code == 1
    assert err.startswith(f"error: localhost file {missing!r}") and "Traceback" not in err
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    code, _, err = run(capsys, "evaluate", "f", "--key", "k", "--file", str(bad))
    assert code == 1 and "localhost file" in err and "Traceback" not in err


def test_unreachable_server_times_out(capsys: pytest.CaptureFixture[str]) -> None:
    url = "http://127.0.0.1:9/api"  # discard port: nothing listens
    code, _, err = run(capsys, "evaluate", "f", "--key", "k", "--sdk-key", "sdk",
                       "--sdk-url", url, "--events-url", url, "--telemetry-url", url,
                       "--auth-url", url, "--timeout", "0.5")
    assert code == 1
    assert "error: timed out after 0.5 s" in err and "Traceback" not in err


def test_against_the_fake_server(server: FakeSplitServer,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    server.set_flags([rollout_flag("remote", treatments=(("on", 100),)),
                      rollout_flag("other", killed=True)])
    urls = ["--sdk-key", "sdk-key", "--sdk-url", server.sdk_url, "--events-url",
            server.events_url, "--telemetry-url", server.telemetry_url, "--auth-url",
            server.auth_url, "--timeout", "5"]
    code, out, err = run(capsys, "evaluate", "remote", "--key", "k", "--json", *urls)
    assert code == 0, err
    assert json.loads(out)["treatment"] == "on"
    code, out, err = run(capsys, "dump", "--json", *urls)
    assert code == 0, err
    data = json.loads(out)
    assert {f["name"]: f["killed"] for f in data["flags"]} == {"remote": False, "other": True}
    assert data["change_numbers"]["flags"] == server.flags_change_number


def test_help_in_a_subprocess() -> None:
    done = subprocess.run([sys.executable, "-m", "splitio_async", "--help"], cwd=REPO,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    for word in ("evaluate", "explain", "dump", "--redis", "--sdk-key"):
        assert word in done.stdout


# ---------------------------------------------------------------------------- explain vs SDK


def _cases(limit: int) -> list[dict[str, Any]]:
    picked = []
    for line in (CONFORMANCE / "cases.jsonl").read_text().splitlines():
        case = json.loads(line)
        mk, bk, flag = case.get("mk"), case.get("bk"), case.get("flag")
        attrs = case.get("attrs")
        if case["method"] not in ("get_treatment", "get_treatment_with_config"):
            continue
        if not (isinstance(mk, str) and mk.strip() and len(mk) <= 250):
            continue
        if bk is not None and not (isinstance(bk, str) and bk.strip() and len(bk) <= 250):
            continue
        if not isinstance(flag, str) or flag != flag.strip() or not flag:
            continue
        if attrs is not None and not isinstance(attrs, dict):
            continue
        picked.append(case)
        if len(picked) == limit:
            break
    return picked


class Labels:
    def __init__(self) -> None:
        self.last: str | None = None

    def log_impression(self, data: dict[str, Any]) -> None:
        self.last = data["impression"].label


@pytest.mark.skipif(not (CONFORMANCE / "cases.jsonl").exists(),
                    reason="shared conformance set not present")
@pytest.mark.anyio
async def test_explain_agrees_with_get_treatment() -> None:
    cases = _cases(400)
    assert len(cases) >= 300
    labels = Labels()
    config = {"splitFile": str(CONFORMANCE / "splits.json"),
              "segmentDirectory": str(CONFORMANCE / "segments"), "impressionListener": labels}
    async with open_factory("localhost", config) as factory:
        await factory.block_until_ready(5)
        client = factory.client()
        snapshot = internals(factory).state.snapshot
        evaluator = Evaluator()
        for case in cases:
            key = Key(case["mk"], case["bk"]) if case.get("bk") is not None else case["mk"]
            labels.last = None
            treatment, config_ = await client.get_treatment_with_config(
                key, case["flag"], case.get("attrs")
            )
            explanation = explain(evaluator, snapshot, case["flag"], case["mk"], case.get("bk"),
                                  case.get("attrs"))
            assert (explanation.treatment, explanation.config) == (treatment, config_), case
            if labels.last is not None:
                assert explanation.label == labels.last, case
            if explanation.matched_condition is not None:
                matched = explanation.conditions[-1]
                assert matched.matched and matched.label == explanation.label
