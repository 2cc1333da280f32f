"""Small helpers of the bench report: units, lookups of one phase, ratios and verdicts."""

from __future__ import annotations

from typing import Any

__all__ = ["ORDER", "fmt_us"]

# The order systems appear in every table.
ORDER = ("direct", "floor", "floor_lean", "nginx", "edge", "edge_aiohttp", "edge_base", "edge_limits", "edge_nocooldown", "edge_tracing", "litellm", "portkey", "grpc_floor", "grpc_relay", "edge_grpc")


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


def _loaded(doc: dict[str, Any], workers: int) -> int:
    return max((p["connections"] for p in _phases(doc) if p["workers"] == workers), default=0)


def _fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"
