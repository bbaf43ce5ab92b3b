"""Recording benchmark: what impressions and events cost on the hot path, official splitio_client
10.7.0 (sync API) vs our splitio_async (sync shim and asyncio API), all in standalone mode.

Run from the repo root with the project venv:

    .venv/bin/python benchmarks/bench_recording.py            # full run (~3 min)
    .venv/bin/python benchmarks/bench_recording.py --quick    # smoke run (~1 min)
    .venv/bin/python benchmarks/bench_recording.py --json recording.json

What it measures:
1. µs per `get_treatment` on the plain 50/50 rollout flag with impressionsMode OPTIMIZED, DEBUG and
   NONE (a fresh factory per mode, keys cycling over the 1,000 benchmark users), and µs per
   `track(key, 'user', 'checkout', 12.5, {'plan': 'pro'})`.  Ratios are official / ours.
2. Resident memory (VmRSS) growth over 1,000,000 OPTIMIZED `get_treatment` calls on 100,000
   distinct keys (100,000 with --quick), measured after ready + warm-up.

Why it is built this way:
* Every factory lives in its own subprocess (_bench_recording_worker.py), run one after the other,
  so no SDK's threads or tasks steal time from another; the official SDK runs from
  benchmarks/.venv-official (created on first use).
* Both SDKs record to one fake Split server (streaming off) run by this process.  Recording is
  asynchronous, so the hot path alone says little: the server counts the records every POST
  carried, per factory, and the report checks them against the calls made, so an SDK cannot look
  fast by dropping records.  Ours also reports `delivery_counts()` after destroy.
* The async API's loop yields to the event loop every 100 calls (as _bench_timing.measure_async
  does), so our recorder task runs during the measurement and its cost is in the figures; in the
  shim it runs on the portal thread and shares the GIL, so its cost is in the figures too.
* The official SDK evaluates at ~100+ µs per call, so 1M calls take longer than the whole budget:
  by default its memory run stops at the last 100k checkpoint that fits in --official-cap seconds
  and the table says so, with a separately labelled extrapolation; --official-cap 0 runs the 1M.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import _bench_data
import _bench_floor
import _bench_report
import _bench_venv
from _bench_server import FakeSplitServer
from bench_evaluation import Worker, _run_worker

HERE = Path(__file__).resolve().parent
WORKER = "_bench_recording_worker.py"
MODES = ["OPTIMIZED", "DEBUG", "NONE", "track"]
IMPLS = [("official", "official"), ("shim", "ours shim"), ("asyncio", "ours async")]
MEMORY_KEYS = 100_000
CHECKPOINT = 100_000


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short run, 100k memory calls")
    parser.add_argument("--json", metavar="OUT", type=Path, help="write all results as JSON")
    parser.add_argument("--budget", type=float, help="s per timing (default 1.5, quick 0.25)")
    parser.add_argument("--reps", type=int, default=3, help="repetitions, best kept (default 3)")
    parser.add_argument("--memory-calls", type=int, help="default 1,000,000 (quick 100,000)")
    parser.add_argument(
        "--official-cap", type=float, default=60.0,
        help="max s of calls for the official memory run; 0 = always the full count (default 60)",
    )
    args = parser.parse_args(argv)
    args.budget = args.budget or (0.25 if args.quick else 1.5)
    args.memory_calls = args.memory_calls or (100_000 if args.quick else 1_000_000)
    return args


# ---------------------------------------------------------------------- running


class Runner:
    """Runs workers one at a time and charges each the server traffic that happened meanwhile."""

    def __init__(self, server: FakeSplitServer, common: list[str], python: dict[str, Path]):
        self.server = server
        self.common = common
        self.python = python
        self.runs: list[dict[str, Any]] = []

    def run(self, task: str, impl: str, spec: dict[str, Any], timeout: float) -> dict[str, Any]:
        label = f"{impl} {task} {spec.get('mode', '')}".strip()
        spec = {"urls": self.server.url_kwargs(), **spec}
        worker = Worker(label, self.python[impl], WORKER, [task, impl, json.dumps(spec)],
                        impl != "official")
        hits, records = self.server.snapshot(), self.server.records_snapshot()
        payload = _run_worker(worker, self.common, [], timeout)
        payload["task"], payload["sdk"], payload["mode"] = task, impl, spec.get("mode", "OPTIMIZED")
        payload["posts"] = dict(sorted(
            (k.removeprefix("POST /api/"), v)
            for k, v in (self.server.snapshot() - hits).items() if k.startswith("POST")
        ))
        payload["records"] = dict(self.server.records_snapshot() - records)
        self.runs.append(payload)
        return payload


# ---------------------------------------------------------------------- report


def _grid(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{widths[0]}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    return "\n".join([fmt.format(*header), fmt.format(*["-" * w for w in widths]),
                      *[fmt.format(*r) for r in rows]])


def _ns(payload: dict[str, Any] | None) -> float | None:
    if not payload or payload.get("error"):
        return None
    shape = payload.get("shapes", {}).get(payload["mode"]) or {}
    return shape.get("ns")


def _lost_mark(payload: dict[str, Any] | None) -> str:
    """'!' when this factory's records did not all reach the server (see the accounting)."""
    if not payload:
        return ""
    expected, accounted = expected_and_accounted(payload)
    return "!" if expected is not None and expected > accounted else ""


