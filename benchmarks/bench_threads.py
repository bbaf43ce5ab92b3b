"""get_treatment throughput through the blocking API from 8 threads at once: official vs our shim.

Both SDKs run in standalone mode (HTTP sync, OPTIMIZED impressions) against the same fake Split
server in the parent process, each in its own subprocess.  After the SDK is ready and warmed up,
a single thread calls get_treatment for a fixed wall time (reference figure), then THREADS threads
start behind a barrier and each calls get_treatment over its own keys for the same wall time.
Reported: total calls/s, µs per call of wall time (1 / throughput), and ours / official.

    .venv/bin/python benchmarks/bench_threads.py [--seconds S] [--threads N] [--quick]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import _bench_floor
import _bench_venv
from _bench_server import FakeSplitServer

HERE = Path(__file__).resolve().parent
KEYS_PER_THREAD = 2000
SEGMENT = "threads_beta"


def _flag(name: str, matcher: dict[str, Any], partitions: list[tuple[str, int]],
          label: str, seed: int) -> dict[str, Any]:
    return {
        "name": name, "trafficTypeName": "user", "seed": seed, "trafficAllocation": 100,
        "trafficAllocationSeed": seed + 1, "status": "ACTIVE", "killed": False,
        "defaultTreatment": "off", "changeNumber": 10, "algo": 2,
        "conditions": [{
            "conditionType": "ROLLOUT",
            "matcherGroup": {"combiner": "AND", "matchers": [{
                "keySelector": {"trafficType": "user", "attribute": None},
                "negate": False, **matcher,
            }]},
            "partitions": [{"treatment": t, "size": s} for t, s in partitions],
            "label": label,
        }],
    }


FLAGS = [
    _flag("threads_rollout", {"matcherType": "ALL_KEYS"}, [("on", 50), ("off", 50)],
          "default rule", 1234),
    _flag("threads_segment", {"matcherType": "IN_SEGMENT",
                              "userDefinedSegmentMatcherData": {"segmentName": SEGMENT}},
          [("on", 100)], f"in segment {SEGMENT}", 5678),
]
# Every other key of every thread is in the segment.
SEGMENTS = {SEGMENT: [f"user-{t}-{i}" for t in range(64) for i in range(0, KEYS_PER_THREAD, 2)]}

WORKER = r'''
import json, logging, sys, threading, time
logging.disable(logging.CRITICAL)
impl, urls, seconds, nthreads, nkeys = (sys.argv[1], json.loads(sys.argv[2]), float(sys.argv[3]),
                                        int(sys.argv[4]), int(sys.argv[5]))
if impl == "official":
    from splitio import get_factory
else:
    from splitio_sync_shim import get_factory
config = {"streamingEnabled": False, "impressionsMode": "OPTIMIZED",
          "machineIp": "127.0.0.1", "machineName": "bench"}
factory = get_factory("SDK-KEY-0001", config=config, **urls)
factory.block_until_ready(30)
client = factory.client()
FLAGS = ("threads_rollout", "threads_segment")
work = [[(f"user-{t}-{i}", FLAGS[(i // 2) % 2]) for i in range(nkeys)]
        for t in range(nthreads)]

def worker(slot, items, barrier, counts, spans):
    get = client.get_treatment
    barrier.wait()
    start = time.perf_counter()
    deadline = start + seconds
    n, size, i = 0, len(items), 0
    while True:
        for _ in range(64):
            key, flag = items[i]
            get(key, flag)
            i += 1
            if i == size:
                i = 0
        n += 64
        if time.perf_counter() >= deadline:
            break
    spans[slot] = (start, time.perf_counter())
    counts[slot] = n

def run(nt):
    barrier = threading.Barrier(nt)
    counts, spans = [0] * nt, [None] * nt
    threads = [threading.Thread(target=worker, args=(s, work[s], barrier, counts, spans))
               for s in range(nt)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = max(e for _, e in spans) - min(s for s, _ in spans)
    return {"calls": sum(counts), "wall": wall, "per_thread": counts}

for items in work:                      # warm-up: every key/flag pair once
    for key, flag in items:
        client.get_treatment(key, flag)
time.sleep(0.5)
results = {"single": run(1), "multi": run(nthreads)}
if impl == "official":
    done = threading.Event()
    factory.destroy(done)
    done.wait(30)
else:
    factory.destroy()
print(json.dumps(results))
'''


def run(python: str, impl: str, urls: dict[str, str], seconds: float,
        threads: int) -> dict[str, Any]:
    done = subprocess.run(
        [python, "-c", WORKER, impl, json.dumps(urls), str(seconds), str(threads),
         str(KEYS_PER_THREAD)],
        capture_output=True, text=True, timeout=300, check=False, cwd=HERE.parent,
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"{impl} worker failed ({done.returncode})")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, help="wall time per run (default 3, quick 0.5)")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="0.5 s runs (smoke run)")
    args = parser.parse_args()
    args.seconds = args.seconds or (0.5 if args.quick else 3.0)
    if not 1 <= args.threads <= 64:
        parser.error("--threads must be 1..64")
    official = str(_bench_venv.ensure_official(HERE / ".venv-official"))
    server = FakeSplitServer(FLAGS, SEGMENTS)
    server.start()
    try:
        figures = {impl: run(python, impl, server.url_kwargs(), args.seconds, args.threads)
                   for impl, python in (("official", official), ("shim", sys.executable))}
    finally:
        server.stop()
    floor = _bench_floor.generic()
    print(f"get_treatment through the blocking API, {args.seconds:g} s wall per run "
          f"(50/50 rollout + segment flag, OPTIMIZED, standalone vs fake server)")
    print(f"{'run':<12} {'official calls/s':>17} {'shim calls/s':>13} {'off µs/call':>12} "
          f"{'shim µs/call':>13} {'ours/official':>14}")
    for label, shape in (("1 thread", "single"), (f"{args.threads} threads", "multi")):
        off, shim = figures["official"][shape], figures["shim"][shape]
        off_rate, shim_rate = off["calls"] / off["wall"], shim["calls"] / shim["wall"]
        print(f"{label:<12} {off_rate:17,.0f} {shim_rate:13,.0f} {1e6 / off_rate:12.2f} "
              f"{1e6 / shim_rate:13.2f} {shim_rate / off_rate:13.2f}x")
    for impl in ("official", "shim"):
        per = figures[impl]["multi"]["per_thread"]
        print(f"{impl} per-thread calls ({args.threads} threads): min {min(per):,} "
              f"max {max(per):,}")
    print("ours/official > 1 means the shim serves more calls per second")
    print(_bench_floor.describe(floor) + " (one thread)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
