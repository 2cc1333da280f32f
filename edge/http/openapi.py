"""GET /openapi.json: an OpenAPI 3.1 description of the HTTP surface.

Request bodies are generated from the very msgspec structs that decode them (ChatRequest,
EmbeddingsRequest, KeySpec, and ResponsesRequest, MessagesRequest, BatchCreate: edge/http/
openapi_apis.py) with msgspec's JSON Schema generator, so the document cannot drift
from the validation. Responses are described by small structs below (only what every answer
carries; extra properties are allowed, as upstream answers carry vendor fields). Every 4xx/5xx
is the OpenAI error envelope (Anthropic's shape for /v1/messages), every response has
``x-request-id``, 429 and 503 (529) carry Retry-After. Spec: https://spec.openapis.org/oas/v3.1.0 (JSON Schema 2020-12 dialect).
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from aiohttp import web
from msgspec import Struct

from edge import __version__
from edge.adapters.schema import ChatRequest, EmbeddingsRequest
from edge.fastpath import jsonio
from edge.keys import KeySpec

from .appkeys import GATEWAY
from .openapi_apis import API_STRUCTS, api_paths, api_schemas
from .openapi_common import HEADER_PARAMS as _HEADER_PARAMS
from .openapi_common import REQUEST_ID as _REQUEST_ID
from .openapi_common import ErrorEnvelope
from .openapi_common import body as _body
from .openapi_common import errors as _errors
from .openapi_common import json_answer as _json
from .openapi_common import ref as _ref
from .openapi_dashboard import BudgetList, RouteStateList, UsageRoutes, UsageSeries

__all__ = ["build_openapi", "openapi_json"]


class Pricing(Struct):
    """USD per 1M tokens (edge.catalog.Pricing)."""

    input: float
    output: float
    cached_input: float
    reasoning: float
    currency: str
    per_tokens: int


class ModelRoute(Struct):
    provider: str
    kind: str
    model: str
    pricing: Pricing | None
    context_window: int | None


class Model(Struct):
    """An OpenAI Model object; the fields after owned_by are llm-edge's catalog (edge.catalog)."""

    id: str
    object: Literal["model"]
    created: int
    owned_by: str
    routes: list[ModelRoute] = []
    pricing: Pricing | None = None
    context_window: int | None = None
    capabilities: dict[str, Literal["yes", "no", "partial"]] = {}
    fallbacks: list[str] = []
    escalates_to: str | None = None


class ModelList(Struct):
    object: Literal["list"]
    data: list[Model]


class ChatChoice(Struct):
    index: int
    finish_reason: str | None
    message: dict[str, Any]


class ChatCompletion(Struct):
    """A chat.completion as the upstream answered it, model shown as the public name."""

    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[ChatChoice]


class Embedding(Struct):
    object: Literal["embedding"]
    index: int
    embedding: list[float] | str


class EmbeddingList(Struct):
    object: Literal["list"]
    data: list[Embedding]
    model: str


class Status(Struct):
    status: str


class KeyInfo(Struct):
    id: str
    name: str
    prefix: str
    created_at: float
    revoked: bool
    models: list[str] | None = None
    rpm: int | None = None
    tpm: int | None = None
    budget_usd: float | None = None
    period: str = "month"
    tags: dict[str, str] | None = None
    expires_at: float | None = None


class NewKey(KeyInfo):
    """The new key's secret is shown here once and never again."""

    key: str = ""


class KeyList(Struct):
    object: Literal["list"]
    data: list[KeyInfo]


class Revoked(Struct):
    id: str
    revoked: bool


class UsageReport(Struct):
    """What ``edge usage --json`` prints (edge.usage.build_report)."""


_STRUCTS = (
    ChatRequest, EmbeddingsRequest, KeySpec, ErrorEnvelope, ModelList, ChatCompletion, EmbeddingList, Status, NewKey, KeyList,
    Revoked, UsageReport, UsageSeries, UsageRoutes, RouteStateList, BudgetList, *API_STRUCTS,
)

_CACHE_PARAM = {"name": "x-edge-cache", "in": "header", "required": False, "schema": {"type": "string"}, "description": "The response cache for this request: a time to live in seconds (1 to 2592000), or off."}


def _upstream_op(summary: str, request: str, response: dict[str, Any], params: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "summary": summary,
        "parameters": _HEADER_PARAMS + (params or []),
        "requestBody": _body(request),
        "responses": {"200": response, **_errors(400, 401, 403, 404, 413, 415, 429, 502, 503, 504)},
    }


