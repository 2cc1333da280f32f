"""The Gemini API adapter (Generative Language API ``generateContent`` / ``streamGenerateContent``).

Wire format: shared/reference/wire-formats.md section 3 and the cheat-sheet in section 6.

- The key goes in the ``x-goog-api-key`` header, never in the URL (URLs end up in logs).
- ``system``/``developer`` messages -> ``systemInstruction``; user/assistant -> ``user``/``model``
  contents; consecutive turns of one role are merged (tool results of parallel calls must share
  one ``user`` turn).
- Images: data URLs -> ``inlineData``, other URLs -> ``fileData`` (mime type from the extension).
- Tool calls: Gemini usually gives no call id, so the gateway makes one; the id also carries the
  part's ``thoughtSignature`` (``<id>__thought__<signature>``), which Gemini 3 needs back on the
  next turn. A ``tool`` message is sent as ``functionResponse`` with the function name looked up
  from the assistant turn that made the call; a JSON-object result is sent as the response
  object, anything else as ``{"result": <text>}``.
- ``tools`` -> ``functionDeclarations`` with ``parametersJsonSchema`` (full JSON Schema);
  ``tool_choice`` -> ``toolConfig.functionCallingConfig`` (auto AUTO, required ANY, none NONE,
  named ANY + allowedFunctionNames).
- ``response_format`` json_schema -> ``responseMimeType: application/json`` + ``responseJsonSchema``;
  json_object -> ``responseMimeType`` only.
- ``reasoning_effort`` -> ``thinkingConfig`` (a budget, and ``includeThoughts`` so thought
  summaries come back as ``reasoning_content``).
- What each request field becomes, or why it is refused or ignored, is the table ``FIELDS``
  (adapters/fields.py), which the gateway enforces before the call.
- Usage: prompt = promptTokenCount (+ toolUsePromptTokenCount), completion = candidates +
  thoughts, reasoning = thoughts, cached = cachedContentTokenCount.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import quote

from msgspec import Meta, Struct

from edge.fastpath import jsonio

from ._common import (
    Translating,
    body_snippet,
    chat_completion,
    extra_fields,
    json_error_body,
    message_text,
    parse_retry_after,
    stop_list,
    upstream_error,
)
from ._gemini_contents import declaration, message_parts, tool_config
from ._gemini_stream import GeminiStreamDecoder, error_info, finish_reason_for, tool_call_id, usage_from_gemini
from ._fields_common import CUSTOM_TOOLS, OTHER_CHOICES, has_tools, is_false, translating_rules
from .fields import FieldTable, ignored, translated, when
from .schema import ChatRequest, EmbeddingsRequest
from .kinds import ProviderKind
from .types import ChatResult, ModelNames, ToolCallDelta, Unsupported, UpstreamErrorInfo, UpstreamRequest, Usage

__all__ = ["FIELDS", "KIND", "MODEL_NAMES", "PROVIDER", "GeminiAdapter", "GeminiStreamDecoder"]

PROVIDER = "gemini"
DEFAULT_THINKING_BUDGETS: Mapping[str, int] = {"none": 0, "minimal": 512, "low": 1024, "medium": 8192, "high": 24576}


# The model is a segment of the URL path (``/v1beta/models/{model}:generateContent``): Google's
# names ("gemini-2.5-flash", "text-embedding-004") are one segment of these characters, under
# the "models/" collection or, for tuned models, "tunedModels/".
MODEL_NAMES = ModelNames(
    re.compile(r"(?:models/|tunedModels/)?[A-Za-z0-9][A-Za-z0-9._-]*", re.ASCII),
    "a Gemini model name is one path segment of letters, digits, '.', '_' and '-' starting with a letter or digit, optionally after 'models/' or 'tunedModels/'",
)


class GeminiAdapter(Translating):
    kind = PROVIDER
    model_names = MODEL_NAMES

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        thinking_budgets: Mapping[str, int] | None = None,
    ) -> None:
        base = (base_url or "https://generativelanguage.googleapis.com").rstrip("/")
        self._base = base if base.endswith(("/v1beta", "/v1")) else base + "/v1beta"
        self._headers = {"content-type": "application/json", "accept": "application/json"}
        if headers:
            self._headers.update({k.lower(): v for k, v in headers.items()})
        if api_key:
            self._headers["x-goog-api-key"] = api_key
        self._stream_headers = dict(self._headers, accept="text/event-stream")
        self.thinking_budgets = dict(DEFAULT_THINKING_BUDGETS if thinking_budgets is None else thinking_budgets)
        self.token_counter = _Counter(self)

    def _url(self, model: str, method: str) -> str:
        collection, sep, name = model.partition("/")
        if not sep or collection not in ("models", "tunedModels"):
            collection, name = "models", model
        # One path segment whatever the name holds: "/" is quoted too, so no "../" can climb.
        return f"{self._base}/{collection}/{quote(name, safe='')}:{method}"

    # -- request ------------------------------------------------------------------------

    def chat_request(self, body: dict[str, Any], upstream_model: str, stream: bool) -> UpstreamRequest:
        chat = jsonio.convert(body, ChatRequest, strict=False)
        out = self.translate(chat)
        out.update(extra_fields(body))
        if stream:
            return UpstreamRequest("POST", self._url(upstream_model, "streamGenerateContent") + "?alt=sse", self._stream_headers, jsonio.dumps(out))
        return UpstreamRequest("POST", self._url(upstream_model, "generateContent"), self._headers, jsonio.dumps(out))

    def translate(self, chat: ChatRequest) -> dict[str, Any]:
        if chat.n is not None and chat.n > 1:
            raise Unsupported("this gateway returns one Gemini candidate per request; 'n' must be 1.")
        system: list[dict[str, Any]] = []
        contents: list[dict[str, Any]] = []
        names: dict[str, str] = {}
        for message in chat.messages:
            if message.role in ("system", "developer"):
                text = message_text(message.content)
                if text:
                    system.append({"text": text})
                continue
            role, parts = message_parts(message, names)
            if not parts:
                continue
            if contents and contents[-1]["role"] == role:
                contents[-1]["parts"].extend(parts)
            else:
                contents.append({"role": role, "parts": parts})
        out: dict[str, Any] = {"contents": contents}
        if system:
            out["systemInstruction"] = {"parts": system}
        tools = [declaration(t) for t in chat.tools or () if t.function is not None]
        if tools:
            out["tools"] = [{"functionDeclarations": tools}]
            config = tool_config(chat.tool_choice)
            if config is not None:
                out["toolConfig"] = {"functionCallingConfig": config}
        generation: dict[str, Any] = {}
        for key, value in (
            ("temperature", chat.temperature),
            ("topP", chat.top_p),
            ("maxOutputTokens", chat.max_completion_tokens or chat.max_tokens),
            ("stopSequences", stop_list(chat.stop) or None),
            ("seed", chat.seed),
            ("presencePenalty", chat.presence_penalty),
            ("frequencyPenalty", chat.frequency_penalty),
        ):
            if value is not None:
                generation[key] = value
        fmt = chat.response_format
        if fmt is not None and fmt.type in ("json_object", "json_schema"):
            generation["responseMimeType"] = "application/json"
            if fmt.type == "json_schema" and fmt.json_schema is not None and fmt.json_schema.schema:
                generation["responseJsonSchema"] = fmt.json_schema.schema
        if chat.reasoning_effort:
            budget = self.thinking_budgets.get(chat.reasoning_effort)
            if budget is None:
                raise Unsupported(f"reasoning_effort {chat.reasoning_effort!r} has no thinking budget; use one of {sorted(self.thinking_budgets)}.")
            generation["thinkingConfig"] = {"thinkingBudget": budget, "includeThoughts": budget > 0}
        if generation:
            out["generationConfig"] = generation
        return out

    def count_request(self, body: dict[str, Any], upstream_model: str) -> UpstreamRequest:
        """models/{model}:countTokens for the request a chat body would make (exact: Gemini's
        own count of the whole GenerateContentRequest, system and tools included)."""
        inner = self.translate(jsonio.convert(body, ChatRequest, strict=False))
        name = upstream_model if upstream_model.startswith(("models/", "tunedModels/")) else "models/" + upstream_model
        return UpstreamRequest("POST", self._url(upstream_model, "countTokens"), self._headers, jsonio.dumps({"generateContentRequest": {"model": name, **inner}}))

    # -- responses ------------------------------------------------------------------------

    def parse_chat(self, body: bytes, public_model: str) -> ChatResult:
        doc = jsonio.loads(body)
        if not isinstance(doc, dict):
            raise ValueError("upstream response is not a Gemini GenerateContentResponse")
        text: list[str] = []
        thoughts: list[str] = []
        calls: list[ToolCallDelta] = []
        finish_raw: Any = None
        candidates = doc.get("candidates")
        if isinstance(candidates, list) and candidates and isinstance(candidates[0], dict):
            candidate = candidates[0]
            finish_raw = candidate.get("finishReason")
            content = candidate.get("content")
            for part in (content.get("parts") or ()) if isinstance(content, dict) else ():
                if not isinstance(part, dict):
                    continue
                call = part.get("functionCall")
                if isinstance(call, dict):
                    args = call.get("args")
                    calls.append(ToolCallDelta(len(calls), tool_call_id(call.get("id"), part.get("thoughtSignature")), str(call.get("name") or ""), jsonio.dumps(args if isinstance(args, dict) else {}).decode()))
                elif isinstance(part.get("text"), str):
                    (thoughts if part.get("thought") else text).append(part["text"])
        feedback = doc.get("promptFeedback")
        blocked = isinstance(feedback, dict) and bool(feedback.get("blockReason"))
        finish = "content_filter" if blocked and finish_raw is None else finish_reason_for(finish_raw, bool(calls)) or "stop"
        return chat_completion(
            id=str(doc.get("responseId") or "gemini"),
            public_model=public_model,
            content="".join(text) if text or not calls else None,
            reasoning="".join(thoughts) or None,
            tool_calls=calls,
            finish_reason=finish,
            usage=usage_from_gemini(doc.get("usageMetadata")),
        )

    def stream_decoder(self) -> GeminiStreamDecoder:
        return GeminiStreamDecoder()

    def embeddings_request(self, body: dict[str, Any], upstream_model: str) -> UpstreamRequest:
        req = jsonio.convert(body, EmbeddingsRequest, strict=False)
        inputs = [req.input] if isinstance(req.input, str) else list(req.input)
        if not all(isinstance(item, str) for item in inputs):
            raise Unsupported("Gemini embeds text only; token-id inputs are not supported.")
        name = upstream_model if upstream_model.startswith("models/") else "models/" + upstream_model
        requests = []
        for text in inputs:
            one: dict[str, Any] = {"model": name, "content": {"parts": [{"text": text}]}}
            if req.dimensions:
                one["outputDimensionality"] = req.dimensions
            requests.append(one)
        return UpstreamRequest("POST", self._url(upstream_model, "batchEmbedContents"), self._headers, jsonio.dumps({"requests": requests}))

    def parse_embeddings(self, body: bytes, public_model: str) -> ChatResult:
        doc = jsonio.loads(body)
        rows = doc.get("embeddings") if isinstance(doc, dict) else None
        if not isinstance(rows, list):
            raise ValueError("upstream response is not a Gemini batchEmbedContents response")
        data = [{"object": "embedding", "index": i, "embedding": (row or {}).get("values") or []} for i, row in enumerate(rows)]
        # Gemini reports no token counts for embeddings; the ledger estimates them.
        out = {"object": "list", "model": public_model, "data": data, "usage": {"prompt_tokens": 0, "total_tokens": 0}}
        return ChatResult(jsonio.dumps(out), Usage(estimated=True))

    def parse_error(self, status: int, headers: Mapping[str, str] | None, body: bytes) -> UpstreamErrorInfo:
        retry_after = parse_retry_after(headers)
        doc = json_error_body(body)
        if isinstance(doc, list) and doc and isinstance(doc[0], dict):
            doc = doc[0]  # the ?alt=json transport wraps errors in an array
        err = doc.get("error") if isinstance(doc, dict) else None
        if isinstance(err, dict):
            return error_info(status, err, retry_after)
        return upstream_error(status, body_snippet(status, body), retry_after=retry_after)


class _Counter:
    """Gemini's countTokens as the adapter's token counter (count_tokens is exact here)."""

    def __init__(self, adapter: GeminiAdapter) -> None:
        self._adapter = adapter

    def count_request(self, body: dict[str, Any], upstream_model: str) -> UpstreamRequest:
        return self._adapter.count_request(body, upstream_model)

    @staticmethod
    def parse_count(body: bytes) -> int:
        doc = jsonio.loads(body)
        total = doc.get("totalTokens") if isinstance(doc, dict) else None
        if not isinstance(total, int):
            raise ValueError("countTokens answered without totalTokens")
        return total


class GeminiOptions(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The gemini kind's own provider options."""

    # reasoning_effort (none/minimal/low/medium/high) -> thinkingBudget tokens.
    thinking_budgets: dict[str, Annotated[int, Meta(ge=0)]] | None = None

