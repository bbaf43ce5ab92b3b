"""Issue 14's table in one command: every row (evaluation shapes, track, push to visible per
notification kind, time to ready), official splitio_client 10.7.0 beside ours on every API, the
ratio, the pure-Python floor and whether each target is met.

Run from the repo root with the project venv:

    .venv/bin/python benchmarks/bench_targets.py            # evaluation, propagation, ready
    .venv/bin/python benchmarks/bench_targets.py --all      # + bench_scale and bench_idle
    .venv/bin/python benchmarks/bench_targets.py --quick    # every script in its --quick mode
    .venv/bin/python benchmarks/bench_targets.py --logs out/ --json targets.json

It runs bench_evaluation.py, bench_propagation.py and bench_ready.py (and with --all
bench_scale.py and bench_idle.py) one after the other, each with --json, keeps each one's full
report in --logs (a temporary folder by default, named at the end), and prints the table. Every
ratio is official / ours, each of our APIs against its official counterpart: the sync shim against
the official sync API, asyncio and trio against the official asyncio API. Above 1 = ours faster.

Targets (issue 14): get_treatment shapes at least 15x, track at least 5x, push to visible at most
the official latency (ratio >= 1) on every kind and API, time to ready at most half the official
(ratio >= 2); with --all, get_treatment flat as flags and keys grow, applying a change flat as
flags grow, a 1M-key segment in no more memory than the official SDK's, idle CPU and wake-ups at
most the official figures. The evaluation rows run both SDKs in standalone mode (the same work:
telemetry timing, recorder deliveries); the issue's first figures for ours came from localhost
mode, which has no telemetry.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OURS = ["ours-shim", "ours-asyncio", "ours-trio"]
COUNTERPART = {"ours-shim": "official-sync", "ours-asyncio": "official-async",
               "ours-trio": "official-async"}
# evaluation shape: (row title, target ratio)
EVALUATION = {
    "rollout_50_50": ("get_treatment, 50/50 rollout", 15.0),
    "attributes_5": ("get_treatment, five attribute conditions", 15.0),
    "segment_10k": ("get_treatment, segment of 10k keys", 15.0),
    "dependency_chain": ("get_treatment, dependency chain", 15.0),
    "get_treatments_50": ("get_treatments, 50 flags", 15.0),
    "track": ("track (standalone)", 5.0),
}
# bench_evaluation's result names for the official APIs
EVALUATION_OFFICIAL = {"official-sync": "official-standalone", "official-async": "official-async"}
PROPAGATION = {
    "payload": "push to visible, SPLIT_UPDATE with payload",
    "fetch": "push to visible, SPLIT_UPDATE needing a fetch",
    "kill": "push to visible, SPLIT_KILL",
    "segment": "push to visible, SEGMENT_UPDATE",
    "rbs": "push to visible, RB_SEGMENT_UPDATE with payload",
}


class Row:
    """One line of the table: figures per API (official-sync/-async, ours-*), higher-is-better
    ratios against the counterpart, a target on that ratio."""

    def __init__(self, title: str, unit: str, values: dict[str, float | None], target: float,
                 floor: float | None = None, lower_is_better: bool = True) -> None:
        self.title, self.unit, self.values, self.target, self.floor = (
            title, unit, values, target, floor)
        self.lower_is_better = lower_is_better

    def ratio(self, mode: str) -> float | None:
        ours, ref = self.values.get(mode), self.values.get(COUNTERPART[mode])
        if ours is None or ref is None or not ours or not ref:
            return None
        return ref / ours if self.lower_is_better else ours / ref

    def verdict(self, mode: str) -> str:
        ratio = self.ratio(mode)
        return "n/a" if ratio is None else "met" if ratio >= self.target else "MISSED"


def _num(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 1000 else f"{value:,.0f}"


def render(rows: list[Row]) -> str:
    header = ["row", "unit", "official sync / asyncio", "ours shim / asyncio / trio",
              "ratio shim / asyncio / trio", "py floor", "target", "shim / asyncio / trio"]
    lines = []
    for row in rows:
        official = " / ".join(_num(row.values.get(m)) for m in ("official-sync",
                                                                "official-async"))
        ours = " / ".join(_num(row.values.get(m)) for m in OURS)
        ratios = " / ".join("n/a" if row.ratio(m) is None else f"{row.ratio(m):.2f}x"
                            for m in OURS)
        lines.append([row.title, row.unit, official, ours, ratios,
                      "" if row.floor is None else _num(row.floor), f">= {row.target:g}x",
                      " / ".join(row.verdict(m) for m in OURS)])
    widths = [max(len(r[i]) for r in [header, *lines]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" if i < 2 else f"{{:>{w}}}" for i, w in enumerate(widths))
    return "\n".join([fmt.format(*header), fmt.format(*["-" * w for w in widths]),
                      *[fmt.format(*r) for r in lines]])


# ---------------------------------------------------------------------- rows from each report


def evaluation_rows(data: dict[str, Any]) -> list[Row]:
    rows = []
    by_shape = {row["shape"]: row for row in data["rows"]}
    for shape, (title, target) in EVALUATION.items():
        row = by_shape.get(shape, {})
        values = {api: row.get(name) for api, name in EVALUATION_OFFICIAL.items()}
        values.update({mode: row.get(mode) for mode in OURS})
        rows.append(Row(title, "µs", values, target, row.get("floor")))
    return rows


def propagation_rows(data: dict[str, Any]) -> list[Row]:
    results = data["results"]
    return [Row(title, "ms", {mode: r["kinds"].get(kind, {}).get("median_ms")
                              for mode, r in results.items()}, 1.0)
            for kind, title in PROPAGATION.items() if kind in data["kinds"]]


def ready_rows(data: dict[str, Any]) -> list[Row]:
    values = {mode: r["median_ms"] for mode, r in data["results"].items()}
    return [Row(f"time to ready, {data['flags']} flags + {len(data['segments'])} segments",
                "ms", values, 2.0)]


def idle_rows(data: dict[str, Any]) -> list[Row]:
    results = data["results"]

    def rate(mode: str, key: str) -> float | None:
        r = results.get(mode, {})
        value, seconds = r.get(key), r.get("seconds")
        return None if value is None or not seconds else value / seconds

    cpu = {m: rate(m, "cpu_s") for m in results}
    wake = {m: rate(m, "voluntary") for m in results}
    return [Row("idle with streaming, CPU", "ms/min",
                {m: None if v is None else v * 60_000 for m, v in cpu.items()}, 1.0),
            Row("idle with streaming, wake-ups", "per s", wake, 1.0)]


def scale_lines(data: dict[str, Any]) -> list[str]:
    """Ours only: the growth verdicts (no official ratio) and the segment memory row."""
    limits, growth = data["flat_limits"], data["growth"]
    lines = []
    checks: list[tuple[str, Callable[[str], bool], float]] = [
        ("get_treatment flat as flags and keys grow",
         lambda name: name.startswith("get_treatment"), limits["get_treatment"]),
        ("applying a change flat as flags grow",
         lambda name: not name.startswith("get_treatment") and name.endswith("by flags"),
         limits["change"]),
        ("applying a change flat as the segment grows (for the record)",
         lambda name: not name.startswith("get_treatment") and name.endswith("by keys"),
         limits["change"]),
    ]
    for title, chosen, limit in checks:
        verdicts = []
        for mode in OURS:
            values = {k: v for k, v in growth.get(mode, {}).items() if chosen(k) and v is not None}
            if not values:
                verdicts.append("n/a")
                continue
            worst = max(values, key=lambda k: values[k])
            verdicts.append("met" if values[worst] <= limit else
                            f"MISSED ({worst} {values[worst]:.2f}x)")
        lines.append(f"scale: {title} (<= {limit:g}x): " + " / ".join(verdicts))
    memory = data["segment_memory_mib_per_1m"]
    cells = []
    for mode in OURS:
        ours, ref = memory.get(mode), memory.get(COUNTERPART[mode])
        if ours is None or ref is None:
            cells.append("n/a")
        else:
            cells.append(f"{ours:.1f} vs {ref:.1f} {'met' if ours <= ref else 'MISSED'}")
    lines.append("scale: big segment MiB per 1M keys, ours vs official (<=): " + " / ".join(cells))
    return lines


# ---------------------------------------------------------------------- running


SCRIPTS = {  # name: (script, rows from its --json)
    "evaluation": ("bench_evaluation.py", evaluation_rows),
    "propagation": ("bench_propagation.py", propagation_rows),
    "ready": ("bench_ready.py", ready_rows),
    "idle": ("bench_idle.py", idle_rows),
    "scale": ("bench_scale.py", None),
}


def run(name: str, quick: bool, logs: Path) -> dict[str, Any] | None:
    script = SCRIPTS[name][0]
    out, log = logs / f"{name}.json", logs / f"{name}.log"
    command = [sys.executable, str(HERE / script), "--json", str(out)]
    if quick:
        command.append("--quick")
    print(f"  {script}{' --quick' if quick else ''} ...", end="", flush=True)
    started = time.perf_counter()
    with log.open("w") as sink:
        done = subprocess.run(command, stdout=sink, stderr=subprocess.STDOUT, check=False)
    print(f" {time.perf_counter() - started:.0f} s (exit {done.returncode}; report: {log})",
          flush=True)
    if not out.exists():
        return None
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="every script in its --quick mode")
    parser.add_argument("--all", action="store_true", help="also bench_scale and bench_idle")
    parser.add_argument("--only", nargs="+", choices=list(SCRIPTS),
                        help="run only these scripts")
    parser.add_argument("--logs", type=Path, help="folder for each script's report and JSON")
    parser.add_argument("--json", metavar="OUT", type=Path, help="write the table as JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    names = args.only or ["evaluation", "propagation", "ready",
                          *(["scale", "idle"] if args.all else [])]
    logs = args.logs or Path(tempfile.mkdtemp(prefix="split-bench-targets-"))
    logs.mkdir(parents=True, exist_ok=True)
    print(f"issue 14 targets: running {', '.join(names)}", flush=True)
    reports = {name: run(name, args.quick, logs) for name in names}
    rows: list[Row] = []
    missing = []
    for name, data in reports.items():
        to_rows = SCRIPTS[name][1]
        if data is None:
            missing.append(name)
        elif to_rows is not None:
            rows += to_rows(data)
    print()
    print(render(rows))
    print("ratios = official counterpart / ours (shim vs official sync; asyncio and trio vs "
          "official asyncio); above 1 = ours faster")
    scale = reports.get("scale")
    if scale:
        for line in scale_lines(scale):
            print(line)
    for name in missing:
        print(f"!!! {SCRIPTS[name][0]} produced no result: see {logs / (name + '.log')}")
    print(f"full reports in {logs}")
    if args.json:
        args.json.write_text(json.dumps([
            {"row": r.title, "unit": r.unit, "values": r.values, "floor": r.floor,
             "target_ratio": r.target, "ratios": {m: r.ratio(m) for m in OURS},
             "verdicts": {m: r.verdict(m) for m in OURS}} for r in rows], indent=2))
        print(f"table written to {args.json}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
