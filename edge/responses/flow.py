"""One Responses request through the shared pipeline: history, the plan, each route's request.

A turn is read once (``prepare_turn``): its input items, and with ``previous_response_id`` the
stored conversation before it (edge/responses/store.py), so the gateway replays the history
itself to whichever route answers, on any instance. Then ``plan_turn`` fits the router's plan
to the request:

- a route whose adapter speaks the Responses API (``OPENAI_RESPONSES`` in ``passthrough``:
  ``responses: native``) gets the request as the client sent it, the model rewritten and the
  stored history put in front of the input (reasoning items that another route made are left
  out: their encrypted content means nothing elsewhere);
- every other route gets the request translated to chat (adapters/responses_bridge.py) and held
  to its provider's field table like a chat request (edge.params.prepare_chat). A request the
  bridge cannot carry (a built-in tool such as web_search, a hosted item in the input) removes
  those routes; when none is left it is a 400 that names the tool and the provider;
- the route that answered the previous turn goes first (its provider's prompt cache is warm);
  when it fails, routing moves on as usual and the next route gets the whole history.

Answers are read back into the Responses shape: a native answer as it is (model renamed), a
bridged one through the adapter's chat parser and adapters/responses_wire.ResponsesWriter.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from edge.adapters.responses_bridge import BridgeError, input_items, to_chat
from edge.adapters.responses_answer import response_from_chat
from edge.adapters.responses_wire import base_response, usage_from_responses
from edge.adapters.types import OPENAI_RESPONSES, Adapter, ChatResult, UpstreamRequest
from edge.fastpath import jsonio

from ..context import RequestContext
from ..errors import InvalidRequest
from ..gateway import Gateway
from ..params import Prepared, prepare_chat
from ..router import Resolution, Stage, Target
from ..store.guard import StoreUnavailable
from ..store.sqlite_writer import WriterError
from .store import StoredResponse

__all__ = ["Turn", "native", "parse_answer", "plan_turn", "prepare_turn", "save", "stored"]


T = TypeVar("T")


async def stored(gw: Gateway, call: Awaitable[T]) -> T:
    """A response-store call, bounded by ``state.store_timeout_s``: a store that does not answer
    (down, frozen, disk full) is a 503 ``store_unavailable`` with Retry-After, never a hang."""
    try:
        async with asyncio.timeout(gw.config.state.store_timeout_s):  # not wait_for: 3.11's can swallow a cancellation
            return await call
    except (TimeoutError, ConnectionError, OSError) as exc:
        raise StoreUnavailable(f"The response store did not answer ({type(exc).__name__}); try again shortly.", retry_after=1.0) from None
    except Exception as exc:
        if isinstance(exc, WriterError) or type(exc).__module__.startswith(("asyncpg", "sqlite3")):
            raise StoreUnavailable(f"The response store failed ({type(exc).__name__}); try again shortly.", retry_after=1.0) from None
        raise


def native(adapter: Adapter) -> bool:
    """The route speaks the Responses API itself (declared by its adapter)."""
    return OPENAI_RESPONSES in adapter.passthrough


class Turn:
    """A Responses request, read once: its body, input items and stored history."""

    __slots__ = ("all_native", "body", "chat", "chat_error", "history", "items", "previous_route", "stored_previous")

    def __init__(self, body: dict[str, Any], items: list[dict[str, Any]], history: list[StoredResponse]) -> None:
        self.body = body
        self.items = items
        self.history = history
        self.stored_previous = bool(history)
        self.previous_route = history[-1].route if history else None
        self.chat: dict[str, Any] | None = None
        self.chat_error: BridgeError | None = None
        self.all_native = False  # every route of the plan speaks Responses

    def history_items(self, route: str | None) -> list[dict[str, Any]]:
        """The conversation before this turn, as input items for ``route``."""
        out: list[dict[str, Any]] = []
        for turn in self.history:
            out.extend(jsonio.loads(turn.input))
            output = jsonio.loads(turn.response).get("output") or []
            for item in output:
                if item.get("type") == "reasoning" and turn.route != route:
                    continue  # another provider's reasoning: its signature means nothing here
                out.append(item)
        return out

    def all_items(self, route: str | None) -> list[dict[str, Any]]:
        return self.history_items(route) + self.items if self.history else self.items

    @property
    def messages(self) -> Any:
        """What admission estimates the prompt from."""
        return self.chat["messages"] if self.chat is not None else self.items


async def prepare_turn(gw: Gateway, ctx: RequestContext, body: dict[str, Any], resolution: Resolution) -> Turn:
    """The turn's items and stored history; its chat form only when a route will need it."""
    try:
        items = input_items(body)
    except BridgeError as exc:
        raise InvalidRequest(f"Invalid request: {exc}", param=exc.param) from None
    previous = body.get("previous_response_id")
    history: list[StoredResponse] = []
    if isinstance(previous, str) and previous:
        history = await stored(gw, gw.responses.chain(previous, ctx.principal.key_id))
    turn = Turn(body, _with_ids(items, ctx.request_id) if body.get("store") is not False else items, history)
    turn.all_native = all(native(t.provider.adapter) for s in resolution.stages for t in s.targets)
    if not turn.all_native:
        try:
            turn.chat = to_chat(body, turn.all_items(turn.previous_route))
        except BridgeError as exc:
            turn.chat_error = exc
    return turn