def build_openapi(models: list[str]) -> dict[str, Any]:
    """The document; ``models`` (the configured public names) become examples of ``model``."""
    _, components = msgspec.json.schema_components(_STRUCTS, ref_template="#/components/schemas/{name}")
    api_schemas(components)
    for name in ("ChatRequest", "EmbeddingsRequest", "ResponsesRequest", "MessagesRequest", "CountTokensRequest"):
        if models:
            components[name]["properties"]["model"]["examples"] = models
    components["UsageReport"] = {"type": "object", "description": UsageReport.__doc__}
    chat_200 = {
        "description": "The answer; text/event-stream when the request had stream: true.",
        "headers": {"x-request-id": _REQUEST_ID},
        "content": {
            "application/json": {"schema": _ref("ChatCompletion")},
            "text/event-stream": {"schema": {"type": "string"}},
        },
    }
    admin: list[dict[str, Any]] = [{"bearer": []}]
    paths: dict[str, Any] = {
        "/v1/chat/completions": {"post": _upstream_op("Create a chat completion (OpenAI chat API).", "ChatRequest", chat_200, [_CACHE_PARAM])},
        "/v1/embeddings": {"post": _upstream_op("Create embeddings (OpenAI embeddings API).", "EmbeddingsRequest", _json(_ref("EmbeddingList"), "The embeddings."))},
        **api_paths(),
        "/v1/models": {"get": {"summary": "List models.", "responses": {"200": _json(_ref("ModelList"), "Public models and passthrough names."), **_errors(401)}}},
        "/v1/models/{model}": {
            "get": {
                "summary": "Retrieve a model.",
                "parameters": [{"name": "model", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": _json(_ref("Model"), "The model."), **_errors(401, 404)},
            }
        },
        "/v1/usage": {
            "get": {
                "summary": "Usage report from the ledger (admin key).",
                "security": admin,
                "parameters": [
                    {"name": "since", "in": "query", "required": False, "schema": {"type": "string"}, "description": "A span (7d, 12h) or a UTC date."},
                    {"name": "group_by", "in": "query", "required": False, "schema": {"type": "string"}, "description": "model, key, provider, day or tag:<name>."},
                ],
                "responses": {"200": _json(_ref("UsageReport"), "The report."), **_errors(400, 401, 403)},
            }
        },
        **_dashboard_paths(admin),
        "/v1/keys": {
            "post": {"summary": "Create a gateway key (admin key).", "security": admin, "requestBody": _body("KeySpec"), "responses": {"201": _json(_ref("NewKey"), "The new key, shown once."), **_errors(400, 401, 403, 413, 415)}},
            "get": {"summary": "List gateway keys without secrets (admin key).", "security": admin, "responses": {"200": _json(_ref("KeyList"), "The keys."), **_errors(401, 403)}},
        },
        "/v1/keys/{key_id}": {
            "delete": {
                "summary": "Revoke a gateway key by id or name (admin key).",
                "security": admin,
                "parameters": [{"name": "key_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": _json(_ref("Revoked"), "Revoked."), **_errors(401, 403, 404)},
            }
        },
        "/healthz": {"get": {"summary": "Liveness.", "security": [], "responses": {"200": _json(_ref("Status"), "The process runs.")}}},
        "/readyz": {"get": {"summary": "Readiness.", "security": [], "responses": {"200": _json(_ref("Status"), "Accepting work."), "503": _json(_ref("Status"), "Starting or draining.")}}},
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics (text exposition format).",
                "security": [],
                "responses": {"200": {"description": "Metrics.", "headers": {"x-request-id": _REQUEST_ID}, "content": {"text/plain": {"schema": {"type": "string"}}}}},
            }
        },
        "/openapi.json": {"get": {"summary": "This document.", "security": [], "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1.")}}},
        **_page_paths(),
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "llm-edge", "version": __version__, "description": "OpenAI-compatible LLM gateway."},
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}, "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"}}},
        "security": [{"bearer": []}, {}],
    }


_SINCE = {"name": "since", "in": "query", "required": False, "schema": {"type": "string"}, "description": "A span back from now (30m, 24h, 7d) or a UTC date; 24h by default."}


def _dashboard_paths(admin: list[dict[str, Any]]) -> dict[str, Any]:
    """The dashboard's JSON endpoints (edge/http/dashboard_api.py); admin key only."""

    def op(summary: str, schema: str, params: list[dict[str, Any]]) -> dict[str, Any]:
        return {"get": {"summary": summary, "security": admin, "parameters": params, "responses": {"200": _json(_ref(schema), summary), **_errors(400, 401, 403)}}}

    return {
        "/v1/usage/series": op("Spend, tokens, requests and errors per time bucket, by group (admin key).", "UsageSeries", [
            _SINCE,
            {"name": "group_by", "in": "query", "required": False, "schema": {"type": "string"}, "description": "model (default), key, provider or tag:<name>."},
            {"name": "bucket", "in": "query", "required": False, "schema": {"type": "string"}, "description": "auto (default: at most 60 buckets) or a width from 1m, e.g. 5m, 1h, 1d; at most 2000 buckets."},
        ]),
        "/v1/usage/routes": op("Requests, errors by type and latency p50/p99 per public model and route (admin key).", "UsageRoutes", [_SINCE]),
        "/v1/routes": op("Every route's cooldown state now, and why it is cooling down (admin key).", "RouteStateList", []),
        "/v1/budgets": op("Every budget with what its current period has spent (admin key).", "BudgetList", []),
    }


def _html(description: str) -> dict[str, Any]:
    return {"description": description, "headers": {"x-request-id": _REQUEST_ID}, "content": {"text/html": {"schema": {"type": "string"}}}}


def _page_paths() -> dict[str, Any]:
    """The pages the gateway serves itself (off with ui.enabled / ui.catalog: then 404)."""
    return {
        "/ui": {"get": {"summary": "The dashboard page (signs in with the admin key; ui.enabled).", "security": [], "responses": {"200": _html("The page."), **_errors(404)}}},
        "/models": {"get": {"summary": "The public model catalog page (ui.catalog).", "security": [], "responses": {"200": _html("The page."), **_errors(404)}}},
        "/ui/assets/{name}": {"get": {
            "summary": "The pages' own script and style files.",
            "security": [],
            "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "The file.", "headers": {"x-request-id": _REQUEST_ID}, "content": {t: {"schema": {"type": "string"}} for t in ("text/javascript", "text/css", "text/plain")}}, "304": {"description": "Not modified (if-none-match).", "headers": {"x-request-id": _REQUEST_ID}}, **_errors(404)},
        }},
    }


async def openapi_json(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    return web.Response(body=jsonio.dumps(build_openapi(list(gw.router.public_models))), content_type="application/json")
