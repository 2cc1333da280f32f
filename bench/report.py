"""The bench report: markdown tables, the issue's targets as ratios to the floor, and a PNG plot.

Targets are ratios to the floor measured in the same run (issue 4), so they hold on a noisy
machine where absolute figures move from run to run:

    CPU per non-streamed request             edge / floor <= 1.10
    CPU per paced 20-chunk stream            edge / floor <= 1.00
    added latency at concurrency 1 p50, p99  (edge - direct) / (floor - direct) <= 1.15
    RSS per worker                           <= 80 MB; soak growth < 5 %

and the later issues' figures, each beside its reference in the same run:

    chaos (issue 5)        0 client-visible errors, upstream attempts per request < 1.3
    limits (issue 6)       edge_limits CPU per request beside edge's (chat, stream20)
    tracing (issue 19)     edge_tracing CPU per request beside edge's (tracing off), same run
    gRPC (issue 7)         CPU per unary call <= 350 us (1.56x the empty handler's 224 us),
                           <= 40 us per streamed message; beside the gRPC floor
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .common import Phase
from .report_math import ORDER, _added, _find, _num, _phases, _ratio, _verdict, fmt_us
from .report_floors import floors_section
from .report_sections import _grpc_section, _limits_section, _resilience_section, _tracing_section

__all__ = ["markdown", "plot", "progress_line", "targets"]

GRPC_UNARY_US, GRPC_FLOOR_REF_US, GRPC_MESSAGE_US = 350.0, 224.0, 40.0


def progress_line(p: Phase) -> str:
    return (
        f"  {p.system:8} w={p.workers} {p.scenario:18} c={p.connections:<3} {p.rps:9,.0f} req/s  p50 {fmt_us(p.p50_us):>9}  "
        f"p99 {fmt_us(p.p99_us):>9}  cpu/req {fmt_us(p.cpu_us_per_request):>9}  rss {p.rss_worker_mb:.0f} MB  err {p.errors}"
    )


def targets(doc: dict[str, Any], workers: int) -> list[dict[str, Any]]:
    conns = max((p["connections"] for p in _phases(doc) if p["workers"] == workers), default=0)
    rows = []

    def cpu(system: str, scenario: str) -> float | None:
        p = _find(doc, system, scenario, workers, conns)
        return p["cpu_us_per_request"] if p else None

    for scenario, label, limit in (("chat", "CPU per non-streamed request", 1.10), ("stream20", "CPU per paced 20-chunk stream", 1.00)):
        edge, floor = cpu("edge", scenario), cpu("floor", scenario)
        ratio = _ratio(edge, floor)
        rows.append({"target": f"{label} <= {limit:g}x floor", "edge": fmt_us(edge), "floor": fmt_us(floor), "ratio": ratio, "verdict": _verdict(ratio, limit)})
    for q in ("p50_us", "p99_us"):
        edge, floor = _added(doc, "edge", "chat", workers, q), _added(doc, "floor", "chat", workers, q)
        ratio = _ratio(edge, floor)
        rows.append({"target": f"added latency c=1 {q[:3]} (chat) <= 1.15x floor", "edge": fmt_us(edge), "floor": fmt_us(floor), "ratio": ratio, "verdict": _verdict(ratio, 1.15)})
    rss = max((p["rss_worker_mb"] for p in _phases(doc) if p["system"] == "edge" and p["workers"] == workers), default=None)
    floor_rss = max((p["rss_worker_mb"] for p in _phases(doc) if p["system"] == "floor" and p["workers"] == workers), default=None)
    rows.append({"target": "RSS per worker <= 80 MB", "edge": _num(rss, 1) + " MB", "floor": _num(floor_rss, 1) + " MB", "ratio": None, "verdict": _verdict(rss, 80.0, " MB")})
    return rows


def _run_header(doc: dict[str, Any]) -> list[str]:
    m = doc.get("machine", {})
    systems = ", ".join(f"{k}: {v}" for k, v in doc.get("systems", {}).items())
    return [
        "## Run",
        "",
        f"- machine: {m.get('cpu', '?')}, {m.get('cores', '?')} cores, Linux {m.get('kernel', '?')}, Python {m.get('python', '?')}",
        f"- commit {m.get('commit', '?')}, {m.get('date', '')}",
        f"- load generator: {doc.get('loadgen')}; {doc.get('duration_s'):g} s per phase; loaded phase at {doc.get('connections')} connections, latency phase at 1",
        f"- systems: {systems}" if systems else "- systems: -",
        "",
    ]


def _results_table(doc: dict[str, Any], workers: int) -> list[str]:
    lines = [
        f"### Results, {workers} worker(s) per system",
        "",
        "| system | scenario | conns | req/s | p50 | p90 | p99 | CPU/req | CPU/chunk | mock CPU/req | RSS/worker | errors |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    rows = [p for p in _phases(doc) if p["workers"] == workers]
    scen_order = list(dict.fromkeys(p["scenario"] for p in rows))
    rows.sort(key=lambda p: (scen_order.index(p["scenario"]), ORDER.index(p["system"]) if p["system"] in ORDER else 9, p["connections"]))
    for p in rows:
        cpu = fmt_us(p["cpu_us_per_request"]) if p["system"] != "direct" else "(mock)"
        lines.append(
            f"| {p['system']} | {p['scenario']} | {p['connections']} | {p['rps']:,.0f} | {fmt_us(p['p50_us'])} | {fmt_us(p['p90_us'])} | {fmt_us(p['p99_us'])} "
            f"| {cpu} | {fmt_us(p['cpu_us_per_chunk']) if p['system'] != 'direct' else '-'} | {fmt_us(p['upstream_cpu_us_per_request'])} | {p['rss_worker_mb']:.1f} MB | {p['errors']} |"
        )
    for na in [n for n in doc.get("not_applicable", []) if n["workers"] == workers]:
        lines.append(f"| {na['system']} | {na['scenario']} | - | n/a | | | | | | | | {na['reason']} |")
    lines += ["", "CPU/req: user+sys of the system's whole process tree over the requests served (streams: per stream; gRPC: per call); CPU/chunk: per SSE event (gRPC: per stream message). n/a: the system cannot do what the scenario measures.", ""]
    return lines


def _added_table(doc: dict[str, Any], workers: int) -> list[str]:
    rows = []
    scenarios = list(dict.fromkeys(p["scenario"] for p in _phases(doc) if p["workers"] == workers))
    for scenario in scenarios:
        for system in ORDER[1:]:
            p50, p99 = _added(doc, system, scenario, workers, "p50_us"), _added(doc, system, scenario, workers, "p99_us")
            if p50 is None:
                continue
            f50, f99 = _added(doc, "floor", scenario, workers, "p50_us"), _added(doc, "floor", scenario, workers, "p99_us")
            r50, r99 = _ratio(p50, f50), _ratio(p99, f99)
            rows.append(f"| {scenario} | {system} | {fmt_us(p50)} | {fmt_us(p99)} | {_num(r50, 2)}x | {_num(r99, 2)}x |")
    if not rows:
        return []
    return [
        f"### Added latency at concurrency 1 (system minus direct), {workers} worker(s)",
        "",
        "| scenario | system | added p50 | added p99 | p50 vs floor | p99 vs floor |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
        *rows,
        "",
    ]


def _targets_table(doc: dict[str, Any], workers: int) -> list[str]:
    lines = [f"### Targets (issue 4), {workers} worker(s)", "", "| target | edge | floor | edge/floor | verdict |", "| --- | ---: | ---: | ---: | --- |"]
    for row in targets(doc, workers):
        ratio = "-" if row["ratio"] is None else f"{row['ratio']:.2f}x"
        lines.append(f"| {row['target']} | {row['edge']} | {row['floor']} | {ratio} | {row['verdict']} |")
    conns = max((p["connections"] for p in _phases(doc) if p["workers"] == workers), default=0)
    peers = []
    for scenario in ("chat", "stream20"):
        edge, lite = _find(doc, "edge", scenario, workers, conns), _find(doc, "litellm", scenario, workers, conns)
        if edge and lite and edge["cpu_us_per_request"] and lite["cpu_us_per_request"]:
            peers.append(f"{scenario}: LiteLLM spends {lite['cpu_us_per_request'] / edge['cpu_us_per_request']:.1f}x the CPU of llm-edge per request")
    lines.append("")
    if peers:
        lines += ["Peers: " + "; ".join(peers) + ".", ""]
    return lines


def _soak_section(soak: dict[str, Any]) -> list[str]:
    lines = ["## Soak", ""]
    for run in soak.get("runs", []):
        verdict = _verdict(run["growth_pct"], 5.0, "%") if run.get("growth_pct") is not None else "not measured"
        lines.append(
            f"- {run['system']} ({run['scenario']}, {run['workers']} worker(s)): {run['requests']:,} requests in {run['seconds']:.0f} s "
            f"({run['requests'] / max(run['seconds'], 1e-9):,.0f} req/s), {run['errors']} errors; RSS per worker "
            f"{run['rss_first_mb']:.1f} MB (first 10%) -> {run['rss_last_mb']:.1f} MB (last 10%), peak {run['rss_peak_mb']:.1f} MB: "
            f"growth {run['growth_pct']:+.2f}% (target < 5%: {verdict}); CPU {fmt_us(run['cpu_us_per_request'])}/request"
        )
        samples = run.get("samples", [])
        if samples:
            step = max(1, len(samples) // 12)
            points = ", ".join(f"{s['requests'] // 1000}k: {s['rss_worker_mb']:.1f}" for s in samples[::step])
            lines.append(f"  - RSS (MB) by requests served: {points}")
    return lines + [""]


def micro_targets(micro: dict[str, Any] | None) -> list[str]:
    """fastpath re-encode <= 1 us per chunk and >= 5x its twin, from fastpath_micro's JSON."""
    rows = [r for r in ((micro or {}).get("json") or {}).get("results", []) if r.get("case", "").startswith("reencode")]
    if not rows:
        return []
    if not any("c" in r for r in rows):
        return ["- fastpath re-encode <= 1 us/chunk and >= 5x the twin: **not measured** (the compiled build was not importable)"]
    worst_c = max(r["c"] for r in rows if "c" in r)
    worst_ratio = min(r.get("ratio", 0.0) for r in rows if "c" in r)
    return [
        f"- fastpath re-encode <= 1 us/chunk: worst case {worst_c:.3f} us/chunk: {_verdict(worst_c, 1.0, ' us')}",
        f"- fastpath re-encode >= 5x its pure-Python twin: worst case {worst_ratio:.1f}x: " + ("**met**" if worst_ratio >= 5 else f"**missed** by {(1 - worst_ratio / 5) * 100:.0f}%"),
    ]


