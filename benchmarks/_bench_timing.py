"""Measurement loop shared by every worker, so all implementations are timed the same way.

Each shape is a callable plus a list of argument tuples (one per benchmark user).  The loop is the
same for everybody: `for args in seq: fn(*args)` (or `await fn(*args)`), timed with
`time.perf_counter_ns`, best of N repetitions.  The first pass over all users doubles as warm-up
(dedup caches, lazy imports) and as a correctness sample: its results are digested so the parent can
check that both SDKs returned the same treatments.

Standard library only: this module also runs under the official SDK's venv.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

Args = tuple[Any, ...]
SyncFn = Callable[..., Any]
AsyncFn = Callable[..., Awaitable[Any]]

MIN_ITERATIONS = 50
MAX_ITERATIONS = 3_000_000


@dataclass
class Settings:
    """How long to measure; parsed from the worker's command line."""

    budget_s: float
    reps: int
    users: int


@dataclass
class ShapeResult:
    """One measurement. `ns` is the best repetition's ns per call, None on failure."""

    ns: float | None = None
    iterations: int = 0
    reps_ns: list[float] = field(default_factory=list)
    digest: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None


def parse_settings(argv: Sequence[str]) -> tuple[Settings, dict[str, Any], list[str]]:
    """Worker argv: WORKLOAD BUDGET_S REPS USERS [extra...]; returns settings, workload, extras."""
    workload = json.loads(Path(argv[0]).read_text())
    settings = Settings(budget_s=float(argv[1]), reps=int(argv[2]), users=int(argv[3]))
    return settings, workload, list(argv[4:])


def silence_logging() -> None:
    """SDK log records (not-ready, queue-full warnings...) would distort the timings."""
    logging.disable(logging.CRITICAL)


def _summarise(results: list[Any]) -> tuple[str, dict[str, int]]:
    counts: Counter[str] = Counter()
    for value in results:
        if isinstance(value, dict):
            counts.update(str(v) for v in value.values())
        else:
            counts[str(value)] += 1
    canonical = json.dumps(
        [sorted(v.items()) if isinstance(v, dict) else v for v in results], default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:16], dict(sorted(counts.items()))


def _plan(first_pass_ns: int, calls: int, settings: Settings) -> int:
    per_call = max(first_pass_ns / max(calls, 1), 1.0)
    wanted = int(settings.budget_s / settings.reps * 1e9 / per_call)
    return max(MIN_ITERATIONS, min(MAX_ITERATIONS, wanted))


def _cycle(args: Sequence[Args], n: int) -> list[Args]:
    return list(itertools.islice(itertools.cycle(args), n))


def measure_sync(fn: SyncFn, args: Sequence[Args], settings: Settings) -> ShapeResult:
    """Time `fn(*a)` for a in a cycle over `args`; best of settings.reps."""
    result = ShapeResult()
    try:
        start = time.perf_counter_ns()
        first = [fn(*a) for a in args]
        first_ns = time.perf_counter_ns() - start
        result.digest, result.counts = _summarise(first)
        seq = _cycle(args, _plan(first_ns, len(args), settings))
        for _ in range(settings.reps):
            t0 = time.perf_counter_ns()
            for a in seq:
                fn(*a)
            result.reps_ns.append((time.perf_counter_ns() - t0) / len(seq))
        result.iterations = len(seq)
        result.ns = min(result.reps_ns)
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    return result


YIELD_EVERY = 100


async def measure_async(
    fn: AsyncFn,
    args: Sequence[Args],
    settings: Settings,
    checkpoint: Callable[[], Awaitable[None]] | None = None,
) -> ShapeResult:
    """Same as measure_sync, awaiting each call inside the running event loop.

    An evaluation never suspends, so a loop of bare awaits would starve every other task of the
    SDK (the impressions recorder among them) and time only the hot path. Like a real app, the
    loop yields to the event loop every ``YIELD_EVERY`` calls, so the recorder's work is timed
    too (the yields are included in the figures). ``checkpoint`` is that yield: anyio's by
    default, ``asyncio.sleep(0)`` for the official SDK (its venv has no anyio)."""
    if checkpoint is None:
        import anyio  # noqa: PLC0415 - only our venv has anyio

        checkpoint = anyio.lowlevel.checkpoint
    result = ShapeResult()
    try:
        start = time.perf_counter_ns()
        first = [await fn(*a) for a in args]
        first_ns = time.perf_counter_ns() - start
        result.digest, result.counts = _summarise(first)
        seq = _cycle(args, _plan(first_ns, len(args), settings))
        for _ in range(settings.reps):
            t0 = time.perf_counter_ns()
            for i, a in enumerate(seq):
                await fn(*a)
                if i % YIELD_EVERY == 0:
                    await checkpoint()
            result.reps_ns.append((time.perf_counter_ns() - t0) / len(seq))
        result.iterations = len(seq)
        result.ns = min(result.reps_ns)
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    return result


def shape_args(workload: dict[str, Any], shape: str, settings: Settings) -> list[Args]:
    """Argument tuples for one shape, one per benchmark user (first settings.users users)."""
    spec = workload["shapes"][shape]
    users = workload["users"][: settings.users]
    if spec["method"] == "track":
        return [(u["key"], "user", "checkout", 12.5, {"plan": "pro"}) for u in users]
    target = spec["flags"] if spec["method"] == "get_treatments" else spec["flag"]
    return [(u["key"], target, u["attributes"] if spec["attrs"] else None) for u in users]


class Reporter:
    """Prints the worker's cumulative JSON result after every shape.

    The parent reads only the last complete line, so a worker that hangs or crashes half-way still
    delivers the shapes it finished.
    """

    def __init__(self, impl: str) -> None:
        self.impl = impl
        self.info: dict[str, Any] = {}
        self.shapes: dict[str, ShapeResult] = {}
        self.error: str | None = None

    def add(self, shape: str, result: ShapeResult) -> None:
        self.shapes[shape] = result
        self.emit()

    def fail(self, error: str) -> None:
        self.error = error
        self.emit()

    def emit(self) -> None:
        payload = {
            "impl": self.impl,
            "error": self.error,
            "info": self.info,
            "shapes": {name: asdict(r) for name, r in self.shapes.items()},
        }
        sys.stdout.write("\n" + json.dumps(payload) + "\n")
        sys.stdout.flush()
