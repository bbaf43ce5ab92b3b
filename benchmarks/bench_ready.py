"""Time-to-ready benchmark: official splitio_client 10.7.0 (sync and asyncio) vs our splitio_async
(sync shim, asyncio, trio), from get_factory to block_until_ready returning.

Run from the repo root with the project venv:

    .venv/bin/python benchmarks/bench_ready.py              # 10 cold starts per implementation
    .venv/bin/python benchmarks/bench_ready.py --quick      # 3 each
    .venv/bin/python benchmarks/bench_ready.py --runs 20 --json ready.json

Why it is built this way:
* Readiness is a cold-start cost, so every start is a fresh subprocess (_bench_ready_worker.py);
  runs are interleaved across implementations so machine drift hits all of them alike.
* All SDKs sync over HTTP from one fake Split server (50 flags, five 10k-key segments) served by
  this process, so serving never competes with a measured process for its GIL. It serves stored
  bytes as Split's CDN does: every body is JSON-encoded once before the first start and gzipped
  once (for clients that send Accept-Encoding: gzip, which all of them do), so the server's own
  encoding and compression are in no SDK's figure; decompressing and parsing are, as in
  production.
* "Ready" must mean the data is there: each worker evaluates segment checks with known answers and
  a 50-flag sweep right after ready; any wrong answer or disagreement with the official sync SDK is
  reported as a MISMATCH and makes the exit status 1.
* The server's request counts are taken per implementation, at ready and for the whole process
  (including destroy's final flush), so a faster start cannot hide behind fewer requests.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _bench_data
import _bench_venv
from _bench_live import IMPLEMENTATIONS
from _bench_server import FakeSplitServer

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORKER = HERE / "_bench_ready_worker.py"
RUN_TIMEOUT_S = 90  # ready (<= 30 s) + checks + destroy; a hung worker is killed, not waited on

REFERENCE = "official-sync"


@dataclass
class Result:
    """Everything measured for one implementation over all its runs."""

    label: str
    ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # non-fatal: destroy problems
    mismatches: list[str] = field(default_factory=list)
    at_ready: Counter[str] = field(default_factory=Counter)
    total: Counter[str] = field(default_factory=Counter)
    gzipped: int = 0  # GET bodies the server sent gzipped (the SDK accepted gzip)
    sweep: dict[str, Any] | None = None  # first run's 50-flag sweep, for cross-checking

    def median(self) -> float | None:
        return statistics.median(self.ms) if self.ms else None


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, help="cold starts per implementation (default 10)")
    parser.add_argument("--quick", action="store_true", help="3 runs per implementation")
    parser.add_argument("--json", metavar="OUT", type=Path, help="write all results as JSON")
    args = parser.parse_args(argv)
    args.runs = args.runs or (3 if args.quick else 10)
    return args


def _json_lines(text: str) -> list[dict[str, Any]]:
    out = []
    for line in text.splitlines():
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            out.append(value)
    return out


def run_once(
    command: list[str], env: dict[str, str], server: FakeSplitServer
) -> tuple[dict[str, Any], Counter[str], Counter[str], int]:
    """One cold start. Returns the merged worker payload, the requests at ready / in total and
    how many GET bodies went out gzipped.

    The worker prints its ready line and then waits for stdin to close: that pause is where the
    'at ready' request snapshot is taken."""
    before, gzipped = server.snapshot(), server.gzipped
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
            text=True, env=env, cwd=HERE,
        )
        assert proc.stdin is not None and proc.stdout is not None
        watchdog = threading.Timer(RUN_TIMEOUT_S, proc.kill)
        watchdog.start()
        try:
            payload: dict[str, Any] = {}
            for line in proc.stdout:  # until the ready (or error) line
                payload = next(iter(_json_lines(line)), {})
                if payload:
                    break
            at_ready = server.snapshot() - before
            proc.stdin.close()
            for later in _json_lines(proc.stdout.read()):
                payload.update(later)
            code = proc.wait()
        finally:
            watchdog.cancel()
        stderr.seek(0)
        err = stderr.read().decode(errors="replace").strip()
    if code != 0:
        if code == -9:
            payload.setdefault("error", f"killed after {RUN_TIMEOUT_S} s (hung)")
        tail = "\n".join(err.splitlines()[-15:])
        payload["exit"] = f"exit {code}" + (f"; stderr:\n{tail}" if tail else "")
    return payload, at_ready, server.snapshot() - before, server.gzipped - gzipped


def record(result: Result, payload: dict[str, Any], checks: list[tuple[str, str, str]]) -> None:
    """Fold one run into `result`: time, verification against the known answers, problems."""
    if "ms" not in payload:
        result.errors.append(payload.get("error") or payload.get("exit") or "no result")
        return
    result.ms.append(payload["ms"])
    for (key, flag, expected), got in zip(checks, payload["checks"], strict=True):
        if got != expected:
            call = f"get_treatment({key!r}, {flag!r})"
            result.mismatches.append(f"{call} = {got!r}, want {expected!r}")
    if result.sweep is None:
        result.sweep = payload["sweep"]
    if payload.get("error") or payload.get("exit") or payload.get("destroyed") is False:
        problem = payload.get("error") or payload.get("exit") or "destroy did not finish in 10 s"
        result.notes.append(f"after ready: {problem}")


def cross_check(results: dict[str, Result]) -> None:
    """Every implementation's 50-flag sweep must equal the official sync SDK's."""
    ref = results[REFERENCE].sweep
    for result in results.values():
        if ref is None or result.sweep is None or result is results[REFERENCE]:
            continue
        for key, treatments in ref.items():
            diff = {
                flag: (want, result.sweep.get(key, {}).get(flag))
                for flag, want in treatments.items()
                if result.sweep.get(key, {}).get(flag) != want
            }
            if diff:
                result.mismatches.append(f"sweep key {key!r}: {{flag: (official, ours)}} {diff}")


def _fmt_ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def _ratio(num: float | None, den: float | None) -> str:
    return "n/a" if num is None or not den else f"{num / den:.2f}x"


def _per_run(counts: Counter[str], runs: int) -> str:
    return ", ".join(f"{path} {n / runs:g}" for path, n in sorted(counts.items())) or "none"


def render(results: dict[str, Result], runs: int) -> str:
    off_sync = results["official-sync"].median()
    off_async = results["official-async"].median()
    header = ["implementation", "median ms", "min ms", "off-sync/this", "off-async/this",
              "req@ready", "req/run"]
    rows = []
    for result in results.values():
        done = max(len(result.ms), 1)
        rows.append([
            result.label + ("  MISMATCH" if result.mismatches else ""),
            _fmt_ms(result.median()),
            _fmt_ms(min(result.ms) if result.ms else None),
            _ratio(off_sync, result.median()),
            _ratio(off_async, result.median()),
            f"{result.at_ready.total() / done:g}",
            f"{result.total.total() / done:g}",
        ])
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{widths[0]}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    lines = [fmt.format(*header), fmt.format(*["-" * w for w in widths])]
    lines += [fmt.format(*row) for row in rows]
    gets = ", ".join(
        f"{r.label} {r.gzipped}/{sum(n for k, n in r.total.items() if k.startswith('GET'))}"
        for r in results.values())
    lines += ["", f"GET bodies served gzipped / GETs, all runs: {gets}"]
    lines += ["", f"requests per run (mean over {runs} runs): at ready | whole process"]
    for result in results.values():
        done = max(len(result.ms), 1)
        lines.append(f"  {result.label}: {_per_run(result.at_ready, done)}")
        lines.append(f"  {' ' * len(result.label)}  | {_per_run(result.total, done)}")
    return "\n".join(lines)


def report_problems(results: dict[str, Result]) -> bool:
    """Print failures and mismatches loudly; True if there were any."""
    bad = False
    for result in results.values():
        for error in dict.fromkeys(result.errors):  # same traceback every run: print it once
            count = result.errors.count(error)
            print(f"\n!!! {result.label} FAILED ({count}/{count + len(result.ms)} runs):\n{error}")
            bad = True
        for mismatch in dict.fromkeys(result.mismatches):
            print(f"!!! MISMATCH {result.label}: {mismatch}")
            bad = True
        for note in dict.fromkeys(result.notes):
            print(f"note {result.label}: {note}")
    if not bad:
        print("verified: every implementation returned the expected treatments after ready "
              "(segment checks + 50-flag sweep equal to official sync)")
    return bad


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    official = _bench_venv.ensure_official(HERE / ".venv-official", asyncio=True)
    data = _bench_data.build_ready()
    server = FakeSplitServer(data.flags, data.segments)
    server.start()
    encoded = server.prepare()
    spec = json.dumps({
        "urls": server.url_kwargs(),
        "checks": data.checks,
        "flags": [flag["name"] for flag in data.flags],
    })
    base_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    ours_env = {**base_env, "PYTHONPATH": str(REPO)}
    results = {mode: Result(label) for mode, label, _ in IMPLEMENTATIONS}
    print(f"{len(data.flags)} flags, {len(data.segments)} segments x "
          f"{_bench_data.BIG_SEGMENT_SIZE} keys; fake Split server at {server.base_url}; "
          f"{args.runs} cold starts each", flush=True)
    print(f"first pages stored before any start: {encoded['raw_mib']:.1f} MiB of JSON, "
          f"{encoded['gzip_mib']:.2f} MiB gzipped (encoded in {encoded['seconds'] * 1000:.0f} ms,"
          " outside every figure)", flush=True)
    try:
        for run in range(args.runs):
            print(f"  run {run + 1}/{args.runs}", flush=True)
            for mode, _, is_official in IMPLEMENTATIONS:
                python = official if is_official else Path(sys.executable)
                env = base_env if is_official else ours_env
                payload, at_ready, total, gzipped = run_once(
                    [str(python), str(WORKER), mode, spec], env, server
                )
                record(results[mode], payload, data.checks)
                results[mode].at_ready += at_ready
                results[mode].total += total
                results[mode].gzipped += gzipped
    finally:
        server.stop()
    cross_check(results)
    print()
    print(render(results, args.runs))
    print()
    bad = report_problems(results)
    if args.json:
        out = {
            "runs": args.runs,
            "flags": len(data.flags),
            "segments": {name: len(keys) for name, keys in data.segments.items()},
            "results": {
                mode: {
                    "label": r.label, "median_ms": r.median(),
                    "min_ms": min(r.ms) if r.ms else None, "ms": r.ms,
                    "errors": r.errors, "mismatches": r.mismatches, "notes": r.notes,
                    "requests_at_ready": dict(r.at_ready), "requests_total": dict(r.total),
                    "gzipped_gets": r.gzipped,
                }
                for mode, r in results.items()
            },
        }
        args.json.write_text(json.dumps(out, indent=2))
        print(f"results written to {args.json}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
