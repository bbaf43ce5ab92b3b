"""Worker: time our SDK (run under the project venv's python).

Usage: _bench_ours.py WORKLOAD BUDGET_S REPS USERS shim|asyncio|trio standalone URL_KWARGS_JSON
       _bench_ours.py WORKLOAD BUDGET_S REPS USERS shim|asyncio|trio localhost

`shim` times `splitio_sync_shim.get_factory`; `asyncio`/`trio` time
`splitio_async.get_factory_async` inside `anyio.run` with that backend.  `standalone` syncs from
the parent's fake server with streaming off, exactly like the official standalone worker (so the
per-call telemetry timing and the recorder's deliveries are in the figures, as in production);
`localhost` reads the shared data set from the JSON file (no telemetry in that mode).  Any failure
(package not importable yet, factory not ready, a method raising) is reported in the JSON result
instead of crashing, so the parent can still print the official columns.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from importlib.metadata import version
from typing import Any

import _bench_timing as bt


class Source:
    """Where the factory gets its data: the JSON file (localhost) or the parent's fake server."""

    def __init__(self, workload: dict[str, Any], extra: list[str]) -> None:
        base = {"impressionsMode": "OPTIMIZED", "machineIp": "127.0.0.1", "machineName": "bench"}
        if extra[:1] == ["standalone"]:
            self.sdk_key = "bench-sdk-key"
            self.config = {**base, "streamingEnabled": False}
            self.urls: dict[str, str] = json.loads(extra[1])
        else:
            self.sdk_key = "localhost"
            self.config = {**base, "splitFile": workload["split_file"],
                           "segmentDirectory": workload["segment_dir"]}
            self.urls = {}


def _ready(report: bt.Reporter, started: float) -> None:
    report.info["ready_s"] = round(time.perf_counter() - started, 3)
    report.info["python"] = sys.version.split()[0]


def _hash_info(report: bt.Reporter) -> None:
    """Which murmur3 implementation our SDK loaded (checked after evaluating, so it is in use)."""
    loaded = "mmh3" in sys.modules
    report.info["hash"] = f"mmh3 {version('mmh3')} (C extension)" if loaded else "mmh3 not loaded"


def _dropped(factory: Any) -> str:
    """Impressions and events refused by a full buffer (they are counted, never silent)."""
    counts = factory.delivery_counts()
    return (f"impressions {counts['impressions_dropped']}, events {counts['events_dropped']}, "
            f"delivered {counts['impressions_delivered']} impressions")


def run_shim(settings: bt.Settings, workload: dict[str, Any], report: bt.Reporter,
             source: Source) -> None:
    from splitio_sync_shim import get_factory  # noqa: PLC0415 - failure is reported by main

    started = time.perf_counter()
    factory = get_factory(source.sdk_key, config=source.config, **source.urls)
    if factory is None:
        raise RuntimeError("get_factory returned None")
    factory.block_until_ready(30)
    _ready(report, started)
    client = factory.client()
    for shape, spec in workload["shapes"].items():
        fn = getattr(client, spec["method"])
        report.add(shape, bt.measure_sync(fn, bt.shape_args(workload, shape, settings), settings))
    factory.destroy()
    report.info["dropped"] = _dropped(factory)
    _hash_info(report)
    report.emit()


def run_async(
    settings: bt.Settings, workload: dict[str, Any], report: bt.Reporter, backend: str,
    source: Source,
) -> None:
    import anyio  # noqa: PLC0415

    from splitio_async import get_factory_async  # noqa: PLC0415 - failure is reported by main

    limit = 30 + 10 * settings.budget_s  # a hanging await must not cost the other shapes

    async def body() -> None:
        started = time.perf_counter()
        factory = await get_factory_async(source.sdk_key, config=source.config, **source.urls)
        if factory is None:
            raise RuntimeError("get_factory_async returned None")
        await factory.block_until_ready(30)
        _ready(report, started)
        client = factory.client()
        for shape, spec in workload["shapes"].items():
            fn = getattr(client, spec["method"])
            args = bt.shape_args(workload, shape, settings)
            try:
                with anyio.fail_after(limit):
                    result = await bt.measure_async(fn, args, settings)
            except TimeoutError:
                result = bt.ShapeResult(error=f"no result within {limit:.0f} s (hung?)")
            report.add(shape, result)
        await factory.destroy()
        report.info["dropped"] = _dropped(factory)
        _hash_info(report)
        report.emit()

    anyio.run(body, backend=backend)


def main(argv: list[str]) -> None:
    bt.silence_logging()
    settings, workload, extra = bt.parse_settings(argv)
    mode = extra[0]
    report = bt.Reporter(f"ours-{mode}")
    source = Source(workload, extra[1:])
    report.info["source"] = "fake server" if source.urls else "localhost file"
    try:
        if mode == "shim":
            run_shim(settings, workload, report, source)
        else:
            run_async(settings, workload, report, mode, source)
    except Exception as exc:
        last = traceback.extract_tb(exc.__traceback__)[-1]
        where = f" ({last.filename.rsplit('/', 1)[-1]}:{last.lineno})"
        report.fail(f"{type(exc).__name__}: {exc}{where}")


if __name__ == "__main__":
    main(sys.argv[1:])
