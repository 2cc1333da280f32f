"""The Ollama native chat adapter (``POST /api/chat``, NDJSON streams).

Wire format: shared/reference/wire-formats.md section 4.1 and the cheat-sheet in section 6.
(Ollama's ``/v1`` OpenAI layer is a config row for the ``openai`` kind; this module is for the
native API, which reports reasoning and counts that the /v1 layer hides or reshapes.)

- Messages keep their roles (system, user, assistant, tool); ``developer`` is sent as ``system``.
  Images must be base64 (``images``); Ollama cannot fetch a URL, so http(s) images are refused
  with a 400 rather than silently dropped. Tool results carry ``tool_name``.
- Tool calls come back whole, ``arguments`` a JSON object; the gateway makes the ids Ollama
  does not give. ``done_reason`` "stop" with tool calls is ``tool_calls``.
- ``response_format`` json_schema -> ``format: <schema>``; json_object -> ``format: "json"``.
- Sampling options go in ``options`` (temperature, top_p, num_predict, stop, seed, penalties).
- ``reasoning_effort`` -> ``think`` ("none" -> false, levels passed as strings).
- ``tool_choice``: Ollama has none. "auto" is its own way; "none" leaves the tools out;
  "required" and a named function cannot be honoured (Ollama cannot force a call): FIELDS
  refuses them, and with drop_params the tools go out as with "auto".
- What each request field becomes, or why it is refused or ignored, is the table ``FIELDS``
  (adapters/fields.py), which the gateway enforces before the call.
- Usage: prompt_eval_count / eval_count, both omitted by Ollama when zero (read as 0).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edge.fastpath import jsonio
from edge.fastpath.sse import SSEError

from ._common import (
    BODY_MODEL_NAMES,
    event_object,
    Translating,
    body_snippet,
    chat_completion,
    extra_fields,
    json_error_body,
    message_text,
    new_call_id,
    parse_arguments,
    parse_retry_after,
    split_data_url,
    stop_list,
    upstream_error,
)
from ._fields_common import CUSTOM_TOOLS, OTHER_CHOICES, has_tools, is_false, translating_rules
from .fields import FieldTable, ignored, translated, when
from .schema import ChatRequest, Message
from .kinds import NoOptions, ProviderKind
from .types import ChatResult, Chunk, FinishReason, ToolCallDelta, Unsupported, UpstreamErrorInfo, UpstreamRequest, Usage

__all__ = ["FIELDS", "KIND", "PROVIDER", "OllamaAdapter", "OllamaStreamDecoder"]

PROVIDER = "ollama"


def _n(value: Any) -> int:
    return value if isinstance(value, int) and value > 0 else 0


def usage_from_ollama(doc: Mapping[str, Any]) -> Usage:
    return Usage(prompt_tokens=_n(doc.get("prompt_eval_count")), completion_tokens=_n(doc.get("eval_count")))


def finish_reason_for(done_reason: Any, has_tool_calls: bool) -> FinishReason:
    if done_reason == "length":
        return "length"
    if done_reason in ("stop", None, ""):
        return "tool_calls" if has_tool_calls else "stop"
    return "unknown"  # "load", "unload", or something newer


def _calls(raw: Any, first_index: int) -> list[ToolCallDelta]:
    out = []
    for offset, call in enumerate(raw if isinstance(raw, list) else ()):
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict):
            continue
        args = fn.get("arguments")
        text = args if isinstance(args, str) else jsonio.dumps(args if args is not None else {}).decode()
        out.append(ToolCallDelta(first_index + offset, str(call.get("id") or new_call_id()), str(fn.get("name") or ""), text))
    return out


class OllamaAdapter(Translating):
    kind = PROVIDER
    model_names = BODY_MODEL_NAMES  # the model travels in the body

    def __init__(self, base_url: str, api_key: str | None = None, headers: Mapping[str, str] | None = None) -> None:
        base = (base_url or "http://localhost:11434").rstrip("/")
        if base.endswith("/api"):
            base = base[:-4]
        self._url = base + "/api/chat"
        self._headers = {"content-type": "application/json", "accept": "application/json"}
        if headers:
            self._headers.update({k.lower(): v for k, v in headers.items()})
        if api_key:  # Ollama's cloud (ollama.com) takes a bearer key; a local server ignores it
            self._headers["authorization"] = "Bearer " + api_key
        self._stream_headers = dict(self._headers, accept="application/x-ndjson")

    def chat_request(self, body: dict[str, Any], upstream_model: str, stream: bool) -> UpstreamRequest:
        chat = jsonio.convert(body, ChatRequest, strict=False)
        out = self.translate(chat, upstream_model)
        out.update(extra_fields(body))
        out["stream"] = stream  # Ollama streams unless told otherwise
        return UpstreamRequest("POST", self._url, self._stream_headers if stream else self._headers, jsonio.dumps(out))

    def translate(self, chat: ChatRequest, upstream_model: str) -> dict[str, Any]:
        if chat.n is not None and chat.n > 1:
            raise Unsupported("Ollama returns one choice per request; 'n' must be 1.")
        names: dict[str, str] = {}
        out: dict[str, Any] = {"model": upstream_model, "messages": [_message(m, names) for m in chat.messages]}
        tools: list[dict[str, Any]] = [{"type": "function", "function": _function(t.function)} for t in chat.tools or () if t.function is not None]
        if tools and chat.tool_choice != "none":
            out["tools"] = tools
        fmt = chat.response_format
        if fmt is not None and fmt.type == "json_schema" and fmt.json_schema is not None:
            out["format"] = fmt.json_schema.schema or "json"
        elif fmt is not None and fmt.type == "json_object":
            out["format"] = "json"
        options: dict[str, Any] = {}
        for key, value in (
            ("temperature", chat.temperature),
            ("top_p", chat.top_p),
            ("num_predict", chat.max_completion_tokens or chat.max_tokens),
            ("stop", stop_list(chat.stop) or None),
            ("seed", chat.seed),
            ("presence_penalty", chat.presence_penalty),
            ("frequency_penalty", chat.frequency_penalty),
        ):
            if value is not None:
                options[key] = value
        if options:
            out["options"] = options
        if chat.reasoning_effort:
            out["think"] = False if chat.reasoning_effort in ("none", "minimal") else chat.reasoning_effort
        return out

    def parse_chat(self, body: bytes, public_model: str) -> ChatResult:
        doc = jsonio.loads(body)
        if not isinstance(doc, dict) or not isinstance(doc.get("message"), dict):
            raise ValueError("upstream response is not an Ollama chat response")
        message = doc["message"]
        calls = _calls(message.get("tool_calls"), 0)
        content = message.get("content")
        return chat_completion(
            id=new_call_id().replace("call_", "ollama-"),
            public_model=public_model,
            content=str(content) if content or not calls else None,
            reasoning=str(message.get("thinking") or "") or None,
            tool_calls=calls,
            finish_reason=finish_reason_for(doc.get("done_reason"), bool(calls)),
            usage=usage_from_ollama(doc),
        )

    def stream_decoder(self) -> OllamaStreamDecoder:
        return OllamaStreamDecoder()

    def embeddings_request(self, body: dict[str, Any], upstream_model: str) -> UpstreamRequest:
        raise Unsupported("embeddings through the native Ollama adapter are not supported; configure Ollama's /v1 as an 'openai' provider.")

    def parse_embeddings(self, body: bytes, public_model: str) -> ChatResult:
        raise Unsupported("embeddings through the native Ollama adapter are not supported.")

    def parse_error(self, status: int, headers: Mapping[str, str] | None, body: bytes) -> UpstreamErrorInfo:
        retry_after = parse_retry_after(headers)
        doc = json_error_body(body)
        err = doc.get("error") if isinstance(doc, dict) else None
        if isinstance(err, str):
            return error_info(status, err, retry_after)
        return upstream_error(status, body_snippet(status, body), retry_after=retry_after)


def error_info(status: int, message: str, retry_after: float | None) -> UpstreamErrorInfo:
    code = "model_not_found" if status == 404 and "not found" in message else None
    return upstream_error(status, message, code=code, retry_after=retry_after)


class OllamaStreamDecoder:
    """NDJSON lines in any split -> normalized chunks; ``done: true`` is the proper end."""

    # As edge.fastpath.sse: a longer line is an upstream fault (SSEError -> 502), not a buffer.
    MAX_LINE_BYTES = 16 * 1024 * 1024

    def __init__(self) -> None:
        # Pieces of the unterminated line, joined only when its end arrives (never re-copied
        # per feed, which made a long line quadratic).
        self._held: list[bytes] = []
        self._held_bytes = 0
        self._tools = 0
        self.done = False

    def feed(self, data: bytes) -> list[Chunk]:
        if self.done:
            return []
        if b"\n" not in data:
            self._held.append(data)
            self._held_bytes += len(data)
            self._check()
            return []
        lines = (b"".join(self._held) + data).split(b"\n")
        last = lines.pop()
        self._held, self._held_bytes = [last], len(last)
        self._check()
        out: list[Chunk] = []
        for line in lines:
            self._line(line, out)
        return out

    def flush(self) -> list[Chunk]:
        out: list[Chunk] = []
        line = b"".join(self._held)
        self._held, self._held_bytes = [], 0
        if line and not self.done:
            self._line(line, out)
        return out

    def _check(self) -> None:
        if self._held_bytes > self.MAX_LINE_BYTES:
            raise SSEError(f"Ollama stream line exceeds {self.MAX_LINE_BYTES} bytes without a line break")

    def _line(self, line: bytes, out: list[Chunk]) -> None:
        if self.done or not line.strip():
            return
        doc = event_object(line, "Ollama sent a line")
        if isinstance(doc, Chunk):
            out.append(doc)
            self.done = True
            return
        if doc is None:
            return
        if isinstance(doc.get("error"), str):  # a mid-stream error keeps HTTP 200
            out.append(Chunk(error=error_info(500, doc["error"], None)))
            self.done = True
            return
        message = doc.get("message")
        if not isinstance(message, dict):
            message = {}
        if message.get("thinking"):
            out.append(Chunk(reasoning=str(message["thinking"])))
        if message.get("content"):
            out.append(Chunk(content=str(message["content"])))
        calls = _calls(message.get("tool_calls"), self._tools)
        if calls:
            self._tools += len(calls)
            out.append(Chunk(tool_calls=calls))
        if doc.get("done"):
            self.done = True
            out.append(Chunk(finish_reason=finish_reason_for(doc.get("done_reason"), self._tools > 0), usage=usage_from_ollama(doc)))


def _function(fn: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": fn.name, "parameters": fn.parameters or {"type": "object", "properties": {}}}
    if fn.description:
        out["description"] = fn.description
    return out


def _message(message: Message, names: dict[str, str]) -> dict[str, Any]:
    role = "system" if message.role == "developer" else message.role
    if role == "function":
        raise Unsupported("the deprecated 'function' role is not supported; use tools.")
    out: dict[str, Any] = {"role": role, "content": message_text(message.content)}
    if isinstance(message.content, list):
        images = []
        for part in message.content:
            if part.type == "image_url" and part.image_url is not None:
                inline = split_data_url(part.image_url.url)
                if inline is None:
                    raise Unsupported("Ollama takes images as base64 data URLs only, not links.")
                images.append(inline[1])
            elif part.type not in ("text", "refusal"):
                raise Unsupported(f"content part of type {part.type!r} is not supported by Ollama.")
        if images:
            out["images"] = images
    if message.role == "assistant" and message.tool_calls:
        out["tool_calls"] = []
        for call in message.tool_calls:
            names[call.id] = call.function.name
            out["tool_calls"].append({"function": {"name": call.function.name, "arguments": parse_arguments(call.function.arguments)}})
    if message.role == "assistant" and message.reasoning_content:
        out["thinking"] = message.reasoning_content
    if message.role == "tool" and message.tool_call_id in names:
        out["tool_name"] = names[message.tool_call_id]
    return out




_NO_END_USER = "an end-user id for OpenAI's abuse monitoring; Ollama has no such field"


def _forced(value: Any, body: Mapping[str, Any]) -> bool:
    return value == "required" or (isinstance(value, dict) and value.get("type", "function") == "function" and isinstance(value.get("function"), dict))


# What each chat request field becomes in /api/chat (adapters/fields.py).
FIELDS = FieldTable(
    {
        **translating_rules("Ollama"),
        "model": translated("model"),
        "messages": translated("messages", "developer -> system; images as base64"),
        "stream": translated("stream"),
        "max_tokens": translated("options.num_predict"),
        "max_completion_tokens": translated("options.num_predict", "wins over max_tokens"),
        "stop": translated("options.stop"),
        "temperature": translated("options.temperature"),
        "top_p": translated("options.top_p"),
        "seed": translated("options.seed"),
        "frequency_penalty": translated("options.frequency_penalty"),
        "presence_penalty": translated("options.presence_penalty"),
        "user": ignored(_NO_END_USER),
        "safety_identifier": ignored(_NO_END_USER),
        "reasoning_effort": translated("think", "none, minimal -> false; levels as strings"),
        "response_format": translated(
            "format",
            "json_schema -> the schema; json_object -> \"json\"",
            when("text", lambda v, b: isinstance(v, dict) and v.get("type") == "text", "translated"),
        ),
        "tools": translated("tools", "", CUSTOM_TOOLS),
        "tool_choice": translated(
            None,
            "auto: Ollama's own way; none: the tools are left out",
            when("required, a named function", _forced, "refused", note="Ollama cannot force a tool call"),
            OTHER_CHOICES,
        ),
        "parallel_tool_calls": translated(
            None, "true: Ollama may call several functions at once", when("false with tools", lambda v, b: is_false(v, b) and has_tools(v, b), "refused", note="Ollama cannot be held to one call at a time")
        ),
    },
    native=frozenset(("options", "keep_alive", "think", "format")),
)


def _build(base_url: str, api_key: str | None, headers: Mapping[str, str], options: NoOptions) -> OllamaAdapter:
    return OllamaAdapter(base_url, api_key, headers)

KIND = ProviderKind(
    name=PROVIDER,
    build=_build,
    fields=FIELDS,
    capabilities=frozenset(("chat", "stream", "tools", "vision", "json_schema", "reasoning")),
    summary="Ollama's native /api/chat, translated (for embeddings, configure its /v1 as an openai provider)",
)
