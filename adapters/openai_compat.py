"""The OpenAI-format adapter: OpenAI and every server that speaks its chat API.

vLLM, TGI's messages API, Ollama's /v1, OpenRouter, DeepSeek, Groq, Mistral, Together and LM
Studio are rows in the config with another base_url, not code (shared/reference/style.md s.5).
Requests pass through with only ``model`` and ``stream_options`` changed, so fields we do not
model reach the upstream unchanged. Wire format: shared/reference/wire-formats.md section 1.

One exception: prompt-cache hints (``cache_control`` on content parts and tools, the
OpenRouter/LiteLLM convention) are left out and named (adapters/fields.py ``ignored``), since
OpenAI caches prefixes on its own and OpenAI and Azure refuse the unknown field with a 400
("Unrecognized request argument supplied: cache_control"). A provider whose server reads them
(OpenRouter, a LiteLLM proxy) says ``cache_control: pass``, and gets every field as sent.

The option ``responses`` says whether the server also speaks the OpenAI Responses API
(``native``: POST {base}/responses, forwarded as sent; the default for OpenAI's own
api.openai.com, and what recent vLLM builds do) or not (``bridge``: the gateway translates a
Responses request into chat, edge/responses/). It decides whether ``OPENAI_RESPONSES`` is in
``passthrough``; nothing else branches on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

from msgspec import Struct

from edge.fastpath import jsonio

from ._common import BODY_MODEL_NAMES, parse_retry_after, upstream_error, usage_dict
from ._openai_stream import OpenAIStreamDecoder, usage_from_openai
from .fields import CACHE_CONTROL, DECLARED, TOOL_CACHE_CONTROL, FieldTable, ignored, passed
from .kinds import ProviderKind
from .types import OPENAI_CHAT, OPENAI_RESPONSES, ChatResult, MessagesUpstream, TokenCounter, Unsupported, UpstreamErrorInfo, UpstreamRequest

__all__ = ["FIELDS", "FIELDS_PASSING_HINTS", "KIND", "PROVIDER", "OpenAIAdapter", "OpenAIOptions", "usage_dict", "usage_from_openai"]

PROVIDER = "openai"

# The upstream speaks OpenAI chat JSON and SSE: an OpenAI chat client's stream passes through.
_PASSTHROUGH = frozenset((OPENAI_CHAT,))
# ... and the Responses API too (``responses: native``).
_PASSTHROUGH_RESPONSES = frozenset((OPENAI_CHAT, OPENAI_RESPONSES))

# Hosts that speak the Responses API when the config says nothing about it.
_RESPONSES_HOSTS = frozenset(("api.openai.com",))


class OpenAIAdapter:
    kind = PROVIDER
    passthrough = _PASSTHROUGH
    model_names = BODY_MODEL_NAMES  # the model travels in the body
    native_messages: MessagesUpstream | None = None  # the mock's (adapters/mock) speaks Messages too
    token_counter: TokenCounter | None = None

    def __init__(self, base_url: str, api_key: str | None = None, headers: Mapping[str, str] | None = None, *, responses: bool = False) -> None:
        base = base_url.rstrip("/")
        self._base = base
        if responses:
            self.passthrough = _PASSTHROUGH_RESPONSES
        self._chat_url = base + "/chat/completions"
        self._embeddings_url = base + "/embeddings"
        self._models_url = base + "/models"
        self._headers = {"content-type": "application/json", "accept": "application/json"}
        if headers:
            self._headers.update({k.lower(): v for k, v in headers.items()})
        if api_key:
            self._headers["authorization"] = "Bearer " + api_key
        self._stream_headers = dict(self._headers, accept="text/event-stream")

    def chat_request(self, body: dict[str, Any], upstream_model: str, stream: bool, *, ask_usage: bool = True) -> UpstreamRequest:
        out = dict(body)
        out["model"] = upstream_model
        if stream:
            # Always ask for usage: accounting needs it whether or not the client wants to see
            # it; the stream rewriter hides the usage chunk from clients that did not ask.
            # ask_usage=False is for servers that reject stream_options outright.
            if ask_usage:
                options = out.get("stream_options")
                options = dict(options) if isinstance(options, dict) else {}
                options["include_usage"] = True
                out["stream_options"] = options
            else:
                out.pop("stream_options", None)
            return UpstreamRequest("POST", self._chat_url, self._stream_headers, jsonio.dumps(out))
        if out.get("stream"):  # a streamed request answered whole (buffered escalation)
            out["stream"] = False
            out.pop("stream_options", None)
        return UpstreamRequest("POST", self._chat_url, self._headers, jsonio.dumps(out))

    def retry_request(self, body: dict[str, Any], upstream_model: str, status: int, error_body: bytes) -> UpstreamRequest | None:
        """Some OpenAI-format servers reject stream_options (strict schemas, older builds): ask
        once more without it; usage is then estimated if the server sends none."""
        if status in (400, 422) and b"stream_options" in error_body:
            return self.chat_request(body, upstream_model, True, ask_usage=False)
        return None

    def native_request(self, dialect: str, path: str, body: bytes, stream: bool) -> UpstreamRequest:
        """The request as the client sent it (``body``, model already set) to ``{base}{path}``."""
        if dialect not in self.passthrough:
            raise Unsupported(f"this server is not configured to speak {dialect} (responses: bridge)")
        return UpstreamRequest("POST", self._base + path, self._stream_headers if stream else self._headers, body)

    def stream_decoder(self) -> OpenAIStreamDecoder:
        return OpenAIStreamDecoder()

    def parse_chat(self, body: bytes, public_model: str) -> ChatResult:
        doc = jsonio.loads(body)
        if not isinstance(doc, dict):
            raise ValueError("upstream chat response is not a JSON object")
        doc["model"] = public_model
        finish = None
        choices = doc.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            finish = choices[0].get("finish_reason")
        return ChatResult(jsonio.dumps(doc), usage_from_openai(doc.get("usage")), finish, doc)

    def models_request(self) -> UpstreamRequest | None:
        """GET {base}/models: the upstream's own model list (OpenAI ``ListModelsResponse``)."""
        return UpstreamRequest("GET", self._models_url, self._headers, b"")

    @staticmethod
    def parse_models(body: bytes) -> list[str]:
        doc = jsonio.loads(body)
        data = doc.get("data") if isinstance(doc, dict) else None
        return [str(m["id"]) for m in data if isinstance(m, dict) and isinstance(m.get("id"), str)] if isinstance(data, list) else []

    def embeddings_request(self, body: dict[str, Any], upstream_model: str) -> UpstreamRequest:
        out = dict(body)
        out["model"] = upstream_model
        return UpstreamRequest("POST", self._embeddings_url, self._headers, jsonio.dumps(out))

    def parse_embeddings(self, body: bytes, public_model: str) -> ChatResult:
        # The vectors are most of the answer: only ``model`` changes and ``usage`` is read; the
        # rest is written as the upstream sent it (its floats never parsed and printed again).
        try:
            doc = jsonio.members(body)
        except (jsonio.DecodeError, jsonio.ValidationError):
            raise ValueError("upstream embeddings response is not a JSON object") from None
        usage = doc.get("usage")
        return ChatResult(jsonio.with_members(doc, model=public_model), usage_from_openai(jsonio.loads(memoryview(usage)) if usage is not None else None))

    def parse_error(self, status: int, headers: Mapping[str, str] | None, body: bytes) -> UpstreamErrorInfo:
        retry_after = parse_retry_after(headers)
        try:
            doc = jsonio.loads(body) if body else None
        except jsonio.JSONDecodeError:
            doc = None
        err = doc.get("error") if isinstance(doc, dict) else None
        if isinstance(err, dict):
            return upstream_error(
                status,
                str(err.get("message") or ""),
                type=err.get("type"),
                code=err.get("code"),
                param=err.get("param"),
                retry_after=retry_after,
            )
        if isinstance(err, str):  # some servers (vLLM, older TGI) send {"error": "text"}
            return upstream_error(status, err, retry_after=retry_after)
        snippet = body[:200].decode("utf-8", "replace").strip()
        message = f"upstream returned HTTP {status}" + (f": {snippet}" if snippet else "")
        return upstream_error(status, message, retry_after=retry_after)


