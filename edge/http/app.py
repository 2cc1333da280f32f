"""The aiohttp application factory: one frozen Config in, an app with every route out.

Importing this module has no side effects; the Gateway (clients, ledger, mock) starts on the
app's startup signal and closes on cleanup, after in-flight requests drained.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from edge.caps import ConcurrencyCaps
from edge.config import Config
from edge.gateway import Gateway

from .admin import create_key, list_keys, revoke_key
from .batch_common import BATCH, guarded
from .batches import cancel_batch, create_batch, get_batch, list_batches, retry_batch
from .catalog_page import models_page
from .chat import chat_completions
from .dashboard_api import budgets, route_states, usage_routes, usage_series
from .embeddings import embeddings
from .files import create_file, delete_file, file_content, get_file, list_files
from .messages import count_tokens, messages
from .health import healthz, metrics, readyz
from .appkeys import GATEWAY
from .middleware import CAPS, edge_middleware, tracing_middleware
from .models import get_model, list_models
from .openapi import openapi_json
from .responses import create_response, delete_response, get_response, input_items, input_tokens, websocket_refused
from .ui import ASSETS, CATALOG_ASSETS, UI_ASSETS, Assets, asset, dashboard_page
from .usage import usage_report

__all__ = ["create_app"]


def create_app(config: Config, shared_dir: Path | None = None) -> web.Application:
    gateway = Gateway(config, shared_dir)
    # The tracing middleware only when tracing is on: the off path pays nothing for it.
    middlewares = [edge_middleware] if gateway.tracing is None else [tracing_middleware, edge_middleware]
    app = web.Application(middlewares=middlewares, client_max_size=gateway.max_body_bytes)
    app[GATEWAY] = gateway
    app[CAPS] = caps = ConcurrencyCaps(config.server.max_concurrent, config.server.max_concurrent_per_key)
    from edge.batch.service import BatchService

    app[BATCH] = batch = BatchService(gateway, lambda: caps.in_flight)
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_post("/v1/embeddings", embeddings)
    app.router.add_post("/v1/responses", create_response)
    app.router.add_get("/v1/responses", websocket_refused)
    app.router.add_post("/v1/responses/input_tokens", input_tokens)
    app.router.add_get("/v1/responses/{response_id}", get_response)
    app.router.add_delete("/v1/responses/{response_id}", delete_response)
    app.router.add_get("/v1/responses/{response_id}/input_items", input_items)
    app.router.add_post("/v1/messages", messages)
    app.router.add_post("/v1/messages/count_tokens", count_tokens)
    app.router.add_get("/v1/models", list_models)
    app.router.add_get("/v1/models/{model:.+}", get_model)
    app.router.add_get("/v1/usage", usage_report)
    app.router.add_get("/v1/usage/series", usage_series)
    app.router.add_get("/v1/usage/routes", usage_routes)
    app.router.add_get("/v1/routes", route_states)
    app.router.add_get("/v1/budgets", budgets)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/openapi.json", openapi_json)
    app.router.add_post("/v1/keys", create_key)
    app.router.add_get("/v1/keys", list_keys)
    app.router.add_delete("/v1/keys/{key_id}", revoke_key)
    _add_batch_routes(app)
    _add_pages(app, config)

    async def start(app: web.Application) -> None:
        await gateway.start()
        await batch.start()

    async def close(app: web.Application) -> None:
        await batch.close()
        await gateway.close()

    app.on_startup.append(start)
    app.on_cleanup.append(close)
    return app


def _add_batch_routes(app: web.Application) -> None:
    """OpenAI's Files and Batches endpoints (edge.http.files, edge.http.batches)."""
    app.router.add_post("/v1/files", guarded(create_file))
    app.router.add_get("/v1/files", guarded(list_files))
    app.router.add_get("/v1/files/{file_id}", guarded(get_file))
    app.router.add_get("/v1/files/{file_id}/content", guarded(file_content))
    app.router.add_delete("/v1/files/{file_id}", guarded(delete_file))
    app.router.add_post("/v1/batches", guarded(create_batch))
    app.router.add_get("/v1/batches", guarded(list_batches))
    app.router.add_get("/v1/batches/{batch_id}", guarded(get_batch))
    app.router.add_post("/v1/batches/{batch_id}/cancel", guarded(cancel_batch))
    app.router.add_post("/v1/batches/{batch_id}/retry", guarded(retry_batch))


def _add_pages(app: web.Application, config: Config) -> None:
    """The dashboard (ui.enabled) and the catalog page (ui.catalog), with the files they use."""
    if not (config.ui.enabled or config.ui.catalog):
        return
    app[UI_ASSETS] = Assets(tuple(ASSETS) if config.ui.enabled else CATALOG_ASSETS)
    app.router.add_get("/ui/assets/{name}", asset)
    if config.ui.enabled:
        app.router.add_get("/ui", dashboard_page)
    if config.ui.catalog:
        app.router.add_get("/models", models_page)