def timing_table(timed: dict[tuple[str, str], dict[str, Any]],
                 floor: float | None) -> tuple[str, list[dict[str, Any]]]:
    header = ["µs per call", *[title for _, title in IMPLS], "off/shim", "off/async", "py floor"]
    rows, data = [], []
    for mode in MODES:
        name = "track" if mode == "track" else f"get_treatment {mode}"
        ns = {impl: _ns(timed.get((mode, impl))) for impl, _ in IMPLS}
        cells = [name, *[_bench_report._us(ns[impl]) + _lost_mark(timed.get((mode, impl)))
                         for impl, _ in IMPLS]]
        cells += [_bench_report._ratio(ns["official"], ns[o]) for o in ("shim", "asyncio")]
        cells.append("" if mode == "track" or floor is None else f"{floor:.2f}")
        rows.append(cells)
        data.append({"call": name, **{f"{impl}_us": None if v is None else v / 1000
                                      for impl, v in ns.items()}})
    return _grid(header, rows), data


def expected_and_accounted(payload: dict[str, Any]) -> tuple[int | None, int]:
    """Records the server should have for this factory, and what it has (see module doc)."""
    rec, mode = payload["records"], payload["mode"]
    calls = payload.get("info", {}).get("calls")
    if mode == "track":
        return calls, rec.get("events", 0)
    if mode == "DEBUG":
        return calls, rec.get("impressions", 0)
    if mode == "NONE":
        return calls, rec.get("counted impressions", 0)
    # OPTIMIZED: every impression is either sent (first in the hour) or counted (seen before),
    # both when it was seen before in an earlier hour: accounted >= calls means nothing is missing
    if payload["task"] == "memory" and calls is not None:
        calls += payload["info"].get("warmup_calls", 0)
    return calls, rec.get("impressions", 0) + rec.get("counted impressions", 0)


def _telemetry(rec: dict[str, Any]) -> str:
    """Drops the SDK reported in its own telemetry usage POST (cumulative, sent at destroy)."""
    if not rec.get("telemetry usage reports"):
        return "no report"
    imp = rec.get("telemetry: impressions dropped", 0)
    return f"{imp:,} / {rec.get('telemetry: events dropped', 0):,}"


def _delivery(counts: dict[str, int] | None) -> str:
    if counts is None:
        return "n/a"
    return (f"imp {counts.get('impressions_dropped', 0):,}/"
            f"{counts.get('impressions_delivered', 0):,}/{counts.get('impressions_lost', 0):,}, "
            f"ev {counts.get('events_dropped', 0):,}/{counts.get('events_delivered', 0):,}/"
            f"{counts.get('events_lost', 0):,}")


def _label(p: dict[str, Any]) -> str:
    return f"{p['task'] if p['task'] == 'memory' else p['mode']} / {dict(IMPLS)[p['sdk']]}"


