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
    gRPC (issue 7)         CPU per unary call <= 350 us (1.56x the empty handler's 224 us),
                           <= 40 us per streamed message; beside the gRPC floor
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .common import Phase

__all__ = ["markdown", "plot", "progress_line", "targets"]

ORDER = ("direct", "floor", "edge", "edge_limits", "edge_nocooldown", "litellm", "grpc_floor", "edge_grpc")
CHAOS_ATTEMPTS = 1.3
GRPC_UNARY_US, GRPC_FLOOR_REF_US, GRPC_MESSAGE_US = 350.0, 224.0, 40.0


def fmt_us(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 10_000:
        return f"{value / 1000:.1f} ms"
    if value >= 1000:
        return f"{value / 1000:.2f} ms"
    return f"{value:.0f} us"


def _num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def progress_line(p: Phase) -> str:
    return (
        f"  {p.system:8} w={p.workers} {p.scenario:18} c={p.connections:<3} {p.rps:9,.0f} req/s  p50 {fmt_us(p.p50_us):>9}  "
        f"p99 {fmt_us(p.p99_us):>9}  cpu/req {fmt_us(p.cpu_us_per_request):>9}  rss {p.rss_worker_mb:.0f} MB  err {p.errors}"
    )


def _phases(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return doc.get("phases", [])


def _find(doc: dict[str, Any], system: str, scenario: str, workers: int, connections: int) -> dict[str, Any] | None:
    for p in _phases(doc):
        if p["system"] == system and p["scenario"] == scenario and p["workers"] == workers and p["connections"] == connections:
            return p
    return None


def _added(doc: dict[str, Any], system: str, scenario: str, workers: int, q: str) -> float | None:
    mine, base = _find(doc, system, scenario, workers, 1), _find(doc, "direct", scenario, workers, 1)
    if mine is None or base is None:
        return None
    return mine[q] - base[q]


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b <= 0 else a / b


def _verdict(value: float | None, limit: float, unit: str = "x") -> str:
    if value is None:
        return "not measured"
    if value <= limit:
        return "**met**"
    over = value / limit - 1
    return f"**missed** by {over * 100:.0f}% ({value:.2f}{unit} vs {limit:g}{unit})"


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


def _loaded(doc: dict[str, Any], workers: int) -> int:
    return max((p["connections"] for p in _phases(doc) if p["workers"] == workers), default=0)


def _fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def resilience_rows(doc: dict[str, Any], workers: int) -> list[dict[str, Any]]:
    rows = []
    for scenario in ("chaos", "fallback_429"):
        for p in sorted((p for p in _phases(doc) if p["scenario"] == scenario and p["workers"] == workers), key=lambda p: (p["system"], p["connections"])):
            base = _find(doc, "edge" if p["system"] == "edge_nocooldown" else p["system"], "chat", workers, p["connections"])
            ratio = _ratio(p["cpu_us_per_request"], base["cpu_us_per_request"] if base else None)
            rows.append({**p, "chat_cpu": base["cpu_us_per_request"] if base else None, "vs_chat": ratio})
    return rows


def _resilience_section(doc: dict[str, Any], workers: int) -> list[str]:
    rows = resilience_rows(doc, workers)
    if not rows:
        return []
    lines = [
        f"### Resilience (issue 5), {workers} worker(s)",
        "",
        "| system | scenario | conns | req/s | p50 | p99 | client errors | upstream attempts/req (mock) | attempts/req (ledger) | answered by fallback | CPU/req | plain chat CPU/req | vs chat |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        share = "-" if r.get("fallback_share") is None else f"{r['fallback_share'] * 100:.1f}%"
        lines.append(
            f"| {r['system']} | {r['scenario']} | {r['connections']} | {r['rps']:,.0f} | {fmt_us(r['p50_us'])} | {fmt_us(r['p99_us'])} | {r['errors']} "
            f"| {_num(r['upstream_calls_per_request'], 3)} | {_num(r.get('ledger_attempts_per_request'), 3)} | {share} "
            f"| {fmt_us(r['cpu_us_per_request'])} | {fmt_us(r['chat_cpu'])} | {_fmt_ratio(r['vs_chat'])} |"
        )
    lines.append("")
    for r in [r for r in rows if r["scenario"] == "chaos"]:
        attempts = r["upstream_calls_per_request"]
        verdict_a = "not measured" if attempts is None else ("**met**" if attempts < CHAOS_ATTEMPTS else f"**missed** by {(attempts / CHAOS_ATTEMPTS - 1) * 100:.0f}% ({attempts:.3f} vs < {CHAOS_ATTEMPTS:g})")
        verdict_e = "**met**" if r["errors"] == 0 else f"**missed**: {r['errors']} of {r['requests']:,}"
        lines.append(f"- chaos, {r['system']}, {r['connections']} conns: 0 client-visible errors: {verdict_e}; upstream attempts/request < {CHAOS_ATTEMPTS:g}: {verdict_a}")
    lines += [
        "",
        "Upstream attempts/req (mock): requests the mock served during the phase over requests the client got answered (calls in flight when the phase ends count "
        "on the mock's side only, so it reads a little high). Attempts/req (ledger): the mean `attempts` of the gateway's ledger rows for the phase; answered by "
        "fallback: the share of those rows with a fallback reason (a failed primary, or a primary skipped while its cooldown is open).",
        "",
    ]
    return lines


def limits_rows(doc: dict[str, Any], workers: int) -> list[dict[str, Any]]:
    rows = []
    for scenario in ("chat", "stream20"):
        for conns in sorted({p["connections"] for p in _phases(doc) if p["workers"] == workers}):
            lim = _find(doc, "edge_limits", scenario, workers, conns)
            if lim is None:
                continue
            edge, floor = _find(doc, "edge", scenario, workers, conns), _find(doc, "floor", scenario, workers, conns)
            e_cpu = edge["cpu_us_per_request"] if edge else None
            f_cpu = floor["cpu_us_per_request"] if floor else None
            rows.append({"scenario": scenario, "connections": conns, "limits": lim["cpu_us_per_request"], "edge": e_cpu, "floor": f_cpu, "rps": lim["rps"], "edge_rps": edge["rps"] if edge else None, "errors": lim["errors"],
                         "vs_edge": _ratio(lim["cpu_us_per_request"], e_cpu), "vs_floor": _ratio(lim["cpu_us_per_request"], f_cpu)})
    return rows


def _limits_section(doc: dict[str, Any], workers: int) -> list[str]:
    rows = limits_rows(doc, workers)
    if not rows:
        return []
    lines = [
        f"### Limits and ledger (issue 6), {workers} worker(s)",
        "",
        "| scenario | conns | edge CPU/req | edge_limits CPU/req | limits vs edge | limits vs floor | edge req/s | edge_limits req/s | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['scenario']} | {r['connections']} | {fmt_us(r['edge'])} | {fmt_us(r['limits'])} | {_fmt_ratio(r['vs_edge'])} | {_fmt_ratio(r['vs_floor'])} "
            f"| {_num(r['edge_rps'])} | {_num(r['rps'])} | {r['errors']} |"
        )
    return [*lines, "", "edge: the admin key, no limits; edge_limits: a non-admin key with rpm, tpm, a budget and tags (never refused); both write the SQLite ledger.", ""]


def grpc_targets(doc: dict[str, Any], workers: int) -> list[dict[str, Any]]:
    conns = _loaded(doc, workers)
    rows = []
    unary, floor_u = _find(doc, "edge_grpc", "grpc_unary", workers, conns), _find(doc, "grpc_floor", "grpc_unary", workers, conns)
    if unary:
        cpu = unary["cpu_us_per_request"]
        fcpu = floor_u["cpu_us_per_request"] if floor_u else None
        ratio = _ratio(cpu, fcpu)
        scaled = GRPC_UNARY_US / GRPC_FLOOR_REF_US
        rows.append({"target": f"CPU per unary call <= {GRPC_UNARY_US:g} us", "edge": fmt_us(cpu), "floor": fmt_us(fcpu), "ratio": ratio, "verdict": _verdict(cpu, GRPC_UNARY_US, " us")})
        rows.append({"target": f"the same as a ratio: <= {scaled:.2f}x the gRPC floor ({GRPC_UNARY_US:g}/{GRPC_FLOOR_REF_US:g} us)", "edge": fmt_us(cpu), "floor": fmt_us(fcpu), "ratio": ratio, "verdict": _verdict(ratio, scaled)})
    stream, floor_s = _find(doc, "edge_grpc", "grpc_stream", workers, conns), _find(doc, "grpc_floor", "grpc_stream", workers, conns)
    if stream:
        per = stream["cpu_us_per_chunk"]
        fper = floor_s["cpu_us_per_chunk"] if floor_s else None
        rows.append({"target": f"CPU per streamed message <= {GRPC_MESSAGE_US:g} us", "edge": fmt_us(per), "floor": fmt_us(fper), "ratio": _ratio(per, fper), "verdict": _verdict(per, GRPC_MESSAGE_US, " us")})
    return rows


def _grpc_section(doc: dict[str, Any], workers: int) -> list[str]:
    phases = sorted((p for p in _phases(doc) if p["workers"] == workers and p["scenario"].startswith("grpc")), key=lambda p: (p["scenario"], ORDER.index(p["system"]) if p["system"] in ORDER else 9, p["connections"]))
    if not phases:
        return []
    lines = [
        f"### gRPC (issues 4 and 7), {workers} worker(s)",
        "",
        "| system | scenario | conns | calls/s | p50 | p99 | CPU/call | messages/stream | CPU/message | mock CPU/call | errors |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for p in phases:
        lines.append(
            f"| {p['system']} | {p['scenario']} | {p['connections']} | {p['rps']:,.0f} | {fmt_us(p['p50_us'])} | {fmt_us(p['p99_us'])} | {fmt_us(p['cpu_us_per_request'])} "
            f"| {_num(p['events_per_stream'], 1)} | {fmt_us(p['cpu_us_per_chunk'])} | {fmt_us(p['upstream_cpu_us_per_request']) if p['system'] != 'grpc_floor' else '-'} | {p['errors']} |"
        )
    lines.append("")
    rows = grpc_targets(doc, workers)
    if rows:
        lines += ["| target (issue 7) | edge_grpc | grpc_floor | edge/floor | verdict |", "| --- | ---: | ---: | ---: | --- |"]
        lines += [f"| {r['target']} | {r['edge']} | {r['floor']} | {_fmt_ratio(r['ratio'])} | {r['verdict']} |" for r in rows]
        lines.append("")
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
        lines += _limits_section(doc, workers)
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
    colors = {"direct": "#888888", "floor": "#1f77b4", "edge": "#2ca02c", "edge_limits": "#98df8a", "edge_nocooldown": "#bcbd22", "litellm": "#d62728", "grpc_floor": "#9467bd", "edge_grpc": "#17becf"}
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
