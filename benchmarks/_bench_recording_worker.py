"""Worker for bench_recording: one fresh standalone factory of one SDK, recording against the
parent's fake Split server.

Usage: _bench_recording_worker.py WORKLOAD BUDGET_S REPS USERS TASK IMPL SPEC_JSON
  TASK: time | memory
  IMPL: official (benchmarks/.venv-official's python) | shim | asyncio (project venv's python)
  SPEC_JSON: {"urls": get_factory URL kwargs, "mode": OPTIMIZED|DEBUG|NONE|track (time),
              "calls", "keys", "checkpoint", "cap_s" (memory)}

* time: µs per `get_treatment` on the 50/50 rollout flag in one impressions mode (or per `track`,
  on an OPTIMIZED factory), after ready and a SETTLE_S pause, timed by _bench_timing exactly like
  bench_evaluation; then destroy, so the final flush reaches the server before the parent counts
  what arrived.
* memory: VmRSS after ready + warm-up, then `calls` evaluations cycling over `keys` distinct keys
  in OPTIMIZED mode, with an RSS checkpoint every `checkpoint` calls; `cap_s` (if set) stops at
  the last checkpoint that fits in that many seconds, and the payload says so (`truncated`).

The async API's loops yield to the event loop every bt.YIELD_EVERY calls, so our recorder task
runs and its cost is in the figures. Prints cumulative JSON lines (see _bench_timing.Reporter);
`info.logs` tallies the SDK's WARNING+ log records (logging is not silenced: see LogTally).
Standard library only at module level: this file also runs under the official SDK's venv.
"""

from __future__ import annotations

import gc
import json
import logging
import random
import re
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import _bench_data
import _bench_ready_worker as rw
import _bench_timing as bt
from _bench_proc import rss_mib, status_mib

FLAG_SHAPE = "rollout_50_50"
READY_TIMEOUT_S = 30
WARMUP_PASSES = 10  # over the 1,000 benchmark users: enough to trigger recorder flushes
SETTLE_S = 0.5  # after ready, let start-up work (telemetry config post, ...) finish first