def check_run(p: dict[str, Any], expected: int | None, accounted: int) -> list[str]:
    """Everything that does not add up for one factory, loudly."""
    label, rec = _label(p), p["records"]
    info = p.get("info", {})
    problems = []
    if p.get("error"):
        problems.append(f"!!! {label}: {p['error']}")
    if expected is not None and expected > accounted:
        problems.append(f"!!! {label}: {expected - accounted:,} of {expected:,} records never "
                        "reached the server")
    counts = info.get("delivery")
    if counts:
        kind = "events" if p["mode"] == "track" else "impressions"
        delivered = counts.get(f"{kind}_delivered", 0)
        if delivered != rec.get(kind, 0):
            problems.append(f"!!! {label}: delivery_counts() says {delivered:,} {kind} "
                            f"delivered, the server accepted {rec.get(kind, 0):,}")
        for kind in ("impressions", "events"):
            for what in ("dropped", "lost"):
                if counts.get(f"{kind}_{what}"):
                    problems.append(f"!!! {label}: delivery_counts(): "
                                    f"{counts[f'{kind}_{what}']:,} {kind} {what}")
            told = rec.get(f"telemetry: {kind} dropped", 0)
            if rec.get("telemetry usage reports") and told != counts.get(f"{kind}_dropped", 0):
                problems.append(f"!!! {label}: delivery_counts() reports "
                                f"{counts.get(f'{kind}_dropped', 0):,} {kind} dropped, the "
                                f"SDK's own telemetry usage report says {told:,}")
    if info.get("destroyed") is False:
        problems.append(f"!!! {label}: destroy did not finish in 10 s")
    if rec.get("unparsed POST bodies"):
        problems.append(f"!!! {label}: {rec['unparsed POST bodies']} POST bodies unreadable")
    return problems


def accounting_table(runs: list[dict[str, Any]]) -> tuple[str, list[str]]:
    header = ["factory", "calls", "imp posted", "counted", "uniq keys", "events", "missing",
              "telemetry dropped imp/ev", "ours delivery_counts()"]
    rows, problems = [], []
    for p in runs:
        rec = p["records"]
        expected, accounted = expected_and_accounted(p)
        missing = None if expected is None else max(expected - accounted, 0)
        rows.append([
            _label(p), "n/a" if expected is None else f"{expected:,}",
            f"{rec.get('impressions', 0):,}", f"{rec.get('counted impressions', 0):,}",
            f"{rec.get('unique keys', 0):,}", f"{rec.get('events', 0):,}",
            "n/a" if missing is None else f"{missing:,}", _telemetry(rec),
            _delivery(p.get("info", {}).get("delivery")),
        ])
        problems += check_run(p, expected, accounted)
    return _grid(header, rows), problems


def memory_table(mem: dict[str, dict[str, Any]], target: int) -> tuple[str, list[str]]:
    header = ["SDK", "calls", "RSS before", "RSS after", "growth MiB", "VmHWM", "µs/call",
              "wall s"]
    rows, notes = [], []
    for impl, title in IMPLS:
        p = mem.get(impl)
        if p is None:
            continue
        info = p.get("info", {})
        if p.get("error") and "growth_mib" not in info:
            rows.append([title, *["n/a"] * 7])
            notes.append(f"!!! {title}: {p['error']}")
            continue
        star = "*" if info.get("truncated") else ""
        rows.append([
            title, f"{info.get('calls', 0):,}{star}", f"{info.get('rss_before_mib', 0):.1f}",
            f"{info.get('rss_after_mib', 0):.1f}", f"{info.get('growth_mib', 0):.1f}{star}",
            f"{info.get('hwm_mib', 0):.1f}", f"{info.get('us_per_call', 0):.2f}",
            f"{info.get('wall_s', 0):.0f}",
        ])
        steps = " | ".join(f"{n // 1000}k {g:+.1f}" for n, g in info.get("trajectory", []))
        notes.append(f"  {title}: {steps}")
        if info.get("truncated"):
            notes.append(extrapolation(title, info, target))
    head = "RSS growth in MiB after each 100k calls (checkpoints, before the final gc.collect):"
    return _grid(header, rows), [head, *notes]


def extrapolation(title: str, info: dict[str, Any], target: int) -> str:
    """Clearly labelled: linear from the slope of the last checkpoint interval."""
    traj = info["trajectory"]
    done, growth = info["calls"], info["growth_mib"]
    text = (f"* {title}: MEASURED only {done:,} of {target:,} calls (stopped by --official-cap, "
            f"{info.get('loop_s', 0):.0f} s of calls); growth measured over those calls.")
    if len(traj) >= 2:
        (n0, g0), (n1, g1) = traj[-2], traj[-1]
        slope = (g1 - g0) / (n1 - n0)
        text += (f" EXTRAPOLATED (not measured) to {target:,} calls, linear from the last "
                 f"interval's slope ({slope * 1e5:+.2f} MiB per 100k): "
                 f"{growth + slope * (target - done):.1f} MiB")
    return text


def log_lines(runs: list[dict[str, Any]]) -> list[str]:
    lines = ["SDK log records (WARNING and above; numbers folded, first text shown), per factory:"]
    for p in runs:
        for entry in p.get("info", {}).get("logs", []):
            first = " ".join(entry["first"].split())
            lines.append(f"  {_label(p)}: {entry['count']}x {entry['level']} {entry['logger']}: "
                         f"{first}")
    return lines if len(lines) > 1 else [lines[0] + " none"]


