"""Manager views side by side with the official SDK (issue 15), ``splitio_client`` 10.7.0 in its
own venv (benchmarks/.venv-official) run by ``official_worker.py``.

``split_names()``, ``splits()`` and ``split(name)`` for every conformance flag (archived ones
included: they are absent) and some odd names (surrounding spaces, another case, empty, null, not
a string), over the conformance definitions plus a few odd ones (``trafficTypeName`` null,
prerequisites out of alphabetical order, a name with surrounding spaces), in every mode the
official SDK shares with ours: Redis consumer mode (our async API on asyncio and trio, the
blocking shim with and without the local cache), localhost (a JSON and a YAML file) and in-memory
mode against the fake Split server. Every view must be equal field for field (treatments and flag
sets compared sorted: the official takes them from a ``set``; prerequisites in definition order),
and the warnings and errors the calls log must be the same lines.

Skips without ``redis-server`` (Redis tests) or when the official SDK cannot be installed
(offline), unless ``SPLITIO_REQUIRE_REDIS`` is set (tests/redis/conftest.py).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

from splitio_async import open_factory
from splitio_sync_shim import get_factory
from tests.conftest import REPO
from tests.fakes.split_server import FakeSplitServer
from tests.helpers import rollout_flag
from tests.redis.conftest import _start, _unavailable
from tests.redis.official_worker import LogLines, manager_json, run_manager
from tests.redis.test_official_compat import (
    FLAGS,
    RULE_BASED_SEGMENTS,
    SEGMENTS,
    WORKER,
    _load_bench_venv,
)
from tests.redis_cache import write_cache
from tests.redis_servers import RedisServer
from tests.unit.test_localhost_parsers import SPEC_YAML  # the spec's example

from ..conftest import CONFORMANCE

SDK_KEY = "manager-compat"


def _odd_flags() -> list[dict[str, Any]]:
    null_type = rollout_flag("null_traffic_type", (("on", 100),), trafficTypeName=None)
    prerequisites = rollout_flag("prerequisites_in_order", (("on", 60), ("off", 40)),
                                 configurations={"on": '{"a": 1}', "off": None})
    prerequisites["prerequisites"] = [
        {"n": "ff_001_onboarding", "ts": ["zeta", "alpha", "mu"]},
        {"n": "ff_000_cache", "ts": ["off", "on"]},
    ]
    spaced = rollout_flag(" spaced ", (("on", 100),))
    return [null_type, prerequisites, spaced]


ALL_FLAGS = [*FLAGS, *_odd_flags()]
CONFORMANCE_NAMES = [f["name"] for f in json.loads(
    (CONFORMANCE / "splits.json").read_text())["ff"]["d"]]
ODD_NAMES: list[Any] = [
    " ff_001_onboarding ", "ff_001_onboarding ", "FF_001_ONBOARDING", " spaced ", "spaced",
    "null_traffic_type", "prerequisites_in_order", "no_such_flag", "", "   ", None, 123,
    ["ff_001_onboarding"],
]
CALLS: list[list[Any]] = [
    ["split_names"], ["splits"],
    *[["split", name] for name in [*CONFORMANCE_NAMES, *ODD_NAMES]],
]

YAML_CALLS: list[list[Any]] = [
    ["split_names"], ["splits"],
    *[["split", n] for n in ("my_feature", "other_feature", "other_feature_3", " my_feature",
                             "missing")],
]
Answers = tuple[list[Any], list[list[str]]]


# ----------------------------------------------------------------------------- the SDKs


@pytest.fixture(scope="module")
def official_python() -> Path:
    try:
        python = _load_bench_venv().ensure_official(
            REPO / "benchmarks" / ".venv-official", redis=True
        )
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        _unavailable(f"splitio_client[redis] 10.7.0 could not be installed: {exc}")
    return Path(python)


def run_official_job(python: Path, work: Path, name: str, job: dict[str, Any]) -> Any:
    """The worker's whole output for ``job`` (see official_worker.py)."""
    job_path, out = work / f"{name}.json", work / f"{name}.out.json"
    job_path.write_text(json.dumps(job))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [str(python), str(WORKER), str(job_path), str(out)], capture_output=True, text=True,
        timeout=120, env=env, cwd=work, check=False,
    )
    assert done.returncode == 0, f"official worker failed:\n{done.stderr[-3000:]}"
    return json.loads(out.read_text())


