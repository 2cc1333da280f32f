"""The Anthropic Messages API spoken natively: a Messages client's bytes to the upstream and back.

A faithful pass-through (shared/reference/wire-formats.md section 2): the upstream gets the
client's body with only ``model`` replaced, and the client's ``anthropic-version`` and
``anthropic-beta`` (and the other ``anthropic-*`` headers Claude Code sends) forwarded; the
client gets the upstream's bytes with only ``model`` replaced. Prompt-cache breakpoints
(``cache_control``) and thinking signatures are therefore what the client sent. The model is
replaced in the bytes where the top-level ``"model"`` value stands alone; where the same text
stands twice (a tool input that names the model too), the body is re-encoded with the model
changed, which is the same JSON document.

Usage is read as Anthropic reports it: input, cache writes (cache_creation_input_tokens) and
cache reads (cache_read_input_tokens) apart (adapters/_anthropic_stream.usage_from_anthropic).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from edge.fastpath import jsonio

from ._anthropic_stream import finish_reason_for, usage_from_anthropic
from .types import ChatResult, UpstreamRequest

__all__ = ["AnthropicNative", "model_replaced", "replace_model"]


class AnthropicNative:
    """POST {base}/messages for one provider: its key and headers, the client's body."""

    def __init__(self, url: str, defaults: Mapping[str, str], fixed: Mapping[str, str]) -> None:
        self._url = url  # .../v1/messages
        self._defaults = dict(defaults)  # content-type, anthropic-version unless the client sends one
        self._fixed = dict(fixed)  # the provider's key and configured headers: the client cannot change them

    def messages_request(self, body: bytes, client_model: str, upstream_model: str, stream: bool, headers: Mapping[str, str], query: str, count_tokens: bool = False) -> UpstreamRequest:
        url = self._url + ("/count_tokens" if count_tokens else "") + (f"?{query}" if query else "")
        sent = {**self._defaults, "accept": "text/event-stream" if stream else "application/json", **headers, **self._fixed}
        return UpstreamRequest("POST", url, sent, replace_model(body, client_model, upstream_model))

    def parse_message(self, body: bytes, public_model: str) -> ChatResult:
        doc = jsonio.loads(body)
        if not isinstance(doc, dict) or doc.get("type") != "message":
            raise ValueError("upstream response is not an Anthropic message")
        model = doc.get("model")
        out = replace_model(body, model if isinstance(model, str) else None, public_model)
        return ChatResult(out, usage_from_anthropic(doc.get("usage")), finish_reason_for(doc.get("stop_reason")))


def replace_model(raw: bytes, old: str | None, new: str) -> bytes:
    """``raw`` (a JSON object) with its top-level ``model`` set to ``new``, other bytes kept."""
    if old == new:
        return raw
    if old is not None:
        found = model_replaced(raw, old, new)
        if found is not None:
            return found
    doc = jsonio.loads(raw)
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    doc["model"] = new
    return jsonio.dumps(doc)


def model_replaced(raw: bytes, old: str, new: str) -> bytes | None:
    """``raw`` with its one ``"model": "<old>"`` member set to ``new``; None unless there is
    exactly one (then the caller re-encodes the document)."""
    name = jsonio.dumps(old)
    # The usual case in two C-level scans: one "model" key, written compactly (the SDKs' way).
    compact = b'"model":' + name
    if raw.count(b'"model"') == 1 and raw.count(compact) == 1:
        return raw.replace(compact, b'"model":' + jsonio.dumps(new))
    found = list(re.finditer(rb'"model"\s*:\s*' + re.escape(name), raw))
    if len(found) != 1:
        return None
    match = found[0]
    return raw[: match.start()] + b'"model":' + jsonio.dumps(new) + raw[match.end() :]
