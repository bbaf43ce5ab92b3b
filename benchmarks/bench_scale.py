"""Scale: how each SDK's costs grow with the data, official splitio_client 10.7.0 (sync, asyncio)
beside ours (sync shim, asyncio, trio), each SDK in its own process per data set.

Run from the repo root with the project venv:

    .venv/bin/python benchmarks/bench_scale.py            # 50/500/5,000 flags; 10k/100k/1M keys
    .venv/bin/python benchmarks/bench_scale.py --quick    # 50/500 flags; 2k/20k keys (smoke run)
    .venv/bin/python benchmarks/bench_scale.py --flags 50 5000 --keys 10000 1000000 --json s.json

Data sets vary one thing at a time from the smallest: the number of flags (with the smallest
segment), then the size of the big segment (with the fewest flags). Every data set has flags of
five kinds (rollout, segment, attributes, rule-based segment, dependency), one rule-based segment
per 50 flags (at least three, with attribute rules, excluded keys and an excluded segment), four
1,000-key segments and the big one (_bench_data.build_scale).

For each data set and SDK:
* time to ready (get_factory to block_until_ready; imports before the clock), RSS after ready
  (after a gc.collect) and its peak (VmHWM);
* get_treatment cost on three flags that exist in every data set (a rollout, membership of the big
  segment, a rule-based segment with attribute rules), which should not grow with the data; the
  pure-Python floor is printed beside it;
* the cost of applying one change: a flag change streamed with its payload (SPLIT_UPDATE) and a
  key added to / removed from the big segment (SEGMENT_UPDATE, then a fetch), both from the
  server's write to the caller's evaluation; then streaming is paused (STREAMING_PAUSED: the SDK
  polls every --poll-rate s) and the same two changes are made without a notification, timed
  from the arrival of the poll request that fetched them to the caller's evaluation. The callers
  poll get_treatment with a 0.5 ms sleep on every API, so a spinning caller's hold on the GIL
  does not blur the SDKs' own cost (bench_propagation measures that case).
* the memory of the big segment per million keys: the RSS difference between the largest and
  the smallest segment data set, scaled to 1M keys.

"Flat" in the summary: the figure on the largest data set of an axis is at most --flat times the
one on the smallest (default 1.25 for get_treatment, 1.5 for the applying costs, which are
latencies of a few ms). The backend (_bench_server.py) stores every body encoded and gzipped
before any SDK starts, so a 1M-key segment is not re-encoded inside anybody's figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import _bench_data as bd
import _bench_floor
import _bench_live as bl
from _bench_server import FakeSplitServer

SEE_TIMEOUT_S = 15
GAP_S = 0.05
SHAPES = ("rollout", "segment", "rbs")
CHANGES = {  # result key: (table title, summary row)
    "stream_flag": ("flag change, streamed with its payload (ms, write -> seen)",
                    "flag change streamed"),
    "stream_segment": ("segment change, SEGMENT_UPDATE + fetch (ms, write -> seen)",
                       "segment change streamed"),
    "poll_flag": ("flag change, polled (ms, poll request -> seen)", "flag change polled"),
    "poll_segment": ("segment change, polled (ms, poll request -> seen)",
                     "segment change polled"),
}


@dataclass
class Run:
    """One SDK on one data set."""

    ready_ms: float | None = None
    rss_before_mib: float | None = None
    rss_mib: float | None = None
    hwm_mib: float | None = None
    get_us: dict[str, float | None] = field(default_factory=dict)
    changes: dict[str, bl.Series] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True, order=True)
class DataSetSize:
    flags: int
    keys: int

    @property
    def label(self) -> str:
        return f"{self.flags:,} flags, {_count(self.keys)} keys"


def _count(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 and not n % 1_000_000 else (
        f"{n // 1000}k" if n >= 1000 and not n % 1000 else str(n))


def sizes(flags: list[int], keys: list[int]) -> list[DataSetSize]:
    """One factor at a time from the smallest: every flag count with the fewest keys, then every
    key count with the fewest flags."""
    out = [DataSetSize(f, keys[0]) for f in flags]
    return out + [DataSetSize(flags[0], k) for k in keys[1:]]


def _get_shapes(data: bd.ScaleDataSet) -> dict[str, list[list[Any]]]:
    return {shape: [[u["key"], bd.SCALE_FLAGS[shape], u["attributes"]] for u in data.users]
            for shape in SHAPES}


def _streamed(server: FakeSplitServer, worker: bl.LiveWorker, run: Run,
              args: argparse.Namespace) -> None:
    flag_series = run.changes["stream_flag"] = bl.Series()
    segment_series = run.changes["stream_segment"] = bl.Series()
    watch, segmented = bd.SCALE_FLAGS["watch"], bd.SCALE_FLAGS["segment"]
    for n in range(1, args.warmup + args.changes + 1):
        flag = bd.rollout_flag(watch, [(f"w{n}", 100)])

        def push(message_id: str, flag: bd.Json = flag) -> None:
            pcn = server.flags_change_number
            cn = server.upsert_flag(flag)
            server.push_split_update(cn, pcn, {**flag, "changeNumber": cn}, message_id=message_id)

        sample = bl.watch_push(worker, server, bd.SCALE_WATCH_KEY, watch, f"w{n}", push,
                               "/api/splitChanges", SEE_TIMEOUT_S)
        _keep(flag_series, sample, n > args.warmup)
        time.sleep(GAP_S)
    bl.wait_quiet(server, seconds=args.quiet)
    for n in range(1, args.warmup + args.changes + 1):
        inside = n % 2 == 1

        def toggle(message_id: str, inside: bool = inside) -> None:
            cn = _toggle(server, inside)
            server.push_segment_update(bd.SCALE_SEGMENT, cn, message_id=message_id)

        sample = bl.watch_push(worker, server, bd.SCALE_WATCH_KEY, segmented,
                               "in" if inside else "out", toggle,
                               f"/api/segmentChanges/{bd.SCALE_SEGMENT}", SEE_TIMEOUT_S)
        _keep(segment_series, sample, n > args.warmup)
        time.sleep(GAP_S)
    bl.wait_quiet(server, seconds=args.quiet)


def _toggle(server: FakeSplitServer, inside: bool) -> int:
    """Put the watch key into the big segment (or take it out); returns the change number."""
    key = [bd.SCALE_WATCH_KEY]
    return server.update_segment(bd.SCALE_SEGMENT, added=key if inside else [],
                                 removed=[] if inside else key)


def _polled(server: FakeSplitServer, worker: bl.LiveWorker, run: Run,
            args: argparse.Namespace) -> None:
    paused = time.monotonic()
    server.push_control("STREAMING_PAUSED")
    deadline = paused + 10 + 3 * args.poll_rate
    while len(server.requests_since(paused, "/api/splitChanges")) < 2:  # polling has started
        if time.monotonic() > deadline:
            raise bl.WorkerError("the SDK did not start polling after STREAMING_PAUSED")
        time.sleep(0.01)
    flag_series = run.changes["poll_flag"] = bl.Series()
    segment_series = run.changes["poll_segment"] = bl.Series()
    watch, segmented = bd.SCALE_FLAGS["watch"], bd.SCALE_FLAGS["segment"]
    # the streamed segment changes left the key inside after an odd count, outside after even
    inside = (args.warmup + args.changes) % 2 == 1
    for n in range(1, args.poll_changes + 1):
        flag = bd.rollout_flag(watch, [(f"p{n}", 100)])
        sample = bl.watch_poll(worker, server, bd.SCALE_WATCH_KEY, watch, f"p{n}",
                               lambda flag=flag: server.upsert_flag(flag), "/api/splitChanges",
                               SEE_TIMEOUT_S)
        _keep(flag_series, sample, True)
        inside = not inside
        sample = bl.watch_poll(
            worker, server, bd.SCALE_WATCH_KEY, segmented, "in" if inside else "out",
            lambda inside=inside: _toggle(server, inside),
            f"/api/segmentChanges/{bd.SCALE_SEGMENT}", SEE_TIMEOUT_S)
        _keep(segment_series, sample, True)


def _keep(series: bl.Series, sample: bl.Sample | None, measured: bool) -> None:
    if not measured:
        return
    if sample is None:
        series.lost += 1
    else:
        series.samples.append(sample)


def measure(mode: str, server: FakeSplitServer, data: bd.ScaleDataSet,
            python: dict[str, Any], args: argparse.Namespace) -> Run:
    run = Run()
    exe, env = python[mode]
    spec = {"urls": server.url_kwargs(), "timeout": SEE_TIMEOUT_S, "async_sleep": 0.0005,
            "sync_sleep": 0.0005, "config": {"featuresRefreshRate": args.poll_rate,
                                             "segmentsRefreshRate": args.poll_rate}}
    server.reset()
    worker = bl.LiveWorker(mode, exe, env, spec)
    try:
        ready = worker.expect("ready", timeout=300)
        run.ready_ms = ready["ready"] * 1000
        run.rss_before_mib, run.rss_mib = ready["rss_before_mib"], ready["rss_mib"]
        run.hwm_mib = ready["hwm_mib"]
        server.wait_for_streams(1, 30)
        bl.wait_quiet(server, seconds=args.quiet)
        timed = worker.ask({"cmd": "time", "shapes": _get_shapes(data), "budget_s": args.budget,
                            "reps": args.reps}, "timed", 120)["timed"]
        run.get_us = {k: None if v is None else v / 1000 for k, v in timed.items()}
        _streamed(server, worker, run, args)
        _polled(server, worker, run, args)
    except (bl.WorkerError, TimeoutError) as exc:
        run.error = f"{exc}\n{worker.stderr()}".strip()
    finally:
        worker.close()
    return run


# ---------------------------------------------------------------------- report

Results = dict[DataSetSize, dict[str, Run]]


def _table(results: Results, modes: list[str], cell: Any, title: str,
           beside: tuple[str, str] | None = None) -> str:
    """Data sets down, SDKs across; ``beside`` = (title, value) of an extra column."""
    header = [title, *[bl.LABELS[m] for m in modes], *([beside[0]] if beside else [])]
    rows = [[size.label, *[cell(runs[m]) if m in runs else "n/a" for m in modes],
             *([beside[1]] if beside else [])]
            for size, runs in results.items()]
    return bl.grid(header, rows)


def _num(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def _get_cell(run: Run) -> str:
    return " / ".join(_num(run.get_us.get(s), 2) for s in SHAPES) if run.get_us else "n/a"


def growth(results: Results, mode: str, axis: str, value: Any) -> float | None:
    """``value(run)`` on the largest data set of ``axis`` / on the smallest (None if one axis
    point only, or a figure is missing)."""
    sized = sorted(results)
    base = sized[0]
    points = [s for s in sized if (s.keys == base.keys if axis == "flags" else
                                   s.flags == base.flags)]
    if len(points) < 2 or mode not in results[points[0]] or mode not in results[points[-1]]:
        return None
    small, large = value(results[points[0]][mode]), value(results[points[-1]][mode])
    return None if small is None or large is None or not small else large / small


def growth_table(results: Results, modes: list[str]) -> dict[str, dict[str, float | None]]:
    """{mode: {"get_treatment <shape> by <axis>" | "<change> by <axis>": growth}} for --json."""
    out: dict[str, dict[str, float | None]] = {}
    for mode in modes:
        row: dict[str, float | None] = {}
        for axis in ("flags", "keys"):
            for shape in SHAPES:
                row[f"get_treatment {shape} by {axis}"] = growth(
                    results, mode, axis, lambda r, s=shape: r.get_us.get(s))
            for change in CHANGES:
                row[f"{change} by {axis}"] = growth(
                    results, mode, axis,
                    lambda r, c=change: r.changes[c].median() if c in r.changes else None)
        out[mode] = row
    return out


def segment_memory(results: Results, mode: str) -> float | None:
    """MiB per 1M keys of the big segment: RSS on the largest minus on the smallest key data set
    (same flags), scaled."""
    base = min(results)
    points = sorted(s for s in results if s.flags == base.flags)
    if len(points) < 2:
        return None
    small, large = results[points[0]].get(mode), results[points[-1]].get(mode)
    if not small or not large or small.rss_mib is None or large.rss_mib is None:
        return None
    return (large.rss_mib - small.rss_mib) / (points[-1].keys - points[0].keys) * 1_000_000


def summary(results: Results, modes: list[str], args: argparse.Namespace) -> list[str]:
    lines = [f"flat = largest data set / smallest on that axis <= {args.flat_get:g}x for "
             f"get_treatment, <= {args.flat_change:g}x for applying a change"]
    header = ["growth, largest / smallest", *[bl.LABELS[m] for m in modes]]
    table = growth_table(results, modes)
    rows = []
    for axis in ("flags", "keys"):
        for shape in SHAPES:
            name = f"get_treatment {shape} by {axis}"
            rows.append([f"get_treatment {shape}, by {axis}",
                         *[_flat(table[m][name], args.flat_get) for m in modes]])
        for change, (_, title) in CHANGES.items():
            name = f"{change} by {axis}"
            rows.append([f"{title}, by {axis}",
                         *[_flat(table[m][name], args.flat_change) for m in modes]])
    rows = [row for row in rows if any(cell != "n/a" for cell in row[1:])]  # one-point axes
    if rows:
        lines.append(bl.grid(header, rows))
    memory = {m: segment_memory(results, m) for m in modes}
    if any(v is not None for v in memory.values()):
        block = ["big segment memory, MiB per 1M keys (RSS difference between the largest and "
                 "smallest key counts, scaled to 1M; target: ours <= the official counterpart):"]
        for mode in modes:
            ref = memory.get(bl.COUNTERPART.get(mode, ""))
            verdict = ""
            if mode in bl.COUNTERPART and ref is not None and memory[mode] is not None:
                verdict = f"  vs official {ref:.1f}: {'met' if memory[mode] <= ref else 'MISSED'}"
            block.append(f"  {bl.LABELS[mode]}: {_num(memory[mode])}{verdict}")
        lines.append("\n".join(block))
    return lines


def _flat(value: float | None, limit: float) -> str:
    return "n/a" if value is None else f"{value:.2f}x {'flat' if value <= limit else 'GROWS'}"


def report(results: Results, modes: list[str], args: argparse.Namespace) -> list[str]:
    floor = _bench_floor.generic()
    out = [_table(results, modes, lambda r: _num(r.ready_ms, 0), "time to ready (ms)"),
           _table(results, modes, lambda r: f"{_num(r.rss_mib)} ({_num(r.hwm_mib)})",
                  "RSS after ready, MiB (peak)"),
           _table(results, modes, _get_cell, "get_treatment µs rollout/segment/rbs",
                  ("py floor", _num(floor["one_flag"], 2)))
           + "\n" + _bench_floor.describe(floor)]
    for change, (title, _) in CHANGES.items():
        out.append(_table(results, modes, lambda r, c=change: _num(
            r.changes[c].median(), 2) if c in r.changes else "n/a", title))
    out += summary(results, modes, args)
    for size, runs in results.items():
        for mode, run in runs.items():
            lost = sum(s.lost for s in run.changes.values())
            if lost:
                out.append(f"!!! {size.label} / {bl.LABELS[mode]}: {lost} changes never seen")
            if run.error:
                out.append(f"!!! {size.label} / {bl.LABELS[mode]} FAILED: {run.error}")
    return out


# ---------------------------------------------------------------------- main


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small data sets (smoke run)")
    parser.add_argument("--flags", type=int, nargs="+", help="flag counts (50 500 5000)")
    parser.add_argument("--keys", type=int, nargs="+",
                        help="big segment sizes (10000 100000 1000000)")
    parser.add_argument("--changes", type=int, help="streamed changes of each kind (5, quick 1)")
    parser.add_argument("--poll-changes", type=int, help="polled changes of each kind (3, quick 1)")
    parser.add_argument("--warmup", type=int,
                        help="unmeasured streamed changes first (1, quick 0)")
    parser.add_argument("--poll-rate", type=float,
                        help="featuresRefreshRate and segmentsRefreshRate, s (1, quick 0.25)")
    parser.add_argument("--budget", type=float, help="s per get_treatment timing (0.3, quick 0.03)")
    parser.add_argument("--quiet", type=float,
                        help="s without a fetch that mean the SDK's follow-up syncs are over "
                             "(0.3, quick 0.15)")
    parser.add_argument("--reps", type=int, default=3, help="timing repetitions, best kept (3)")
    parser.add_argument("--flat-get", type=float, default=1.25)
    parser.add_argument("--flat-change", type=float, default=1.5)
    parser.add_argument("--only", nargs="+", choices=bl.MODES, help="only these APIs")
    parser.add_argument("--json", metavar="OUT", type=Path, help="write all results as JSON")
    args = parser.parse_args(argv)
    quick = args.quick
    args.flags = sorted(args.flags or ([50, 500] if quick else [50, 500, 5000]))
    args.keys = sorted(args.keys or ([2000, 20000] if quick else [10_000, 100_000, 1_000_000]))
    args.changes = args.changes or (1 if quick else 5)
    args.poll_changes = args.poll_changes or (1 if quick else 3)
    args.warmup = args.warmup if args.warmup is not None else (0 if quick else 1)
    args.poll_rate = args.poll_rate or (0.25 if quick else 1.0)
    args.budget = args.budget or (0.03 if quick else 0.3)
    args.quiet = args.quiet or (0.15 if quick else 0.3)
    if quick:
        args.reps = min(args.reps, 2)
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    modes = [m for m in bl.MODES if not args.only or m in args.only]
    python = bl.interpreters(modes)
    results: Results = {}
    started = time.perf_counter()
    for size in sizes(args.flags, args.keys):
        data = bd.build_scale(size.flags, size.keys)
        server = FakeSplitServer(data.flags, data.segments, data.rule_based_segments,
                                 streaming=True)
        server.start()
        try:
            encoded = server.prepare()
            print(f"{size.label}: {encoded['raw_mib']:.1f} MiB of first pages "
                  f"({encoded['gzip_mib']:.1f} gzipped), stored in {encoded['seconds']:.1f} s",
                  flush=True)
            results[size] = {}
            for mode in modes:
                print(f"  {bl.LABELS[mode]} ...", flush=True)
                results[size][mode] = measure(mode, server, data, python, args)
        finally:
            server.stop()
    print()
    lines = report(results, modes, args)
    for line in lines:
        print(line)
        print()
    print(f"total wall time {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({
            "settings": {k: v for k, v in vars(args).items() if k != "json"},
            "results": [{"flags": s.flags, "keys": s.keys,
                         "runs": {m: {**asdict(r), "changes": {
                             c: {"median_ms": v.median(), "samples": [asdict(x) for x in
                                                                      v.samples],
                                 "lost": v.lost} for c, v in r.changes.items()}}
                                  for m, r in runs.items()}}
                        for s, runs in results.items()],
            "segment_memory_mib_per_1m": {m: segment_memory(results, m) for m in modes},
            "growth": growth_table(results, modes),
            "flat_limits": {"get_treatment": args.flat_get, "change": args.flat_change},
        }, indent=2, default=str))
        print(f"results written to {args.json}")
    bad = any(r.error or any(s.lost for s in r.changes.values())
              for runs in results.values() for r in runs.values())
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
