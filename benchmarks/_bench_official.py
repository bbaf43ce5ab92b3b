"""Worker: time the official `splitio_client` (run under benchmarks/.venv-official's python).

Usage: _bench_official.py WORKLOAD BUDGET_S REPS USERS standalone|standalone-async|localhost
       [URL_KWARGS_JSON]

`standalone` is the official SDK as production users run it: in-memory storage synchronised over
HTTP from the parent's fake server, OPTIMIZED impressions, streaming off.  `standalone-async` is the
same through its asyncio API (get_factory_async, in asyncio.run; needs the `asyncio` extra).
`localhost` reads the same data set from the JSON file, for reference.  Prints cumulative JSON lines
(see _bench_timing.Reporter).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

import _bench_timing as bt

# Never let the SDK probe a non-loopback address for its machine IP.
_MACHINE = {"machineIp": "127.0.0.1", "machineName": "bench"}


def _hash_implementation() -> str:
    from splitio.engine import hashfns  # type: ignore[import-not-found,unused-ignore]  # noqa: PLC0415

    if "mmh3cffi" in sys.modules:
        return "mmh3cffi (C extension)"
    return f"pure Python ({hashfns._murmur_hash.__module__}.{hashfns._murmur_hash.__name__})"


def run_async(settings: bt.Settings, workload: dict[str, Any], report: bt.Reporter,
              config: dict[str, Any], urls: dict[str, str]) -> None:
    """The asyncio API: every call awaited in the loop, yielding to it as our async worker does."""
    import asyncio  # noqa: PLC0415

    from splitio import get_factory_async  # type: ignore[import-not-found,unused-ignore]  # noqa: PLC0415
    from splitio.version import __version__  # type: ignore[import-not-found,unused-ignore]  # noqa: PLC0415

    async def yield_once() -> None:
        await asyncio.sleep(0)

    async def body() -> None:
        started = time.perf_counter()
        factory = await get_factory_async(
            "bench-sdk-key", config={**config, "streamingEnabled": False}, **urls
        )
        await factory.block_until_ready(30)
        report.info.update(version=__version__, hash=_hash_implementation(),
                           ready_s=round(time.perf_counter() - started, 3),
                           python=sys.version.split()[0])
        client = factory.client()
        for shape, spec in workload["shapes"].items():
            fn = getattr(client, spec["method"])
            args = bt.shape_args(workload, shape, settings)
            report.add(shape, await bt.measure_async(fn, args, settings, yield_once))
        await factory.destroy()
        report.info["destroyed"] = True
        report.emit()

    asyncio.run(body())


def main(argv: list[str]) -> None:
    bt.silence_logging()
    settings, workload, extra = bt.parse_settings(argv)
    mode = extra[0]
    report = bt.Reporter(f"official-{mode}")
    try:
        from splitio import get_factory  # type: ignore[import-not-found,unused-ignore]  # noqa: PLC0415
        from splitio.version import __version__  # type: ignore[import-not-found,unused-ignore]  # noqa: PLC0415
    except ImportError as exc:
        report.fail(f"cannot import splitio: {exc}")
        return

    config: dict[str, Any] = {"impressionsMode": "OPTIMIZED", **_MACHINE}
    if mode == "standalone-async":
        run_async(settings, workload, report, config, json.loads(extra[1]))
        return
    if mode == "standalone":
        config["streamingEnabled"] = False
        factory = get_factory("bench-sdk-key", config=config, **json.loads(extra[1]))
    else:
        config.update(splitFile=workload["split_file"], segmentDirectory=workload["segment_dir"])
        factory = get_factory("localhost", config=config)
    started = time.perf_counter()
    factory.block_until_ready(30)
    report.info.update(
        version=__version__,
        hash=_hash_implementation(),
        ready_s=round(time.perf_counter() - started, 3),
        python=sys.version.split()[0],
    )
    client = factory.client()
    for shape, spec in workload["shapes"].items():
        fn = getattr(client, spec["method"])
        report.add(shape, bt.measure_sync(fn, bt.shape_args(workload, shape, settings), settings))
    done = threading.Event()
    factory.destroy(done)
    report.info["destroyed"] = done.wait(10)
    report.emit()


if __name__ == "__main__":
    main(sys.argv[1:])
