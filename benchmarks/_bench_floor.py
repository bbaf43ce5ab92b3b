"""Worker: the pure-Python floor, timed with the same loop as the SDKs (project venv's python).

The floor is the least work any Python evaluator must do for a hashed rollout: find the flag (dict
lookup), hash the key once with C murmur3 and turn it into a bucket.  Nothing can be faster without
leaving Python, so "ours / floor" shows how much overhead is left.  A no-op call measures the loop
itself (included in every number of the table).

Usage: _bench_floor.py WORKLOAD BUDGET_S REPS USERS   every evaluation shape of a workload
       _bench_floor.py --generic BUDGET_S REPS        one flag and 50 flags over the benchmark
                                                      users (what `generic()` returns)

Every benchmark that prints µs per evaluation prints the floor beside it: bench_evaluation runs
this worker on its workload; the others call `generic()`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import _bench_data
import _bench_timing as bt
import mmh3

HERE = Path(__file__).resolve().parent
Floor = Callable[[str, Any, Any], Any]


def floors(seeds: dict[str, int]) -> tuple[Floor, Floor, Floor]:
    """The floor of one evaluation, of get_treatments, and a no-op (the loop's own cost)."""

    def floor_one(key: str, flag: str, attributes: Any) -> int:
        return abs(mmh3.hash(key, seeds[flag], signed=False)) % 100 + 1

    def floor_many(key: str, names: list[str], attributes: Any) -> dict[str, int]:
        return {n: abs(mmh3.hash(key, seeds[n], signed=False)) % 100 + 1 for n in names}

    def noop(key: str, flag: Any, attributes: Any) -> None:
        return None

    return floor_one, floor_many, noop


def _seeds(flags: list[dict[str, Any]]) -> dict[str, int]:
    # Seeds are reduced to unsigned 32 bits once, as any evaluator would do when parsing flags.
    return {f["name"]: f["seed"] & 0xFFFFFFFF for f in flags}


def main(argv: list[str]) -> None:
    if argv[0] == "--generic":
        print(json.dumps(_generic(float(argv[1]), int(argv[2]))))
        return
    settings, workload, _ = bt.parse_settings(argv)
    flags = json.loads(Path(workload["split_file"]).read_text())["ff"]["d"]
    floor_one, floor_many, noop = floors(_seeds(flags))
    report = bt.Reporter("floor")
    report.info.update(hash=f"mmh3 {version('mmh3')}", python=sys.version.split()[0])
    for shape, spec in workload["shapes"].items():
        if spec["method"] == "track":
            continue
        fn = floor_many if spec["method"] == "get_treatments" else floor_one
        report.add(shape, bt.measure_sync(fn, bt.shape_args(workload, shape, settings), settings))
    loop_args = bt.shape_args(workload, "rollout_50_50", settings)
    report.add("loop_overhead", bt.measure_sync(noop, loop_args, settings))


def _generic(budget_s: float, reps: int) -> dict[str, float | None]:
    data = _bench_data.build()
    floor_one, floor_many, noop = floors(_seeds(data.flags))
    settings = bt.Settings(budget_s=budget_s, reps=reps, users=_bench_data.USER_COUNT)
    keys = [u["key"] for u in data.users]
    one = [(k, "bench_rollout_5050", None) for k in keys]
    many = [(k, data.shapes["get_treatments_50"]["flags"], None) for k in keys]
    results = {"one_flag": bt.measure_sync(floor_one, one, settings),
               "fifty_flags": bt.measure_sync(floor_many, many, settings),
               "loop": bt.measure_sync(noop, one, settings)}
    return {name: None if r.ns is None else r.ns / 1000 for name, r in results.items()}


def generic(budget_s: float = 0.2, reps: int = 3) -> dict[str, float | None]:
    """µs of the floor for one flag (``one_flag``), for get_treatments over 50 flags
    (``fifty_flags``) and of the timing loop itself (``loop``), measured in a fresh process of the
    project venv; every value None if that process failed."""
    done = subprocess.run(
        [sys.executable, str(Path(__file__)), "--generic", str(budget_s), str(reps)],
        capture_output=True, text=True, check=False, cwd=HERE, timeout=120,
    )
    try:
        result: dict[str, float | None] = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return {"one_flag": None, "fifty_flags": None, "loop": None}
    return result


def describe(floor: dict[str, float | None]) -> str:
    """One line to print under a table of evaluation figures."""

    def us(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.2f} µs"

    return (f"pure-Python floor (dict lookup + C murmur3 + bucket, same timing loop): "
            f"{us(floor['one_flag'])} per get_treatment, {us(floor['fifty_flags'])} per "
            f"50-flag get_treatments; the loop itself {us(floor['loop'])}")


if __name__ == "__main__":
    main(sys.argv[1:])
