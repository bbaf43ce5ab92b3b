"""Propagation latency benchmark: from a streaming push by the server to the new treatment being
returned by ``get_treatment``, official splitio_client 10.7.0 vs our splitio_async.

Run from the repo root with the project venv:

    .venv/bin/python benchmarks/bench_propagation.py                 # 15 pushes per SDK
    .venv/bin/python benchmarks/bench_propagation.py --pushes 30 --json propagation.json
    .venv/bin/python benchmarks/bench_propagation.py --only official-sync ours-shim

Why it is built this way:
* Every SDK runs in standalone mode with streaming on, in its own process (_bench_propagation_
  worker.py), against the test suite's fake Split server (tests/fakes/split_server.py: REST,
  auth and SSE) served on 127.0.0.1 by this process, so serving never competes with a measured
  process for its GIL. Each SDK gets a fresh server.
* The fake server sends nothing when a stream opens; the real service sends occupancy at once.
  So after the stream is open the parent pushes an occupancy message (the SDK's first event:
  streaming UP, which runs a full sync) and waits until that sync is over.
* One push = upsert the flag on the server (new change number), note the time, send the
  SPLIT_UPDATE with the flag as payload (zlib, c=2, by default) and the SDK's change number as
  ``pcn``: the "instant update" path, no fetch needed. The worker, already polling
  ``get_treatment`` (sync: tight loop; async: tiny sleep), notes the time it sees the new
  treatment. Both times are CLOCK_MONOTONIC, shared by the processes of one machine.
* The splitChanges requests made during each push are counted: 0 means the update was applied
  from the payload; anything else means the SDK fetched (and is reported).
* The first pushes are a warm-up (lazy imports, first decompression) and are not counted.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import _bench_venv

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORKER = HERE / "_bench_propagation_worker.py"
sys.path.insert(0, str(REPO))  # the test suite's fake Split server and flag builder

from tests.fakes.split_server import FakeSplitServer  # noqa: E402
from tests.helpers import rollout_flag  # noqa: E402

FLAG = "propagation_flag"
KEY = "user-1"
FLAGS = "/api/splitChanges"
SEE_TIMEOUT_S = 10  # a push not seen by then is reported as lost
GAP_S = 0.05  # between pushes: the SDK's side effects of one push settle before the next

# (worker mode, table label, runs under the official venv?)
IMPLEMENTATIONS = [
    ("official-sync", "official sync", True),
    ("official-async", "official asyncio", True),
    ("ours-shim", "ours sync shim", False),
    ("ours-asyncio", "ours asyncio", False),
    ("ours-trio", "ours trio", False),
]


@dataclass
class Result:
    label: str
    ms: list[float] = field(default_factory=list)
    fetches: int = 0  # splitChanges requests during the measured pushes (0: all instant)
    lost: int = 0
    polls: list[int] = field(default_factory=list)
    ready_s: float | None = None
    error: str | None = None

    def stat(self, fn: Any) -> float | None:
        return fn(self.ms) if self.ms else None


class Worker:
    """A worker process with line-based JSON in both directions and bounded reads."""

    def __init__(self, command: list[str], env: dict[str, str], stderr: IO[bytes]) -> None:
        self._stderr = stderr
        self.proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
            text=True, env=env, cwd=HERE,
        )
        self._lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
        assert self.proc.stdout is not None
        threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True).start()

    def _read(self, stdout: IO[str]) -> None:
        for line in stdout:
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict):
                self._lines.put(value)
        self._lines.put(None)  # end of output

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()

    def expect(self, *keys: str, timeout: float) -> dict[str, Any]:
        try:
            message = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(f"worker silent for {timeout} s (waiting for {keys})") from None
        if message is None or "error" in message:
            raise RuntimeError((message or {}).get("error") or f"worker ended: {self.stderr()}")
        if not any(key in message for key in keys):
            raise RuntimeError(f"unexpected worker message {message} (waiting for {keys})")
        return message

    def stderr(self) -> str:
        self._stderr.seek(0)
        return "\n".join(self._stderr.read().decode(errors="replace").splitlines()[-15:])

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _count(server: FakeSplitServer) -> int:
    return len(server.requests_to(FLAGS))


def _quiet(server: FakeSplitServer, seconds: float = 0.3, limit: float = 10.0) -> None:
    """Wait until no splitChanges request arrived for ``seconds``."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = _count(server)
        time.sleep(seconds)
        if _count(server) == before:
            return
    raise RuntimeError("the SDK keeps fetching splitChanges while streaming")


