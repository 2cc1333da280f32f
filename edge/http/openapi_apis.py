"""The Responses, Messages, Files and Batches endpoints in GET /openapi.json.

Request bodies come from the structs that decode them (ResponsesRequest, MessagesRequest,
CountTokensRequest, BatchCreate), so the document holds what the gateway validates; answers are
described by the few fields every one carries (extra properties allowed). Errors: the OpenAI
envelope, but /v1/messages answers in Anthropic's shape (``{"type": "error", "error": {"type",
"message"}, "request_id"}``, 529 for overloaded) and takes its key as ``x-api-key`` too.
"""

from __future__ import annotations

from typing import Any, Literal

from msgspec import Struct

from ..messages.schema import CountTokensRequest, MessagesRequest
from .batches import BatchCreate
from .openapi_common import HEADER_PARAMS, REQUEST_ID, AnthropicError, anthropic_errors, body, errors, json_answer, ref
from .responses import ResponsesRequest

__all__ = ["API_STRUCTS", "api_paths", "api_schemas"]


class ResponseObject(Struct):
    """A Response (OpenAI Responses API), model shown as the public name."""

    id: str
    object: Literal["response"]
    model: str
    output: list[dict[str, Any]]


class ResponseDeleted(Struct):
    id: str
    object: Literal["response.deleted"]
    deleted: bool


class ItemList(Struct):
    object: Literal["list"]
    data: list[dict[str, Any]]
    first_id: str | None
    last_id: str | None
    has_more: bool


class InputTokens(Struct):
    input_tokens: int


class AnthropicMessage(Struct):
    """An Anthropic Message, model shown as the public name."""

    id: str
    type: Literal["message"]
    role: Literal["assistant"]
    model: str
    content: list[dict[str, Any]]
    stop_reason: str | None
    usage: dict[str, Any]


class FileObject(Struct):
    id: str
    object: Literal["file"]
    bytes: int
    created_at: int
    filename: str
    purpose: str


class FileList(Struct):
    object: Literal["list"]
    data: list[FileObject]
    has_more: bool


class FileDeleted(Struct):
    id: str
    object: Literal["file"]
    deleted: bool


class Batch(Struct):
    """OpenAI's Batch object, plus llm-edge's retry_of, tags and cost_usd."""

    id: str
    object: Literal["batch"]
    endpoint: str
    input_file_id: str
    completion_window: str
    status: str
    created_at: int
    request_counts: dict[str, int]


class BatchList(Struct):
    object: Literal["list"]
    data: list[Batch]
    has_more: bool


API_STRUCTS = (
    ResponsesRequest, ResponseObject, ResponseDeleted, ItemList, InputTokens, MessagesRequest, CountTokensRequest, AnthropicMessage, AnthropicError,
    FileObject, FileList, FileDeleted, BatchCreate, Batch, BatchList,
)

_UPSTREAM_ERRORS = (400, 401, 403, 404, 413, 415, 429, 502, 503, 504)
_STORE_ERRORS = (401, 503)  # every Files and Batches call reads the batch store (503 when it is not answering)
_KEYS: list[dict[str, Any]] = [{"bearer": []}, {"apiKey": []}, {}]


def api_schemas(components: dict[str, Any]) -> None:
    """What the structs cannot say: max_tokens is required (the handler answers 400 without it)."""
    found = components["MessagesRequest"]
    found["required"] = sorted({*found.get("required", ()), "max_tokens"})
    found["properties"]["max_tokens"].pop("default", None)  # the struct's 0 only stands for "missing"


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema or {"type": "string"}, "description": description}


def _streamed(schema: str, description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {"x-request-id": REQUEST_ID, **(headers or {})},
        "content": {"application/json": {"schema": ref(schema)}, "text/event-stream": {"schema": {"type": "string"}}},
    }


def _responses() -> dict[str, Any]:
    item = [_path("response_id")]
    return {
        "/v1/responses": {
            "post": {"summary": "Create a response (OpenAI Responses API).", "parameters": HEADER_PARAMS, "requestBody": body("ResponsesRequest"), "responses": {"200": _streamed("ResponseObject", "The response; text/event-stream when the request had stream: true."), **errors(*_UPSTREAM_ERRORS)}},
            "get": {"summary": "The Responses WebSocket mode: refused (426), the gateway serves HTTP and SSE.", "responses": errors(401, 426)},
        },
        "/v1/responses/input_tokens": {"post": {"summary": "Count a Responses request's input tokens (the provider's count on a native route, else the gateway's estimate).", "requestBody": body("ResponsesRequest"), "responses": {"200": json_answer(ref("InputTokens"), "The count."), **errors(*_UPSTREAM_ERRORS)}}},
        "/v1/responses/{response_id}": {
            "get": {"summary": "Retrieve a stored response.", "parameters": item, "responses": {"200": json_answer(ref("ResponseObject"), "The response."), **errors(401, 404)}},
            "delete": {"summary": "Delete a stored response.", "parameters": item, "responses": {"200": json_answer(ref("ResponseDeleted"), "Deleted."), **errors(401, 404)}},
        },
        "/v1/responses/{response_id}/input_items": {"get": {
            "summary": "The input items of a stored response, its history's first.",
            "parameters": [*item, _query("order", "asc or desc (default).", {"type": "string", "enum": ["asc", "desc"]}), _query("limit", "1 to 100 (default 20).", {"type": "integer", "minimum": 1, "maximum": 100}), _query("after", "An item id: the page after it.")],
            "responses": {"200": json_answer(ref("ItemList"), "A page of items."), **errors(400, 401, 404)},
        }},
    }


