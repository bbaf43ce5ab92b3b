"""Propagation latency: from the server writing a streaming notification to the new treatment being
returned by ``get_treatment`` in the caller's thread, for every kind of notification, on every API:
official splitio_client 10.7.0 (sync, asyncio) beside ours (sync shim, asyncio, trio).

Run from the repo root with the project venv:

    .venv/bin/python benchmarks/bench_propagation.py                # 15 changes per kind and API
    .venv/bin/python benchmarks/bench_propagation.py --quick        # 3 per kind (smoke run)
    .venv/bin/python benchmarks/bench_propagation.py --kinds payload kill --only ours-shim
    .venv/bin/python benchmarks/bench_propagation.py --pushes 30 --json propagation.json

Kinds (each a change on the server, then its notification):
* payload: SPLIT_UPDATE carrying the flag (zlib, c=2, as Split sends) and the SDK's change number
  as ``pcn``: the "instant update", no fetch expected;
* fetch:   SPLIT_UPDATE without payload: the SDK must fetch splitChanges;
* kill:    SPLIT_KILL (the flag's default treatment changes): applied locally, visible before
           the fetch that follows it;
* segment: SEGMENT_UPDATE (the watched key enters or leaves a segment): a segmentChanges fetch;
* rbs:     RB_SEGMENT_UPDATE carrying the rule-based segment (the key's exclusion toggles): no
           fetch expected.

Why it is built this way:
* Every SDK runs in standalone mode with streaming on, in its own process (_bench_live_worker.py),
  one after the other, against the benchmark backend (_bench_server.py) in this process: stored
  response bodies, an SSE stream that sends occupancy on attach (the SDK's streaming comes UP and
  runs a full sync, which the benchmark waits out) and records when each message's bytes were
  written to the socket. Latencies start there.
* Where the time goes, without hooks in either SDK: "recv" is the first socket read in the SDK's
  process that returned the message's bytes (socket reads are wrapped in the worker); "fetch" the
  arrival at the server of the first fetch the notification caused; "event" the SDK's public
  SDK_UPDATE callback; "seen" the first get_treatment in the caller's thread that returns the new
  treatment (sync APIs poll in a tight loop, as a busy request thread would; async APIs every
  --async-sleep). A finer split (parsed, queued, applied) needs a trace hook in the SDK: see
  docs/benchmarks.md.
* Requests to splitChanges / segmentChanges during each change are counted, so an "instant" kind
  that fetched anyway shows up. The first --warmup changes of each kind are not counted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import _bench_data as bd
import _bench_live as bl
from _bench_server import FakeSplitServer

KEY = "user-1"
SEE_TIMEOUT_S = 10  # a change not seen by then is reported as lost
GAP_S = 0.05  # between changes: the SDK's side effects of one settle before the next
FLAGS = "/api/splitChanges"
SEGMENTS = "/api/segmentChanges/"
SEGMENT = "propagation_segment"
RBS = "propagation_rbs"


@dataclass(frozen=True)
class Kind:
    title: str
    flag: str
    fetch_prefix: str  # where a fetch caused by this kind goes
    instant: bool  # visible without a fetch (payload, or a local kill)


KINDS = {
    "payload": Kind("SPLIT_UPDATE with payload", "propagation_flag", FLAGS, True),
    "fetch": Kind("SPLIT_UPDATE that needs a fetch", "propagation_fetch_flag", FLAGS, False),
    "kill": Kind("SPLIT_KILL", "propagation_kill_flag", FLAGS, True),
    "segment": Kind("SEGMENT_UPDATE", "propagation_segment_flag", SEGMENTS, False),
    "rbs": Kind("RB_SEGMENT_UPDATE with payload", "propagation_rbs_flag", FLAGS, True),
}


def data_set() -> tuple[list[bd.Json], dict[str, list[str]], list[bd.Json]]:
    """Ten filler flags and one watched flag per kind; the key starts outside the segment and
    excluded from the rule-based segment."""
    flags = [bd.rollout_flag(f"filler_{i:02d}", [("on", 50), ("off", 50)]) for i in range(10)]
    flags += [
        bd.rollout_flag(KINDS["payload"].flag, [("v0", 100)]),
        bd.rollout_flag(KINDS["fetch"].flag, [("f0", 100)]),
        bd.rollout_flag(KINDS["kill"].flag, [("on", 100)]),
        bd.segment_flag(KINDS["segment"].flag, SEGMENT),
        bd.rbs_flag(KINDS["rbs"].flag, RBS),
    ]
    segments = {SEGMENT: [f"member-{i}" for i in range(1000)]}
    return flags, segments, [bd.rule_based_segment(RBS, excluded_keys=[KEY])]


def change(server: FakeSplitServer, kind: str, n: int) -> tuple[str, Callable[[str], None]]:
    """Change number ``n`` of ``kind``: the treatment to expect and the push to make."""
    flag = KINDS[kind].flag
    if kind in ("payload", "fetch"):
        treatment = f"{kind[0]}{n}"
        new = bd.rollout_flag(flag, [(treatment, 100)])

        def push(message_id: str) -> None:
            pcn = server.flags_change_number
            cn = server.upsert_flag(new)
            payload = {**new, "changeNumber": cn} if kind == "payload" else None
            server.push_split_update(cn, pcn, payload, message_id=message_id)

        return treatment, push
    if kind == "kill":
        treatment = f"k{n}"

        def kill(message_id: str) -> None:
            cn = server.kill_flag(flag, treatment)
            server.push_split_kill(flag, treatment, cn, message_id=message_id)

        return treatment, kill
    inside = n % 2 == 1  # odd changes put the key in, even ones take it out again
    if kind == "segment":

        def segment(message_id: str) -> None:
            cn = server.update_segment(SEGMENT, added=[KEY] if inside else [],
                                       removed=[] if inside else [KEY])
            server.push_segment_update(SEGMENT, cn, message_id=message_id)

        return ("in" if inside else "out"), segment

    def rbs(message_id: str) -> None:
        pcn = server.rbs_change_number
        new = bd.rule_based_segment(RBS, excluded_keys=[] if inside else [KEY])
        cn = server.upsert_rule_based_segment(new)
        server.push_rbs_update(cn, pcn, {**new, "changeNumber": cn}, message_id=message_id)

    return ("in" if inside else "out"), rbs


@dataclass
class ApiResult:
    ready_s: float | None = None
    kinds: dict[str, bl.Series] = field(default_factory=dict)
    error: str | None = None


def measure(mode: str, server: FakeSplitServer, args: argparse.Namespace) -> ApiResult:
    result = ApiResult()
    python, env = bl.interpreters([mode])[mode]
    spec = {"urls": server.url_kwargs(), "config": {}, "timeout": SEE_TIMEOUT_S,
            "async_sleep": args.async_sleep, "sync_sleep": args.sync_sleep}
    server.reset()
    worker = bl.LiveWorker(mode, python, env, spec)
    try:
        result.ready_s = worker.expect("ready", timeout=120)["ready"]
        server.wait_for_streams(1, 30)
        bl.wait_quiet(server)  # streaming UP ran a full sync: let it finish
        for kind in args.kinds:
            series = result.kinds[kind] = bl.Series()
            for n in range(1, args.warmup + args.pushes + 1):
                treatment, push = change(server, kind, n)
                sample = bl.watch_push(worker, server, KEY, KINDS[kind].flag, treatment, push,
                                       KINDS[kind].fetch_prefix, SEE_TIMEOUT_S)
                if n > args.warmup:
                    if sample is None:
                        series.lost += 1
                    else:
                        series.samples.append(sample)
                time.sleep(GAP_S)
            bl.wait_quiet(server)
    except (bl.WorkerError, TimeoutError) as exc:
        result.error = f"{exc}\n{worker.stderr()}".strip()
    finally:
        worker.close()
    return result


def _cell(series: bl.Series | None) -> str:
    return "n/a" if series is None else bl.fmt_ms(series.median())


def kind_table(kind: str, results: dict[str, ApiResult]) -> str:
    header = ["implementation", "n", "median", "min", "max", "vs official", "recv", "fetch",
              "event", "fetches", "lost"]
    rows = []
    for mode, result in results.items():
        series = result.kinds.get(kind)
        if series is None:
            rows.append([bl.LABELS[mode] + ("  FAILED" if result.error else ""),
                         *["n/a"] * (len(header) - 1)])
            continue
        reference = bl.COUNTERPART.get(mode)
        ref = results.get(reference) if reference else None
        ref_series = ref.kinds.get(kind) if ref else None
        versus = bl.ratio(ref_series.median() if ref_series else None, series.median())
        rows.append([
            bl.LABELS[mode], str(len(series.samples)), _cell(series),
            bl.fmt_ms(series.extreme(min)), bl.fmt_ms(series.extreme(max)),
            versus if reference else "",
            bl.fmt_ms(series.median("recv")), bl.fmt_ms(series.median("fetch")),
            bl.fmt_ms(series.median("event")), str(series.fetches()), str(series.lost),
        ])
    return bl.grid(header, rows)


def summary_table(kinds: list[str], results: dict[str, ApiResult]) -> str:
    """Median ms per kind and API; ratio = the official counterpart's median / ours."""
    ours = [m for m in results if m in bl.COUNTERPART]
    header = ["median ms (write -> seen)", *[bl.LABELS[m] for m in results],
              *[f"{bl.COUNTERPART[m].removeprefix('official-')}/{m.removeprefix('ours-')}"
                for m in ours]]
    rows = []
    for kind in kinds:
        medians = {m: r.kinds[kind].median() if kind in r.kinds else None
                   for m, r in results.items()}
        rows.append([KINDS[kind].title, *[bl.fmt_ms(v) for v in medians.values()],
                     *[bl.ratio(medians.get(bl.COUNTERPART[m]), medians[m]) for m in ours]])
    return bl.grid(header, rows)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 changes per kind, 1 warm-up")
    parser.add_argument("--pushes", type=int, help="measured changes per kind and API (15)")
    parser.add_argument("--warmup", type=int, help="unmeasured changes first (2)")
    parser.add_argument("--kinds", nargs="+", choices=list(KINDS), default=list(KINDS))
    parser.add_argument("--async-sleep", type=float, default=0.0005,
                        help="pause between get_treatment calls of the async APIs (0.0005 s)")
    parser.add_argument("--sync-sleep", type=float, default=0.0,
                        help="pause between get_treatment calls of the sync APIs (default 0: a "
                             "tight loop, which holds the GIL)")
    parser.add_argument("--only", nargs="+", choices=bl.MODES, help="only these APIs")
    parser.add_argument("--json", metavar="OUT", type=Path, help="write all results as JSON")
    args = parser.parse_args(argv)
    args.pushes = args.pushes or (3 if args.quick else 15)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.quick else 2)
    if args.pushes < 1:
        parser.error("--pushes must be at least 1")
    return args


