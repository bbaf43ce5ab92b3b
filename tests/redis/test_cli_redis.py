"""``python -m splitio_async`` with ``--redis``: evaluate, explain and dump from a cache written
as the Split Synchronizer writes it, on a real redis-server."""

from __future__ import annotations

import json

import pytest

from splitio_async import cli
from tests.helpers import rollout_flag, segment_flag
from tests.redis_cache import write_cache
from tests.redis_servers import RedisServer


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def url(redis_server: RedisServer) -> str:
    with redis_server.client(decode_responses=True) as client:
        flags = [rollout_flag("plain", (("on", 100),)), segment_flag("beta", "testers")]
        write_cache(client, flags, {"testers": ["alice"]}, prefix="app", till=42)
    return f"redis://{redis_server.host}:{redis_server.port}/0"


def test_evaluate_explain_and_dump_from_redis(
    capsys: pytest.CaptureFixture[str], url: str
) -> None:
    source = ("--redis", url, "--redis-prefix", "app")
    code, out, err = run(capsys, "evaluate", "beta", "--key", "alice", "--json", *source)
    assert code == 0, err
    assert json.loads(out)["treatment"] == "in"
    code, out, _ = run(capsys, "evaluate", "beta", "--key", "bob", *source)
    assert code == 0 and "treatment: off" in out
    code, out, _ = run(capsys, "explain", "beta", "--key", "alice", *source)
    assert code == 0 and "in segment testers" in out
    code, out, _ = run(capsys, "dump", "--json", *source)
    data = json.loads(out)
    assert [f["name"] for f in data["flags"]] == ["beta", "plain"]
    assert data["segments"] == [{"name": "testers", "members": 1, "change_number": 42}]
    assert data["change_numbers"]["flags"] == 42


def test_redis_source_errors(capsys: pytest.CaptureFixture[str], url: str) -> None:
    code, _, err = run(capsys, "evaluate", "beta", "--key", "k", "--redis", url)  # no prefix
    assert code == cli.USAGE_ERROR and "unknown flag 'beta'" in err
    code, _, err = run(capsys, "dump", "--redis", "redis://127.0.0.1:1/0", "--timeout", "2")
    assert code == cli.SOURCE_ERROR and "cannot read Redis" in err
    code, _, err = run(capsys, "dump", "--redis", "nonsense://x")
    assert code == cli.USAGE_ERROR and "--redis" in err
    code, _, err = run(capsys, "dump", "--file", "x.yaml", "--redis-prefix", "app")
    assert code == cli.USAGE_ERROR and "--redis-prefix only goes with --redis" in err