def posts_lines(runs: list[dict[str, Any]]) -> list[str]:
    lines = ["POSTs accepted by the fake server, per factory:"]
    totals: dict[str, Counter[str]] = {impl: Counter() for impl, _ in IMPLS}
    for p in runs:
        posts = ", ".join(f"{k} {v}" for k, v in p["posts"].items()) or "none"
        lines.append(f"  {_label(p)}: {posts}")
        totals[p["sdk"]].update(p["posts"])
    lines.append("POSTs accepted, total per SDK:")
    for impl, title in IMPLS:
        lines.append(f"  {title}: " + (", ".join(
            f"{k} {v}" for k, v in sorted(totals[impl].items())) or "none"))
    return lines


# ---------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    started = time.perf_counter()
    official = _bench_venv.ensure_official(HERE / ".venv-official")
    python = {"official": official, "shim": Path(sys.executable), "asyncio": Path(sys.executable)}
    data_dir = Path(tempfile.mkdtemp(prefix="split-bench-rec-"))
    data = _bench_data.build()
    workload = _bench_data.write(data_dir, data)
    server = FakeSplitServer(data.flags, data.segments)
    server.start()
    users = _bench_data.USER_COUNT
    common = [str(workload), str(args.budget), str(args.reps), str(users)]
    runner = Runner(server, common, python)
    print(f"fake Split server at {server.base_url}; {users} users; budget {args.budget} s x "
          f"{args.reps} reps per timing; memory: {args.memory_calls:,} calls over "
          f"{MEMORY_KEYS:,} keys", flush=True)
    timed: dict[tuple[str, str], dict[str, Any]] = {}
    mem: dict[str, dict[str, Any]] = {}
    try:
        for mode in MODES:
            for impl, _ in IMPLS:
                timeout = 90 + 25 * args.budget * args.reps
                timed[(mode, impl)] = runner.run("time", impl, {"mode": mode}, timeout)
        for impl, _ in IMPLS:
            cap = args.official_cap if impl == "official" and args.official_cap > 0 else None
            spec = {"mode": "OPTIMIZED", "calls": args.memory_calls, "keys": MEMORY_KEYS,
                    "checkpoint": min(CHECKPOINT, args.memory_calls), "cap_s": cap}
            timeout = 120 + (cap or args.memory_calls * 300e-6)
            mem[impl] = runner.run("memory", impl, spec, timeout)
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    floor = _bench_floor.generic()

    print()
    print("1. hot-path cost of recording (standalone, fake server, best of "
          f"{args.reps}; ratios official / ours, above 1 = ours faster)")
    table, rows = timing_table(timed, floor["one_flag"])
    print(table)
    print(f"   {_bench_floor.describe(floor)}")
    print("   ! = this factory did not deliver every record (dropped while measured, or lost at "
          "destroy): see below")
    print()
    print("   records the server received per factory (missing = calls not accounted for by "
          "impressions posted + counted, or events posted)")
    print("   telemetry = the SDK's own usage report (iDr/eD); delivery_counts() after destroy: "
          "dropped/delivered/lost")
    accounting, problems = accounting_table(runner.runs)
    print(accounting)
    print()
    for line in [*posts_lines(runner.runs), "", *log_lines(runner.runs)]:
        print(line)
    print()
    print(f"2. resident memory, OPTIMIZED, {args.memory_calls:,} get_treatment calls over "
          f"{MEMORY_KEYS:,} distinct keys (VmRSS after ready + warm-up -> after the calls and a "
          "gc.collect(); each SDK in its own process)")
    mtable, mnotes = memory_table(mem, args.memory_calls)
    print(mtable)
    for note in mnotes:
        print(note)
    print()
    for problem in problems or ["no drops, losses or errors: every call is accounted for"]:
        print(problem)
    print(f"total wall time {time.perf_counter() - started:.0f} s")
    if args.json:
        out = {
            "settings": {"budget_s": args.budget, "reps": args.reps, "users": users,
                         "memory_calls": args.memory_calls, "memory_keys": MEMORY_KEYS,
                         "official_cap_s": args.official_cap},
            "timing": rows,
            "floor_us": floor,
            "runs": runner.runs,
            "problems": problems,
        }
        args.json.write_text(json.dumps(out, indent=2))
        print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
