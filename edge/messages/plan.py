"""One Messages request through the shared pipeline: the plan and each route's request.

A request is read once (``Call``). ``plan_call`` fits the router's plan to it:

- a route whose adapter speaks the Messages API (``native_messages``: Anthropic, the mock) gets
  the client's bytes with only the model replaced, and the client's anthropic-* headers;
- every other route gets the request translated to chat (edge/messages/bridge.py) and held to
  its provider's field table like any chat request (edge.params.prepare_chat). A request the
  bridge cannot carry (server tools, MCP servers, citations, ...) removes those routes; when no
  route is left it is a 400 that names the field and the provider, and nothing is sent.

Fields the bridge ignores (cache hints, context editing) are named, with what the route's own
table drops, in x-edge-dropped-params and the ledger row.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from edge.adapters.types import Adapter, UpstreamRequest
from edge.fastpath import tokens

from ..context import RequestContext
from ..errors import InvalidRequest
from ..gateway import Gateway
from ..params import Prepared, UnsupportedParameter, prepare_chat
from ..router import Resolution, Target
from .bridge import BridgeFinding, assess_messages, to_chat

__all__ = ["Call", "FORWARDED", "builder", "keep", "native", "plan_call"]

# Client headers a native route gets as sent (Claude Code's among them); never the gateway key.
FORWARDED = ("anthropic-version", "anthropic-beta", "anthropic-dangerous-direct-browser-access", "x-app")

Build = Callable[[Adapter, Target], UpstreamRequest]


def native(adapter: Adapter) -> bool:
    """The route speaks the Messages API itself (declared by its adapter)."""
    return adapter.native_messages is not None


class Call:
    """A Messages request, read once."""

    __slots__ = ("body", "chat", "headers", "ignored", "model", "query", "raw", "show_thinking")

    def __init__(self, body: dict[str, Any], raw: bytes, headers: Mapping[str, str], query: str) -> None:
        self.body = body
        self.raw = raw
        self.model = str(body.get("model") or "")
        self.headers = {name: headers[name] for name in FORWARDED if name in headers}
        self.query = query
        self.chat: dict[str, Any] | None = None
        self.show_thinking = True
        self.ignored: list[str] = []

    def prompt_tokens(self) -> int:
        """The gateway's count of the prompt as a bridged route gets it (an estimate)."""
        chat = self.chat if self.chat is not None else to_chat(self.body)[0]
        total = tokens.estimate_prompt_tokens(chat.get("messages") or [])
        for tool in chat.get("tools") or ():
            total += tokens.estimate_tokens_from_bytes(len(repr(tool)))
        return max(1, total)


def keep(plan: Resolution, test: Callable[[Target], bool]) -> Resolution:
    stages = (s._replace(targets=tuple(t for t in s.targets if test(t))) for s in plan.stages)
    return plan._replace(stages=tuple(s for s in stages if s.targets))


def _is_native(target: Target) -> bool:
    return native(target.provider.adapter)


def plan_call(gw: Gateway, ctx: RequestContext, resolution: Resolution, call: Call) -> tuple[Resolution, Prepared | None]:
    """The plan for this request (routes that cannot take it left out) and, for the bridged
    routes that stay, the chat body each gets."""
    plan = resolution
    natives = [_is_native(t) for s in plan.stages for t in s.targets]
    if all(natives):  # the common case of a Claude model on Anthropic: nothing to fit
        return plan, None
    mixed = any(natives)
    bridged = keep(plan, lambda t: not _is_native(t)) if mixed else plan
    found = assess_messages(call.body)
    refused = [f for f in found if f.rule.action == "refused"]
    if refused:
        if not mixed:
            raise _refusal(bridged, refused)
        return keep(plan, _is_native), None
    call.chat, call.show_thinking = to_chat(call.body)
    call.ignored = list(dict.fromkeys(f.name for f in found))
    try:
        kept, prepared = prepare_chat(gw, ctx, bridged, call.chat)
    except InvalidRequest:
        if not mixed:
            raise  # every route refuses a field: the 400 names it
        return keep(plan, _is_native), None
    if not mixed:
        return kept, prepared
    chosen = {t for s in kept.stages for t in s.targets}
    return keep(plan, lambda t: _is_native(t) or t in chosen), prepared


def _refusal(plan: Resolution, refused: list[BridgeFinding]) -> UnsupportedParameter:
    target = plan.stages[0].targets[0]
    provider = target.provider
    reasons = ", ".join(dict.fromkeys(str(f) for f in refused))
    return UnsupportedParameter(
        f"Provider '{provider.name}' ({provider.kind}, model '{target.upstream_model}') does not speak the Messages API, and the translation to it "
        f"cannot honour {reasons}. Nothing was sent. Route this model to an Anthropic provider, or leave the field out.",
        param=refused[0].param,
    )


def builder(ctx: RequestContext, call: Call, prepared: Prepared | None, stream: bool) -> Build:
    """Each route's request: the client's bytes to a native route, the chat body to the rest."""
    record = ctx.record

    def build(adapter: Adapter, target: Target) -> UpstreamRequest:
        messages = adapter.native_messages
        if messages is not None:
            record.dropped_params = None
            return messages.messages_request(call.raw, call.model, target.upstream_model, stream, call.headers, call.query)
        assert prepared is not None
        body = prepared(target)
        if call.ignored:
            record.dropped_params = [*(record.dropped_params or ()), *call.ignored]
        return adapter.chat_request(body, target.upstream_model, stream)

    return build

