"""Helpers shared by two or more adapters: error vocabulary, Retry-After, and the OpenAI-side
pieces every translating adapter needs (extra fields, tool arguments, the chat.completion body).

Adapters do not scrub secrets: the gateway scrubs every upstream byte before an adapter parses
it and every error before a client or a log sees it (edge.scrub), once, with every configured
secret.

Status-to-type mapping follows the translation cheat-sheet in shared/reference/wire-formats.md
section 6; Retry-After parsing follows RFC 9110 section 10.2.3 plus OpenAI's ``retry-after-ms``.
"""

from __future__ import annotations

import base64
import email.utils
import re
import secrets
import struct
import time
from collections.abc import Mapping
from typing import Any

from edge.fastpath import jsonio

from .fields import CHAT_FIELDS
from .types import ChatResult, Chunk, MessagesUpstream, ModelNames, TokenCounter, ToolCallDelta, Unsupported, UpstreamErrorInfo, UpstreamRequest, Usage

__all__ = [
    "BODY_MODEL_NAMES",
    "INVALID_EVENT",
    "OPENAI_CHAT_FIELDS",
    "Translating",
    "body_snippet",
    "chat_completion",
    "embeddings_as_base64",
    "client_finish",
    "error_type_for_status",
    "event_object",
    "extra_fields",
    "json_error_body",
    "message_text",
    "new_call_id",
    "parse_arguments",
    "parse_retry_after",
    "split_data_url",
    "stop_list",
    "upstream_error",
    "usage_dict",
]

_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout",
    409: "conflict_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}

# Model names that travel in the request body (OpenAI-format servers, Anthropic, Ollama): the
# vendors' own shapes ("gpt-4o", "ft:gpt-4o-mini:org::id", "meta-llama/Llama-3.3-70B",
# "hf.co/user/repo:Q4_K_M", "claude-3-5-sonnet@20240620") are '/'-separated segments of these
# characters. A "." or ".." segment is refused too: a proxy in front of the vendor may map the
# name onto a path.
_SEGMENT = r"(?!\.\.?(?:/|$))[A-Za-z0-9._:@+~=,-]+"
BODY_MODEL_NAMES = ModelNames(
    re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})*", re.ASCII),
    "a model name here is one or more '/'-separated parts of letters, digits and . _ - : @ + ~ = , (no part may be '.' or '..')",
)

# Longest Retry-After we pass on: the OpenAI SDKs do not retry at all above 120 s
# (openai-python _base_client.py, MAX_RETRY_AFTER_DELAY).
MAX_RETRY_AFTER_S = 120.0


def error_type_for_status(status: int) -> str:
    if status in _TYPE_BY_STATUS:
        return _TYPE_BY_STATUS[status]
    return "api_error" if status >= 500 else "invalid_request_error"


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from retry-after-ms or Retry-After (seconds or HTTP date), capped."""
    if not headers:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return _cap(float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return _cap(float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return _cap(when.timestamp() - time.time())


def _cap(seconds: float) -> float | None:
    if seconds != seconds or seconds < 0:  # NaN or in the past
        return None
    return min(seconds, MAX_RETRY_AFTER_S)


def upstream_error(
    status: int,
    message: str,
    *,
    type: str | None = None,
    code: Any = None,
    param: Any = None,
    retry_after: float | None = None,
) -> UpstreamErrorInfo:
    return UpstreamErrorInfo(
        status=status,
        message=message or f"upstream returned HTTP {status}",
        type=type if isinstance(type, str) and type else error_type_for_status(status),
        code=None if code is None else str(code),
        param=None if param is None else str(param),
        retry_after=retry_after,
    )


# -- shared by the translating adapters (anthropic, gemini, ollama) ---------------------------

# Every field of OpenAI's CreateChatCompletionRequest (adapters/fields.py names the spec). A
# translating adapter reads these; any other top-level field a client sends (OpenAI SDK
# ``extra_body``) that the gateway let through (a native field of the provider's dialect, the
# mock's knobs: its kind's FIELDS) goes into the native body unchanged, so vendor features stay
# reachable.
OPENAI_CHAT_FIELDS = frozenset(CHAT_FIELDS)


def extra_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """The client's non-OpenAI top-level fields, passed to a native upstream as they are."""
    return {k: v for k, v in body.items() if k not in OPENAI_CHAT_FIELDS}