def to_json(results: dict[str, ApiResult]) -> dict[str, Any]:
    return {mode: {"label": bl.LABELS[mode], "ready_s": r.ready_s, "error": r.error,
                   "kinds": {kind: {"median_ms": s.median(), "recv_ms": s.median("recv"),
                                    "fetch_ms": s.median("fetch"), "event_ms": s.median("event"),
                                    "lost": s.lost, "fetches": s.fetches(),
                                    "samples": [asdict(x) for x in s.samples]}
                             for kind, s in r.kinds.items()}}
            for mode, r in results.items()}


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    modes = [m for m in bl.MODES if not args.only or m in args.only]
    bl.interpreters(modes)  # build the official venv first, outside any timing
    flags, segments, rbs = data_set()
    server = FakeSplitServer(flags, segments, rbs, streaming=True)
    server.start()
    server.prepare()
    sync = (f"every {args.sync_sleep * 1000:g} ms" if args.sync_sleep else "in a tight loop")
    print(f"{args.warmup} warm-up + {args.pushes} measured changes per kind and API; sync APIs "
          f"poll get_treatment {sync}, async ones every {args.async_sleep * 1000:g} ms; "
          f"backend at {server.base_url}", flush=True)
    results: dict[str, ApiResult] = {}
    try:
        for mode in modes:
            print(f"  {bl.LABELS[mode]} ...", flush=True)
            results[mode] = measure(mode, server, args)
    finally:
        server.stop()
    print()
    print(summary_table(args.kinds, results))
    print("ratios: the official counterpart's median / ours (sync shim vs official sync, asyncio "
          "and trio vs official asyncio); above 1 = ours faster")
    for kind in args.kinds:
        note = ("visible without a fetch" if KINDS[kind].instant
                else "visible after one fetch")
        print(f"\n{KINDS[kind].title} ({note}); medians in ms after the server's write")
        print(kind_table(kind, results))
    print("\nrecv = the SDK process read the bytes; fetch = its first fetch reached the server; "
          "event = SDK_UPDATE callback ran; seen = get_treatment returned the new treatment "
          "(median of each, so they need not add up)")
    if not args.sync_sleep:
        print(f"sync APIs: the caller's tight loop holds the GIL, so each wake-up of an SDK "
              f"thread (reading the stream, a fetch's I/O) can wait up to the switch interval "
              f"({sys.getswitchinterval() * 1000:g} ms) for it: see recv; --sync-sleep shows "
              "the latency without that")
    bad = False
    for mode, result in results.items():
        if result.ready_s is not None:
            print(f"  {bl.LABELS[mode]}: ready in {result.ready_s:.2f} s")
        for kind, series in result.kinds.items():
            if KINDS[kind].instant and series.fetches():
                print(f"  note {bl.LABELS[mode]} / {kind}: {series.fetches()} fetches before "
                      "the changes were seen (none should be needed)")
            if series.lost:
                bad = True
                print(f"!!! {bl.LABELS[mode]} / {kind}: {series.lost} changes never seen")
        if result.error:
            bad = True
            print(f"!!! {bl.LABELS[mode]} FAILED: {result.error}")
    if args.json:
        args.json.write_text(json.dumps({"pushes": args.pushes, "warmup": args.warmup,
                                         "async_sleep": args.async_sleep, "kinds": args.kinds,
                                         "results": to_json(results)}, indent=2))
        print(f"results written to {args.json}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
