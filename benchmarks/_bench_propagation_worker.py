"""Worker for bench_propagation: one SDK in standalone mode with streaming on, watching a flag.

Usage: _bench_propagation_worker.py MODE SPEC_JSON
  MODE: official-sync | official-async (benchmarks/.venv-official's python),
        ours-shim | ours-asyncio | ours-trio (project venv's python)
  SPEC_JSON: {"urls": get_factory URL kwargs, "flag": name, "key": key, "async_sleep": s,
              "timeout": s}

Protocol (one JSON object per line; the parent owns the fake server):
  worker -> {"ready": seconds}                      after block_until_ready
  parent -> {"expect": treatment}                   a push is coming
  worker -> {"polling": treatment}                  it polls from now on
            (the parent upserts the flag, notes the time, pushes the SPLIT_UPDATE)
  worker -> {"seen": treatment, "t": monotonic, "polls": n}   or {"timeout": treatment}
  parent -> {"done": true}  /  worker -> {"destroyed": bool}

The time of "seen" is ``time.monotonic()`` (CLOCK_MONOTONIC on Linux, shared by every process of
the machine), so the parent subtracts its own push time from it. Sync APIs poll ``get_treatment``
in a tight loop, async APIs with a tiny sleep between calls (an async app never spins).

Standard library only at module level: this file also runs under the official SDK's venv.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

SDK_KEY = "bench-sdk-key"
CONFIG: dict[str, Any] = {
    "streamingEnabled": True,
    "impressionsMode": "OPTIMIZED",
    "machineIp": "127.0.0.1",
    "machineName": "bench",
}
READY_TIMEOUT_S = 30
Spec = dict[str, Any]


def _emit(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


def _command(line: str) -> dict[str, Any]:
    return json.loads(line) if line.strip() else {"done": True}


def run_sync(spec: Spec, get_factory: Callable[..., Any], destroy: Callable[[Any], bool]) -> None:
    started = time.monotonic()
    factory = get_factory(SDK_KEY, config=dict(CONFIG), **spec["urls"])
    factory.block_until_ready(READY_TIMEOUT_S)
    _emit({"ready": time.monotonic() - started})
    client = factory.client()
    key, flag = spec["key"], spec["flag"]
    for line in sys.stdin:
        command = _command(line)
        if command.get("done"):
            break
        expected = command["expect"]
        deadline = time.monotonic() + spec["timeout"]
        _emit({"polling": expected})
        polls = 0
        while client.get_treatment(key, flag) != expected:
            polls += 1
            if not polls % 1024 and time.monotonic() > deadline:
                _emit({"timeout": expected})
                break
        else:
            _emit({"seen": expected, "t": time.monotonic(), "polls": polls})
    _emit({"destroyed": destroy(factory)})


async def run_async(
    spec: Spec,
    get_factory_async: Callable[..., Awaitable[Any]],
    sleep: Callable[[float], Awaitable[None]],
    in_thread: Callable[[Callable[[], str]], Awaitable[str]],
) -> None:
    started = time.monotonic()
    factory = await get_factory_async(SDK_KEY, config=dict(CONFIG), **spec["urls"])
    await factory.block_until_ready(READY_TIMEOUT_S)
    _emit({"ready": time.monotonic() - started})
    client = factory.client()
    key, flag, pause = spec["key"], spec["flag"], spec["async_sleep"]
    while True:
        command = _command(await in_thread(sys.stdin.readline))  # the SDK runs meanwhile
        if command.get("done"):
            break
        expected = command["expect"]
        deadline = time.monotonic() + spec["timeout"]
        _emit({"polling": expected})
        polls = 0
        while await client.get_treatment(key, flag) != expected:
            polls += 1
            if time.monotonic() > deadline:
                _emit({"timeout": expected})
                break
            await sleep(pause)
        else:
            _emit({"seen": expected, "t": time.monotonic(), "polls": polls})
    await factory.destroy()
    _emit({"destroyed": True})


def _official_destroy(factory: Any) -> bool:
    done = threading.Event()
    factory.destroy(done)
    return done.wait(10)


def _ours_destroy(factory: Any) -> bool:
    factory.destroy()
    return True


def run(mode: str, spec: Spec) -> None:
    if mode == "official-sync":
        from splitio import get_factory  # type: ignore[import-not-found,unused-ignore]  # noqa: PLC0415

        run_sync(spec, get_factory, _official_destroy)
    elif mode == "official-async":
        import asyncio  # noqa: PLC0415

        from splitio import get_factory_async  # type: ignore[import-not-found,unused-ignore]  # noqa: PLC0415

        asyncio.run(run_async(spec, get_factory_async, asyncio.sleep, asyncio.to_thread))
    elif mode == "ours-shim":
        from splitio_sync_shim import get_factory as shim_get_factory  # noqa: PLC0415

        run_sync(spec, shim_get_factory, _ours_destroy)
    elif mode in ("ours-asyncio", "ours-trio"):
        import anyio  # noqa: PLC0415

        from splitio_async import get_factory_async as ours_get_factory_async  # noqa: PLC0415

        anyio.run(run_async, spec, ours_get_factory_async, anyio.sleep,
                  anyio.to_thread.run_sync, backend=mode.removeprefix("ours-"))
    else:
        raise ValueError(f"unknown mode {mode!r}")


def main(argv: list[str]) -> int:
    logging.disable(logging.CRITICAL)  # SDK log records would distort the timings
    try:
        run(argv[0], json.loads(argv[1]))
    except BaseException:
        _emit({"error": traceback.format_exc()})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