class OpenAIOptions(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The openai kind's own provider options."""

    # Prompt-cache hints (cache_control on parts and tools): left out and named (drop), or sent
    # as they are to a server that reads them (pass: OpenRouter, a LiteLLM proxy).
    cache_control: Literal["drop", "pass"] = "drop"
    # The Responses API: native (the server has POST /responses) or bridge (translate to chat);
    # unset: native for api.openai.com, bridge for every other server.
    responses: Literal["native", "bridge"] | None = None

    def speaks_responses(self, base_url: str) -> bool:
        if self.responses is not None:
            return self.responses == "native"
        return (urlsplit(base_url).hostname or "") in _RESPONSES_HOSTS


def _build(base_url: str, api_key: str | None, headers: Mapping[str, str], options: Any) -> OpenAIAdapter:
    responses = options.speaks_responses(base_url) if isinstance(options, OpenAIOptions) else False
    return OpenAIAdapter(base_url, api_key, headers, responses=responses)


_HINT = "a cache hint OpenAI and Azure refuse; OpenAI caches prefixes on its own (cache_control: pass sends it, for OpenRouter or LiteLLM)"

# Every field of the chat request, and every vendor field, reaches the upstream as sent (only
# ``model`` and ``stream_options.include_usage`` are set by the gateway), but the cache hints.
FIELDS = FieldTable({**{name: passed("sent as it is") for name in DECLARED}, CACHE_CONTROL: ignored(_HINT), TOOL_CACHE_CONTROL: ignored(_HINT)}, unknown="passed")
FIELDS_PASSING_HINTS = FieldTable.passthrough()


def _fields_for(options: Any) -> FieldTable:
    return FIELDS_PASSING_HINTS if isinstance(options, OpenAIOptions) and options.cache_control == "pass" else FIELDS

KIND = ProviderKind(
    name=PROVIDER,
    build=_build,
    options=OpenAIOptions,
    fields=FIELDS,
    fields_for=_fields_for,
    capabilities=frozenset(("chat", "stream", "embeddings", "tools", "vision", "json_schema", "models_list")),
    summary="OpenAI and every OpenAI-compatible server (vLLM, TGI, Ollama /v1, OpenRouter, DeepSeek, Groq, ...)",
)
