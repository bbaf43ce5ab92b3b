"""Worker: one SDK in standalone mode (streaming on unless the spec says otherwise), kept alive
and driven by the parent over stdin/stdout. Used by bench_propagation, bench_scale, bench_idle.

Usage: _bench_live_worker.py MODE SPEC_JSON
  MODE: official-sync | official-async (benchmarks/.venv-official's python),
        ours-shim | ours-asyncio | ours-trio (project venv's python)
  SPEC_JSON: {"urls": get_factory URL kwargs, "config": extra config keys,
              "timeout": s a watched change may take, "async_sleep": s between async polls,
              "sync_sleep": s between sync polls (0: a tight loop)}

Protocol, one JSON object per line (the parent owns the fake server):
  worker -> {"ready": s, "rss_before_mib", "rss_mib", "hwm_mib"}   after block_until_ready
  parent -> {"cmd": "watch", "key", "flag", "expect", "marker"}      a change is coming
  worker -> {"polling": expect}                                       it polls get_treatment
  worker -> {"seen": expect, "t", "polls", "recv", "event"}  or  {"timeout": expect}
  parent -> {"cmd": "time", "shapes": {name: [[key, flag, attrs], ...]}, "budget_s", "reps"}
  worker -> {"timed": {name: ns per call}}
  parent -> {"cmd": "usage"}  /  worker -> {"usage": _bench_proc.usage()}
  parent -> {"cmd": "done"}   /  worker -> {"destroyed": bool}

Timestamps are time.monotonic() (CLOCK_MONOTONIC, shared by every process of the machine), so
the parent subtracts its server's write time from them. Besides "seen" (the first get_treatment
in the caller's thread that returns the new treatment; sync APIs poll in a tight loop unless told
otherwise, async ones with a tiny sleep, as an async app never spins), two probes need no hook in
either SDK:
* "recv": the first socket read in this process that returned the pushed message's bytes
  (socket.socket.recv / recv_into wrapped before the SDK, its HTTP client or trio are imported;
  the parent passes the message's ``id:`` line as the marker). It includes the wait of the
  reading thread for the GIL, as the SDK's own read would.
* "event": the SDK's public SDK_UPDATE event (client.on), the first moment an application can
  learn of the change; coroutine handlers where the API takes them (ours: awaited by the SDK's
  events task, one loop hop after the snapshot swap), a plain one for the official sync API (its
  events thread). It may come after "seen": the worker waits up to EVENT_GRACE_S for it.

Standard library only at module level: this file also runs under the official SDK's venv.
"""

from __future__ import annotations

import json
import logging
import socket
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import _bench_proc
import _bench_ready_worker as rw
import _bench_timing as bt

SDK_KEY = "bench-sdk-key"
CONFIG: dict[str, Any] = {
    "streamingEnabled": True,
    "impressionsMode": "OPTIMIZED",
    "machineIp": "127.0.0.1",
    "machineName": "bench",
}
READY_TIMEOUT_S = 120  # a 1M-key segment takes a while for every SDK
Spec = dict[str, Any]


class Probes:
    """The two in-process timestamps of one watched change (see the module docstring)."""

    def __init__(self) -> None:
        self.marker: bytes | None = None
        self.recv: float | None = None
        self.event: float | None = None
        self.armed = False

    def arm(self, marker: str | None) -> None:
        self.recv = self.event = None
        self.marker = marker.encode() if marker else None
        self.armed = True

    def disarm(self) -> None:
        self.marker = None
        self.armed = False

    def saw_bytes(self, data: bytes) -> None:
        if self.marker is not None and self.marker in data:
            self.recv = time.monotonic()
            self.marker = None

    def saw_update(self, *_: Any) -> None:
        if self.armed and self.event is None:
            self.event = time.monotonic()

    async def saw_update_async(self, *_: Any) -> None:
        self.saw_update()


PROBES = Probes()


