"""The admin API for keys, guarded by the admin key (``keys.admin``).

POST /v1/keys (JSON body: name, models, rpm, tpm, budget_usd, period, tags, expires) answers
the new key once; GET /v1/keys lists keys without secrets; DELETE /v1/keys/{id} revokes one (by
id or name), effective on every worker within a second.

When the store does not answer within ``state.store_timeout_s`` (or is known to be down), each
of them answers 503 with Retry-After in the OpenAI envelope (edge.store.guard). A key stored
just before the store went away is still answered: the other workers pick it up once they
can read it again.
"""

from __future__ import annotations

import time

from aiohttp import web

from edge.errors import NotFound
from edge.gateway import Gateway
from edge.fastpath import jsonio
from edge.keys import KeySpec, describe, make_key
from edge.store.guard import StoreUnavailable

from .body import read_json
from .appkeys import GATEWAY

__all__ = ["create_key", "list_keys", "revoke_key"]


async def _reload(gw: Gateway) -> None:
    """Make the change effective on this worker now; if the store went away since, the
    refresh loop does it once the store answers (the change itself is stored)."""
    try:
        await gw.auth.reload()
    except StoreUnavailable:
        pass


async def create_key(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    gw.auth.require_admin(request.headers.get("authorization"))
    spec, _ = await read_json(request, KeySpec, 64 * 1024)
    key, row = make_key(spec)
    await gw.store.create_key(row)
    await _reload(gw)
    return web.Response(status=201, body=jsonio.dumps({**describe(row), "key": key}), content_type="application/json")


async def list_keys(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    gw.auth.require_admin(request.headers.get("authorization"))
    rows = await gw.store.list_keys()
    return web.Response(body=jsonio.dumps({"object": "list", "data": [describe(r) for r in rows]}), content_type="application/json")


async def revoke_key(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    gw.auth.require_admin(request.headers.get("authorization"))
    key_id = request.match_info["key_id"]
    if not await gw.store.revoke_key(key_id, time.time()):
        raise NotFound(f"No active key with id or name '{key_id}'.", param="key_id")
    await _reload(gw)
    return web.Response(body=jsonio.dumps({"id": key_id, "revoked": True}), content_type="application/json")
