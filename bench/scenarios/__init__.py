"""The scenario registry: each module exports ``SCENARIOS``, a tuple of Scenario.

Adding a scenario is adding a module here and its name to ``_MODULES``; the runner, the report
and the plot pick it up. A scenario whose feature has not landed can carry ``pending`` (why): it
is listed and skipped. ``systems`` / ``protocol`` say which systems can run one (common.py).
"""

from __future__ import annotations

from importlib import import_module

from ..common import Scenario

__all__ = ["all_scenarios", "select"]

_MODULES = ("chat", "stream20", "stream200", "embeddings", "resilience", "grpc", "cache", "responses", "messages")

# What runs when --scenarios is not given.
DEFAULT = ("chat", "stream20", "stream20_unpaced", "stream200", "stream200_unpaced", "embeddings", "chaos", "fallback_429", "grpc_unary", "grpc_stream", "grpc_stream_unpaced", "cache_hit", "cache_hit_stream20", "responses", "responses_stream20", "responses_native", "responses_native_stream20", "messages", "messages_stream20", "messages_bridged", "messages_bridged_stream20")


def all_scenarios() -> dict[str, Scenario]:
    out: dict[str, Scenario] = {}
    for name in _MODULES:
        for scenario in import_module(f"{__name__}.{name}").SCENARIOS:
            out[scenario.name] = scenario
    return out


def select(names: list[str] | None) -> list[Scenario]:
    known = all_scenarios()
    wanted = list(names) if names else list(DEFAULT)
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise SystemExit(f"edge bench: unknown scenario(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return [known[n] for n in wanted]