def run_official(python: Path, work: Path, name: str, sdk_key: str, config: dict[str, Any],
                 calls: list[list[Any]], urls: dict[str, str] | None = None) -> Answers:
    result = run_official_job(python, work, name, {
        "sdk_key": sdk_key, "config": config, "urls": urls or {}, "calls": [], "manager": calls,
    })
    return result["manager"], result["manager_logs"]


async def run_async(sdk_key: str, config: dict[str, Any], calls: list[list[Any]],
                    urls: dict[str, str] | None = None) -> Answers:
    lines = LogLines()
    with anyio.fail_after(30):
        async with open_factory(sdk_key, config=config, **(urls or {})) as factory:
            await factory.block_until_ready(10)
            manager = factory.manager()
            logger = logging.getLogger("splitio")  # (at DEBUG: the autouse fixture)
            logger.addHandler(lines)
            try:
                answers = [manager_json(method, await getattr(manager, method)(*args))
                           for method, *args in calls]
            finally:
                logger.removeHandler(lines)
    return answers, lines.lines


def run_shim(sdk_key: str, config: dict[str, Any], calls: list[list[Any]],
             urls: dict[str, str] | None = None, backend: str = "asyncio") -> Answers:
    factory = get_factory(sdk_key, config=config, async_backend=backend, **(urls or {}))
    assert factory is not None
    try:
        factory.block_until_ready(10)
        return run_manager(factory.manager(), calls)  # type: ignore[no-any-return]
    finally:
        factory.destroy()


def every_api(sdk_key: str, config: dict[str, Any], calls: list[list[Any]],
              urls: dict[str, str] | None = None) -> dict[str, Answers]:
    """Our answers through the async API on asyncio and on trio, and through the shim."""
    answers = {backend: anyio.run(functools.partial(run_async, sdk_key, config, calls, urls),
                                  backend=backend)
               for backend in ("asyncio", "trio")}
    answers["shim"] = run_shim(sdk_key, config, calls, urls)
    return answers


def _differences(call: list[Any], mine: Any, theirs: Any) -> list[str]:
    """What differs, view by view for ``splits()`` (one long line otherwise)."""
    if mine == theirs:
        return []
    if call == ["splits"] and isinstance(mine, list) and isinstance(theirs, list):
        by_name = {view["name"]: view for view in theirs}
        out = [f"splits(): {view['name']!r}:\n    ours     {view!r}\n    official "
               f"{by_name.get(view['name'])!r}"
               for view in mine if by_name.get(view["name"]) != view]
        missing = sorted(set(by_name) - {view["name"] for view in mine})
        return out + ([f"splits(): only the official has {missing}"] if missing else [])
    return [f"{call}:\n    ours     {mine!r}\n    official {theirs!r}"]


def assert_same(ours: Answers, official: Answers, calls: list[list[Any]]) -> None:
    (mine, my_logs), (theirs, their_logs) = ours, official
    assert len(mine) == len(theirs) == len(calls)
    wrong = [line for call, a, b in zip(calls, mine, theirs, strict=True)
             for line in _differences(call, a, b)]
    assert not wrong, f"{len(wrong)} differences:\n" + "\n".join(wrong[:10])
    assert my_logs == their_logs


# -------------------------------------------------------------------------- Redis mode


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    server = _start(RedisServer)
    with server:
        yield server


def redis_config(server: RedisServer, prefix: str, cache: bool = True) -> dict[str, Any]:
    client = server.client()
    try:
        write_cache(client, ALL_FLAGS, SEGMENTS, RULE_BASED_SEGMENTS, prefix=prefix)
    finally:
        client.close()
    return {"redisHost": server.host, "redisPort": server.port, "redisPrefix": prefix,
            "redisLocalCacheEnabled": cache}


@pytest.fixture(scope="module")
def official_redis(official_python: Path, redis: RedisServer,
                   tmp_path_factory: pytest.TempPathFactory) -> Answers:
    answers = run_official(official_python, tmp_path_factory.mktemp("official"), "redis",
                           SDK_KEY, redis_config(redis, "official-manager"), CALLS)
    names = answers[0][0]
    assert "null_traffic_type" in names and " spaced " in names  # the comparison is not vacuous
    return answers