def measure(command: list[str], env: dict[str, str], result: Result,
            args: argparse.Namespace) -> None:
    with FakeSplitServer() as server, tempfile.TemporaryFile() as stderr:
        fillers = [rollout_flag(f"filler_{i:02d}", (("on", 50), ("off", 50))) for i in range(9)]
        server.set_flags([*fillers, rollout_flag(FLAG, (("v0", 100),))])
        spec = {
            "urls": {
                "sdk_api_base_url": server.sdk_url, "events_api_base_url": server.events_url,
                "auth_api_base_url": server.auth_url,
                "telemetry_api_base_url": server.telemetry_url,
                "streaming_api_base_url": server.streaming_url,
            },
            "flag": FLAG, "key": KEY, "async_sleep": args.async_sleep, "timeout": SEE_TIMEOUT_S,
        }
        worker = Worker([*command, json.dumps(spec)], env, stderr)
        try:
            result.ready_s = worker.expect("ready", timeout=60)["ready"]
            server.wait_for_streams(1, 30)
            before = _count(server)
            server.push_occupancy("control_pri", 2)  # the first event: streaming is UP
            server.wait_for_requests(FLAGS, before + 1, 10)  # the full sync UP runs
            _quiet(server)
            for push in range(1, args.warmup + args.pushes + 1):
                treatment = f"v{push}"
                worker.send({"expect": treatment})
                worker.expect("polling", timeout=10)
                fetches = _count(server)
                previous = server.flags_change_number
                flag = rollout_flag(FLAG, ((treatment, 100),))
                change_number = server.upsert_flag(flag)
                pushed = time.monotonic()
                server.push_split_update(change_number, flag, pcn=previous,
                                         compression=args.compression)
                seen = worker.expect("seen", "timeout", timeout=SEE_TIMEOUT_S + 10)
                if push <= args.warmup:
                    pass
                elif "timeout" in seen:
                    result.lost += 1
                else:
                    result.ms.append((seen["t"] - pushed) * 1000)
                    result.polls.append(seen["polls"])
                    result.fetches += _count(server) - fetches
                time.sleep(GAP_S)
            worker.send({"done": True})
            worker.expect("destroyed", timeout=20)
        except RuntimeError as exc:
            result.error = f"{exc}\n{worker.stderr()}".strip()
            if worker.proc.poll() is None:
                worker.proc.kill()
        finally:
            worker.close()


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _ratio(num: float | None, den: float | None) -> str:
    return "n/a" if num is None or not den else f"{num / den:.2f}x"


def render(results: dict[str, Result]) -> str:
    def median_of(mode: str) -> float | None:
        return results[mode].stat(statistics.median) if mode in results else None

    off_sync, off_async = median_of("official-sync"), median_of("official-async")
    header = ["implementation", "pushes", "median ms", "min ms", "max ms", "off-sync/this",
              "off-async/this", "fetches", "lost"]
    rows = []
    for result in results.values():
        median = result.stat(statistics.median)
        rows.append([
            result.label + ("  FAILED" if result.error else ""),
            str(len(result.ms)), _ms(median), _ms(result.stat(min)), _ms(result.stat(max)),
            _ratio(off_sync, median), _ratio(off_async, median), str(result.fetches),
            str(result.lost),
        ])
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{widths[0]}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    lines = [fmt.format(*header), fmt.format(*["-" * w for w in widths])]
    return "\n".join(lines + [fmt.format(*row) for row in rows])


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pushes", type=int, default=15, help="measured pushes per SDK (15)")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured pushes first (2)")
    parser.add_argument("--compression", type=int, choices=(0, 1, 2), default=2,
                        help="payload encoding: 0 plain, 1 gzip, 2 zlib (default, as Split)")
    parser.add_argument("--async-sleep", type=float, default=0.0005,
                        help="pause between get_treatment calls of the async APIs (0.0005 s)")
    parser.add_argument("--only", nargs="+", choices=[m for m, _, _ in IMPLEMENTATIONS],
                        help="run only these implementations")
    parser.add_argument("--json", metavar="OUT", type=Path, help="write all results as JSON")
    args = parser.parse_args(argv)
    if args.pushes < 1:
        parser.error("--pushes must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    chosen = [impl for impl in IMPLEMENTATIONS if not args.only or impl[0] in args.only]
    official = None
    if any(is_official for _, _, is_official in chosen):
        official = _bench_venv.ensure_official(HERE / ".venv-official", asyncio=True)
    base_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    ours_env = {**base_env, "PYTHONPATH": str(REPO)}
    print(f"{args.warmup} warm-up + {args.pushes} measured pushes per SDK, payload c="
          f"{args.compression}; sync APIs poll in a tight loop, async ones every "
          f"{args.async_sleep * 1000:g} ms", flush=True)
    results: dict[str, Result] = {}
    for mode, label, is_official in chosen:
        print(f"  {label} ...", flush=True)
        python = official if is_official else Path(sys.executable)
        assert python is not None
        result = results[mode] = Result(label)
        measure([str(python), str(WORKER), mode], base_env if is_official else ours_env,
                result, args)
    print()
    print(render(results))
    print()
    print("latency = server push (SPLIT_UPDATE written to the stream) -> get_treatment returns "
          "the new treatment;\nratios are official median / this median: above 1 = faster than "
          "that official API")
    bad = False
    for result in results.values():
        if result.ready_s is not None:
            polls = statistics.median(result.polls) if result.polls else 0
            print(f"  {result.label}: ready in {result.ready_s:.2f} s, median "
                  f"{polls:g} get_treatment calls per push before the change showed")
        if result.fetches:
            print(f"  note {result.label}: {result.fetches} splitChanges fetches during "
                  "measured pushes (expected 0: the payload is enough)")
        if result.error or result.lost:
            bad = True
            print(f"!!! {result.label}: {result.lost} pushes never seen; {result.error or ''}")
    if args.json:
        args.json.write_text(json.dumps({
            "pushes": args.pushes, "warmup": args.warmup, "compression": args.compression,
            "async_sleep": args.async_sleep,
            "results": {
                mode: {
                    "label": r.label, "median_ms": r.stat(statistics.median),
                    "min_ms": r.stat(min), "max_ms": r.stat(max), "ms": r.ms,
                    "fetches": r.fetches, "lost": r.lost, "polls": r.polls,
                    "ready_s": r.ready_s, "error": r.error,
                }
                for mode, r in results.items()
            },
        }, indent=2))
        print(f"results written to {args.json}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
