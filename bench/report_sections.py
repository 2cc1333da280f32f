"""The report's sections for the later issues: resilience (5), limits (6), gRPC (7), tracing (19)."""

from __future__ import annotations

from typing import Any

from .report_math import ORDER, _find, _fmt_ratio, _loaded, _num, _phases, _ratio, _verdict, fmt_us

__all__ = ["grpc_targets", "limits_rows", "resilience_rows", "tracing_rows"]

CHAOS_ATTEMPTS = 1.3
GRPC_UNARY_US, GRPC_FLOOR_REF_US, GRPC_MESSAGE_US = 350.0, 224.0, 40.0



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


def tracing_rows(doc: dict[str, Any], workers: int) -> list[dict[str, Any]]:
    rows = []
    for scenario in ("chat", "stream20"):
        for conns in sorted({p["connections"] for p in _phases(doc) if p["workers"] == workers}):
            traced = _find(doc, "edge_tracing", scenario, workers, conns)
            edge = _find(doc, "edge", scenario, workers, conns)
            if traced is None or edge is None:
                continue
            on, off = traced["cpu_us_per_request"], edge["cpu_us_per_request"]
            rows.append({"scenario": scenario, "connections": conns, "on": on, "off": off, "added": None if on is None or off is None else on - off,
                         "ratio": _ratio(on, off), "rps_on": traced["rps"], "rps_off": edge["rps"], "p50_on": traced["p50_us"], "p50_off": edge["p50_us"], "errors": traced["errors"]})
    return rows


def _tracing_section(doc: dict[str, Any], workers: int) -> list[str]:
    rows = tracing_rows(doc, workers)
    if not rows:
        return []
    lines = [
        f"### Tracing (issue 19), {workers} worker(s)",
        "",
        "| scenario | conns | CPU/req tracing off (edge) | CPU/req tracing on (edge_tracing) | added | on/off | req/s off | req/s on | p50 off | p50 on | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['scenario']} | {r['connections']} | {fmt_us(r['off'])} | {fmt_us(r['on'])} | {fmt_us(r['added'])} | {_fmt_ratio(r['ratio'])} "
            f"| {_num(r['rps_off'])} | {_num(r['rps_on'])} | {fmt_us(r['p50_off'])} | {fmt_us(r['p50_on'])} | {r['errors']} |"
        )
    sink = (doc.get("tracing") or {}).get(str(workers))
    if sink:
        lines += ["", f"The OTLP sink received {sink['spans']:,} spans in {sink['exports']:,} exports ({sink['bytes'] / 1e6:.1f} MB) from edge_tracing."]
    return [*lines, "", "edge_tracing: the edge config plus `tracing: {enabled: true, sampler: always_on}` exporting OTLP/HTTP to bench/otlp_sink.py (two spans per request: server and attempt); the exporter thread's CPU is in the figure.", ""]


_RELAY_NOTE = "reference, no target (this row's grpc_floor column is grpc_relay)"


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
        relay_u = _find(doc, "grpc_relay", "grpc_unary", workers, conns)
        if relay_u:
            rcpu = relay_u["cpu_us_per_request"]
            rows.append({"target": "reference: the relay floor (grpc_relay) per unary call", "edge": fmt_us(cpu), "floor": fmt_us(rcpu), "ratio": _ratio(cpu, rcpu), "verdict": _RELAY_NOTE})
    stream, floor_s = _find(doc, "edge_grpc", "grpc_stream", workers, conns), _find(doc, "grpc_floor", "grpc_stream", workers, conns)
    if stream:
        per = stream["cpu_us_per_chunk"]
        fper = floor_s["cpu_us_per_chunk"] if floor_s else None
        rows.append({"target": f"CPU per streamed message <= {GRPC_MESSAGE_US:g} us", "edge": fmt_us(per), "floor": fmt_us(fper), "ratio": _ratio(per, fper), "verdict": _verdict(per, GRPC_MESSAGE_US, " us")})
        relay = _find(doc, "grpc_relay", "grpc_stream", workers, conns)
        if relay:
            rper = relay["cpu_us_per_chunk"]
            rows.append({"target": "reference: the relay floor (grpc_relay) per streamed message", "edge": fmt_us(per), "floor": fmt_us(rper), "ratio": _ratio(per, rper), "verdict": _RELAY_NOTE})
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