def _with_ids(items: list[dict[str, Any]], request_id: str) -> list[dict[str, Any]]:
    """Items as stored and listed (GET .../input_items): each with an id (the request's id and
    the item's place: unique without a random draw per item) and a type."""
    out = []
    stem = request_id.removeprefix("req_")
    for n, item in enumerate(items):
        kind = item.get("type") or ("message" if "role" in item else None)
        if kind is None or item.get("id"):
            out.append(item)
            continue
        prefix = {"message": "msg_", "function_call_output": "fco_", "function_call": "fc_"}.get(str(kind), "item_")
        out.append({"id": f"{prefix}{stem}_{n}", **item, "type": kind})
    return out


Build = Callable[[Adapter, Target], UpstreamRequest]


def plan_turn(gw: Gateway, ctx: RequestContext, resolution: Resolution, turn: Turn, stream: bool) -> tuple[Resolution, Build]:
    """The plan for this turn (routes that cannot take it left out, the previous turn's route
    first) and the request each route gets."""
    plan = resolution
    if turn.chat is None and not turn.all_native:
        plan = _only_native(plan, turn)
    prepared: Prepared | None = None
    if turn.chat is not None and stream:
        turn.chat["stream"] = True  # the chat adapters read it from the body
    routes = [native(t.provider.adapter) for s in plan.stages for t in s.targets] if turn.chat is not None else []
    if turn.chat is not None and not any(routes):  # the usual case: every route bridged
        plan, prepared = prepare_chat(gw, ctx, plan, turn.chat)
    elif turn.chat is not None and not all(routes):
        bridged = _keep(plan, lambda t: not native(t.provider.adapter))
        try:
            kept, prepared = prepare_chat(gw, ctx, bridged, turn.chat)
        except InvalidRequest:
            if not any(native(t.provider.adapter) for s in plan.stages for t in s.targets):
                raise  # every route refuses a field: the 400 names it
            kept = bridged._replace(stages=())
        keep = {t for s in kept.stages for t in s.targets}
        plan = _keep(plan, lambda t: native(t.provider.adapter) or t in keep)
    if turn.previous_route is not None:
        plan = _prefer(plan, turn.previous_route)
    previous = turn.body.get("previous_response_id")
    if previous and not turn.stored_previous and not any(native(t.provider.adapter) for s in plan.stages for t in s.targets):
        # Only a server with its own store could know it (OpenAI, for a response made there).
        raise InvalidRequest(f"Previous response with id '{previous}' not found.", param="previous_response_id", code="previous_response_not_found")

    def build(adapter: Adapter, target: Target) -> UpstreamRequest:
        if native(adapter):
            return adapter.native_request(OPENAI_RESPONSES, "/responses", jsonio.dumps(_native_body(turn, target, stream)), stream)
        assert prepared is not None
        return adapter.chat_request(prepared(target), target.upstream_model, stream)

    return plan, build


