"""Import cost: how long a fresh interpreter takes to import the SDK, ours beside the official.

Run from the repo root with the project venv:

    .venv/bin/python benchmarks/bench_import.py            # 15 fresh interpreters per row
    .venv/bin/python benchmarks/bench_import.py --runs 30

Each row is the median wall time of ``python -c <statement>`` minus the median of
``python -c pass`` (the interpreter's own start), in fresh processes, interleaved so drift hits
every row alike. ``import splitio_async`` alone costs next to nothing because its public names
load on first use; the rows that name ``get_factory`` are what an application pays before its
first call. The official rows run in benchmarks/.venv-official (splitio_client 10.7.0).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _bench_venv import OFFICIAL_VERSION, ensure_official

HERE = Path(__file__).resolve().parent
OURS = {
    "import splitio_async": "import splitio_async",
    "import splitio_sync_shim": "import splitio_sync_shim",
    "from splitio_sync_shim import get_factory": "from splitio_sync_shim import get_factory",
    "from splitio_async import get_factory_async": "from splitio_async import get_factory_async",
    "the pytest plugin": "import splitio_async.pytest_plugin",
}
OFFICIAL = {
    "official: import splitio": "import splitio",
    "official: from splitio import get_factory": "from splitio import get_factory",
}


def _time(python: str, statement: str) -> float:
    started = time.perf_counter()
    subprocess.run([python, "-c", statement], check=True, cwd=HERE.parent)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, help="fresh interpreters per row (default 15)")
    parser.add_argument("--quick", action="store_true", help="3 interpreters per row")
    args = parser.parse_args()
    args.runs = args.runs or (3 if args.quick else 15)
    official = str(ensure_official(HERE / ".venv-official"))
    rows = [(name, sys.executable, code) for name, code in OURS.items()]
    rows += [(name, official, code) for name, code in OFFICIAL.items()]
    baseline: dict[str, list[float]] = {sys.executable: [], official: []}
    times: dict[str, list[float]] = {name: [] for name, _, _ in rows}
    for python in baseline:  # warm the disk cache and the .pyc files
        _time(python, "pass")
    for _name, python, code in rows:
        _time(python, code)
    for _ in range(args.runs):
        for python, samples in baseline.items():
            samples.append(_time(python, "pass"))
        for name, python, code in rows:
            times[name].append(_time(python, code))
    print(f"import cost, median of {args.runs} fresh interpreters, interpreter start subtracted")
    print(f"(official: splitio_client {OFFICIAL_VERSION})")
    for name, python, _ in rows:
        cost = statistics.median(times[name]) - statistics.median(baseline[python])
        print(f"  {name:<48} {cost * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
