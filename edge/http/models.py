"""GET /v1/models and GET /v1/models/{id} (OpenAI ``Model`` objects, wire-formats.md s.1.9).

Lists the configured public models and, when passthrough is on, each provider's upstream models
as ``<provider>/<model>``: its configured ``models``, or for an OpenAI-format upstream without
one, what the upstream's own GET /models lists (cached for a minute). Any name that routes can
be retrieved.

Each object keeps OpenAI's four fields (id, object, created, owned_by) and adds the catalog's
(edge.catalog): ``routes``, ``pricing`` (USD per 1M input/output/cached/reasoning tokens),
``context_window``, ``capabilities`` (feature -> yes/no/partial), ``fallbacks`` and
``escalates_to``. The SDKs keep unknown fields of a Model, so clients can read them as extras.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from edge.catalog import CatalogEntry, build_catalog, entry_for
from edge.errors import ModelNotFound
from edge.fastpath import jsonio

from .appkeys import GATEWAY

__all__ = ["get_model", "list_models"]

# A fixed creation time: these are routes, not trained artifacts; clients only need a number.
_CREATED = 1735689600


def _model(entry: CatalogEntry) -> dict[str, Any]:
    return {"id": entry.id, "object": "model", "created": _CREATED, "owned_by": entry.owned_by, **entry.model_fields()}


async def list_models(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    gw.auth.authenticate(request.headers.get("authorization"))
    data = [_model(entry) for entry in await build_catalog(gw)]
    return web.Response(body=jsonio.dumps({"object": "list", "data": data}), content_type="application/json")


async def get_model(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    gw.auth.authenticate(request.headers.get("authorization"))
    model_id = request.match_info["model"]
    for entry in await build_catalog(gw):
        if entry.id == model_id:
            return web.Response(body=jsonio.dumps(_model(entry)), content_type="application/json")
    try:
        resolution = gw.router.resolve(model_id)
    except ModelNotFound:
        raise ModelNotFound(f"The model '{model_id}' does not exist on this gateway.", param="model") from None
    entry = entry_for(gw, model_id, resolution, public=model_id in gw.config.models)
    return web.Response(body=jsonio.dumps(_model(entry)), content_type="application/json")
