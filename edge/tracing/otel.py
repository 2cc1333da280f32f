"""The OpenTelemetry SDK behind the gateway's tracing hooks (only imported when tracing is on).

Spans, per https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-spans/ and the HTTP and RPC
server conventions:

- one SERVER span per request: ``POST /v1/chat/completions`` (HTTP, ``http.*`` attributes) or
  ``edge.v1.Gateway/ChatComplete`` (gRPC, ``rpc.*``), continuing an incoming W3C
  ``traceparent``; when the request settles it gets the request's GenAI summary: public model
  as ``gen_ai.request.model``, the answering upstream model, usage, finish reason, cost, tags;
- one CLIENT span per upstream attempt, ``chat <upstream model>``, a child of the server span,
  whose context is sent upstream as that attempt's ``traceparent``. A failed attempt ends at
  once with ``error.type``; a plain answer ends with its usage and finish reason; a stream's
  attempt span stays open until the request settles, so it covers the whole stream.

The request's trace lives in a ContextVar: the HTTP handler and the gRPC servicer run each
request in one task, and the routing executor and ``settle`` run in that task too. Nothing here
does I/O: finished spans go to the BatchSpanProcessor's queue; its thread exports them.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import socket
import time
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased, Sampler, TraceIdRatioBased
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from edge.adapters.types import ChatResult, Usage

from ..config_tracing import TracingConfig
from .otlp import fast_exporter_class
from .semconv import input_messages, output_messages, provider_name, server_address, usage_attributes

__all__ = ["AttemptTrace", "OtelTracing", "RequestTrace"]

_ERROR = Status(StatusCode.ERROR)


class RequestTrace:
    """One request's server span, and the attempt span a stream keeps open until it settles."""

    __slots__ = ("span", "parent", "token", "pending", "finish", "input", "output", "failed", "summary")

    def __init__(self, span: Span) -> None:
        self.span = span
        self.parent = trace.set_span_in_context(span)  # the attempts' parent, made once
        self.token: contextvars.Token[RequestTrace | None] | None = None
        self.pending: Span | None = None
        self.finish: str | None = None  # the last plain answer's finish reason
        self.input: str | None = None  # opt-in content (tracing.capture_content)
        self.output: str | None = None
        self.failed = False
        # What settle learned, set on the span with the surface's own at the end: one call
        # (each set_attributes costs the SDK a validation pass over the whole mapping).
        self.summary: dict[str, Any] | None = None


class AttemptTrace:
    """One upstream attempt's client span; execute() ends it through one of three methods."""

    __slots__ = ("tracing", "span", "token", "model")

    def __init__(self, tracing: OtelTracing, span: Span, token: contextvars.Token[dict[str, str] | None], model: str) -> None:
        self.tracing, self.span, self.token, self.model = tracing, span, token, model

    def failed(self, condition: int | str, error: Any) -> None:
        self.tracing._upstream.reset(self.token)
        span = self.span
        if span.is_recording():
            attrs: dict[str, Any] = {"error.type": str(condition)}
            if isinstance(condition, int):
                attrs["http.response.status_code"] = condition
            span.set_attributes(attrs)
            span.set_status(Status(StatusCode.ERROR, error.code or error.type))
        span.end()

    def aborted(self, exc: BaseException) -> None:
        """Cancelled (the client went away) or refused before sending (bad input for that route)."""
        self.tracing._upstream.reset(self.token)
        span = self.span
        if span.is_recording():
            if isinstance(exc, asyncio.CancelledError):
                kind = "cancelled"
            else:
                kind = getattr(exc, "code", None) or getattr(exc, "type", None) or type(exc).__qualname__
            span.set_attribute("error.type", str(kind))
            span.set_status(_ERROR)
        span.end()

    def succeeded(self, result: object) -> None:
        tracing = self.tracing
        tracing._upstream.reset(self.token)
        span = self.span
        request = tracing._current.get()
        recording = span.is_recording()
        if isinstance(result, ChatResult):
            # A whole answer: usage and finish reason are known now.
            if recording:
                attrs = usage_attributes(result.usage)
                attrs["gen_ai.response.model"] = self.model
                if result.finish_reason:
                    attrs["gen_ai.response.finish_reasons"] = (result.finish_reason,)
                if tracing.capture_content:
                    output = _output(result)
                    if output is not None:
                        attrs["gen_ai.output.messages"] = output
                        if request is not None:
                            request.output = output
                span.set_attributes(attrs)
            if request is not None:
                request.finish = result.finish_reason
            span.end()
            return
        if recording:
            span.set_attribute("gen_ai.response.model", self.model)
        if request is not None:
            request.pending = span  # a stream: the span covers it, and ends when it settles
        else:
            span.end()


