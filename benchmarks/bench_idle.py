"""Idle cost: CPU time and wake-ups of a ready factory with streaming on and no traffic, official
splitio_client 10.7.0 (sync, asyncio) beside ours (sync shim, asyncio, trio).

Run from the repo root with the project venv:

    .venv/bin/python benchmarks/bench_idle.py                  # 60 s window, keepalive every 15 s
    .venv/bin/python benchmarks/bench_idle.py --quick          # 5 s window, keepalive every 1 s
    .venv/bin/python benchmarks/bench_idle.py --seconds 300 --json idle.json

What it measures, per SDK process, over the window: CPU seconds (user + system, every thread,
including threads that ended meanwhile: getrusage(RUSAGE_SELF) in the worker), wake-ups per second
(voluntary context switches: a thread going to sleep, which it does after each wake-up; same
source), involuntary switches (preemptions), threads and resident memory. As a cross-check from
the outside, the voluntary switches of the threads alive at both ends are also read from
/proc/<pid>/task/*/status (threads that ended meanwhile are missing there; the same probe cost is
subtracted).

Why it is built this way:
* Each SDK runs standalone in its own process (_bench_live_worker.py) against the benchmark
  backend (_bench_server.py): its SSE stream sends occupancy when it opens, so streaming comes up,
  and then only keepalive comments every --keepalive seconds (Ably's default heartbeat interval
  is 15 s; the SDKs' read timeout is 70 s). No flag changes, no evaluations.
* The SDKs idle side by side (they barely use the CPU, and every figure is per process); --serial
  runs them one after the other instead.
* The window starts after streaming is up, the start-up sync is over (no request for --settle
  seconds) and a further --settle seconds have passed. Asking a worker for its counters wakes it
  (its stdin reader, its reply): that cost is measured by asking twice back to back (three times,
  median kept) and subtracted from the window.
* The worker's own code is asleep meanwhile (blocked reading stdin: no timers), so what is
  counted is the SDK's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _bench_data as bd
import _bench_live as bl
import _bench_proc
from _bench_server import FakeSplitServer

CALIBRATIONS = 3


@dataclass
class Idle:
    """What one SDK did over the window (probe cost subtracted)."""

    label: str
    ready_s: float | None = None
    seconds: float = 0.0
    cpu_s: float | None = None
    voluntary: float | None = None
    involuntary: float | None = None
    outside_voluntary: float | None = None  # /proc view, live threads only
    probe: dict[str, float] = field(default_factory=dict)
    threads: int | None = None
    rss_mib: float | None = None
    error: str | None = None

    def per_s(self, value: float | None) -> float | None:
        return None if value is None or not self.seconds else value / self.seconds


def _delta(after: dict[str, Any], before: dict[str, Any]) -> dict[str, float]:
    return {k: after[k] - before[k] for k in ("cpu_s", "voluntary", "involuntary", "t")}


def calibrate(worker: bl.LiveWorker) -> dict[str, float]:
    """What one round of asking costs the worker (median of CALIBRATIONS back-to-back pairs)."""
    pairs = []
    for _ in range(CALIBRATIONS):
        first = worker.ask({"cmd": "usage"}, "usage", 10)["usage"]
        second = worker.ask({"cmd": "usage"}, "usage", 10)["usage"]
        pairs.append(_delta(second, first))
    return {k: statistics.median(p[k] for p in pairs) for k in ("cpu_s", "voluntary",
                                                               "involuntary")}


def data_set() -> tuple[list[bd.Json], dict[str, list[str]], list[bd.Json]]:
    """A small realistic environment: 50 flags of every kind and their segments."""
    data = bd.build()
    return data.flags, data.segments, []


def start(modes: list[str], server: FakeSplitServer,
          python: dict[str, Any]) -> dict[str, bl.LiveWorker]:
    workers = {}
    for mode in modes:
        exe, env = python[mode]
        spec = {"urls": server.url_kwargs(), "config": {}, "timeout": 10,
                "async_sleep": 0.0005, "sync_sleep": 0}
        workers[mode] = bl.LiveWorker(mode, exe, env, spec)
    return workers


def measure(modes: list[str], server: FakeSplitServer, args: argparse.Namespace,
            python: dict[str, Any]) -> dict[str, Idle]:
    results = {mode: Idle(bl.LABELS[mode]) for mode in modes}
    workers = start(modes, server, python)
    try:
        for mode, worker in workers.items():
            try:
                results[mode].ready_s = worker.expect("ready", timeout=120)["ready"]
            except bl.WorkerError as exc:
                results[mode].error = str(exc)
        alive = {m: w for m, w in workers.items() if results[m].error is None}
        server.wait_for_streams(len(alive), 60)
        bl.wait_quiet(server, seconds=args.settle)
        time.sleep(args.settle)
        before: dict[str, dict[str, Any]] = {}
        outside: dict[str, int] = {}
        for mode, worker in alive.items():
            results[mode].probe = calibrate(worker)
            outside[mode] = _bench_proc.thread_switches(worker.pid)[0]
            before[mode] = worker.ask({"cmd": "usage"}, "usage", 10)["usage"]
        keepalives = server.keepalives_sent
        time.sleep(args.seconds)
        for mode, worker in alive.items():
            after = worker.ask({"cmd": "usage"}, "usage", 10)["usage"]
            outside_after = _bench_proc.thread_switches(worker.pid)[0]
            delta, probe, result = _delta(after, before[mode]), results[mode].probe, results[mode]
            result.seconds = delta["t"]
            result.cpu_s = max(delta["cpu_s"] - probe["cpu_s"], 0.0)
            result.voluntary = max(delta["voluntary"] - probe["voluntary"], 0.0)
            result.involuntary = max(delta["involuntary"] - probe["involuntary"], 0.0)
            result.outside_voluntary = max(outside_after - outside[mode] - probe["voluntary"], 0)
            result.threads, result.rss_mib = after["threads"], after["rss_mib"]
        print(f"  {server.keepalives_sent - keepalives} keepalives sent in the window",
              flush=True)
    except (bl.WorkerError, TimeoutError) as exc:
        for result in results.values():
            result.error = result.error or str(exc)
    finally:
        for worker in workers.values():
            worker.close()
    return results


def _fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def render(results: dict[str, Idle]) -> str:
    header = ["implementation", "CPU ms", "CPU ms/min", "wake-ups/s", "vs official",
              "CPU vs official", "preempt/s", "/proc wake-ups/s", "threads", "RSS MiB"]
    rows = []
    for mode, r in results.items():
        ref = results.get(bl.COUNTERPART.get(mode, ""))
        wake, cpu = r.per_s(r.voluntary), r.cpu_s
        rows.append([
            r.label + ("  FAILED" if r.error else ""),
            _fmt(None if cpu is None else cpu * 1000, 1),
            _fmt(r.per_s(None if cpu is None else cpu * 60_000), 1),
            _fmt(wake),
            bl.ratio(ref.per_s(ref.voluntary), wake) if ref else "",
            bl.ratio(ref.cpu_s, cpu) if ref else "",
            _fmt(r.per_s(r.involuntary)),
            _fmt(r.per_s(r.outside_voluntary)),
            str(r.threads or "n/a"), _fmt(r.rss_mib, 1),
        ])
    return bl.grid(header, rows)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, help="idle window (default 60, quick 5)")
    parser.add_argument("--keepalive", type=float,
                        help="s between SSE keepalives (default 15 as Ably; quick 1)")
    parser.add_argument("--settle", type=float, default=1.0,
                        help="quiet s before the window starts (default 1)")
    parser.add_argument("--quick", action="store_true", help="5 s window (smoke run)")
    parser.add_argument("--serial", action="store_true", help="one SDK at a time")
    parser.add_argument("--only", nargs="+", choices=bl.MODES, help="only these APIs")
    parser.add_argument("--json", metavar="OUT", type=Path, help="write all results as JSON")
    args = parser.parse_args(argv)
    args.seconds = args.seconds or (5.0 if args.quick else 60.0)
    args.keepalive = args.keepalive or (1.0 if args.quick else 15.0)
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    modes = [m for m in bl.MODES if not args.only or m in args.only]
    python = bl.interpreters(modes)
    flags, segments, rbs = data_set()
    server = FakeSplitServer(flags, segments, rbs, streaming=True, keepalive_s=args.keepalive)
    server.start()
    server.prepare()
    print(f"{len(flags)} flags, streaming on, keepalive every {args.keepalive:g} s, "
          f"idle window {args.seconds:g} s, {'one at a time' if args.serial else 'side by side'}",
          flush=True)
    results: dict[str, Idle] = {}
    try:
        for group in ([[m] for m in modes] if args.serial else [modes]):
            print(f"  {', '.join(bl.LABELS[m] for m in group)} ...", flush=True)
            results.update(measure(group, server, args, python))
    finally:
        server.stop()
    print()
    print(render(results))
    print("wake-ups = voluntary context switches of every thread (getrusage in the process); "
          "'vs official' = the official counterpart's figure / ours (shim vs sync, asyncio and "
          "trio vs asyncio): at least 1.00x meets the target; /proc wake-ups = threads alive at "
          "both ends, read from outside (same probe cost subtracted)")
    bad = False
    for r in results.values():
        if r.probe:
            print(f"  {r.label}: asking for the counters costs {r.probe['voluntary']:g} "
                  f"switches and {r.probe['cpu_s'] * 1000:.2f} ms CPU (subtracted); ready in "
                  f"{r.ready_s:.2f} s")
        if r.error:
            bad = True
            print(f"!!! {r.label} FAILED: {r.error}")
    if args.json:
        args.json.write_text(json.dumps({
            "seconds": args.seconds, "keepalive_s": args.keepalive,
            "results": {m: r.__dict__ for m, r in results.items()}}, indent=2))
        print(f"results written to {args.json}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
