"""Worker: the pure-Python floor, timed with the same loop as the SDKs (project venv's python).

The floor is the least work any Python evaluator must do for a hashed rollout: find the flag (dict
lookup), hash the key once with C murmur3 and turn it into a bucket.  Nothing can be faster without
leaving Python, so "ours / floor" shows how much overhead is left.  A no-op call measures the loop
itself (included in every number of the table).

Usage: _bench_floor.py WORKLOAD BUDGET_S REPS USERS
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import _bench_timing as bt
import mmh3


def main(argv: list[str]) -> None:
    settings, workload, _ = bt.parse_settings(argv)
    flags = json.loads(Path(workload["split_file"]).read_text())["ff"]["d"]
    # Seeds are reduced to unsigned 32 bits once, as any evaluator would do when parsing flags.
    seeds: dict[str, int] = {f["name"]: f["seed"] & 0xFFFFFFFF for f in flags}

    def floor_one(key: str, flag: str, attributes: Any) -> int:
        return abs(mmh3.hash(key, seeds[flag], signed=False)) % 100 + 1

    def floor_many(key: str, names: list[str], attributes: Any) -> dict[str, int]:
        return {n: abs(mmh3.hash(key, seeds[n], signed=False)) % 100 + 1 for n in names}

    def noop(key: str, flag: Any, attributes: Any) -> None:
        return None

    report = bt.Reporter("floor")
    report.info.update(hash=f"mmh3 {version('mmh3')}", python=sys.version.split()[0])
    for shape, spec in workload["shapes"].items():
        if spec["method"] == "track":
            continue
        fn = floor_many if spec["method"] == "get_treatments" else floor_one
        report.add(shape, bt.measure_sync(fn, bt.shape_args(workload, shape, settings), settings))
    loop_args = bt.shape_args(workload, "rollout_50_50", settings)
    report.add("loop_overhead", bt.measure_sync(noop, loop_args, settings))


if __name__ == "__main__":
    main(sys.argv[1:])