def _micro_section(micro: dict[str, Any] | None) -> list[str]:
    if not micro:
        return []
    results = (micro.get("json") or {}).get("results")
    if not results:
        text = micro.get("stdout", "").strip()
        return ["## fastpath kernels (bench/fastpath_micro.py)", "", "```", text[-6000:] or "(no output)", micro.get("stderr", "")[-1000:], "```", ""]
    lines = ["## fastpath kernels (bench/fastpath_micro.py)", "", "| case | compiled | pure Python | py/c | unit |", "| --- | ---: | ---: | ---: | --- |"]
    for r in results:
        lines.append(f"| {r['case']} | {_num(r.get('c'), 3)} | {_num(r.get('py'), 3)} | {_num(r.get('ratio'), 1)}x | {r['unit']} |")
    return [*lines, "", *micro_targets(micro), ""]


def markdown(doc: dict[str, Any]) -> str:
    lines = ["# llm-edge bench report", "", *_run_header(doc)]
    for workers in sorted({p["workers"] for p in _phases(doc)}):
        lines += _results_table(doc, workers)
        lines += _added_table(doc, workers)
        lines += _targets_table(doc, workers)
        lines += _resilience_section(doc, workers)
        lines += floors_section(doc, workers)
        lines += _limits_section(doc, workers)
        lines += _tracing_section(doc, workers)
        lines += _grpc_section(doc, workers)
    if doc.get("soak"):
        lines += _soak_section(doc["soak"])
    if doc.get("profile"):
        lines += ["## Profile", "", *doc["profile"].get("summary", "").splitlines(), ""]
    lines += _micro_section(doc.get("micro"))
    if doc.get("notes"):
        lines += ["## Notes", "", *(f"- {n}" for n in doc["notes"]), ""]
    return "\n".join(lines)


