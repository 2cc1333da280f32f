"""Liveness, readiness and metrics: GET /healthz, /readyz, /metrics (Prometheus text format).

/healthz answers while the process runs; /readyz only while it accepts new work (not before
start-up finished, not while draining on SIGTERM), so load balancers stop sending in time.
"""

from __future__ import annotations

from aiohttp import web

from edge.metrics import CONTENT_TYPE

from .appkeys import GATEWAY

__all__ = ["healthz", "metrics", "readyz"]

_OK = b'{"status":"ok"}'
_NOT_READY = b'{"status":"not ready"}'


async def healthz(request: web.Request) -> web.Response:
    return web.Response(body=_OK, content_type="application/json")


async def readyz(request: web.Request) -> web.Response:
    ready = request.app[GATEWAY].ready
    return web.Response(status=200 if ready else 503, body=_OK if ready else _NOT_READY, content_type="application/json")


async def metrics(request: web.Request) -> web.Response:
    body = request.app[GATEWAY].metrics.render()
    return web.Response(body=body, headers={"content-type": CONTENT_TYPE})
