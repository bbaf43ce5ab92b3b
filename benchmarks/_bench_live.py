"""The parent's side of _bench_live_worker.py: start one SDK process, talk to it, and time one
change from the server's write to the caller's evaluation. Shared by bench_propagation,
bench_scale and bench_idle.
"""

from __future__ import annotations

import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import _bench_venv
from _bench_server import FakeSplitServer

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORKER = HERE / "_bench_live_worker.py"

# (worker mode, table label, runs under the official venv?)
IMPLEMENTATIONS = [
    ("official-sync", "official sync", True),
    ("official-async", "official asyncio", True),
    ("ours-shim", "ours sync shim", False),
    ("ours-asyncio", "ours asyncio", False),
    ("ours-trio", "ours trio", False),
]
LABELS = {mode: label for mode, label, _ in IMPLEMENTATIONS}
MODES = [mode for mode, _, _ in IMPLEMENTATIONS]
# The official API each of ours is compared with (the "shim / async" pairs).
COUNTERPART = {"ours-shim": "official-sync", "ours-asyncio": "official-async",
               "ours-trio": "official-async"}


class WorkerError(RuntimeError):
    """The worker failed, went silent or said something unexpected."""


def interpreters(modes: Sequence[str]) -> dict[str, tuple[Path, dict[str, str]]]:
    """Python and environment per mode; builds the official SDK's venv if one is needed."""
    base_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out: dict[str, tuple[Path, dict[str, str]]] = {}
    official: Path | None = None
    for mode in modes:
        if mode.startswith("official"):
            official = official or _bench_venv.ensure_official(HERE / ".venv-official",
                                                               asyncio=True)
            out[mode] = (official, base_env)
        else:
            out[mode] = (Path(sys.executable), {**base_env, "PYTHONPATH": str(REPO)})
    return out


class LiveWorker:
    """A worker process with line-based JSON both ways and bounded reads."""

    def __init__(self, mode: str, python: Path, env: dict[str, str], spec: dict[str, Any]):
        self.mode = mode
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        self.proc = subprocess.Popen(
            [str(python), str(WORKER), mode, json.dumps(spec)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self._stderr, text=True, env=env, cwd=HERE,
        )
        self._lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
        assert self.proc.stdout is not None
        threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True).start()

    @property
    def pid(self) -> int:
        return self.proc.pid

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
        try:
            self.proc.stdin.write(json.dumps(message) + "\n")
            self.proc.stdin.flush()
        except OSError as exc:
            raise WorkerError(f"worker gone ({exc}): {self.stderr()}") from None

    def expect(self, *keys: str, timeout: float) -> dict[str, Any]:
        try:
            message = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise WorkerError(f"worker silent for {timeout} s (waiting for {keys})") from None
        if message is None or "error" in message:
            raise WorkerError((message or {}).get("error") or f"worker ended: {self.stderr()}")
        if not any(key in message for key in keys):
            raise WorkerError(f"unexpected worker message {message} (waiting for {keys})")
        return message

    def ask(self, command: dict[str, Any], answer: str, timeout: float) -> dict[str, Any]:
        self.send(command)
        return self.expect(answer, timeout=timeout)

    def stderr(self) -> str:
        self._stderr.seek(0)
        return "\n".join(self._stderr.read().decode(errors="replace").splitlines()[-15:])

    def close(self) -> bool:
        """Destroy the SDK and end the process; True if the SDK said it was destroyed."""
        destroyed = False
        try:
            if self.proc.poll() is None:
                destroyed = bool(self.ask({"cmd": "done"}, "destroyed", 30)["destroyed"])
                self.proc.wait(15)
        except (WorkerError, subprocess.TimeoutExpired):
            pass
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._stderr.close()
        return destroyed


@dataclass
class Sample:
    """One change, in ms after its origin: the server's write of the notification (streaming)
    or the arrival of the poll request that fetched it (polling). None = did not happen."""

    seen: float
    recv: float | None = None
    fetch: float | None = None  # first fetch request after the origin (streaming kinds)
    event: float | None = None
    fetches: int = 0  # fetch requests made between the push and the change being seen
    polls: int = 0


