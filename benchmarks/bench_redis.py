"""Redis consumer-mode benchmark: official splitio_client 10.7.0 vs our splitio_async, both
reading one redis-server this script starts on a free 127.0.0.1 port.

Run from the repo root with the project venv:

    .venv/bin/python benchmarks/bench_redis.py            # full run (~2 min)
    .venv/bin/python benchmarks/bench_redis.py --quick    # smoke run
    .venv/bin/python benchmarks/bench_redis.py --json redis.json

What it measures: µs per `get_treatment` (median of the repetitions) on five flags -- a plain
50/50 rollout, five attribute rules, a 10k-key segment, a rule-based segment (attribute rules,
excluded keys and an excluded segment) and a two-level dependency chain -- with
`redisLocalCacheEnabled` on and off, in OPTIMIZED and DEBUG impressions modes; and, from the
server's `INFO stats`, Redis commands and round trips (read events) per call. Ratios are
official sync / ours.

Implementations: the official SDK's blocking API and its asyncio API (`get_factory_async`, which
needs `redis.asyncio`), ours through the sync shim (steps run in the caller's thread) and through
the async API on asyncio and on trio (trio runs redis-py's blocking client in worker threads).

Why it is built this way:
* The cache is written as the Split Synchronizer writes it (tests/redis_cache.py), from the
  benchmark data set of bench_evaluation plus a rule-based segment, so both SDKs read identical
  definitions; the official SDK lives in benchmarks/.venv-official (redis extra: redis-py < 7,
  its own pin; our venv has redis-py 8).
* Every implementation runs in its own subprocess, one after the other, with a fresh factory per
  configuration, so no SDK's threads or connections overlap another's; the first pass of every
  measurement is digested and a row whose treatments differ from the official SDK's is flagged.
* Recording keys are deleted between measurements (DEBUG would otherwise fill Redis).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import _bench_data
import _bench_floor
import _bench_venv
from _bench_redis_worker import CACHE, MODES, row_key
from bench_evaluation import Worker, _run_worker

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))  # tests.redis_servers, tests.redis_cache

from tests.redis_cache import write_cache  # noqa: E402
from tests.redis_servers import RedisServer  # noqa: E402

WORKER = "_bench_redis_worker.py"
RBS_NAME = "bench_rbs_eu_pro"
# (shape, flag, with attributes); the table order
SHAPES = [
    ("rollout", "bench_rollout_5050", False),
    ("attributes", "bench_attributes", True),
    ("segment", "bench_segment_beta", False),
    ("rule_based_segment", "bench_rbs_flag", True),
    ("dependency", "bench_dep_d1", False),
]
IMPLS = [  # (label, column title, official?)
    ("official-sync", "official", True),
    ("official-asyncio", "off async", True),
    ("shim", "ours shim", False),
    ("asyncio", "ours async", False),
    ("trio", "ours trio", False),
]
REFERENCE = "official-sync"
RATIOS = [("shim", "off/shim"), ("asyncio", "off/async"), ("trio", "off/trio")]


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    parser.add_argument("--json", metavar="OUT", type=Path, help="write all results as JSON")
    parser.add_argument("--budget", type=float, help="s per measurement (default 0.5, quick 0.05)")
    parser.add_argument("--reps", type=int, default=5, help="repetitions, median kept (default 5)")
    parser.add_argument("--users", type=int, help="distinct user keys (default 500, quick 100)")
    parser.add_argument("--no-trio", action="store_true", help="skip our async API on trio")
    parser.add_argument(
        "--no-official-async", action="store_true", help="skip the official asyncio API"
    )
    args = parser.parse_args(argv)
    args.budget = args.budget or (0.05 if args.quick else 0.5)
    args.users = min(args.users or (100 if args.quick else 500), _bench_data.USER_COUNT)
    return args


def _rule_based_data(data: _bench_data.DataSet) -> tuple[dict[str, Any], dict[str, Any]]:
    """A rule-based segment (EU country and a pro plan, a few users and the employees segment
    excluded) and the flag that targets it."""
    rbs = {
        "name": RBS_NAME, "trafficTypeName": "user", "changeNumber": _bench_data.CHANGE_NUMBER,
        "status": "ACTIVE",
        "excluded": {
            "keys": [u["key"] for u in data.users[:25]],
            "segments": [{"name": "bench_employees", "type": "standard"}],
        },
        "conditions": [{
            "conditionType": "ROLLOUT",
            "matcherGroup": {"combiner": "AND", "matchers": [
                _bench_data._whitelist("country", ["DE", "FR", "ES", "NL"]),
                _bench_data._whitelist("plan", ["pro"], "STARTS_WITH"),
            ]},
        }],
    }
    condition = _bench_data._condition(
        [_bench_data._matcher(
            "IN_RULE_BASED_SEGMENT", userDefinedSegmentMatcherData={"segmentName": RBS_NAME}
        )],
        [("on", 100)], f"in rule-based segment {RBS_NAME}",
    )
    flag = {
        **data.flags[0], "name": "bench_rbs_flag", "seed": 987_654_321,
        "conditions": [condition, _bench_data._default_rule([("off", 100)])],
    }
    return rbs, flag


def _write_data(server: RedisServer, directory: Path) -> Path:
    """The cache in Redis, and the workload file the workers read (users and shapes)."""
    data = _bench_data.build()
    rbs, rbs_flag = _rule_based_data(data)
    client = server.client()
    try:
        write_cache(client, [*data.flags, rbs_flag], data.segments, [rbs])
    finally:
        client.close()
    shapes = {
        name: {"method": "get_treatment", "flag": flag, "attrs": attrs}
        for name, flag, attrs in SHAPES
    }
    path = directory / "workload.json"
    path.write_text(json.dumps({"users": data.users, "shapes": shapes}))
    return path


# ---------------------------------------------------------------------------------- report


def _row(results: dict[str, dict[str, Any]], impl: str, key: str) -> dict[str, Any]:
    return results.get(impl, {}).get("shapes", {}).get(key) or {}


def _us(ns: float | None) -> str:
    if ns is None:
        return "n/a"
    us = ns / 1000
    return f"{us:.2f}" if us < 10 else f"{us:.1f}" if us < 1000 else f"{us:.0f}"


def _differs(results: dict[str, dict[str, Any]], impl: str, key: str) -> bool:
    mine, ref = _row(results, impl, key), _row(results, REFERENCE, key)
    return bool(mine.get("digest") and ref.get("digest") and mine["digest"] != ref["digest"])


def _traffic(results: dict[str, dict[str, Any]], impl: str, key: str) -> dict[str, float]:
    return results.get(impl, {}).get("info", {}).get("traffic", {}).get(key) or {}


def _keys() -> list[tuple[str, str, str, bool]]:
    return [(row_key(shape, mode, cache), shape, mode, cache)
            for mode in MODES for cache in CACHE for shape, _, _ in SHAPES]


def _table(header: list[str], lines: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *lines]) for i in range(len(header))]
    fmt = "  ".join(
        f"{{:<{w}}}" if i < 3 else f"{{:>{w}}}" for i, w in enumerate(widths)
    )
    out = [fmt.format(*header), fmt.format(*["-" * w for w in widths])]
    return "\n".join([*out, *(fmt.format(*cells) for cells in lines)])


def render_timing(results: dict[str, dict[str, Any]], floor: float | None) -> str:
    impls = [(label, title) for label, title, _ in IMPLS if label in results]
    ratios = [(label, title) for label, title in RATIOS if label in results]
    header = ["get_treatment (µs)", "mode", "cache", *[t for _, t in impls],
              *[t for _, t in ratios], "py floor"]
    lines = []
    for key, shape, mode, cache in _keys():
        cells = [shape, mode, "on" if cache else "off"]
        for label, _ in impls:
            mark = "!" if _differs(results, label, key) else ""
            cells.append(_us(_row(results, label, key).get("ns")) + mark)
        reference = _row(results, REFERENCE, key).get("ns")
        for label, _ in ratios:
            ours = _row(results, label, key).get("ns")
            cells.append(f"{reference / ours:.1f}x" if reference and ours else "n/a")
        cells.append("n/a" if floor is None else f"{floor:.2f}")
        lines.append(cells)
    return _table(header, lines)


def render_traffic(results: dict[str, dict[str, Any]]) -> str:
    impls = [(label, title) for label, title, _ in IMPLS if label in results]
    header = ["Redis per call", "mode", "cache",
              *[f"{t} rt/cmd" for _, t in impls]]
    lines = []
    for key, shape, mode, cache in _keys():
        cells = [shape, mode, "on" if cache else "off"]
        for label, _ in impls:
            traffic = _traffic(results, label, key)
            cells.append(
                f"{traffic['round_trips_per_call']:.2f}/{traffic['commands_per_call']:.2f}"
                if traffic else "n/a"
            )
        lines.append(cells)
    return _table(header, lines)


def notes(results: dict[str, dict[str, Any]]) -> list[str]:
    out = []
    for key, *_ in _keys():
        for label, _, _ in IMPLS:
            if _differs(results, label, key):
                out.append(f"MISMATCH (!) {label} / {key}: {_row(results, label, key)['counts']}"
                           f" vs official {_row(results, REFERENCE, key)['counts']}")
    if not out:
        out.append("all treatments agree with the official SDK")
    for label, payload in results.items():
        if payload.get("error"):
            out.append(f"{label}: error - {payload['error']}")
        for key, shape in payload.get("shapes", {}).items():
            if shape.get("error"):
                out.append(f"  {label} {key}: n/a - {shape['error']}")
    reference = results.get(REFERENCE, {}).get("shapes", {})
    for shape, _, _ in SHAPES:
        key = row_key(shape, MODES[0], CACHE[0])
        if key in reference:
            out.append(f"treatments {shape} (official): {reference[key].get('counts')}")
    return out


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    official = _bench_venv.ensure_official(HERE / ".venv-official", asyncio=True, redis=True)
    ours = Path(sys.executable)
    directory = Path(tempfile.mkdtemp(prefix="split-bench-redis-"))
    results: dict[str, dict[str, Any]] = {}
    try:
        with RedisServer(name="bench") as server:
            workload = _write_data(server, directory)
            print(f"redis-server {server.url}; data set in {directory}", flush=True)
            common = [str(workload), str(args.budget), str(args.reps), str(args.users)]
            runs = len(MODES) * len(CACHE) * len(SHAPES)
            timeout = 60 + runs * (3 + 2 * args.budget)
            for label, _, is_official in IMPLS:
                if (label == "trio" and args.no_trio) or (
                    label == "official-asyncio" and args.no_official_async
                ):
                    continue
                python = official if is_official else ours
                worker = Worker(label, python, WORKER, [label, server.host, str(server.port)],
                                not is_official)
                results[label] = _run_worker(worker, common, [k for k, *_ in _keys()], timeout)
    finally:
        shutil.rmtree(directory, ignore_errors=True)

    floor = _bench_floor.generic()
    print()
    print(render_timing(results, floor["one_flag"]))
    print(_bench_floor.describe(floor))
    print()
    print(render_traffic(results))
    print("(round trips = the server's read events, a pipeline being one; commands include the"
          " SDK's own recording writes made meanwhile)")
    print()
    for note in notes(results):
        print(note)
    if args.json:
        out = {
            "settings": {"budget_s": args.budget, "reps": args.reps, "users": args.users},
            "workers": results,
            "floor_us": floor,
        }
        args.json.write_text(json.dumps(out, indent=2))
        print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