def _keep(plan: Resolution, test: Callable[[Target], bool]) -> Resolution:
    stages = (s._replace(targets=tuple(t for t in s.targets if test(t))) for s in plan.stages)
    return plan._replace(stages=tuple(s for s in stages if s.targets))


def _only_native(plan: Resolution, turn: Turn) -> Resolution:
    """The routes that speak Responses; a 400 naming the bridged provider when there are none."""
    kept = _keep(plan, lambda t: native(t.provider.adapter))
    if kept.stages:
        return kept
    err = turn.chat_error
    assert err is not None
    first = plan.stages[0].targets[0] if plan.stages and plan.stages[0].targets else None
    who = f"Provider '{first.provider.name}' ({first.provider.kind}, model '{first.upstream_model}') speaks chat, not the Responses API, and " if first is not None else ""
    raise InvalidRequest(f"{who}{err} Nothing was sent.", param=err.param, code="unsupported_parameter")


def _prefer(plan: Resolution, route: str) -> Resolution:
    for i, stage in enumerate(plan.stages):
        for target in stage.targets:
            if target.route == route:
                rest = tuple(t for t in stage.targets if t is not target)
                first = Stage(stage.model, (target,), stage.strategy, stage.context_window)
                stages = plan.stages[:i] + (first,) + ((stage._replace(targets=rest),) if rest else ()) + plan.stages[i + 1 :]
                return plan._replace(stages=stages)
    return plan


def _native_body(turn: Turn, target: Target, stream: bool) -> dict[str, Any]:
    out = dict(turn.body)
    out["model"] = target.upstream_model
    if turn.stored_previous:
        # The gateway replays the stored conversation: the upstream need not know the id.
        out["input"] = turn.all_items(target.route)
        out.pop("previous_response_id", None)
    if not stream:
        out.pop("stream", None)
    return out


def parse_answer(turn: Turn, public: str, response_id: str) -> Callable[[Adapter, bytes], ChatResult]:
    """A whole answer, native or bridged, as a ChatResult whose document is the response
    (``response_id``: a bridged answer's id; a native one keeps the upstream's)."""

    def parse(adapter: Adapter, data: bytes) -> ChatResult:
        if native(adapter):
            doc = jsonio.loads(data)
            if not isinstance(doc, dict):
                raise ValueError("the response is not a JSON object")
            doc["model"] = public
            status = doc.get("status")
            return ChatResult(b"", usage_from_responses(doc.get("usage")), "length" if status == "incomplete" else "stop", doc)
        result = adapter.parse_chat(data, public)
        doc = response_from_chat(base_response(turn.body, response_id, public), result.document(), result.usage)
        return ChatResult(b"", result.usage, result.finish_reason, doc)

    return parse


def save(gw: Gateway, ctx: RequestContext, turn: Turn, response_id: str, response: bytes) -> None:
    """Keep the response and this turn's input (``store`` is not false), without waiting for the
    store (edge/responses/pending.py). ``response``: the response's JSON as the client got it,
    so without any configured secret an upstream echoed (edge.scrub)."""
    if turn.body.get("store") is False:
        return
    now = time.time()
    record = ctx.record
    route = f"{record.provider}/{record.upstream_model}" if record.provider else None
    previous = turn.body.get("previous_response_id") if turn.stored_previous else None
    row = StoredResponse(response_id, ctx.principal.key_id, now, now + gw.config.responses.retention_days * 86400.0, previous, route, response.decode(), jsonio.dumps(turn.items).decode())
    gw.responses.keep(row)


def stored_items(rows: list[StoredResponse]) -> list[dict[str, Any]]:
    """Every input item of a stored response, its history's first (GET .../input_items)."""
    out: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        out.extend(jsonio.loads(row.input))
        if i < len(rows) - 1:
            out.extend(jsonio.loads(row.response).get("output") or [])
    return out
