"""Liveness, readiness and metrics: GET /healthz, /readyz, /metrics (Prometheus text format).

/healthz answers while the process runs; /readyz only while it accepts new work (not before
start-up finished, not while draining on SIGTERM), so load balancers stop sending in time.

A store outage (edge.store.guard) or a spooling ledger (edge.ledger) does not fail readiness:
every instance shares the store, so taking them all out of the load balancer would turn an
outage of accounting into an outage of the service, while the gateway still answers (rows go
to the local spool, cached budgets and keys keep working). /readyz then answers 200 with
``"status": "degraded"`` and the reason, for operators and alerts (edge_store_up and
edge_ledger_spooled_rows say the same in /metrics). Readiness fails (503, ``"status":
"ledger full"``) only when this worker is dropping ledger rows because neither the store nor
the spool takes them and its memory cap is reached: sending it more work would lose more rows.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from edge.fastpath import jsonio
from edge.metrics import CONTENT_TYPE

from .appkeys import GATEWAY

__all__ = ["healthz", "metrics", "readyz"]

_OK = b'{"status":"ok"}'
_NOT_READY = b'{"status":"not ready"}'


async def healthz(request: web.Request) -> web.Response:
    return web.Response(body=_OK, content_type="application/json")


def _degraded(store: dict[str, Any], ledger: dict[str, Any]) -> str:
    reasons = [f"store {side} failing ({state['reason']})" for side, state in store.items() if not state["up"]]
    if ledger["spooling"]:
        fallback = ledger.get("fallback_spooled_rows", 0)
        where = f"{ledger['spooled_rows']} rows spooled to disk" + (f" ({fallback} in the fallback spool folder)" if fallback else "") + (f", {ledger['in_memory_rows']} held in memory" if ledger["in_memory_rows"] else "")
        reasons.append(f"ledger rows wait for the store: {where}")
    if ledger.get("spool_error"):
        reasons.append(f"spool not writable ({ledger['spool_error']})")
    return "; ".join(reasons)


async def readyz(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    if not gw.ready:
        return web.Response(status=503, body=_NOT_READY, content_type="application/json")
    store, ledger = gw.store.status(), gw.ledger.status()
    reason = _degraded(store, ledger)
    if not reason:
        return web.Response(body=_OK, content_type="application/json")
    full = gw.ledger.full
    doc = {"status": "ledger full" if full else "degraded", "reason": reason, "store": store, "ledger": ledger}
    return web.Response(status=503 if full else 200, body=jsonio.dumps(doc), content_type="application/json")


async def metrics(request: web.Request) -> web.Response:
    body = request.app[GATEWAY].metrics.render()
    return web.Response(body=body, headers={"content-type": CONTENT_TYPE})
