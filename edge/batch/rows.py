"""One row runner per batch url: how a row's body is checked and answered.

Each runner is the plain (non-streamed) path of its live endpoint, through the same pieces:
``edge.proxy.answer_chat`` for /v1/chat/completions (routing, fallbacks, escalation, the
fields each route honours), ``edge.proxy.call_upstream`` for /v1/embeddings, and the turn of
edge.responses.flow for /v1/responses. A new endpoint joins by adding its runner to
``RUNNERS``; parsing, admission, accounting and the output files are shared
(edge.batch.execute).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Any, Protocol

from edge.adapters._common import embeddings_as_base64
from edge.adapters.schema import ChatRequest, EmbeddingsRequest
from edge.adapters.types import Adapter, ChatResult
from edge.errors import InvalidRequest
from edge.fastpath import jsonio

from ..context import RequestContext
from ..gateway import Gateway
from ..proxy import answer_chat, call_upstream
from ..router import Resolution

__all__ = ["RUNNERS", "RowRunner"]


class RowRunner(Protocol):
    endpoint: str  # the ledger's endpoint name

    def check(self, body: dict[str, Any]) -> None:
        """Raise jsonio.ValidationError or InvalidRequest when the endpoint refuses ``body``."""
        ...

    def messages(self, body: dict[str, Any]) -> Any:
        """What admission estimates prompt tokens from."""
        ...

    def call(self, gw: Gateway, resolution: Resolution, ctx: RequestContext, body: dict[str, Any]) -> Awaitable[ChatResult]: ...


class ChatRows:
    endpoint = "chat"

    def check(self, body: dict[str, Any]) -> None:
        jsonio.decode(jsonio.dumps(body), ChatRequest)

    def messages(self, body: dict[str, Any]) -> Any:
        return body.get("messages")

    def call(self, gw: Gateway, resolution: Resolution, ctx: RequestContext, body: dict[str, Any]) -> Awaitable[ChatResult]:
        return answer_chat(gw, resolution, ctx, body)


class EmbeddingsRows:
    endpoint = "embeddings"

    def check(self, body: dict[str, Any]) -> None:
        typed = jsonio.decode(jsonio.dumps(body), EmbeddingsRequest)
        problem = typed.input_error()
        if problem is not None:
            raise InvalidRequest(problem, param="input")

    def messages(self, body: dict[str, Any]) -> Any:
        text = body.get("input")
        return [{"role": "user", "content": text}] if isinstance(text, str) else None

    def call(self, gw: Gateway, resolution: Resolution, ctx: RequestContext, body: dict[str, Any]) -> Awaitable[ChatResult]:
        base64 = body.get("encoding_format") == "base64"
        public = resolution.public_model

        def parse(adapter: Adapter, data: bytes) -> ChatResult:
            result = adapter.parse_embeddings(data, public)
            return embeddings_as_base64(result) if base64 else result  # as edge.http.embeddings

        build: Callable[[Adapter, Any], Any] = lambda adapter, target: adapter.embeddings_request(body, target.upstream_model)
        return call_upstream(gw, resolution, ctx, build, parse)


class ResponsesRows:
    """POST /v1/responses as edge.http.responses answers it without a stream: the turn (with
    ``previous_response_id``'s stored history), the plan fitted to it, the exchange, and the
    response stored unless ``store`` is false."""

    endpoint = "responses"

    def check(self, body: dict[str, Any]) -> None:
        from ..http.responses import ResponsesRequest  # the Responses surface loads only for its rows

        typed = jsonio.decode(jsonio.dumps(body), ResponsesRequest)
        if typed.background:
            raise InvalidRequest("'background' is not supported in a batch request.", param="background")

    def messages(self, body: dict[str, Any]) -> Any:
        given = body.get("input")
        return [{"role": "user", "content": given}] if isinstance(given, str) else given

    async def call(self, gw: Gateway, resolution: Resolution, ctx: RequestContext, body: dict[str, Any]) -> ChatResult:
        from ..responses.flow import parse_answer, plan_turn, prepare_turn, save

        turn = await prepare_turn(gw, ctx, body, resolution)
        plan, build = plan_turn(gw, ctx, resolution, turn, False)
        result = await call_upstream(gw, plan, ctx, build, parse_answer(turn, resolution.public_model, gw.request_ids.stored("resp_")))
        doc = result.document()
        if isinstance(doc.get("id"), str):
            save(gw, ctx, turn, doc["id"], gw.scrubber.bytes(jsonio.dumps(doc)))
        return result


# Read-only: the registry is code, not state (a new url is a new entry here).
RUNNERS: Mapping[str, RowRunner] = MappingProxyType({
    "/v1/chat/completions": ChatRows(),
    "/v1/embeddings": EmbeddingsRows(),
    "/v1/responses": ResponsesRows(),
})