@pytest.mark.anyio
async def test_redis_mode_async_api(
    redis: RedisServer, official_redis: Answers, anyio_backend: Any
) -> None:
    backend = anyio_backend[0] if isinstance(anyio_backend, tuple) else anyio_backend
    config = await anyio.to_thread.run_sync(redis_config, redis, f"ours-manager-{backend}")
    assert_same(await run_async(SDK_KEY, config, CALLS), official_redis, CALLS)


@pytest.mark.parametrize("cache", [True, False], ids=["local-cache", "no-local-cache"])
def test_redis_mode_shim(redis: RedisServer, official_redis: Answers, cache: bool) -> None:
    config = redis_config(redis, f"ours-manager-shim-{cache}", cache)
    assert_same(run_shim(SDK_KEY, config, CALLS), official_redis, CALLS)


# -------------------------------------------------------------------------- localhost


@pytest.fixture(scope="module")
def json_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The conformance definitions (and the odd flags) as a localhost JSON file, segments in
    the same directory."""
    directory = tmp_path_factory.mktemp("localhost")
    doc = json.loads((CONFORMANCE / "splits.json").read_text())
    doc["ff"]["d"].extend(_odd_flags())
    (directory / "splits.json").write_text(json.dumps(doc))
    for path in (CONFORMANCE / "segments").glob("*.json"):
        (directory / path.name).write_text(path.read_text())
    return {"splitFile": str(directory / "splits.json"), "segmentDirectory": str(directory)}


@pytest.fixture(scope="module")
def official_json(official_python: Path, json_files: dict[str, Any],
                  tmp_path_factory: pytest.TempPathFactory) -> Answers:
    return run_official(official_python, tmp_path_factory.mktemp("official"), "json",
                        "localhost", json_files, CALLS)


@pytest.mark.anyio
async def test_localhost_json_async_api(json_files: dict[str, Any], official_json: Answers
                                        ) -> None:
    assert_same(await run_async("localhost", json_files, CALLS), official_json, CALLS)


def test_localhost_json_shim(json_files: dict[str, Any], official_json: Answers) -> None:
    assert_same(run_shim("localhost", json_files, CALLS, backend="trio"), official_json, CALLS)


def test_localhost_yaml(official_python: Path, tmp_path: Path) -> None:
    (tmp_path / "flags.yaml").write_text(SPEC_YAML)
    config = {"splitFile": str(tmp_path / "flags.yaml")}
    official = run_official(official_python, tmp_path, "yaml", "localhost", config, YAML_CALLS)
    for ours in every_api("localhost", config, YAML_CALLS).values():
        assert_same(ours, official, YAML_CALLS)


# ----------------------------------------------------------------------- in-memory mode


MEMORY_CONFIG = {"streamingEnabled": False, "impressionsMode": "none", "machineIp": "127.0.0.1",
                 "machineName": "test"}


def load_server(server: FakeSplitServer) -> dict[str, str]:
    """The conformance definitions (and the odd flags) on the fake server, one change each;
    returns the URL keyword arguments (streaming off)."""
    for flag in ALL_FLAGS:
        server.upsert_flag(json.loads(json.dumps(flag)))
    for rbs in RULE_BASED_SEGMENTS:
        server.upsert_rule_based_segment(json.loads(json.dumps(rbs)))
    for name, keys in SEGMENTS.items():
        server.set_segment(name, keys)
    return {k: v for k, v in server.url_kwargs().items() if k != "streaming_api_base_url"}


def test_in_memory_mode(official_python: Path, server: FakeSplitServer, tmp_path: Path) -> None:
    """Both SDKs sync the same definitions from the fake Split server, then answer alike."""
    urls, config = load_server(server), MEMORY_CONFIG
    official = run_official(official_python, tmp_path, "memory", SDK_KEY, config, CALLS, urls)
    assert "null_traffic_type" in official[0][0]
    for ours in every_api(SDK_KEY, config, CALLS, urls).values():
        assert_same(ours, official, CALLS)