@dataclass
class Series:
    """Samples of one measurement for one implementation."""

    samples: list[Sample] = field(default_factory=list)
    lost: int = 0
    error: str | None = None

    def median(self, attr: str = "seen") -> float | None:
        values = [getattr(s, attr) for s in self.samples if getattr(s, attr) is not None]
        return statistics.median(values) if values else None

    def extreme(self, fn: Callable[[list[float]], float]) -> float | None:
        values = [s.seen for s in self.samples]
        return fn(values) if values else None

    def fetches(self) -> int:
        return sum(s.fetches for s in self.samples)


def wait_quiet(server: FakeSplitServer, prefix: str = "/api/", seconds: float = 0.3,
               limit: float = 15.0) -> None:
    """Wait until no GET under ``prefix`` arrived for ``seconds`` (the SDK's follow-up syncs of
    the previous change are over)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        started = time.monotonic()
        time.sleep(seconds)
        if not [r for r in server.requests_since(started, prefix) if r.method == "GET"]:
            return
    raise WorkerError(f"the SDK keeps fetching under {prefix} (no quiet {seconds} s in {limit} s)")


def watch_push(
    worker: LiveWorker, server: FakeSplitServer, key: str, flag: str, expect: str,
    push: Callable[[str], None], fetch_prefix: str, timeout: float,
) -> Sample | None:
    """Time one streamed change: ``push(message_id)`` changes the server and pushes the
    notification with that id; None if the worker never saw the change."""
    message_id = server.reserve_id()
    worker.send({"cmd": "watch", "key": key, "flag": flag, "expect": expect,
                 "marker": f"id:{message_id}\n"})
    worker.expect("polling", timeout=10)
    started = time.monotonic()
    push(message_id)
    seen = worker.expect("seen", "timeout", timeout=timeout + 10)
    if "timeout" in seen:
        return None
    written = server.wait_written(message_id, 5)
    fetched = [r.t for r in server.requests_since(started, fetch_prefix) if r.t <= seen["t"]]

    def after(t: float | None) -> float | None:
        return None if t is None else (t - written) * 1000

    return Sample(seen=(seen["t"] - written) * 1000, recv=after(seen["recv"]),
                  fetch=after(min(fetched, default=None)), event=after(seen["event"]),
                  fetches=len(fetched), polls=seen["polls"])


def watch_poll(
    worker: LiveWorker, server: FakeSplitServer, key: str, flag: str, expect: str,
    change: Callable[[], None], fetch_prefix: str, timeout: float,
) -> Sample | None:
    """Time one polled change: from the arrival of the first poll request after ``change()``
    (the one that fetches it) to the caller seeing it."""
    worker.send({"cmd": "watch", "key": key, "flag": flag, "expect": expect})
    worker.expect("polling", timeout=10)
    changed = time.monotonic()
    change()
    seen = worker.expect("seen", "timeout", timeout=timeout + 10)
    if "timeout" in seen:
        return None
    recent = [r.t for r in server.requests_since(changed - 5, fetch_prefix) if r.t <= seen["t"]]
    polled = [t for t in recent if t >= changed]
    if not polled and not recent:
        raise WorkerError(f"the change was seen without a request to {fetch_prefix}")
    # A poll that arrived just before the change may still have been answered with it.
    origin = min(polled) if polled else max(recent)
    event = seen["event"]
    return Sample(seen=(seen["t"] - origin) * 1000,
                  event=None if event is None else (event - origin) * 1000,
                  fetches=len(polled), polls=seen["polls"])


def fmt_ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}" if value < 100 else f"{value:.0f}"


def ratio(num: float | None, den: float | None) -> str:
    return "n/a" if num is None or not den else f"{num / den:.2f}x"


def grid(header: list[str], rows: list[list[str]]) -> str:
    """A plain-text table: first column left-aligned, the others right-aligned."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{widths[0]}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    return "\n".join([fmt.format(*header), fmt.format(*["-" * w for w in widths]),
                      *[fmt.format(*r) for r in rows]])