def _messages() -> dict[str, Any]:
    params = [
        *HEADER_PARAMS,
        {"name": "anthropic-version", "in": "header", "required": False, "schema": {"type": "string"}, "description": "Passed to an Anthropic provider as sent."},
        {"name": "anthropic-beta", "in": "header", "required": False, "schema": {"type": "string"}, "description": "Passed to an Anthropic provider as sent."},
        _query("beta", "The SDKs' beta namespace (Claude Code sends beta=true): true or false is passed on, any other value ignored."),
    ]
    request_id = {"request-id": REQUEST_ID}
    counted = {**request_id, "x-edge-token-count": {"description": "exact (the provider counted) or estimated (the gateway did).", "schema": {"type": "string"}}}
    statuses = (400, 401, 403, 404, 413, 415, 429, 502, 504, 529)
    return {
        "/v1/messages": {"post": {
            "summary": "Create a message (Anthropic Messages API; the key as x-api-key or Authorization: Bearer).",
            "security": _KEYS, "parameters": params, "requestBody": body("MessagesRequest"),
            "responses": {"200": _streamed("AnthropicMessage", "The message; text/event-stream when the request had stream: true.", request_id), **anthropic_errors(*statuses)},
        }},
        "/v1/messages/count_tokens": {"post": {
            "summary": "Count a Messages request's input tokens (exact for Anthropic and Gemini, else the gateway's estimate).",
            # No header parameters: a count reads none of them (and schemathesis 4.32 takes an
            # extra header on a request that is otherwise valid for negative data).
            "security": _KEYS, "parameters": [params[-1]], "requestBody": body("CountTokensRequest"),
            "responses": {"200": json_answer(ref("InputTokens"), "The count, never 0.", counted), **anthropic_errors(*statuses)},
        }},
    }


def _files() -> dict[str, Any]:
    form = {"type": "object", "required": ["file", "purpose"], "properties": {"file": {"type": "string", "format": "binary"}, "purpose": {"type": "string", "enum": ["batch"]}}}
    item = [_path("file_id")]
    return {
        "/v1/files": {
            "post": {"summary": "Upload a batch input file (multipart: file, purpose batch).", "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": form}}}, "responses": {"200": json_answer(ref("FileObject"), "The file."), **errors(400, 413, *_STORE_ERRORS)}},
            "get": {"summary": "List files (a key sees its own; the admin key all).", "parameters": [_query("purpose", "Only files of this purpose."), _query("limit", "1 to 10000 (default 10000).", {"type": "integer", "minimum": 1, "maximum": 10000}), _query("order", "asc or desc (default).", {"type": "string", "enum": ["asc", "desc"]}), _query("after", "A file id: the page after it.")], "responses": {"200": json_answer(ref("FileList"), "A page of files."), **errors(400, *_STORE_ERRORS)}},
        },
        "/v1/files/{file_id}": {
            "get": {"summary": "Retrieve a file's object.", "parameters": item, "responses": {"200": json_answer(ref("FileObject"), "The file."), **errors(404, *_STORE_ERRORS)}},
            "delete": {"summary": "Delete a file.", "parameters": item, "responses": {"200": json_answer(ref("FileDeleted"), "Deleted."), **errors(404, *_STORE_ERRORS)}},
        },
        "/v1/files/{file_id}/content": {"get": {"summary": "A file's content.", "parameters": item, "responses": {"200": {"description": "The bytes.", "headers": {"x-request-id": REQUEST_ID}, "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}, **errors(404, *_STORE_ERRORS)}}},
    }


def _batches() -> dict[str, Any]:
    item = [_path("batch_id")]
    batch = json_answer(ref("Batch"), "The batch.")
    return {
        "/v1/batches": {
            "post": {"summary": "Create a batch from an uploaded file (OpenAI Batch API).", "parameters": [HEADER_PARAMS[1]], "requestBody": body("BatchCreate"), "responses": {"200": batch, **errors(400, 404, 413, 415, *_STORE_ERRORS)}},
            "get": {"summary": "List batches, newest first.", "parameters": [_query("limit", "1 to 100 (default 20).", {"type": "integer", "minimum": 1, "maximum": 100}), _query("after", "A batch id: the page after it.")], "responses": {"200": json_answer(ref("BatchList"), "A page of batches."), **errors(400, *_STORE_ERRORS)}},
        },
        "/v1/batches/{batch_id}": {"get": {"summary": "Retrieve a batch.", "parameters": item, "responses": {"200": batch, **errors(404, *_STORE_ERRORS)}}},
        "/v1/batches/{batch_id}/cancel": {"post": {"summary": "Cancel a batch.", "parameters": item, "responses": {"200": batch, **errors(404, 409, *_STORE_ERRORS)}}},
        "/v1/batches/{batch_id}/retry": {"post": {"summary": "A new batch of a finished batch's failed requests (llm-edge).", "parameters": item, "responses": {"200": batch, **errors(400, 404, 409, *_STORE_ERRORS)}}},
    }


def api_paths() -> dict[str, Any]:
    return {**_responses(), **_messages(), **_files(), **_batches()}