class LogTally(logging.Handler):
    """Counts the SDK's WARNING+ log records (numbers folded), keeping the first text of each.

    Used instead of silencing logging: an SDK that drops records or fails says so here, and the
    handler costs nothing unless something is logged."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: dict[tuple[str, str, str], list[Any]] = {}

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        key = (record.levelname, record.name, re.sub(r"\d+", "N", text))
        entry = self.seen.setdefault(key, [0, text])
        entry[0] += 1

    def summary(self) -> list[dict[str, Any]]:
        return [{"level": level, "logger": name, "count": count, "first": first}
                for (level, name, _), (count, first) in self.seen.items()]



def memory_keys(count: int) -> list[str]:
    """`count` distinct UUID-shaped keys, the same in every process (fixed seed)."""
    rng = random.Random(_bench_data.SEED + 2)
    return [_bench_data._uuid(rng) for _ in range(count)]


class Job:
    """Everything a worker needs, parsed from its command line."""

    def __init__(self, argv: list[str]) -> None:
        self.settings, self.workload, extra = bt.parse_settings(argv)
        self.task, self.impl = extra[0], extra[1]
        self.spec: dict[str, Any] = json.loads(extra[2])
        self.report = bt.Reporter(f"{self.impl}-{self.task}")
        self.flag: str = self.workload["shapes"][FLAG_SHAPE]["flag"]

    @property
    def shape(self) -> str:
        return "track" if self.spec.get("mode") == "track" else FLAG_SHAPE

    def config(self) -> dict[str, Any]:
        mode = self.spec.get("mode", "OPTIMIZED")
        return {**rw.CONFIG, "impressionsMode": "OPTIMIZED" if mode == "track" else mode}

    def timed_args(self) -> list[bt.Args]:
        return bt.shape_args(self.workload, self.shape, self.settings)

    def warmup_args(self) -> list[tuple[str, str]]:
        users = self.workload["users"]
        return [(u["key"], self.flag) for u in users] * WARMUP_PASSES

    def record_time(self, result: bt.ShapeResult, args: list[bt.Args]) -> None:
        calls = len(args) + len(result.reps_ns) * result.iterations if not result.error else None
        self.report.info["calls"] = calls
        self.report.add(self.spec.get("mode", "?"), result)

    def start_memory(self, ready_s: float, warmup_calls: int) -> tuple[list[str], float]:
        keys = memory_keys(int(self.spec["keys"]))
        gc.collect()
        before = rss_mib()
        self.report.info.update(ready_s=round(ready_s, 3), rss_before_mib=round(before, 2),
                                warmup_calls=warmup_calls, calls=0, trajectory=[],
                                truncated=False)
        self.report.emit()
        return keys, before

    def checkpoint(self, done: int, before: float, loop_s: float) -> bool:
        """Record RSS growth after `done` calls; False when the next chunk would pass cap_s."""
        info = self.report.info
        info["calls"] = done
        info["loop_s"] = round(loop_s, 3)
        info["us_per_call"] = round(loop_s / done * 1e6, 3)
        info["trajectory"].append([done, round(rss_mib() - before, 2)])
        self.report.emit()
        cap = self.spec.get("cap_s")
        chunk = min(int(self.spec["checkpoint"]), int(self.spec["calls"]) - done)
        if cap and chunk > 0 and loop_s + loop_s / done * chunk > cap:
            info["truncated"] = True
            return False
        return True

    def finish_memory(self, before: float) -> None:
        gc.collect()
        after = rss_mib()
        self.report.info.update(rss_after_mib=round(after, 2), growth_mib=round(after - before, 2),
                                hwm_mib=round(status_mib("VmHWM"), 2))
        self.report.emit()

    def chunks(self) -> list[int]:
        total, step = int(self.spec["calls"]), int(self.spec["checkpoint"])
        return [min(step, total - start) for start in range(0, total, step)]


def _timed_destroy(job: Job, destroyed: bool, started: float, factory: Any) -> None:
    job.report.info["destroyed"] = destroyed
    job.report.info["destroy_s"] = round(time.perf_counter() - started, 3)
    if hasattr(factory, "delivery_counts"):  # ours: what was delivered, refused, lost
        job.report.info["delivery"] = factory.delivery_counts()
    job.report.emit()


# ---------------------------------------------------------------------- blocking APIs


def run_sync(job: Job, get_factory: Callable[..., Any], destroy: Callable[[Any], bool]) -> None:
    started = time.perf_counter()
    factory = get_factory(rw.SDK_KEY, config=job.config(), **job.spec["urls"])
    if factory is None:
        raise RuntimeError("get_factory returned None")
    factory.block_until_ready(READY_TIMEOUT_S)
    ready_s = time.perf_counter() - started
    time.sleep(SETTLE_S)
    client = factory.client()
    if job.task == "time":
        job.report.info["ready_s"] = round(ready_s, 3)
        fn = getattr(client, job.workload["shapes"][job.shape]["method"])
        args = job.timed_args()
        job.record_time(bt.measure_sync(fn, args, job.settings), args)
    else:
        get_treatment = client.get_treatment
        warmup = job.warmup_args()
        for key, flag in warmup:
            get_treatment(key, flag)
        keys, before = job.start_memory(ready_s, len(warmup))
        flag, count, done, loop_s = job.flag, len(keys), 0, 0.0
        for chunk in job.chunks():
            t0 = time.perf_counter()
            for i in range(done, done + chunk):
                get_treatment(keys[i % count], flag)
            loop_s += time.perf_counter() - t0
            done += chunk
            if not job.checkpoint(done, before, loop_s):
                break
        job.finish_memory(before)
    started = time.perf_counter()
    _timed_destroy(job, destroy(factory), started, factory)


# ---------------------------------------------------------------------- our async API


async def run_async(job: Job, get_factory_async: Callable[..., Awaitable[Any]]) -> None:
    import anyio  # noqa: PLC0415 - only our venv has it

    started = time.perf_counter()
    factory = await get_factory_async(rw.SDK_KEY, config=job.config(), **job.spec["urls"])
    if factory is None:
        raise RuntimeError("get_factory_async returned None")
    await factory.block_until_ready(READY_TIMEOUT_S)
    ready_s = time.perf_counter() - started
    await anyio.sleep(SETTLE_S)
    client = factory.client()
    if job.task == "time":
        job.report.info["ready_s"] = round(ready_s, 3)
        fn = getattr(client, job.workload["shapes"][job.shape]["method"])
        args = job.timed_args()
        limit = 60 + 10 * job.settings.budget_s
        try:
            with anyio.fail_after(limit):
                result = await bt.measure_async(fn, args, job.settings)
        except TimeoutError:
            result = bt.ShapeResult(error=f"no result within {limit:.0f} s (hung?)")
        job.record_time(result, args)
    else:
        get_treatment = client.get_treatment
        warmup = job.warmup_args()
        for n, (key, flag) in enumerate(warmup):
            await get_treatment(key, flag)
            if n % bt.YIELD_EVERY == 0:
                await anyio.lowlevel.checkpoint()
        keys, before = job.start_memory(ready_s, len(warmup))
        flag, count, done, loop_s = job.flag, len(keys), 0, 0.0
        every = bt.YIELD_EVERY
        for chunk in job.chunks():
            t0 = time.perf_counter()
            for i in range(done, done + chunk):
                await get_treatment(keys[i % count], flag)
                if i % every == 0:
                    await anyio.lowlevel.checkpoint()
            loop_s += time.perf_counter() - t0
            done += chunk
            if not job.checkpoint(done, before, loop_s):
                break
        job.finish_memory(before)
    started = time.perf_counter()
    await factory.destroy()
    _timed_destroy(job, True, started, factory)


def run(job: Job) -> None:
    """Import the SDK for `job.impl`, then run the task with it."""
    if job.impl == "official":
        from splitio import get_factory  # type: ignore[import-not-found,unused-ignore]  # noqa: PLC0415

        run_sync(job, get_factory, rw._official_destroy)
    elif job.impl == "shim":
        from splitio_sync_shim import get_factory as shim_get_factory  # noqa: PLC0415

        run_sync(job, shim_get_factory, rw._ours_destroy)
    elif job.impl == "asyncio":
        import anyio  # noqa: PLC0415

        from splitio_async import get_factory_async  # noqa: PLC0415

        anyio.run(run_async, job, get_factory_async, backend="asyncio")
    else:
        raise ValueError(f"unknown implementation {job.impl!r}")


def main(argv: list[str]) -> int:
    tally = LogTally()
    logging.getLogger().addHandler(tally)
    job = Job(argv)
    try:
        run(job)
    except BaseException as exc:
        last = traceback.extract_tb(exc.__traceback__)[-1]
        job.report.info["traceback"] = traceback.format_exc()
        job.report.error = f"{type(exc).__name__}: {exc} ({Path(last.filename).name}:{last.lineno})"
        return 1
    finally:
        job.report.info["logs"] = tally.summary()
        job.report.emit()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