def message_text(content: Any) -> str:
    """The text of an OpenAI message ``content`` (string, or text/refusal parts joined)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join((p.text or p.refusal or "") for p in content if p.type in ("text", "refusal"))


def split_data_url(url: str) -> tuple[str, str] | None:
    """``data:<mime>;base64,<data>`` -> (mime, data); None for any other URL."""
    if not url.startswith("data:"):
        return None
    head, sep, data = url[5:].partition(",")
    if not sep or not head.endswith(";base64"):
        return None
    return head[: -len(";base64")] or "application/octet-stream", data


def stop_list(stop: Any) -> list[str] | None:
    if stop is None:
        return None
    return [stop] if isinstance(stop, str) else [s for s in stop if s]


def parse_arguments(arguments: str) -> dict[str, Any]:
    """OpenAI tool-call arguments (a JSON string) -> the object native dialects want.

    An empty string is ``{}``; text that is not a JSON object is kept under ``"arguments"``
    rather than dropped, so the model still sees what it sent.
    """
    if not arguments or not arguments.strip():
        return {}
    try:
        value = jsonio.loads(arguments)
    except jsonio.JSONDecodeError:
        return {"arguments": arguments}
    return value if isinstance(value, dict) else {"arguments": value}


def usage_dict(usage: Usage) -> dict[str, Any]:
    """Usage -> OpenAI ``CompletionUsage`` JSON (what clients and the ledger read)."""
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def client_finish(reason: str | None) -> str | None:
    """A normalized finish reason as OpenAI clients know it ("unknown" is ours alone: stop)."""
    return "stop" if reason == "unknown" else reason


def chat_completion(
    *,
    id: str,
    public_model: str,
    content: str | None,
    reasoning: str | None = None,
    refusal: str | None = None,
    tool_calls: list[ToolCallDelta] | None = None,
    finish_reason: str | None,
    usage: Usage | None,
    created: int | None = None,
    reasoning_signature: str | None = None,
) -> ChatResult:
    """A whole translated answer as an OpenAI ``chat.completion`` body (choice 0); the
    provider's signature over its reasoning as ``reasoning_signature`` (the Responses bridge
    makes it the reasoning item's ``encrypted_content``)."""
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": refusal}
    if reasoning:
        message["reasoning_content"] = reasoning
    if reasoning_signature:
        message["reasoning_signature"] = reasoning_signature
    if tool_calls:
        message["tool_calls"] = [
            {"id": tc.id, "type": "function", "function": {"name": tc.name or "", "arguments": tc.arguments or "{}"}} for tc in tool_calls
        ]
    doc: dict[str, Any] = {
        "id": id if id.startswith("chatcmpl-") else "chatcmpl-" + id,
        "object": "chat.completion",
        "created": int(time.time()) if created is None else created,
        "model": public_model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": client_finish(finish_reason)}],
    }
    if usage is not None:
        doc["usage"] = usage_dict(usage)
    return ChatResult(jsonio.dumps(doc), usage, finish_reason, doc)


def embeddings_as_base64(result: ChatResult) -> ChatResult:
    """An OpenAI embeddings answer with each float vector as ``encoding_format: base64`` gives it
    (little-endian float32, base64), for upstreams that only return floats (Gemini). Vectors
    already in base64 (an OpenAI-format upstream that honoured the field) are left alone."""
    doc = result.document()
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, list) or not any(isinstance(row, dict) and isinstance(row.get("embedding"), list) for row in data):
        return result
    rows = [dict(row, embedding=_base64_vector(row["embedding"])) if isinstance(row, dict) and isinstance(row.get("embedding"), list) else row for row in data]
    out = dict(doc, data=rows)  # a new document: the result's own is never changed
    return ChatResult(jsonio.dumps(out), result.usage, result.finish_reason, out)


def _base64_vector(vector: list[Any]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


def new_call_id() -> str:
    """A tool-call id for upstreams that give none (Gemini, Ollama); OpenAI's ``call_`` shape."""
    return "call_" + secrets.token_hex(12)


def json_error_body(body: bytes) -> Any:
    try:
        return jsonio.loads(body) if body else None
    except jsonio.JSONDecodeError:
        return None


def body_snippet(status: int, body: bytes) -> str:
    snippet = body[:200].decode("utf-8", "replace").strip()
    return f"upstream returned HTTP {status}" + (f": {snippet}" if snippet else "")


# The error code a decoder gives an event it cannot read (not JSON, cut off).
INVALID_EVENT = "upstream_invalid_event"


def event_object(data: bytes, what: str) -> dict[str, Any] | Chunk | None:
    """One stream event's JSON payload: the object; None for another JSON value (skipped); or,
    when it is not JSON at all, the error chunk that ends the stream (``what`` names the event,
    e.g. "Anthropic sent an event")."""
    try:
        doc = jsonio.loads(data)
    except jsonio.JSONDecodeError:
        return Chunk(error=upstream_error(502, f"{what} that is not JSON.", code=INVALID_EVENT))
    return doc if isinstance(doc, dict) else None


class Translating:
    """What every translating adapter (Anthropic, Gemini, Ollama) shares: no client dialect's
    bytes pass through, no second form of a refused request, no model listing."""

    passthrough: frozenset[str] = frozenset()
    native_messages: MessagesUpstream | None = None
    token_counter: TokenCounter | None = None

    def retry_request(self, body: dict[str, Any], upstream_model: str, status: int, error_body: bytes) -> UpstreamRequest | None:
        return None

    def models_request(self) -> UpstreamRequest | None:
        return None

    def parse_models(self, body: bytes) -> list[str]:
        return []

    def native_request(self, dialect: str, path: str, body: bytes, stream: bool) -> UpstreamRequest:
        raise Unsupported(f"this provider does not speak {dialect} natively")
