"""Worker for bench_redis: one SDK in Redis consumer mode, every (impressions mode, local cache)
configuration in turn, each on a fresh factory reading the parent's redis-server.

Usage: _bench_redis_worker.py WORKLOAD BUDGET_S REPS USERS IMPL HOST PORT
  IMPL: official-sync | official-asyncio (benchmarks/.venv-official's python)
        | shim | asyncio | trio (project venv's python)

Per configuration and shape: one warm-up pass over the users (fills the local caches and the
impressions dedup cache, opens connections), then `get_treatment` timed by _bench_timing exactly
as bench_evaluation times it (a first pass over the users gives the treatment digest, then REPS
repetitions; the async loops yield to the event loop every bt.YIELD_EVERY calls, so our recorder
runs and is timed too). The figures are the steady state: with the local cache on, entries
older than redisLocalCacheTTL (5 s) are read again.
Around each measurement the worker reads the server's `INFO stats` on its own connection: the
deltas of `total_commands_processed` and `total_reads_processed` (read events: one per request
the server receives, a pipeline being one) divided by the calls made give commands and round
trips per call; they include whatever the SDK wrote meanwhile (impressions, telemetry), which is
part of what a call costs Redis. Between measurements the recording keys are deleted so that
Redis does not fill up with DEBUG impressions.

Standard library only at module level: this file also runs under the official SDK's venv.
"""

from __future__ import annotations

import socket
import statistics
import sys
import threading
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import _bench_timing as bt

MODES = ("OPTIMIZED", "DEBUG")
CACHE = (True, False)
READY_TIMEOUT_S = 30
# The recording keys a run fills; deleted between measurements (never rollout data).
RECORDING_KEYS = ("SPLITIO.impressions", "SPLITIO.impressions.count", "SPLITIO.uniquekeys",
                  "SPLITIO.events", "SPLITIO.telemetry.latencies", "SPLITIO.telemetry.init")


def row_key(shape: str, mode: str, cache: bool) -> str:
    """How a measurement is named in the payload (the parent parses it back)."""
    return f"{shape}|{mode}|{'cache' if cache else 'no-cache'}"


class Stats:
    """A minimal RESP client on its own connection: INFO stats and DEL, nothing else."""

    def __init__(self, host: str, port: int) -> None:
        self._sock = socket.create_connection((host, port), timeout=10)
        self._file = self._sock.makefile("rb")

    def _command(self, *args: str) -> Any:
        parts = [a.encode() for a in args]
        payload = b"*%d\r\n" % len(parts) + b"".join(
            b"$%d\r\n%s\r\n" % (len(p), p) for p in parts
        )
        self._sock.sendall(payload)
        line = self._file.readline()
        if line[:1] == b"$":
            return self._file.read(int(line[1:]) + 2)[:-2].decode()
        if line[:1] == b"-":
            raise RuntimeError(line.decode().strip())
        return line[1:].strip().decode()

    def counters(self) -> tuple[int, int]:
        info = dict(
            line.split(":", 1) for line in self._command("INFO", "stats").splitlines()
            if ":" in line
        )
        return int(info["total_commands_processed"]), int(info["total_reads_processed"])

    def clear_recording(self) -> None:
        self._command("DEL", *RECORDING_KEYS)

    def close(self) -> None:
        self._file.close()
        self._sock.close()


class Job:
    def __init__(self, argv: list[str]) -> None:
        self.settings, self.workload, extra = bt.parse_settings(argv)
        self.impl, self.host, self.port = extra[0], extra[1], int(extra[2])
        self.report = bt.Reporter(self.impl)
        self.stats = Stats(self.host, self.port)

    def config(self, mode: str, cache: bool) -> dict[str, Any]:
        return {
            "redisHost": self.host, "redisPort": self.port, "impressionsMode": mode,
            "redisLocalCacheEnabled": cache,
            # never let the official SDK probe a non-loopback address for its machine IP
            "machineIp": "127.0.0.1", "machineName": "bench",
        }

    def args(self, shape: str) -> list[bt.Args]:
        return bt.shape_args(self.workload, shape, self.settings)

    def before(self) -> tuple[int, int]:
        self.stats.clear_recording()
        return self.stats.counters()

    def record(self, key: str, result: bt.ShapeResult, calls_first: int,
               counters: tuple[int, int]) -> None:
        commands, reads = self.stats.counters()
        calls = calls_first + result.iterations * len(result.reps_ns)
        if result.ns is not None and result.reps_ns:
            result.ns = statistics.median(result.reps_ns)  # this benchmark reports medians
        if calls:
            # minus the INFO command that read the "after" counters (and its read event)
            self.report.info.setdefault("traffic", {})[key] = {
                "commands_per_call": (commands - counters[0] - 1) / calls,
                "round_trips_per_call": (reads - counters[1] - 1) / calls,
            }
        self.report.add(key, result)


