"""The report's "Reference floors" section (issue 20): every measured system against all three.

The aiohttp floor (bench/floor_proxy.py), the lean floor (bench/floor_lean.py: no web framework)
and nginx (the native limit). A row per system, scenario and connection count with its CPU per
request and its ratio to each floor measured in the same run; the section appears once the lean
floor or nginx ran.
"""

from __future__ import annotations

from typing import Any

from .report_math import ORDER, _find, _fmt_ratio, _phases, _ratio, fmt_us
from .systems import FLOORS

__all__ = ["floors_rows", "floors_section"]


def floors_rows(doc: dict[str, Any], workers: int) -> list[dict[str, Any]]:
    phases = [p for p in _phases(doc) if p["workers"] == workers]
    if not any(p["system"] in FLOORS[1:] for p in phases):
        return []
    rows = []
    seen = set()
    for p in sorted(phases, key=lambda p: (p["scenario"], p["connections"], ORDER.index(p["system"]) if p["system"] in ORDER else len(ORDER))):
        key = (p["system"], p["scenario"], p["connections"])
        if p["system"] in FLOORS or p["system"] == "direct" or key in seen:
            continue
        seen.add(key)
        row: dict[str, Any] = {"system": p["system"], "scenario": p["scenario"], "connections": p["connections"], "cpu": p["cpu_us_per_request"]}
        for floor in FLOORS:
            found = _find(doc, floor, p["scenario"], workers, p["connections"])
            row[floor] = found["cpu_us_per_request"] if found else None
            row["vs_" + floor] = _ratio(p["cpu_us_per_request"], row[floor])
        rows.append(row)
    return rows


def floors_section(doc: dict[str, Any], workers: int) -> list[str]:
    rows = floors_rows(doc, workers)
    if not rows:
        return []
    lines = [
        f"### Reference floors (issue 20), {workers} worker(s)",
        "",
        "| system | scenario | conns | CPU/req | aiohttp floor | x | lean floor | x | nginx | x |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        cells = " | ".join(f"{fmt_us(r[f])} | {_fmt_ratio(r['vs_' + f])}" for f in FLOORS)
        lines.append(f"| {r['system']} | {r['scenario']} | {r['connections']} | {fmt_us(r['cpu'])} | {cells} |")
    lines += [
        "",
        "aiohttp floor: bench/floor_proxy.py (aiohttp server and client, orjson); lean floor: bench/floor_lean.py (an asyncio protocol with "
        "httptools, orjson, edge.client); nginx: one worker, keep-alive upstream, proxy_buffering off (no JSON work at all). x: the system's "
        "CPU per request over that floor's, in this run. A first phase of a repeated scenario is the one compared.",
        "",
    ]
    return lines