def plot(doc: dict[str, Any], path: Path) -> str | None:
    """p50 (solid) and p99 (dashed) latency against throughput, one panel per scenario."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed: no plot (pip install matplotlib)"
    phases = _phases(doc)
    if not phases:
        return "no phases measured: no plot"
    scenarios = list(dict.fromkeys(p["scenario"] for p in phases))
    cols = min(3, len(scenarios))
    rows = (len(scenarios) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.8 * rows), squeeze=False)
    colors = {"direct": "#888888", "floor": "#1f77b4", "floor_lean": "#aec7e8", "nginx": "#8c564b", "edge": "#2ca02c", "edge_aiohttp": "#d9d9d9", "edge_base": "#7f7f7f", "edge_limits": "#98df8a", "edge_nocooldown": "#bcbd22", "edge_tracing": "#ff7f0e", "litellm": "#d62728", "portkey": "#e377c2", "grpc_floor": "#9467bd", "grpc_relay": "#c5b0d5", "edge_grpc": "#17becf"}
    for ax, scenario in zip(axes.flat, scenarios, strict=False):
        for system in ORDER:
            for workers in sorted({p["workers"] for p in phases}):
                mine = (p for p in phases if p["scenario"] == scenario and p["system"] == system and p["workers"] == workers and p["rps"] > 0)
                pts = sorted(mine, key=lambda p: p["connections"])
                if not pts:
                    continue
                label = f"{system} w{workers}"
                style = "-" if workers == min(p["workers"] for p in phases) else ":"
                x = [p["rps"] for p in pts]
                ax.plot(x, [p["p50_us"] / 1000 for p in pts], style, marker="o", color=colors.get(system), label=label + " p50")
                ax.plot(x, [p["p99_us"] / 1000 for p in pts], "--", marker="x", color=colors.get(system), alpha=0.6, label=label + " p99")
        ax.set_title(scenario)
        ax.set_xlabel("throughput (req/s)")
        ax.set_ylabel("latency (ms)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
    for ax in list(axes.flat)[len(scenarios) :]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(8, len(labels)), fontsize=7)
    fig.suptitle("latency against load (points: concurrency levels)")
    fig.tight_layout(rect=(0, 0.08, 1, 0.96))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None