def run_sync(job: Job, get_factory: Callable[..., Any], destroy: Callable[[Any], None]) -> None:
    for mode in MODES:
        for cache in CACHE:
            started = time.perf_counter()
            factory = get_factory("bench-redis", config=job.config(mode, cache))
            factory.block_until_ready(READY_TIMEOUT_S)
            job.report.info[f"ready_s {mode} {cache}"] = round(time.perf_counter() - started, 3)
            client = factory.client()
            for shape in job.workload["shapes"]:
                args = job.args(shape)
                for call in args:  # warm-up: local caches, connections, dedup caches
                    client.get_treatment(*call)
                counters = job.before()
                result = bt.measure_sync(client.get_treatment, args, job.settings)
                job.record(row_key(shape, mode, cache), result, len(args), counters)
            destroy(factory)


async def measure_asyncio(fn: bt.AsyncFn, args: list[bt.Args], settings: bt.Settings
                          ) -> bt.ShapeResult:
    """bt.measure_async for the official asyncio API, whose venv has no anyio: the same loop,
    yielding with ``asyncio.sleep(0)`` every bt.YIELD_EVERY calls."""
    import asyncio  # noqa: PLC0415
    import itertools  # noqa: PLC0415

    result = bt.ShapeResult()
    try:
        start = time.perf_counter_ns()
        first = [await fn(*a) for a in args]
        first_ns = time.perf_counter_ns() - start
        result.digest, result.counts = bt._summarise(first)
        count = bt._plan(first_ns, len(args), settings)
        seq = list(itertools.islice(itertools.cycle(args), count))
        for _ in range(settings.reps):
            t0 = time.perf_counter_ns()
            for i, a in enumerate(seq):
                await fn(*a)
                if i % bt.YIELD_EVERY == 0:
                    await asyncio.sleep(0)
            result.reps_ns.append((time.perf_counter_ns() - t0) / len(seq))
        result.iterations = len(seq)
        result.ns = min(result.reps_ns)
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    return result


async def run_async(job: Job, get_factory_async: Callable[..., Awaitable[Any]]) -> None:
    for mode in MODES:
        for cache in CACHE:
            started = time.perf_counter()
            factory = await get_factory_async("bench-redis", config=job.config(mode, cache))
            await factory.block_until_ready(READY_TIMEOUT_S)
            job.report.info[f"ready_s {mode} {cache}"] = round(time.perf_counter() - started, 3)
            client = factory.client()
            for shape in job.workload["shapes"]:
                args = job.args(shape)
                for call in args:  # warm-up: local caches, connections, dedup caches
                    await client.get_treatment(*call)
                counters = job.before()
                measure = measure_asyncio if job.impl.startswith("official") else bt.measure_async
                result = await measure(client.get_treatment, args, job.settings)
                job.record(row_key(shape, mode, cache), result, len(args), counters)
            await factory.destroy()


def _official_destroy(factory: Any) -> None:
    done = threading.Event()
    factory.destroy(done)
    done.wait(10)


def run(job: Job) -> None:
    if job.impl == "official-sync":
        from splitio import get_factory  # type: ignore[import-not-found,unused-ignore]  # noqa: PLC0415

        run_sync(job, get_factory, _official_destroy)
    elif job.impl == "official-asyncio":
        import asyncio  # noqa: PLC0415

        from splitio import get_factory_async  # type: ignore[import-not-found,unused-ignore]  # noqa: PLC0415

        asyncio.run(run_async(job, get_factory_async))
    elif job.impl == "shim":
        from splitio_sync_shim import get_factory as get_shim_factory  # noqa: PLC0415

        run_sync(job, get_shim_factory, lambda factory: factory.destroy())
    else:
        import anyio  # noqa: PLC0415

        from splitio_async import get_factory_async as get_ours  # noqa: PLC0415

        anyio.run(run_async, job, get_ours, backend=job.impl)


def main(argv: list[str]) -> int:
    bt.silence_logging()
    job = Job(argv)
    try:
        run(job)
    except Exception as exc:
        last = traceback.extract_tb(exc.__traceback__)[-1]
        job.report.fail(f"{type(exc).__name__}: {exc} ({last.filename.rsplit('/', 1)[-1]}:"
                        f"{last.lineno})")
    finally:
        job.stats.close()
    job.report.info["python"] = sys.version.split()[0]
    job.report.emit()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