_NO_END_USER = "an end-user id for OpenAI's abuse monitoring; Gemini has no such field"

# What each chat request field becomes in generateContent (adapters/fields.py).
FIELDS = FieldTable(
    {
        **translating_rules("Gemini"),
        "model": translated("URL", "the model is in the URL path"),
        "messages": translated("contents", "system/developer -> systemInstruction; assistant -> model turns"),
        "stream": translated("URL", "streamGenerateContent?alt=sse"),
        "max_tokens": translated("generationConfig.maxOutputTokens"),
        "max_completion_tokens": translated("generationConfig.maxOutputTokens", "wins over max_tokens"),
        "stop": translated("generationConfig.stopSequences"),
        "temperature": translated("generationConfig.temperature"),
        "top_p": translated("generationConfig.topP"),
        "seed": translated("generationConfig.seed"),
        "frequency_penalty": translated("generationConfig.frequencyPenalty"),
        "presence_penalty": translated("generationConfig.presencePenalty"),
        "user": ignored(_NO_END_USER),
        "safety_identifier": ignored(_NO_END_USER),
        "reasoning_effort": translated("generationConfig.thinkingConfig", "a thinkingBudget from thinking_budgets"),
        "response_format": translated(
            "generationConfig.responseMimeType",
            "json_object, json_schema -> application/json (+ responseJsonSchema)",
            when("text", lambda v, b: isinstance(v, dict) and v.get("type") == "text", "translated"),
        ),
        "tools": translated("tools", "functions -> functionDeclarations", CUSTOM_TOOLS),
        "tool_choice": translated("toolConfig.functionCallingConfig", "auto AUTO, required ANY, none NONE, a named function ANY + allowedFunctionNames", OTHER_CHOICES),
        "parallel_tool_calls": translated(
            None, "true: Gemini may call several functions at once", when("false with tools", lambda v, b: is_false(v, b) and has_tools(v, b), "refused", note="Gemini cannot be held to one call at a time")
        ),
    },
    native=frozenset(("contents", "systemInstruction", "toolConfig", "safetySettings", "generationConfig", "cachedContent", "labels")),
)


def _build(base_url: str, api_key: str | None, headers: Mapping[str, str], options: GeminiOptions) -> GeminiAdapter:
    return GeminiAdapter(base_url, api_key, headers, thinking_budgets=options.thinking_budgets)

KIND = ProviderKind(
    name=PROVIDER,
    build=_build,
    fields=FIELDS,
    options=GeminiOptions,
    capabilities=frozenset(("chat", "stream", "embeddings", "tools", "vision", "json_schema", "reasoning")),
    summary="Google Gemini generateContent / streamGenerateContent, translated",
)