def _sampler(name: str, ratio: float) -> Sampler:
    root: Sampler
    base = name.removeprefix("parentbased_")
    if base == "always_on":
        root = ALWAYS_ON
    elif base == "always_off":
        root = ALWAYS_OFF
    else:
        root = TraceIdRatioBased(ratio)
    return ParentBased(root) if name.startswith("parentbased_") else root


def _exporter(config: TracingConfig) -> SpanExporter:
    headers = dict(config.headers or {}) or None
    endpoint = config.endpoint or ""
    # The SDK's exporters send; edge.tracing.otlp encodes (several times faster than the SDK's
    # message-per-attribute encoder, on the export thread).
    if config.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        grpc_exporter = fast_exporter_class(GrpcExporter)
        return grpc_exporter(endpoint=endpoint, insecure=endpoint.startswith("http://"), headers=headers, timeout=config.timeout_s)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    http_exporter = fast_exporter_class(OTLPSpanExporter)
    return http_exporter(endpoint=endpoint, headers=headers, timeout=config.timeout_s)


class _TracedClient:
    """An upstream client that adds the current attempt's ``traceparent`` to what it sends.

    Wraps edge.client.Client (same ``request``/``stream`` signatures; everything else passes
    through), so tracing touches neither the client nor the code that builds requests.
    """

    def __init__(self, inner: Any, headers: contextvars.ContextVar[dict[str, str] | None]) -> None:
        self._inner = inner
        self._headers = headers

    def request(self, method: str, url: str, headers: Mapping[str, str], body: bytes, **kwargs: Any) -> Any:
        extra = self._headers.get()
        return self._inner.request(method, url, {**headers, **extra} if extra else headers, body, **kwargs)

    def stream(self, method: str, url: str, headers: Mapping[str, str], body: bytes, **kwargs: Any) -> Any:
        extra = self._headers.get()
        return self._inner.stream(method, url, {**headers, **extra} if extra else headers, body, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _OncePerMinute(logging.Filter):
    """The SDK logs a warning per span it drops from a full queue: on the event loop, and as
    many as there are requests. Keep one a minute."""

    def __init__(self) -> None:
        super().__init__()
        self._next = 0.0

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith("Queue full"):
            return True
        now = time.monotonic()
        if now < self._next:
            return False
        self._next = now + 60.0
        return True


class OtelTracing:
    """One worker's tracer provider, exporter and hooks."""

    def __init__(self, config: TracingConfig, version: str) -> None:
        self.capture_content = bool(config.capture_content)
        logging.getLogger("opentelemetry.sdk._shared_internal").addFilter(_OncePerMinute())
        resource = Resource.create({
            "service.name": config.service_name or "llm-edge",
            "service.version": version,
            # Tells the instances (and the workers of one) apart in a trace backend.
            "service.instance.id": f"{socket.gethostname()}-{os.getpid()}",
        })
        self.provider = TracerProvider(sampler=_sampler(config.sampler or "parentbased_always_on", config.sampler_arg or 0.0), resource=resource, shutdown_on_exit=False)
        self.provider.add_span_processor(BatchSpanProcessor(_exporter(config), export_timeout_millis=(config.timeout_s or 10.0) * 1000))
        self._tracer = self.provider.get_tracer("llm-edge", version)
        self._propagator = TraceContextTextMapPropagator()
        self._current: contextvars.ContextVar[RequestTrace | None] = contextvars.ContextVar("edge_request_trace", default=None)
        self._upstream: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("edge_upstream_traceparent", default=None)
        self._providers: dict[str, tuple[str, dict[str, Any]]] = {}  # name -> (gen_ai.provider.name, server.*)

    def instrument(self, providers: Mapping[str, Any]) -> None:
        """Wrap each started provider's client so attempts carry their traceparent upstream."""
        for name, provider in providers.items():
            self._providers[name] = (provider_name(name, provider.kind), server_address(provider.config.base_url))
            if provider.client is not None and not isinstance(provider.client, _TracedClient):
                provider.client = _TracedClient(provider.client, self._upstream)

    async def shutdown(self) -> None:
        # Flushing joins the exporter thread and may wait on the network: never on the loop.
        await asyncio.to_thread(self.provider.shutdown)

    # -- the server span ----------------------------------------------------------------------

    def start_server(self, name: str, carrier: Mapping[str, str] | None, attributes: dict[str, Any]) -> RequestTrace:
        """``carrier``: the incoming headers or metadata holding traceparent (None: a new trace)."""
        parent = self._propagator.extract(carrier) if carrier else None
        request = RequestTrace(self._tracer.start_span(name, context=parent, kind=SpanKind.SERVER, attributes=attributes))
        request.token = self._current.set(request)
        return request

    def end_server(self, request: RequestTrace, attributes: dict[str, Any], error: bool) -> None:
        if request.pending is not None:  # the request ended before it settled (cancelled)
            request.pending.end()
            request.pending = None
        span = request.span
        if span.is_recording():
            if request.summary is not None:
                attributes = {**request.summary, **attributes}
            span.set_attributes(attributes)
            if error or request.failed:
                span.set_status(_ERROR)
        span.end()
        if request.token is not None:
            self._current.reset(request.token)

    def admitted(self, messages: Any) -> None:
        """The request passed admission: keep its messages when content capture is on."""
        if self.capture_content:
            request = self._current.get()
            if request is not None:
                request.input = input_messages(messages)

    def settled(self, ctx: Any, usage: Usage | None, finish_reason: str | None) -> None:
        """The request's books closed (edge.context.settle): its GenAI summary on the server span.

        ``usage`` is the final answer's (a stream's), ``ctx.usage`` the whole request's.
        """
        request = self._current.get()
        if request is None:
            return
        record = ctx.record
        failed = record.status >= 400
        pending = request.pending
        if pending is not None:
            request.pending = None
            if pending.is_recording():
                done = usage_attributes(usage)
                if finish_reason:
                    done["gen_ai.response.finish_reasons"] = (finish_reason,)
                if failed:
                    done["error.type"] = record.error_type or str(record.status)
                    if record.status >= 500:
                        pending.set_status(_ERROR)
                pending.set_attributes(done)
            pending.end()
        span = request.span
        if not span.is_recording():
            return
        # Each attribute costs the exporter thread a few microseconds to encode: no duplicates
        # (edge.request_id comes from the surface, the provider is the first half of the route).
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": record.endpoint,
            "gen_ai.request.model": record.public_model,
            "edge.attempts": record.attempts,
        }
        if record.stream:
            attrs["edge.stream"] = True
        if record.provider:
            known = self._providers.get(record.provider)
            attrs["gen_ai.provider.name"] = known[0] if known is not None else record.provider
            attrs["gen_ai.response.model"] = record.upstream_model or ""
            attrs["edge.route"] = f"{record.provider}/{record.upstream_model}"
        attrs.update(usage_attributes(ctx.usage))
        finish = finish_reason or request.finish
        if finish and not failed:
            attrs["gen_ai.response.finish_reasons"] = (finish,)
        if ctx.fallback_reason:
            attrs["edge.fallback_reason"] = ctx.fallback_reason
        if ctx.usage is not None and record.cost_usd is not None:
            attrs["edge.cost_usd"] = record.cost_usd
        if record.tags:
            attrs["edge.tags"] = tuple(f"{k}={v}" for k, v in sorted(record.tags.items()))
        if record.key_id:
            attrs["edge.key_id"] = record.key_id
        if record.client_disconnected:
            attrs["edge.client_disconnected"] = True
        if failed:
            attrs["error.type"] = record.error_type or str(record.status)
            request.failed = record.status >= 500
        if request.input is not None:
            attrs["gen_ai.input.messages"] = request.input
        if request.output is not None:
            attrs["gen_ai.output.messages"] = request.output
        request.summary = attrs

    # -- one client span per upstream attempt (edge.routing.execute) --------------------------

    def attempt(self, ctx: Any, target: Any, number: int, retry: int) -> AttemptTrace:
        request = self._current.get()
        if request is not None and request.pending is not None:
            # An earlier answer was used and another call follows (escalation): that span ends.
            request.pending.end()
            request.pending = None
        provider = target.provider
        operation = ctx.record.endpoint
        known = self._providers.get(provider.name)
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": operation,
            "gen_ai.provider.name": known[0] if known is not None else provider_name(provider.name, provider.kind),
            "gen_ai.request.model": target.upstream_model,
            "edge.route": target.route,
            "edge.attempt": number,
        }
        if known is not None:
            attrs.update(known[1])
        if retry:
            attrs["edge.retry"] = retry
        if ctx.fallback_reason:
            attrs["edge.fallback_reason"] = ctx.fallback_reason
        span = self._tracer.start_span(f"{operation} {target.upstream_model}", context=request.parent if request is not None else None, kind=SpanKind.CLIENT, attributes=attrs)
        context = span.get_span_context()
        headers = {"traceparent": f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"}
        if context.trace_state:
            headers["tracestate"] = context.trace_state.to_header()
        return AttemptTrace(self, span, self._upstream.set(headers), target.upstream_model)


def _output(result: ChatResult) -> str | None:
    try:
        return output_messages(result.document())
    except ValueError:
        return None
