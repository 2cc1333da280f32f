"""Issue 20's target rows in the report's "Reference floors" section, from a run's phases."""

from __future__ import annotations

from typing import Any

from bench.report_floors import floor_targets, floors_section


def _phase(system: str, scenario: str, connections: int, cpu: float, p50: float = 0.0, p99: float = 0.0, per_chunk: float | None = None) -> dict[str, Any]:
    return {"system": system, "scenario": scenario, "workers": 1, "connections": connections, "cpu_us_per_request": cpu, "p50_us": p50, "p99_us": p99, "cpu_us_per_chunk": per_chunk}


def test_every_target_the_run_measured_gets_its_ratio_and_verdict() -> None:
    doc = {"phases": [
        _phase("floor", "chat", 1, 250, p50=400, p99=900), _phase("floor", "chat", 32, 140),
        _phase("floor_lean", "chat", 32, 40),
        _phase("edge", "chat", 1, 200, p50=300, p99=1800), _phase("edge", "chat", 32, 56),
        _phase("edge_limits", "chat", 32, 84),
        _phase("floor", "stream20", 32, 600, per_chunk=26), _phase("edge", "stream20", 32, 540, per_chunk=23.5),
        _phase("edge_grpc", "grpc_unary", 32, 84), _phase("edge_grpc", "grpc_stream", 32, 1500, per_chunk=30),
    ]}
    rows = {r["target"].split(" (")[0].split(" over")[0].split(":")[0]: r for r in floor_targets(doc, 1)}
    assert rows["chat, the admin key"]["verdict"] == "**met**" and round(rows["chat, the admin key"]["ratio"], 2) == 0.4
    assert rows["chat, a key with rpm, tpm, budget and tags"]["verdict"] == "**missed** by 20% (0.60x vs 0.5x)"
    assert rows["paced 20-chunk stream"]["verdict"].startswith("**missed**")
    assert rows["chat at concurrency 1, p50"]["verdict"] == "**met**"
    assert rows["chat at concurrency 1, p99"]["verdict"] == "**missed** by 33% (2.00x vs 1.5x)"
    assert rows["gRPC unary call"]["verdict"] == "**met**" and rows["gRPC unary call"]["ratio"] == 1.5
    assert rows["gRPC streamed message"]["verdict"] == "**met**" and round(rows["gRPC streamed message"]["ratio"], 2) == 1.28
    # Not measured in this run: no row (the unpaced 200-chunk stream, embeddings).
    assert not any(r["target"].startswith(("unpaced 200-chunk", "embeddings")) for r in floor_targets(doc, 1))
    assert any(line.startswith("| chat, the admin key (edge) over the aiohttp floor, CPU: <= 0.4x | 56 us | 140 us | 0.40x | **met** |") for line in floors_section(doc, 1))
