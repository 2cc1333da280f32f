"""The Anthropic Messages API adapter: OpenAI chat requests in, Claude's native dialect upstream.

Wire format: shared/reference/wire-formats.md section 2 (request 2.2, response 2.3, SSE 2.4, errors
2.5) and the translation cheat-sheet in section 6, which this module follows:

- ``system`` and ``developer`` messages are hoisted into ``system`` (text blocks, in order);
  user/assistant/tool turns become content blocks; consecutive tool results (and any user text
  right after them) are merged into one user turn, as the API requires alternating turns.
- Images: data URLs become ``base64`` sources, http(s) URLs ``url`` sources.
- ``tool_choice``: auto -> auto, required -> any, none -> none, a named function -> tool;
  ``parallel_tool_calls: false`` -> ``disable_parallel_tool_use: true``.
- ``response_format`` json_schema -> ``output_config.format`` (Anthropic structured outputs; the
  answer comes back as ordinary text content). ``json_object`` has no native slot, so a system
  line asks for a bare JSON object.
- ``max_tokens`` is required by Anthropic: the client's max_completion_tokens / max_tokens, else
  ``default_max_tokens`` (4096 unless the provider is built with another value).
- ``reasoning_effort`` -> ``thinking`` with a budget from ``thinking_budgets``; thinking forbids
  a custom temperature, so temperature/top_p with a reasoning effort are refused (FIELDS).
- ``user`` / ``safety_identifier`` (which wins) -> ``metadata.user_id``, Anthropic's end-user id.
- Prompt caching: a content part's ``cache_control`` (``{"type": "ephemeral", "ttl": "5m" |
  "1h"}``, the OpenRouter/LiteLLM convention) or ``prompt_cache_breakpoint`` -> ``cache_control``
  on the block it ends; a tool's ``cache_control`` -> the tool's. The API takes at most
  ``MAX_BREAKPOINTS`` (4) per request: more is refused before the call, naming the limit.
- What each request field becomes, or why it is refused or ignored, is the table ``FIELDS``
  (adapters/fields.py), which the gateway enforces before the call.
- ``temperature`` above 1 is capped at 1 (Anthropic's range is 0..1, OpenAI's 0..2), as
  Anthropic's own OpenAI layer does (section 2.6).
- stop_reason: end_turn/stop_sequence -> stop, max_tokens/model_context_window_exceeded ->
  length, tool_use -> tool_calls, refusal -> content_filter. ``pause_turn`` (a paused
  server-tool turn, which a stateless OpenAI client cannot resume) is reported as ``stop``.
- usage: prompt_tokens = input + cache_creation + cache_read; cached_tokens = cache_read.
- Server-side tool blocks (``server_tool_use``, ``*_tool_result``) run at Anthropic; they are
  not client tool calls and are not shown. Thinking text goes to ``reasoning_content`` and its
  signature to ``reasoning_signature`` (whole answers; streams carry ``signature_delta``); an
  assistant turn's ``reasoning_signature`` (a Responses reasoning item's ``encrypted_content``,
  carried by the bridge) goes back as that turn's signed ``thinking`` block.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from msgspec import Meta, Struct

from edge.fastpath import jsonio

from ._anthropic_cache import MAX_BREAKPOINTS, cached, check_breakpoints, hint, last_mark, mark, system_blocks
from ._anthropic_native import AnthropicNative
from ._anthropic_stream import AnthropicStreamDecoder, error_info, finish_reason_for, usage_from_anthropic
from ._common import (
    BODY_MODEL_NAMES,
    Translating,
    body_snippet,
    chat_completion,
    extra_fields,
    json_error_body,
    message_text,
    parse_arguments,
    parse_retry_after,
    split_data_url,
    stop_list,
    upstream_error,
)
from ._fields_common import CUSTOM_TOOLS, OTHER_CHOICES, is_zero, translating_rules
from .fields import CACHE_BREAKPOINT, CACHE_CONTROL, TOOL_CACHE_CONTROL, FieldTable, refused, translated, when
from .schema import ChatRequest, ContentPart, Message
from .kinds import ProviderKind
from .types import ANTHROPIC_MESSAGES, ChatResult, ToolCallDelta, Unsupported, UpstreamErrorInfo, UpstreamRequest

__all__ = ["FIELDS", "KIND", "API_VERSION", "DEFAULT_MAX_TOKENS", "MAX_BREAKPOINTS", "PROVIDER", "AnthropicAdapter", "AnthropicStreamDecoder"]

PROVIDER = "anthropic"
API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
# "You can define up to 4 cache breakpoints" (Anthropic, prompt caching); a fifth is a 400 there.
DEFAULT_THINKING_BUDGETS: Mapping[str, int] = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 24576}

class AnthropicAdapter(Translating):
    kind = PROVIDER
    model_names = BODY_MODEL_NAMES  # the model travels in the body
    # A Messages API client's bytes pass through (adapters/_anthropic_native.py).
    passthrough = frozenset((ANTHROPIC_MESSAGES,))

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        default_max_tokens: int = DEFAULT_MAX_TOKENS,
        thinking_budgets: Mapping[str, int] | None = None,
    ) -> None:
        base = (base_url or "https://api.anthropic.com").rstrip("/")
        self._url = base + ("/messages" if base.endswith("/v1") else "/v1/messages")
        self._headers = {"content-type": "application/json", "accept": "application/json", "anthropic-version": API_VERSION}
        if headers:
            self._headers.update({k.lower(): v for k, v in headers.items()})
        if api_key:
            self._headers["x-api-key"] = api_key
        self._stream_headers = dict(self._headers, accept="text/event-stream")
        fixed = {k.lower(): v for k, v in (headers or {}).items()}
        if api_key:
            fixed["x-api-key"] = api_key
        self.native_messages = AnthropicNative(self._url, {"content-type": "application/json", "anthropic-version": API_VERSION}, fixed)
        self.default_max_tokens = default_max_tokens
        self.thinking_budgets = dict(DEFAULT_THINKING_BUDGETS if thinking_budgets is None else thinking_budgets)

    # -- request ------------------------------------------------------------------------

    def chat_request(self, body: dict[str, Any], upstream_model: str, stream: bool) -> UpstreamRequest:
        chat = jsonio.convert(body, ChatRequest, strict=False)
        out = self.translate(chat, upstream_model)
        out.update(extra_fields(body))
        if stream:
            out["stream"] = True
        return UpstreamRequest("POST", self._url, self._stream_headers if stream else self._headers, jsonio.dumps(out))

    def translate(self, chat: ChatRequest, upstream_model: str) -> dict[str, Any]:
        """The Messages API body for an OpenAI chat request (without ``stream``)."""
        if chat.n is not None and chat.n > 1:
            raise Unsupported("Anthropic returns one choice per request; 'n' must be 1.")
        system: list[dict[str, Any]] = []
        turns: list[dict[str, Any]] = []
        for message in chat.messages:
            if message.role in ("system", "developer"):
                system.extend(system_blocks(message.content))
                continue
            role, blocks = _blocks(message)
            if not blocks:
                continue
            if turns and turns[-1]["role"] == role:
                turns[-1]["content"].extend(blocks)
            else:
                turns.append({"role": role, "content": blocks})
        out: dict[str, Any] = {"model": upstream_model, "max_tokens": chat.max_completion_tokens or chat.max_tokens or self.default_max_tokens}
        fmt = chat.response_format
        if fmt is not None and fmt.type == "json_schema" and fmt.json_schema is not None:
            out["output_config"] = {"format": {"type": "json_schema", "schema": fmt.json_schema.schema or {"type": "object"}}}
        elif fmt is not None and fmt.type == "json_object":
            system.append({"type": "text", "text": "Respond with one JSON object and nothing else."})
        if system:
            out["system"] = system
        for turn in turns:  # a lone text block is sent as a plain string, as the SDKs send it
            blocks = turn["content"]
            if len(blocks) == 1 and blocks[0]["type"] == "text" and len(blocks[0]) == 2:
                turn["content"] = blocks[0]["text"]
        out["messages"] = turns
        stops = stop_list(chat.stop)
        if stops:
            out["stop_sequences"] = stops
        thinking = self._thinking(chat.reasoning_effort)
        if thinking is not None:
            out["thinking"] = thinking
            if thinking.get("type") == "enabled" and out["max_tokens"] <= thinking["budget_tokens"]:
                out["max_tokens"] = thinking["budget_tokens"] + out["max_tokens"]
        if thinking is None or thinking.get("type") != "enabled":  # FIELDS refuses them with thinking
            if chat.temperature is not None:
                out["temperature"] = min(chat.temperature, 1.0)
            if chat.top_p is not None:
                out["top_p"] = chat.top_p
        user = chat.safety_identifier or chat.user
        if user:
            out["metadata"] = {"user_id": user}
        tools = [_tool(t) for t in chat.tools or () if t.function is not None]
        choice = _tool_choice(chat.tool_choice, chat.parallel_tool_calls)
        if tools:
            out["tools"] = tools
            if choice is not None:
                out["tool_choice"] = choice
        check_breakpoints(out)
        return out

    def _thinking(self, effort: str | None) -> dict[str, Any] | None:
        if not effort:
            return None
        if effort == "none":
            return {"type": "disabled"}
        budget = self.thinking_budgets.get(effort)
        if budget is None:
            raise Unsupported(f"reasoning_effort {effort!r} has no thinking budget for this provider; use one of {sorted(self.thinking_budgets)}.")
        return {"type": "enabled", "budget_tokens": budget}

    # -- responses ------------------------------------------------------------------------

    def parse_chat(self, body: bytes, public_model: str) -> ChatResult:
        doc = jsonio.loads(body)
        if not isinstance(doc, dict) or not isinstance(doc.get("content"), list):
            raise ValueError("upstream response is not an Anthropic message")
        text: list[str] = []
        thinking: list[str] = []
        signature: str | None = None
        calls: list[ToolCallDelta] = []
        for block in doc["content"]:
            if not isinstance(block, dict):
                continue
            kind = block.get("type")
            if kind == "text":
                text.append(str(block.get("text") or ""))
            elif kind == "thinking":
                thinking.append(str(block.get("thinking") or ""))
                if isinstance(block.get("signature"), str) and block["signature"]:
                    signature = block["signature"]  # the last block's: it signs the thinking up to it
            elif kind == "tool_use":
                args = block.get("input")
                calls.append(ToolCallDelta(len(calls), str(block.get("id") or ""), str(block.get("name") or ""), jsonio.dumps(args if args is not None else {}).decode()))
        finish = finish_reason_for(doc.get("stop_reason"))
        refusal = _refusal_text(doc.get("stop_details")) if doc.get("stop_reason") == "refusal" else None
        return chat_completion(
            id=str(doc.get("id") or "msg"),
            public_model=public_model,
            content="".join(text) if text or not calls else None,
            reasoning="".join(thinking) or None,
            reasoning_signature=signature,
            refusal=refusal,
            tool_calls=calls,
            finish_reason=finish,
            usage=usage_from_anthropic(doc.get("usage")),
        )

    def stream_decoder(self) -> AnthropicStreamDecoder:
        return AnthropicStreamDecoder()

    def embeddings_request(self, body: dict[str, Any], upstream_model: str) -> UpstreamRequest:
        raise Unsupported("Anthropic has no embeddings endpoint.")

    def parse_embeddings(self, body: bytes, public_model: str) -> ChatResult:
        raise Unsupported("Anthropic has no embeddings endpoint.")

    def parse_error(self, status: int, headers: Mapping[str, str] | None, body: bytes) -> UpstreamErrorInfo:
        retry_after = parse_retry_after(headers)
        doc = json_error_body(body)
        err = doc.get("error") if isinstance(doc, dict) else None
        if isinstance(err, dict):
            return error_info(status, err, retry_after)
        return upstream_error(503 if status == 529 else status, body_snippet(status, body), retry_after=retry_after)


def _refusal_text(details: Any) -> str | None:
    if isinstance(details, dict):
        text = details.get("explanation") or details.get("category")
        return str(text) if text else "refused"
    return "refused"


def _blocks(message: Message) -> tuple[str, list[dict[str, Any]]]:
    """One OpenAI message -> (Anthropic role, content blocks)."""
    if message.role == "tool":
        content = message.content
        result: Any = content if isinstance(content, str) or content is None else [_part(p) for p in content]
        block: dict[str, Any] = {"type": "tool_result", "tool_use_id": message.tool_call_id or "", "content": result if result is not None else ""}
        return "user", [block]
    if message.role == "assistant":
        blocks: list[dict[str, Any]] = []
        if message.reasoning_signature:
            # Extended thinking with tools needs the turn's thinking block back, signed.
            blocks.append({"type": "thinking", "thinking": message.reasoning_content or "", "signature": message.reasoning_signature})
        text = message_text(message.content)
        if text:
            blocks.append(cached({"type": "text", "text": text}, last_mark(message.content)))
        for call in message.tool_calls or ():
            blocks.append({"type": "tool_use", "id": call.id, "name": call.function.name, "input": parse_arguments(call.function.arguments)})
        return "assistant", blocks
    if message.role == "function":
        raise Unsupported("the deprecated 'function' role is not supported; use tools.")
    content = message.content
    if isinstance(content, str):
        return "user", [{"type": "text", "text": content}] if content else []
    return "user", [_part(p) for p in content or ()]


def _part(part: ContentPart) -> dict[str, Any]:
    return cached(_block(part), mark(part))


def _block(part: ContentPart) -> dict[str, Any]:
    if part.type == "text":
        return {"type": "text", "text": part.text or ""}
    if part.type == "image_url" and part.image_url is not None:
        url = part.image_url.url
        inline = split_data_url(url)
        if inline is not None:
            return {"type": "image", "source": {"type": "base64", "media_type": inline[0], "data": inline[1]}}
        return {"type": "image", "source": {"type": "url", "url": url}}
    if part.type == "file" and part.file and isinstance(part.file.get("file_data"), str):
        inline = split_data_url(part.file["file_data"])
        if inline is not None and inline[0] == "application/pdf":
            return {"type": "document", "source": {"type": "base64", "media_type": inline[0], "data": inline[1]}}
    raise Unsupported(f"content part of type {part.type!r} is not supported by Anthropic.")


def _tool(tool: Any) -> dict[str, Any]:
    fn = tool.function
    out: dict[str, Any] = {"name": fn.name, "input_schema": fn.parameters or {"type": "object", "properties": {}}}
    if fn.description:
        out["description"] = fn.description
    if fn.strict:
        out["strict"] = True
    if tool.cache_control is not None:
        out["cache_control"] = hint(tool.cache_control)
    return out


def _tool_choice(choice: Any, parallel: bool | None) -> dict[str, Any] | None:
    out: dict[str, Any] | None
    if choice is None:
        out = None if parallel is not False else {"type": "auto"}
    elif choice == "auto":
        out = {"type": "auto"}
    elif choice == "required":
        out = {"type": "any"}
    elif choice == "none":
        return {"type": "none"}
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict) and choice["function"].get("name"):
        out = {"type": "tool", "name": choice["function"]["name"]}
    else:
        raise Unsupported(f"tool_choice {choice!r} is not supported by Anthropic.")
    if out is not None and parallel is False:
        out["disable_parallel_tool_use"] = True
    return out


class AnthropicOptions(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The anthropic kind's own provider options."""

    # max_tokens to send when the client sets none (the Messages API requires it).
    default_max_tokens: Annotated[int, Meta(ge=1)] = DEFAULT_MAX_TOKENS
    # reasoning_effort (minimal/low/medium/high) -> thinking budget tokens.
    thinking_budgets: dict[str, Annotated[int, Meta(ge=0)]] | None = None

