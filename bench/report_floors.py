"""The report's "Reference floors" section (issue 20): every measured system against all three.

The aiohttp floor (bench/floor_proxy.py), the lean floor (bench/floor_lean.py: no web framework)
and nginx (the native limit). A row per system, scenario and connection count with its CPU per
request and its ratio to each floor measured in the same run; the section appears once the lean
floor or nginx ran. Below it, issue 20's targets with their verdicts, for what this run measured.
"""

from __future__ import annotations

from typing import Any

from .report_math import ORDER, _find, _fmt_ratio, _loaded, _phases, _ratio, _verdict, fmt_us
from .systems import FLOORS

__all__ = ["floor_targets", "floors_rows", "floors_section"]

# Issue 20: CPU per request at the loaded concurrency over the aiohttp floor's, at most.
FLOOR_RATIOS = (
    ("chat, a key with rpm, tpm, budget and tags", "edge_limits", "chat", 0.5),
    ("chat, the admin key", "edge", "chat", 0.4),
    ("paced 20-chunk stream", "edge", "stream20", 0.6),
    ("unpaced 200-chunk stream", "edge", "stream200_unpaced", 0.7),
    ("embeddings", "edge", "embeddings", 0.6),
)
LATENCY_P50 = 1.0  # chat at concurrency 1, over the aiohttp floor's
LATENCY_P99 = 1.5
GRPC_UNARY = 1.5  # edge_grpc's CPU per unary call over edge's per HTTP chat request
GRPC_MESSAGE = 1.3  # ... per streamed message over edge's per SSE chunk (stream20)


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


def floor_targets(doc: dict[str, Any], workers: int) -> list[dict[str, Any]]:
    """Issue 20's targets this run can judge: measured value, reference, ratio, verdict."""
    loaded = _loaded(doc, workers)
    rows = []

    def add(target: str, value: float | None, reference: float | None, limit: float, fmt: Any = fmt_us) -> None:
        if value is not None and reference is not None:
            ratio = _ratio(value, reference)
            rows.append({"target": f"{target}: <= {limit:g}x", "value": fmt(value), "reference": fmt(reference), "ratio": ratio, "verdict": _verdict(ratio, limit)})

    def cpu(system: str, scenario: str, connections: int = loaded, key: str = "cpu_us_per_request") -> float | None:
        found = _find(doc, system, scenario, workers, connections)
        return found[key] if found else None

    for target, system, scenario, limit in FLOOR_RATIOS:
        add(f"{target} ({system}) over the aiohttp floor, CPU", cpu(system, scenario), cpu("floor", scenario), limit)
    add("chat at concurrency 1, p50 over the aiohttp floor's", cpu("edge", "chat", 1, "p50_us"), cpu("floor", "chat", 1, "p50_us"), LATENCY_P50)
    add("chat at concurrency 1, p99 over the aiohttp floor's", cpu("edge", "chat", 1, "p99_us"), cpu("floor", "chat", 1, "p99_us"), LATENCY_P99)
    add("gRPC unary call over edge's HTTP chat request, CPU", cpu("edge_grpc", "grpc_unary"), cpu("edge", "chat"), GRPC_UNARY)
    add("gRPC streamed message over edge's SSE chunk (stream20), CPU", cpu("edge_grpc", "grpc_stream", key="cpu_us_per_chunk"), cpu("edge", "stream20", key="cpu_us_per_chunk"), GRPC_MESSAGE)
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
    targets = floor_targets(doc, workers)
    if targets:
        lines += ["| target (issue 20) | measured | reference | ratio | verdict |", "| --- | ---: | ---: | ---: | --- |"]
        lines += [f"| {r['target']} | {r['value']} | {r['reference']} | {_fmt_ratio(r['ratio'])} | {r['verdict']} |" for r in targets]
        lines += ["", "Latency at concurrency 1 is the measured p50/p99, not minus the direct path; one run's p99 at concurrency 1 is a few hundred requests.", ""]
    return lines