def _install_socket_probe() -> None:
    """Wrap socket reads, before anything that reads sockets is imported (trio binds the
    methods of socket.socket when it is imported)."""
    recv, recv_into = socket.socket.recv, socket.socket.recv_into

    def probed_recv(self: socket.socket, *args: Any) -> bytes:
        data = recv(self, *args)
        if PROBES.marker is not None:
            PROBES.saw_bytes(data)
        return data

    def probed_recv_into(self: socket.socket, buffer: Any, *args: Any) -> int:
        count = recv_into(self, buffer, *args)
        if PROBES.marker is not None and count:
            PROBES.saw_bytes(bytes(memoryview(buffer)[:count]))
        return count

    socket.socket.recv = probed_recv  # type: ignore[method-assign]
    socket.socket.recv_into = probed_recv_into  # type: ignore[method-assign]


def _emit(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


def _command(line: str) -> dict[str, Any]:
    return json.loads(line) if line.strip() else {"cmd": "done"}


def _ready_line(started: float, rss_before: float) -> dict[str, Any]:
    import gc  # noqa: PLC0415

    ready = time.monotonic() - started
    gc.collect()
    return {"ready": ready, "rss_before_mib": rss_before, "rss_mib": _bench_proc.rss_mib(),
            "hwm_mib": _bench_proc.status_mib("VmHWM")}


def _shape_args(command: dict[str, Any]) -> dict[str, list[bt.Args]]:
    return {name: [tuple(call) for call in calls] for name, calls in command["shapes"].items()}


def _settings(command: dict[str, Any]) -> bt.Settings:
    return bt.Settings(budget_s=command["budget_s"], reps=command["reps"], users=0)


EVENT_GRACE_S = 0.1  # how long the SDK_UPDATE event may come after the change was seen


def _seen(expected: str, t: float, polls: int) -> dict[str, Any]:
    seen = {"seen": expected, "t": t, "polls": polls, "recv": PROBES.recv,
            "event": PROBES.event}
    PROBES.disarm()
    return seen


def run_sync(spec: Spec, get_factory: Callable[..., Any], destroy: Callable[[Any], bool],
             sdk_update: Any) -> None:
    rss_before = _bench_proc.rss_mib()
    started = time.monotonic()
    factory = get_factory(SDK_KEY, config={**CONFIG, **spec["config"]}, **spec["urls"])
    factory.block_until_ready(READY_TIMEOUT_S)
    _emit(_ready_line(started, rss_before))
    client = factory.client()
    client.on(sdk_update, PROBES.saw_update_async if spec["async_events"] else PROBES.saw_update)
    for line in sys.stdin:
        command = _command(line)
        if command["cmd"] == "done":
            break
        if command["cmd"] == "usage":
            _emit({"usage": _bench_proc.usage()})
        elif command["cmd"] == "time":
            settings = _settings(command)
            timed = {name: bt.measure_sync(client.get_treatment, args, settings).ns
                     for name, args in _shape_args(command).items()}
            _emit({"timed": timed})
        else:
            key, flag, expected = command["key"], command["flag"], command["expect"]
            deadline = time.monotonic() + spec["timeout"]
            PROBES.arm(command.get("marker"))
            _emit({"polling": expected})
            polls, pause = 0, spec["sync_sleep"]
            while client.get_treatment(key, flag) != expected:
                polls += 1
                if pause:
                    time.sleep(pause)
                if not polls % 1024 and time.monotonic() > deadline:
                    PROBES.disarm()
                    _emit({"timeout": expected})
                    break
            else:
                t = time.monotonic()
                while PROBES.event is None and time.monotonic() < t + EVENT_GRACE_S:
                    time.sleep(0.001)
                _emit(_seen(expected, t, polls))
    _emit({"destroyed": destroy(factory)})


async def run_async(
    spec: Spec,
    get_factory_async: Callable[..., Awaitable[Any]],
    sleep: Callable[[float], Awaitable[None]],
    in_thread: Callable[[Callable[[], str]], Awaitable[str]],
    sdk_update: Any,
    checkpoint: Callable[[], Awaitable[None]] | None,
) -> None:
    rss_before = _bench_proc.rss_mib()
    started = time.monotonic()
    factory = await get_factory_async(SDK_KEY, config={**CONFIG, **spec["config"]},
                                      **spec["urls"])
    await factory.block_until_ready(READY_TIMEOUT_S)
    _emit(_ready_line(started, rss_before))
    client = factory.client()
    await client.on(sdk_update, PROBES.saw_update_async)
    pause = spec["async_sleep"]
    while True:
        command = _command(await in_thread(sys.stdin.readline))  # the SDK runs meanwhile
        if command["cmd"] == "done":
            break
        if command["cmd"] == "usage":
            _emit({"usage": _bench_proc.usage()})
        elif command["cmd"] == "time":
            settings = _settings(command)
            timed = {}
            for name, args in _shape_args(command).items():
                result = await bt.measure_async(client.get_treatment, args, settings, checkpoint)
                timed[name] = result.ns
            _emit({"timed": timed})
        else:
            key, flag, expected = command["key"], command["flag"], command["expect"]
            deadline = time.monotonic() + spec["timeout"]
            PROBES.arm(command.get("marker"))
            _emit({"polling": expected})
            polls = 0
            while await client.get_treatment(key, flag) != expected:
                polls += 1
                if time.monotonic() > deadline:
                    PROBES.disarm()
                    _emit({"timeout": expected})
                    break
                await sleep(pause)
            else:
                t = time.monotonic()
                while PROBES.event is None and time.monotonic() < t + EVENT_GRACE_S:
                    await sleep(0.001)
                _emit(_seen(expected, t, polls))
    await factory.destroy()
    _emit({"destroyed": True})


def run(mode: str, spec: Spec) -> None:
    if mode.startswith("official"):
        from splitio.models.events import SdkEvent  # type: ignore[import-not-found,unused-ignore]  # noqa: PLC0415
    else:
        from splitio_async import SdkEvent  # noqa: PLC0415
    if mode == "official-sync":
        from splitio import get_factory  # type: ignore[import-not-found,unused-ignore]  # noqa: PLC0415

        run_sync(spec | {"async_events": False}, get_factory, rw._official_destroy,
                 SdkEvent.SDK_UPDATE)
    elif mode == "official-async":
        import asyncio  # noqa: PLC0415

        from splitio import get_factory_async  # type: ignore[import-not-found,unused-ignore]  # noqa: PLC0415

        async def yield_once() -> None:
            await asyncio.sleep(0)

        asyncio.run(run_async(spec, get_factory_async, asyncio.sleep, asyncio.to_thread,
                              SdkEvent.SDK_UPDATE, yield_once))
    elif mode == "ours-shim":
        from splitio_sync_shim import get_factory as shim_get_factory  # noqa: PLC0415

        # a coroutine handler is awaited in the portal's loop: no worker-thread hop
        run_sync(spec | {"async_events": True}, shim_get_factory, rw._ours_destroy,
                 SdkEvent.SDK_UPDATE)
    elif mode in ("ours-asyncio", "ours-trio"):
        import anyio  # noqa: PLC0415

        from splitio_async import get_factory_async as ours_get_factory_async  # noqa: PLC0415

        anyio.run(run_async, spec, ours_get_factory_async, anyio.sleep,
                  anyio.to_thread.run_sync, SdkEvent.SDK_UPDATE, None,
                  backend=mode.removeprefix("ours-"))
    else:
        raise ValueError(f"unknown mode {mode!r}")


def main(argv: list[str]) -> int:
    _install_socket_probe()
    logging.disable(logging.CRITICAL)  # SDK log records would distort the timings
    try:
        run(argv[0], json.loads(argv[1]))
    except BaseException:
        _emit({"error": traceback.format_exc()})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
