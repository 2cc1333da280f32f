"""The model catalog: every model this gateway answers, with routes, prices, window, features.

Read by GET /v1/models (as extra fields on each OpenAI ``Model`` object) and by the public page
GET /models, so both always say the same. Sources: the router's plans (edge.router), the price
table (edge.prices: the built-in list prices, overridden by config ``prices``), the context
windows (configured ``context_window`` or edge.routing.windows) and per-feature support
(edge.capabilities).

A public model's ``pricing`` is the highest price per field over its routes: what one request can
cost at most, whichever route answers. It is None when any route has no known price, since then
nothing bounds the cost; each route always carries its own price.
"""

from __future__ import annotations

from typing import Any

from msgspec import Struct

from edge.fastpath import jsonio

from .capabilities import Support, combine
from .gateway import Gateway
from .router import Resolution, Target
from .routing.windows import known_window

__all__ = ["CatalogEntry", "CatalogRoute", "Pricing", "build_catalog", "entry_for"]


class Pricing(Struct):
    """USD per 1M tokens. ``cached_input`` is what a cached prompt token costs (the input price
    when the provider gives no discount); ``reasoning`` likewise falls back to ``output``."""

    input: float
    output: float
    cached_input: float
    reasoning: float
    currency: str = "USD"
    per_tokens: int = 1_000_000


class CatalogRoute(Struct):
    provider: str
    kind: str
    model: str
    pricing: Pricing | None
    context_window: int | None


class CatalogEntry(Struct):
    id: str
    owned_by: str
    public: bool  # a configured public model (False: a <provider>/<model> passthrough name)
    routes: list[CatalogRoute]
    pricing: Pricing | None
    context_window: int | None
    capabilities: dict[str, Support]
    fallbacks: list[str]
    escalates_to: str | None = None

    def model_fields(self) -> dict[str, Any]:
        """The extra fields GET /v1/models adds to the OpenAI Model object."""
        doc = jsonio.to_builtins(self)
        return {name: doc[name] for name in ("routes", "pricing", "context_window", "capabilities", "fallbacks", "escalates_to")}


def _pricing(gw: Gateway, upstream_model: str) -> Pricing | None:
    price = gw.prices.lookup(upstream_model)
    if price is None:
        return None
    cached = price.input if price.cached_input is None else price.cached_input
    reasoning = price.output if price.reasoning is None else price.reasoning
    return Pricing(price.input, price.output, cached, reasoning)


def _route(gw: Gateway, target: Target) -> CatalogRoute:
    model = target.upstream_model
    return CatalogRoute(target.provider.name, target.provider.kind, model, _pricing(gw, model), known_window(model))


def _highest(prices: list[Pricing | None]) -> Pricing | None:
    if not prices or any(p is None for p in prices):
        return None
    known = [p for p in prices if p is not None]
    return Pricing(
        max(p.input for p in known), max(p.output for p in known),
        max(p.cached_input for p in known), max(p.reasoning for p in known),
    )


def _targets(plan: Resolution) -> tuple[list[Target], int | None]:
    """The routes that answer a plan's first try, and the context window they share."""
    if plan.escalation is not None:
        source, target = plan.escalation.source, plan.escalation.target
        window = source.stages[0].context_window if source.stages else None
        return [*source.targets, *target.targets], window
    window = plan.stages[0].context_window if plan.stages else None
    return list(plan.targets), window


def entry_for(gw: Gateway, name: str, plan: Resolution, *, public: bool) -> CatalogEntry:
    targets, window = _targets(plan)
    routes = [_route(gw, t) for t in targets]
    config = gw.config.models.get(name) if public else None
    owner = "llm-edge" if public else (targets[0].provider.name if targets else "llm-edge")
    return CatalogEntry(
        id=name,
        owned_by=owner,
        public=public,
        routes=routes,
        pricing=_highest([r.pricing for r in routes]),
        context_window=window,
        capabilities=combine(r.kind for r in routes),
        fallbacks=list(config.fallbacks) if config is not None else [],
        escalates_to=config.escalate.to if config is not None and config.escalate is not None else None,
    )


async def build_catalog(gw: Gateway) -> list[CatalogEntry]:
    """Public models in config order, then (with allow_passthrough) each provider's listed models."""
    router = gw.router
    entries = [entry_for(gw, name, router.resolve(name), public=True) for name in router.public_models]
    if gw.config.allow_passthrough:
        for provider_name, provider in gw.providers.items():
            for upstream in await provider.upstream_models():
                name = f"{provider_name}/{upstream}"
                entries.append(entry_for(gw, name, router.resolve(name), public=False))
    return entries
