"""GET /v1/models and GET /v1/models/{id} (OpenAI ``Model`` objects, wire-formats.md s.1.9).

Lists the configured public models and, when passthrough is on, each provider's upstream models
as ``<provider>/<model>``: its configured ``models``, or for an OpenAI-format upstream without
one, what the upstream's own GET /models lists (cached for a minute). Any name that routes can
be retrieved.
"""

from __future__ import annotations

from aiohttp import web

from edge.errors import ModelNotFound
from edge.fastpath import jsonio
from edge.gateway import Gateway

from .appkeys import GATEWAY

__all__ = ["get_model", "list_models"]

# A fixed creation time: these are routes, not trained artifacts; clients only need a number.
_CREATED = 1735689600


def _model(model_id: str, owner: str) -> dict[str, object]:
    return {"id": model_id, "object": "model", "created": _CREATED, "owned_by": owner}


async def _catalogue(gw: Gateway) -> list[dict[str, object]]:
    rows = [_model(name, "llm-edge") for name in gw.router.public_models]
    if gw.config.allow_passthrough:
        for name, provider in gw.providers.items():
            rows.extend(_model(f"{name}/{upstream}", name) for upstream in await provider.upstream_models())
    return rows


async def list_models(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    gw.auth.authenticate(request.headers.get("authorization"))
    return web.Response(body=jsonio.dumps({"object": "list", "data": await _catalogue(gw)}), content_type="application/json")


async def get_model(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    gw.auth.authenticate(request.headers.get("authorization"))
    model_id = request.match_info["model"]
    for row in await _catalogue(gw):
        if row["id"] == model_id:
            return web.Response(body=jsonio.dumps(row), content_type="application/json")
    try:
        resolution = gw.router.resolve(model_id)
    except ModelNotFound:
        raise ModelNotFound(f"The model '{model_id}' does not exist on this gateway.", param="model") from None
    owner = resolution.targets[0].provider.name if resolution.targets else "llm-edge"
    return web.Response(body=jsonio.dumps(_model(model_id, owner)), content_type="application/json")
