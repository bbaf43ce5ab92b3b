"""Hot-path cost of recording, alone: µs per call inside short bursts, official vs ours.

bench_recording.py times sustained load, where the cost of delivering every record (building
and posting bulks) lands in the figures, for our SDK at once (it flushes at a bulk) and for the
official one only when its timer fires (often after the timed window). This script measures what
a caller actually waits for: bursts of BURST calls (below both SDKs' flush thresholds), with a
pause between bursts in which each SDK's recorder delivers what the burst queued. Both SDKs run in
standalone mode against the same fake Split server (parent process), each in its own process.

    .venv/bin/python benchmarks/bench_burst.py [--bursts N] [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

import _bench_floor
import _bench_venv
from _bench_server import FakeSplitServer

HERE = Path(__file__).resolve().parent
BURST = 2000  # calls per burst: below the 5,000-record bulk at which our recorders flush
FLAG = {
    "name": "burst_rollout", "trafficTypeName": "user", "seed": 1234, "trafficAllocation": 100,
    "trafficAllocationSeed": 4321, "status": "ACTIVE", "killed": False,
    "defaultTreatment": "off", "changeNumber": 10, "algo": 2,
    "conditions": [{
        "conditionType": "ROLLOUT",
        "matcherGroup": {"combiner": "AND", "matchers": [{
            "keySelector": {"trafficType": "user", "attribute": None},
            "matcherType": "ALL_KEYS", "negate": False,
        }]},
        "partitions": [{"treatment": "on", "size": 50}, {"treatment": "off", "size": 50}],
        "label": "default rule",
    }],
}

WORKER = r'''
import asyncio, json, logging, sys, time
logging.disable(logging.CRITICAL)
impl, urls, bursts, burst = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
results = {}
for shape in ("OPTIMIZED", "DEBUG", "NONE", "track"):
    config = {"streamingEnabled": False, "impressionsMode": "OPTIMIZED" if shape == "track"
              else shape, "machineIp": "127.0.0.1", "machineName": "bench",
              "impressionsRefreshRate": 1 if shape == "DEBUG" else 60, "eventsPushRate": 1,
              "impressionsQueueSize": 100000, "eventsQueueSize": 100000}
    keys = [f"user-{i}" for i in range(burst)]
    def calls(client):
        if shape == "track":
            return lambda k: client.track(k, "user", "checkout", 12.5, {"plan": "pro"})
        return lambda k: client.get_treatment(k, "burst_rollout")
    per_call = []
    if impl == "asyncio":
        from splitio_async import get_factory_async
        async def main():
            f = await get_factory_async("SDK-KEY-0001", config=config, **urls)
            await f.block_until_ready(30)
            op = calls(f.client())
            for k in keys[:500]:
                await op(k)
            for _ in range(bursts):
                await asyncio.sleep(1.5)   # the recorders deliver the previous burst
                t = time.perf_counter()
                for k in keys:
                    await op(k)
                per_call.append((time.perf_counter() - t) / burst * 1e6)
            await f.destroy()
        asyncio.run(main())
    else:
        if impl == "official":
            from splitio import get_factory
        else:
            from splitio_sync_shim import get_factory
        f = get_factory("SDK-KEY-0001", config=config, **urls)
        f.block_until_ready(30)
        op = calls(f.client())
        for k in keys[:500]:
            op(k)
        for _ in range(bursts):
            time.sleep(1.5)
            t = time.perf_counter()
            for k in keys:
                op(k)
            per_call.append((time.perf_counter() - t) / burst * 1e6)
        if impl == "official":
            import threading
            done = threading.Event(); f.destroy(done); done.wait(30)
        else:
            f.destroy()
    results[shape] = sorted(per_call)
print(json.dumps(results))
'''


def run(python: str, impl: str, urls: dict[str, str], bursts: int) -> dict[str, list[float]]:
    done = subprocess.run(
        [python, "-c", WORKER, impl, json.dumps(urls), str(bursts), str(BURST)],
        capture_output=True, text=True, timeout=600, check=True, cwd=HERE.parent,
    )
    result: dict[str, list[float]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bursts", type=int, help="bursts per shape (default 8, quick 1)")
    parser.add_argument("--quick", action="store_true", help="one burst per shape (smoke run)")
    args = parser.parse_args()
    args.bursts = args.bursts or (1 if args.quick else 8)
    official = str(_bench_venv.ensure_official(HERE / ".venv-official"))
    server = FakeSplitServer([FLAG], {})
    server.start()
    try:
        figures = {impl: run(python, impl, server.url_kwargs(), args.bursts) for impl, python in
                   (("official", official), ("shim", sys.executable),
                    ("asyncio", sys.executable))}
    finally:
        server.stop()
    floor = _bench_floor.generic()
    print(f"µs per call inside bursts of {BURST} (median of {args.bursts} bursts; "
          "ratios official / ours)")
    print(f"{'shape':<10} {'official':>9} {'shim':>8} {'async':>8} {'off/shim':>9} "
          f"{'off/async':>9} {'py floor':>9}")
    for shape in ("OPTIMIZED", "DEBUG", "NONE", "track"):
        off, shim, aio = (statistics.median(figures[i][shape])
                          for i in ("official", "shim", "asyncio"))
        beside = "" if shape == "track" or floor["one_flag"] is None else f"{floor['one_flag']:.2f}"
        print(f"{shape:<10} {off:9.2f} {shim:8.2f} {aio:8.2f} {off / shim:8.2f}x "
              f"{off / aio:8.2f}x {beside:>9}")
    print(_bench_floor.describe(floor))
    return 0


if __name__ == "__main__":
    sys.exit(main())
