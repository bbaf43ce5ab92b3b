"""Worker for bench_ready: one cold start of one SDK, from get_factory to block_until_ready.

Usage: _bench_ready_worker.py MODE SPEC_JSON
  MODE: official-sync | official-async (benchmarks/.venv-official's python),
        ours-shim | ours-asyncio | ours-trio (project venv's python)
  SPEC_JSON: {"urls": get_factory URL kwargs, "checks": [[key, flag, expected]...], "flags": [...]}

Why it is built this way:
* One process per start, so every run is cold (no warm connection pool, no filled storage).
* The SDK's imports happen before the timer: import time belongs to the installation, not to
  becoming ready.  The event loop is started before the timer too (an app already has one).
* Ready only counts if the data is really there, so right after ready the worker evaluates the
  checks and a 50-flag get_treatments sweep; the parent compares them.
* Protocol: one JSON line at ready, then the worker blocks until its stdin closes, so the parent
  can snapshot the fake server's request counts *at ready*; then it destroys the factory (the final
  flush hits the server too) and prints a second line with how that went.

Standard library only at module level: this file also runs under the official SDK's venv.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import _bench_timing as bt

SDK_KEY = "bench-sdk-key"
CONFIG = {
    "streamingEnabled": False,
    "impressionsMode": "OPTIMIZED",
    "machineIp": "127.0.0.1",
    "machineName": "bench",
}
READY_TIMEOUT_S = 30
Spec = dict[str, Any]


def _emit(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


def _sweep_keys(spec: Spec) -> list[str]:
    return sorted({key for key, _, _ in spec["checks"]})


def run_sync(spec: Spec, get_factory: Callable[..., Any], destroy: Callable[[Any], bool]) -> None:
    """Time get_factory + block_until_ready of a blocking API (official or our shim)."""
    started = time.perf_counter()
    factory = get_factory(SDK_KEY, config=dict(CONFIG), **spec["urls"])
    if factory is None:
        raise RuntimeError("get_factory returned None")
    factory.block_until_ready(READY_TIMEOUT_S)
    ms = (time.perf_counter() - started) * 1000
    client = factory.client()
    checks = [client.get_treatment(key, flag) for key, flag, _ in spec["checks"]]
    sweep = {key: client.get_treatments(key, spec["flags"]) for key in _sweep_keys(spec)}
    _emit({"ms": ms, "checks": checks, "sweep": sweep})
    sys.stdin.read()
    started = time.perf_counter()
    ok = destroy(factory)
    _emit({"destroy_ms": (time.perf_counter() - started) * 1000, "destroyed": ok})


async def run_async(
    spec: Spec,
    get_factory_async: Callable[..., Awaitable[Any]],
    in_thread: Callable[[Callable[[], str]], Awaitable[str]],
) -> None:
    """Time get_factory_async + block_until_ready inside a running event loop."""
    started = time.perf_counter()
    factory = await get_factory_async(SDK_KEY, config=dict(CONFIG), **spec["urls"])
    if factory is None:
        raise RuntimeError("get_factory_async returned None")
    await factory.block_until_ready(READY_TIMEOUT_S)
    ms = (time.perf_counter() - started) * 1000
    client = factory.client()
    checks = [await client.get_treatment(key, flag) for key, flag, _ in spec["checks"]]
    sweep = {key: await client.get_treatments(key, spec["flags"]) for key in _sweep_keys(spec)}
    _emit({"ms": ms, "checks": checks, "sweep": sweep})
    await in_thread(sys.stdin.read)  # the SDK's tasks keep running meanwhile
    started = time.perf_counter()
    await factory.destroy()
    _emit({"destroy_ms": (time.perf_counter() - started) * 1000, "destroyed": True})


def _official_destroy(factory: Any) -> bool:
    done = threading.Event()
    factory.destroy(done)
    return done.wait(10)


def _ours_destroy(factory: Any) -> bool:
    factory.destroy()
    return True


def run(mode: str, spec: Spec) -> None:
    """Import the SDK for `mode` first, then hand its entry point to the timed runner."""
    if mode == "official-sync":
        from splitio import get_factory  # type: ignore[import-not-found,unused-ignore]  # noqa: PLC0415

        run_sync(spec, get_factory, _official_destroy)
    elif mode == "official-async":
        import asyncio  # noqa: PLC0415

        from splitio import get_factory_async  # type: ignore[import-not-found,unused-ignore]  # noqa: PLC0415

        asyncio.run(run_async(spec, get_factory_async, asyncio.to_thread))
    elif mode == "ours-shim":
        from splitio_sync_shim import get_factory as shim_get_factory  # noqa: PLC0415

        run_sync(spec, shim_get_factory, _ours_destroy)
    elif mode in ("ours-asyncio", "ours-trio"):
        import anyio  # noqa: PLC0415

        from splitio_async import get_factory_async as ours_get_factory_async  # noqa: PLC0415

        in_thread = anyio.to_thread.run_sync
        backend = mode.removeprefix("ours-")
        anyio.run(run_async, spec, ours_get_factory_async, in_thread, backend=backend)
    else:
        raise ValueError(f"unknown mode {mode!r}")


def main(argv: list[str]) -> int:
    bt.silence_logging()
    try:
        run(argv[0], json.loads(argv[1]))
    except BaseException:
        _emit({"error": traceback.format_exc()})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
