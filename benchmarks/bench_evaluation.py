"""Evaluation benchmark: official splitio_client 10.7.0 vs our splitio_async (shim and async API).

Run from the repo root with the project venv:

    .venv/bin/python benchmarks/bench_evaluation.py            # full run (~1-2 min)
    .venv/bin/python benchmarks/bench_evaluation.py --quick    # smoke run
    .venv/bin/python benchmarks/bench_evaluation.py --json results.json

Why it is built this way:
* The official SDK lives in its own venv (benchmarks/.venv-official, created on first use), so its
  `splitio` package never mixes with ours. Both of its APIs are timed (sync and asyncio); each of
  ours is compared with its counterpart: the shim with the sync API, asyncio and trio with the
  asyncio API.
* By default both SDKs run in standalone mode against the same fake Split server (streaming off),
  as production users run them: the per-call telemetry timing and the recorders' deliveries are
  in both SDKs' figures. --ours-mode localhost times ours from the JSON file instead (no telemetry
  there), as earlier versions of this script did. The official localhost mode is shown for
  reference.
* The pure-Python floor (_bench_floor.py: a dict lookup, one murmur3 hash and the bucket
  arithmetic, timed by the same loop) is printed beside every row.
* Every implementation runs in its own subprocess, one after the other, so background threads or
  event loops of one SDK cannot steal time from another.
* Every implementation gets one generated data set: the standalone ones from a fake Split server
  on 127.0.0.1 run by this process (stored bytes), the localhost ones from the same objects
  written as JSON + segment files.
* The first pass of every measurement is digested; the report flags any shape where an
  implementation returned different treatments than the official SDK.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NamedTuple

import _bench_data
import _bench_report
import _bench_venv
from _bench_server import FakeSplitServer

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    parser.add_argument("--json", metavar="OUT", type=Path, help="write all results as JSON")
    parser.add_argument("--budget", type=float, help="s per measurement (default 1, quick 0.1)")
    parser.add_argument("--reps", type=int, default=3, help="repetitions, best kept (default 3)")
    parser.add_argument("--users", type=int, help="distinct user keys (default 1000, quick 200)")
    parser.add_argument("--no-trio", action="store_true", help="skip our async API on trio")
    parser.add_argument("--ours-mode", choices=("standalone", "localhost"), default="standalone",
                        help="where our SDK gets the data (default standalone, like the official)")
    parser.add_argument(
        "--cpphash",
        action="store_true",
        help="also time the official SDK with mmh3cffi (venv benchmarks/.venv-official-cpphash)",
    )
    parser.add_argument("--keep-data", action="store_true", help="keep the generated data dir")
    args = parser.parse_args(argv)
    args.budget = args.budget or (0.1 if args.quick else 1.0)
    args.users = min(args.users or (200 if args.quick else 1000), _bench_data.USER_COUNT)
    return args


class Worker(NamedTuple):
    """One subprocess: which interpreter runs which worker script with which extra arguments."""

    label: str
    python: Path
    script: str
    extra: list[str]
    ours: bool  # our packages are imported from the work tree (installed or not)


def _failed(label: str, error: str) -> dict[str, Any]:
    return {"impl": label, "error": error, "info": {}, "shapes": {}}


def _text(data: str | bytes | None) -> str:
    return data.decode(errors="replace") if isinstance(data, bytes) else data or ""


def _last_payload(stdout: str) -> dict[str, Any] | None:
    """The worker's last complete JSON line (workers re-print their results after every shape)."""
    for line in reversed(stdout.splitlines()):
        try:
            payload = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(payload, dict) and "impl" in payload:
            return payload
    return None


def _run_worker(
    worker: Worker, common: list[str], shapes: list[str], timeout: float
) -> dict[str, Any]:
    """Run one worker and return its JSON payload; any failure becomes a payload with `error`."""
    print(f"  running {worker.label} ...", flush=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if worker.ours:
        env["PYTHONPATH"] = str(REPO)
    command = [str(worker.python), str(HERE / worker.script), *common, *worker.extra]
    started = time.perf_counter()
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, env=env, cwd=HERE, timeout=timeout, check=False
        )
        stdout, stderr, status = done.stdout, done.stderr, f"exit {done.returncode}"
    except subprocess.TimeoutExpired as exc:
        stdout, stderr = _text(exc.stdout), _text(exc.stderr)
        status = f"timed out after {timeout:.0f} s"
    payload = _last_payload(stdout) or _failed(worker.label, "no result")
    if status != "exit 0" and not payload.get("error"):
        pending = [s for s in shapes if s not in payload["shapes"]]
        if pending:
            status += f" in {pending[0]}"
        tail = " | ".join(stderr.strip().splitlines()[-3:])
        payload["error"] = f"{status}: {tail}" if tail else status
    payload.setdefault("info", {})["wall_s"] = round(time.perf_counter() - started, 1)
    return payload


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    official = _bench_venv.ensure_official(HERE / ".venv-official", asyncio=True)
    cffi = None
    if args.cpphash:
        cffi = _bench_venv.ensure_official(HERE / ".venv-official-cpphash", cpphash=True)
    data_dir = Path(tempfile.mkdtemp(prefix="split-bench-"))
    data = _bench_data.build()
    workload = _bench_data.write(data_dir, data)
    server = FakeSplitServer(data.flags, data.segments)
    server.start()
    server.prepare()
    common = [str(workload), str(args.budget), str(args.reps), str(args.users)]
    timeout = 60 + 25 * args.budget * args.reps
    ours = Path(sys.executable)
    urls = json.dumps(server.url_kwargs())
    source = ["standalone", urls] if args.ours_mode == "standalone" else ["localhost"]
    plan = [
        Worker("official-standalone", official, "_bench_official.py", ["standalone", urls], False),
        Worker("official-async", official, "_bench_official.py", ["standalone-async", urls],
               False),
        Worker("official-localhost", official, "_bench_official.py", ["localhost"], False),
        Worker("ours-shim", ours, "_bench_ours.py", ["shim", *source], True),
        Worker("ours-asyncio", ours, "_bench_ours.py", ["asyncio", *source], True),
        Worker("floor", ours, "_bench_floor.py", [], True),
    ]
    if not args.no_trio:
        plan.insert(5, Worker("ours-trio", ours, "_bench_ours.py", ["trio", *source], True))
    if cffi is not None:
        plan.insert(
            1, Worker("official-cffi", cffi, "_bench_official.py", ["standalone", urls], False)
        )
    print(f"data set in {data_dir}; fake Split server at {server.base_url}", flush=True)
    results: dict[str, dict[str, Any]] = {}
    try:
        for worker in plan:
            results[worker.label] = _run_worker(worker, common, list(data.shapes), timeout)
    finally:
        server.stop()
        if not args.keep_data:
            shutil.rmtree(data_dir, ignore_errors=True)

    names = list(data.shapes)
    print()
    print(_bench_report.render_table(results, names))
    print()
    agreement = _bench_report.agreement(results, names) or [
        "all treatments agree with the official SDK"
    ]
    for note in [*agreement, *_bench_report.footnotes(results, names)]:
        print(note)
    print(f"fake server requests: {dict(sorted(server.hits.items()))}")
    if args.json:
        out = {
            "settings": {"budget_s": args.budget, "reps": args.reps, "users": args.users,
                         "ours_mode": args.ours_mode},
            "rows": _bench_report.table_rows(results, names),
            "workers": results,
            "server_requests": dict(server.hits),
        }
        args.json.write_text(json.dumps(out, indent=2))
        print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
