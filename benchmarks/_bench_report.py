"""Turn the workers' JSON results into the comparison table and its footnotes.

Kept apart from the orchestration so the table layout can change without touching how things run.
Ratios are official / ours, each of our APIs against its official counterpart (the shim against
the official sync API, asyncio and trio against the official asyncio API): above 1 means ours is
faster. The pure-Python floor is printed beside every row.
"""

from __future__ import annotations

from typing import Any

Payload = dict[str, Any]

# (result key, column title); columns whose worker did not run at all are dropped.
_COLUMNS = [
    ("official-standalone", "official"),
    ("official-async", "off async"),
    ("official-cffi", "off+cffi"),
    ("official-localhost", "off-local"),
    ("ours-shim", "ours shim"),
    ("ours-asyncio", "ours async"),
    ("ours-trio", "ours trio"),
]
REFERENCE = "official-standalone"  # treatments are checked against this one
# (ours, column title, the official result it is compared with)
_RATIOS = [("ours-shim", "off/shim", REFERENCE), ("ours-asyncio", "offA/async", "official-async"),
           ("ours-trio", "offA/trio", "official-async")]


def ns_of(results: dict[str, Payload], impl: str, shape: str) -> float | None:
    shape_result = results.get(impl, {}).get("shapes", {}).get(shape)
    return None if shape_result is None else shape_result.get("ns")


def _differs(results: dict[str, Payload], impl: str, shape: str) -> bool:
    """True when `impl` returned other treatments than the reference for this shape."""
    mine = results.get(impl, {}).get("shapes", {}).get(shape) or {}
    ref = results.get(REFERENCE, {}).get("shapes", {}).get(shape) or {}
    if shape == "track" or impl == REFERENCE or not mine.get("digest") or not ref.get("digest"):
        return False
    return bool(mine["digest"] != ref["digest"])


def _us(ns: float | None) -> str:
    if ns is None:
        return "n/a"
    us = ns / 1000
    return f"{us:.2f}" if us < 10 else f"{us:.1f}" if us < 1000 else f"{us:.0f}"


def _ratio(num: float | None, den: float | None) -> str:
    return "n/a" if num is None or not den else f"{num / den:.2f}x"


def table_rows(results: dict[str, Payload], shapes: list[str]) -> list[dict[str, Any]]:
    """One dict per shape with µs per implementation, ratios and the floor (for --json too)."""
    rows = []
    for shape in shapes:
        row: dict[str, Any] = {"shape": shape}
        for impl, _ in _COLUMNS:
            ns = ns_of(results, impl, shape)
            row[impl] = None if ns is None else ns / 1000
        for impl, title, against in _RATIOS:
            ref, ours = ns_of(results, against, shape), ns_of(results, impl, shape)
            row[title] = None if ref is None or not ours else ref / ours
        floor = ns_of(results, "floor", shape)
        row["floor"] = None if floor is None else floor / 1000
        rows.append(row)
    return rows


def render_table(results: dict[str, Payload], shapes: list[str]) -> str:
    columns = [(k, t) for k, t in _COLUMNS if k in results]
    ratios = [(k, t, a) for k, t, a in _RATIOS if k in results]
    header = ["shape (µs/call)", *[t for _, t in columns], *[t for _, t, _ in ratios], "py floor"]
    lines = []
    for shape in shapes:
        cells = [shape]
        for impl, _ in columns:
            mark = "!" if _differs(results, impl, shape) else ""
            cells.append(_us(ns_of(results, impl, shape)) + mark)
        cells += [_ratio(ns_of(results, a, shape), ns_of(results, k, shape)) for k, _, a in ratios]
        cells.append(_us(ns_of(results, "floor", shape)))
        lines.append(cells)
    widths = [max(len(r[i]) for r in [header, *lines]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{widths[0]}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    out = [fmt.format(*header), fmt.format(*["-" * w for w in widths])]
    out += [fmt.format(*cells) for cells in lines]
    return "\n".join(out)


def agreement(results: dict[str, Payload], shapes: list[str]) -> list[str]:
    """Compare treatment digests of every implementation with the reference (track excluded)."""
    notes = []
    ref = results.get(REFERENCE, {}).get("shapes", {})
    for impl, payload in results.items():
        for shape in shapes:
            if impl != "floor" and _differs(results, impl, shape):
                mine = payload["shapes"][shape]["counts"]
                notes.append(
                    f"MISMATCH (!) {impl} / {shape}: {mine} vs official {ref[shape]['counts']}"
                )
    return notes


def footnotes(results: dict[str, Payload], shapes: list[str]) -> list[str]:
    notes = []
    for impl, payload in results.items():
        info = payload.get("info", {})
        if payload.get("error"):
            notes.append(f"{impl}: n/a - {payload['error']}")
            continue
        details = ", ".join(f"{k}={v}" for k, v in info.items())
        notes.append(f"{impl}: {details}")
        for shape, res in payload.get("shapes", {}).items():
            if res.get("error"):
                notes.append(f"  {shape}: n/a - {res['error']}")
    ref = results.get(REFERENCE, {}).get("shapes", {})
    for shape in shapes:
        if shape in ref and ref[shape].get("counts"):
            notes.append(f"treatments {shape} (official): {ref[shape]['counts']}")
    loop = ns_of(results, "floor", "loop_overhead")
    if loop is not None:
        notes.append(f"loop overhead (no-op call, included in every number): {_us(loop)} µs")
    return notes