def _thinks(value: Any, body: Mapping[str, Any]) -> bool:
    return body.get("reasoning_effort") not in (None, "none")


_WITH_THINKING = when("with reasoning_effort", _thinks, "refused", note="Anthropic's extended thinking takes no custom temperature or top_p")

# What each chat request field becomes in the Messages API (adapters/fields.py).
FIELDS = FieldTable(
    {
        **translating_rules("Anthropic"),
        "model": translated("model"),
        "messages": translated("messages", "system/developer hoisted into system; tool results merged into user turns"),
        "stream": translated("stream"),
        "max_tokens": translated("max_tokens"),
        "max_completion_tokens": translated("max_tokens", "wins over max_tokens; default_max_tokens when neither is sent"),
        "stop": translated("stop_sequences"),
        "temperature": translated("temperature", "above 1 is sent as 1 (Anthropic's range is 0..1)", _WITH_THINKING),
        "top_p": translated("top_p", "", _WITH_THINKING),
        "seed": refused("Anthropic has no seed"),
        "frequency_penalty": refused("Anthropic has no frequency penalty", when("0", is_zero, "translated")),
        "presence_penalty": refused("Anthropic has no presence penalty", when("0", is_zero, "translated")),
        "user": translated("metadata.user_id", "Anthropic's end-user id (safety_identifier wins)"),
        "safety_identifier": translated("metadata.user_id", "Anthropic's end-user id"),
        "reasoning_effort": translated("thinking", "a budget from thinking_budgets; none: thinking disabled"),
        "response_format": translated(
            "output_config.format",
            "json_schema: structured outputs; json_object: a system instruction",
            when("json_object", lambda v, b: isinstance(v, dict) and v.get("type") == "json_object", "translated", "system"),
            when("text", lambda v, b: isinstance(v, dict) and v.get("type") == "text", "translated"),
        ),
        "tools": translated("tools", "functions -> tools with input_schema", CUSTOM_TOOLS),
        "tool_choice": translated("tool_choice", "auto, none; required -> any; a named function -> tool", OTHER_CHOICES),
        "parallel_tool_calls": translated(
            "tool_choice.disable_parallel_tool_use", "false -> disable_parallel_tool_use", when("true, or no tools", lambda v, b: v is True or not b.get("tools"), "translated")
        ),
        CACHE_BREAKPOINT: translated("messages[].content[].cache_control", "cache_control ephemeral on the block it ends (system blocks too)"),
        CACHE_CONTROL: translated("messages[].content[].cache_control", "on the block it ends (system blocks too), ttl kept; at most 4 breakpoints, more is refused"),
        TOOL_CACHE_CONTROL: translated("tools[].cache_control", "on the tool, ttl kept; counts toward the 4 breakpoints"),
    },
    native=frozenset(("system", "top_k", "thinking", "stop_sequences", "cache_control", "output_config", "container", "mcp_servers", "context_management")),
)


def _build(base_url: str, api_key: str | None, headers: Mapping[str, str], options: AnthropicOptions) -> AnthropicAdapter:
    return AnthropicAdapter(base_url, api_key, headers, default_max_tokens=options.default_max_tokens, thinking_budgets=options.thinking_budgets)

KIND = ProviderKind(
    name=PROVIDER,
    build=_build,
    fields=FIELDS,
    options=AnthropicOptions,
    capabilities=frozenset(("chat", "stream", "tools", "vision", "json_schema", "reasoning")),
    summary="Anthropic Messages API, translated from and to OpenAI chat",
)
