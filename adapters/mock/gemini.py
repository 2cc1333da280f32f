"""The mock provider's Gemini dialect: ``POST /v1beta/models/{model}:generateContent``,
``:streamGenerateContent?alt=sse`` and ``:batchEmbedContents`` (float vectors only, as Gemini).

Same knobs and model names as the OpenAI mock (openai.py, dialects.py);
shapes from shared/reference/wire-formats.md section 3. Like Gemini 3 it puts a
``thoughtSignature`` on each functionCall part and answers 400 when a later turn sends a
functionCall back without it, or a functionResponse that matches no call of the previous model
turn. A key in the URL (``?key=``) is refused: the gateway must send ``x-goog-api-key``.
Errors use the google.rpc body (429 RESOURCE_EXHAUSTED with RetryInfo); the ``error_mid_stream``
knob ends a stream with a bare pretty-printed JSON error without ``data:``, as Gemini does.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from edge.fastpath import jsonio

from .dialects import Plan, error_status, json_response, knob, pieces, plan, read_body, retry_headers, send_stream
from . import replies
from .replies import vector

__all__ = ["models"]

_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
_FINISH = {"stop": "STOP", "tool_calls": "STOP", "length": "MAX_TOKENS"}
SIGNATURE = "c2lnLWdlbWluaS1tb2Nr"


def _error_doc(status: int, message: str, retry_after: Any = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": status, "message": message, "status": _STATUS.get(status, "INTERNAL" if status >= 500 else "INVALID_ARGUMENT")}
    if retry_after is not None:
        err["details"] = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{retry_after}s"}]
    return {"error": err}


def _error(status: int, message: str, body: dict[str, Any] | None = None) -> web.Response:
    retry_after = knob(body, "retry_after") if body else None
    return json_response(_error_doc(status, message, retry_after), status, retry_headers(body) if body else None)


def _bad_key() -> web.Response:
    # What Gemini sends for a wrong key: 400 INVALID_ARGUMENT, reason API_KEY_INVALID.
    doc = _error_doc(400, "API key not valid. Please pass a valid API key.")
    doc["error"]["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com"}]
    return json_response(doc, 400)


def _as_openai(body: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    messages: list[dict[str, Any]] = []
    previous_calls: list[str] = []
    for n, content in enumerate(body.get("contents") or []):
        role = content.get("role")
        if role not in ("user", "model"):
            return None, f"* GenerateContentRequest.contents[{n}].role: must be user or model"
        texts, calls = [], []
        for m, part in enumerate(content.get("parts") or []):
            if "text" in part:
                texts.append(part["text"])
            elif "functionCall" in part:
                calls.append(part["functionCall"].get("name"))
                if role == "model" and not calls[1:] and not part.get("thoughtSignature"):
                    return None, f"Function call is missing a thought_signature in functionCall parts. contents[{n}].parts[{m}]"
            elif "functionResponse" in part and part["functionResponse"].get("name") not in previous_calls:
                return None, f"contents[{n}].parts[{m}].functionResponse: name does not match a function call of the previous turn"
        previous_calls = calls if role == "model" else []
        messages.append({"role": "user" if role == "user" else "assistant", "content": " ".join(texts)})
    if not messages:
        return None, "* GenerateContentRequest.contents: contents is not specified"
    gen = body.get("generationConfig") or {}
    out: dict[str, Any] = {"messages": messages, "max_tokens": gen.get("maxOutputTokens"), "stop": gen.get("stopSequences") or []}
    decls = [d for tool in body.get("tools") or [] for d in tool.get("functionDeclarations") or []]
    if decls:
        out["tools"] = [{"type": "function", "function": {"name": d.get("name"), "parameters": d.get("parametersJsonSchema") or d.get("parameters")}} for d in decls]
    if gen.get("responseMimeType") == "application/json":
        schema = gen.get("responseJsonSchema") or gen.get("responseSchema")
        out["response_format"] = {"type": "json_schema", "json_schema": {"name": "output", "schema": schema}} if schema else {"type": "json_object"}
    if "mock" in body:
        out["mock"] = body["mock"]
    return out, None


async def _embed(request: web.Request) -> web.Response:
    """batchEmbedContents: one ``values`` vector per request (floats only, as Gemini answers)."""
    body, failure = await read_body(request, "x-goog-api-key", _bad_key)
    if failure is not None:
        return failure
    assert body is not None
    out = []
    for one in body.get("requests") or []:
        text = " ".join(str(p.get("text", "")) for p in ((one.get("content") or {}).get("parts") or []))
        dims = one.get("outputDimensionality")
        out.append({"values": vector(text, dims if isinstance(dims, int) and 0 < dims <= 65536 else 8)})
    return json_response({"embeddings": out})


async def _count(request: web.Request, model: str) -> web.StreamResponse:
    """countTokens: the promptTokenCount generateContent would report for the same request."""
    body, failure = await read_body(request, "x-goog-api-key", _bad_key)
    if failure is not None:
        return failure
    assert body is not None
    inner = body.get("generateContentRequest")
    openai_body, problem = _as_openai(inner if isinstance(inner, dict) else body)
    if problem is not None or openai_body is None:
        return _error(400, problem or "invalid request")
    return json_response({"totalTokens": replies.prompt_tokens(openai_body)})


async def models(request: web.Request) -> web.StreamResponse:
    model, _, method = request.match_info["tail"].partition(":")
    if method == "batchEmbedContents":
        return await _embed(request)
    if method == "countTokens":
        return await _count(request, model)
    if method not in ("generateContent", "streamGenerateContent"):
        return _error(404, f"method {method!r} not found")
    if "key" in request.query:
        return _error(400, "the mock refuses API keys in the URL; send x-goog-api-key")
    body, failure = await read_body(request, "x-goog-api-key", _bad_key)
    if failure is not None:
        return failure if failure.status != 400 or failure.content_type == "application/json" else _error(400, "Invalid JSON payload received.")
    assert body is not None
    status = error_status(body, model)
    if status is not None:
        return _error(status, f"mock upstream error {status}" if status != 404 else f"models/{model} is not found for API version v1beta", body)
    openai_body, problem = _as_openai(body)
    if problem is not None or openai_body is None:
        return _error(400, problem or "invalid request")
    thinking = bool(((body.get("generationConfig") or {}).get("thinkingConfig") or {}).get("includeThoughts"))
    p = plan(request, openai_body, model, thinking)
    if method == "generateContent":
        parts = ([{"text": p.reasoning, "thought": True}] if p.reasoning else []) + _answer_parts(p)
        return json_response(_response(p, model, parts, True))
    if request.query.get("alt") != "sse":
        return _error(400, "the mock streams only with ?alt=sse")
    frames = []
    if p.reasoning:
        frames.append(_sse(_response(p, model, [{"text": p.reasoning, "thought": True}], False)))
    if p.tool_calls:
        frames.append(_sse(_response(p, model, _answer_parts(p), False)))
    else:
        frames.extend(_sse(_response(p, model, [{"text": piece}], False)) for piece in pieces((p.text or "").split(" ")))
    if knob(body, "error_mid_stream"):
        frames.append(jsonio.dumps(_error_doc(503, "The model is overloaded. Please try again later.")).replace(b",", b",\n  ") + b"\n")
    else:
        frames.append(_sse(_response(p, model, [{"text": ""}], True)))
    return await send_stream(request, body, frames, "text/event-stream")


def _answer_parts(p: Plan) -> list[dict[str, Any]]:
    if p.tool_calls:
        return [{"functionCall": {"name": c["function"]["name"], "args": jsonio.loads(c["function"]["arguments"])}, "thoughtSignature": SIGNATURE} for c in p.tool_calls]
    return [{"text": p.text or ""}]


def _response(p: Plan, model: str, parts: list[dict[str, Any]], final: bool) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if final:
        candidate["finishReason"] = _FINISH[p.finish]
    doc: dict[str, Any] = {"candidates": [candidate], "modelVersion": model, "responseId": f"mock-{p.prompt_tokens}-{len(p.words)}"}
    if p.usage:
        thoughts = 4 if p.reasoning else 0
        usage: dict[str, Any] = {"promptTokenCount": p.prompt_tokens, "totalTokenCount": p.prompt_tokens + p.completion_tokens}
        if final:
            usage["candidatesTokenCount"] = p.completion_tokens - thoughts
        if thoughts:
            usage["thoughtsTokenCount"] = thoughts
        if p.cached_tokens:
            usage["cachedContentTokenCount"] = p.cached_tokens
        doc["usageMetadata"] = usage
    return doc


def _sse(doc: dict[str, Any]) -> bytes:
    return b"data: " + jsonio.dumps(doc) + b"\r\n\r\n"
