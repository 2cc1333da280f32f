"""What every part of GET /openapi.json shares: the error envelopes, headers and small builders.

edge/http/openapi.py assembles the document; edge/http/openapi_apis.py describes the Responses,
Messages, Files and Batches endpoints. Spec: https://spec.openapis.org/oas/v3.1.0.
"""

from __future__ import annotations

from typing import Any, Literal

from msgspec import Struct

__all__ = [
    "ANTHROPIC_ERROR_TEXT", "AnthropicError", "ERROR_TEXT", "ErrorEnvelope", "HEADER_PARAMS", "REQUEST_ID", "RETRY_AFTER",
    "anthropic_errors", "body", "errors", "json_answer", "ref",
]


class ErrorBody(Struct):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorEnvelope(Struct):
    """The OpenAI error envelope; every 4xx and 5xx answer has this body (but /v1/messages')."""

    error: ErrorBody


class AnthropicErrorBody(Struct):
    type: str
    message: str


class AnthropicError(Struct):
    """Anthropic's error shape, which every 4xx and 5xx of /v1/messages has (edge/messages/reply.py)."""

    type: Literal["error"]
    error: AnthropicErrorBody
    request_id: str


REQUEST_ID = {"description": "The request's id: the client's own x-request-id if it was safe to echo, else a new one.", "schema": {"type": "string"}}
RETRY_AFTER = {"description": "Seconds to wait before retrying.", "schema": {"type": "string"}}

ERROR_TEXT = {
    400: "The request is malformed or fails validation; param names the field.",
    401: "Missing, unknown, revoked or expired key.",
    403: "The key may not use this model or endpoint.",
    404: "Unknown model, key, object or path.",
    405: "Method not allowed on this path.",
    409: "The object is not in a state that allows this.",
    413: "The body is over server.max_body_mb (files: batch.max_file_mb).",
    415: "Content-Type is not application/json.",
    426: "A WebSocket upgrade: the gateway serves this API over HTTP and SSE.",
    429: "A rate limit, budget or concurrency cap is full.",
    502: "The upstream failed or answered something unusable.",
    503: "No route is available, the store is not answering, or the gateway is at its total concurrency cap.",
    504: "The upstream or the request's deadline timed out.",
}
ANTHROPIC_ERROR_TEXT = {**ERROR_TEXT, 529: "overloaded_error: no capacity at the gateway or the provider (every 503), as Anthropic's clients retry it."}

HEADER_PARAMS = [
    {"name": "x-request-id", "in": "header", "required": False, "schema": {"type": "string"}, "description": "Echoed when it matches [A-Za-z0-9._:-]{1,128}; a new id otherwise."},
    {"name": "x-edge-tags", "in": "header", "required": False, "schema": {"type": "string"}, "description": "name=value pairs separated by commas, for cost attribution."},
    {"name": "x-edge-timeout-ms", "in": "header", "required": False, "schema": {"type": "number", "exclusiveMinimum": 0}, "description": "The client's deadline; only shortens routing.timeout_s."},
    {"name": "x-edge-drop-params", "in": "header", "required": False, "schema": {"type": "string"}, "description": "true: request fields a route cannot honour are left out and named in x-edge-dropped-params, instead of 400 unsupported_parameter."},
]


def ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def json_answer(schema: dict[str, Any], description: str, extra_headers: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {"x-request-id": REQUEST_ID, **(extra_headers or {})},
        "content": {"application/json": {"schema": schema}},
    }


def errors(*statuses: int) -> dict[str, Any]:
    """The OpenAI envelope for each status, and for any other."""
    return _errors("ErrorEnvelope", ERROR_TEXT, statuses, (429, 503), "Any other error, as the OpenAI error envelope.")


def anthropic_errors(*statuses: int) -> dict[str, Any]:
    """Anthropic's error shape for each status, and for any other (with request-id)."""
    out = _errors("AnthropicError", ANTHROPIC_ERROR_TEXT, statuses, (429, 529), "Any other error, in Anthropic's shape.")
    for answer in out.values():
        answer["headers"]["request-id"] = REQUEST_ID
    return out


def _errors(schema: str, texts: dict[int, str], statuses: tuple[int, ...], retried: tuple[int, ...], other: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for status in statuses:
        extra = {"retry-after": RETRY_AFTER} if status in retried else None
        out[str(status)] = json_answer(ref(schema), texts[status], extra)
    out["default"] = json_answer(ref(schema), other)
    return out


def body(name: str, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": ref(name)}}}
