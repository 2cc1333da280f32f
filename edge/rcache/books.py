"""The response cache's side of a request, for every surface: settling a hit, keeping a miss.

A hit is a ledger row like any other (one settle): status 200, ``cache_hit``, cost 0 and, as
``saved_usd``, what the answer cost when it was made, priced now from its usage (edge.prices);
no provider, no attempts, no tokens (none were spent). A miss's answer is kept in the
background once it came whole, and counted (``edge_response_cache_total{result="stored"}``).
"""

from __future__ import annotations

from typing import Any

from edge.adapters.types import Usage

from ..context import RequestContext, settle
from ..gateway import Gateway
from . import Lookup
from .entry import Entry

__all__ = ["find", "found", "keep", "settle_hit"]


async def find(gw: Gateway, ctx: RequestContext, body: dict[str, Any], header: str | None, stream: bool) -> tuple[Lookup | None, Entry | None]:
    """Whether the cache is on for this request and, if so, the entry that answers it."""
    lookup = gw.response_cache.lookup(ctx.record.public_model, ctx.principal.key_id, body, header, ctx.drop_params)
    if lookup is None:
        return None, None
    return lookup, await found(gw, ctx, lookup, stream)


async def found(gw: Gateway, ctx: RequestContext, lookup: Lookup, stream: bool) -> Entry | None:
    """The entry for a lookup (``find`` without the lookup), counted as a hit or a miss."""
    entry = await gw.response_cache.get(lookup, stream)
    gw.metrics.cache_result(ctx.record.public_model, "hit" if entry is not None else "miss")
    return entry


def settle_hit(gw: Gateway, ctx: RequestContext, entry: Entry) -> None:
    record = ctx.record
    record.status, record.cache_hit, record.cost_usd = 200, True, 0.0
    record.saved_usd = gw.prices.cost(entry.upstream_model, entry.usage)
    settle(gw, ctx)


def keep(gw: Gateway, ctx: RequestContext, lookup: Lookup, body: bytes | None, stream: bool, usage: Usage | None) -> None:
    record = ctx.record
    if body is None or record.status != 200 or record.client_disconnected:
        return
    if gw.response_cache.put(lookup, body, stream, record.upstream_model or "", usage):
        gw.metrics.cache_result(record.public_model, "stored")
