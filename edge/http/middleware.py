"""Request ids and errors: every response carries ``x-request-id``; every error is an envelope.

The middleware is the single place where exceptions become responses: EdgeError subclasses map
to their status and OpenAI envelope, aiohttp's own HTTP errors (unknown path, wrong method, body
too large) are translated, and anything unexpected becomes a 500 that names the request id while
the traceback goes to the log, never to the client.
"""

from __future__ import annotations

import asyncio
import logging
import re

from aiohttp import web
from aiohttp.typedefs import Handler

from edge.caps import ConcurrencyCaps
from edge.errors import EdgeError, MethodNotAllowed, NotFound, PayloadTooLarge

from ..context import RequestContext
from ..gateway import Gateway
from ..messages.reply import error_body, error_status
from .appkeys import CONTEXT, GATEWAY, REQUEST_ID
from .batch_common import allow_file_upload
from .headers import route_headers
from .messages import gateway_authorization

__all__ = ["CAPS", "edge_middleware", "error_response", "request_id_of", "tracing_middleware"]

CAPS = web.AppKey("edge_caps", ConcurrencyCaps)
# Operators' endpoints answer even when the caps are full.
_UNCAPPED = frozenset(("/healthz", "/readyz", "/metrics", "/openapi.json"))
# Probes and scrapes every few seconds would drown the traces that matter.
_UNTRACED = frozenset(("/healthz", "/readyz", "/metrics"))

log = logging.getLogger("edge.http")

_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


# The Anthropic Messages API's paths answer errors in its own envelope (edge/messages/reply.py).
_MESSAGES = "/v1/messages"
# Uploads take batch.max_file_mb, not server.max_body_mb (edge.http.batch_common).
_FILES = "/v1/files"


def request_id_of(gw: Gateway, incoming: str | None) -> str:
    """The client's ``x-request-id`` when it is a safe token, else a new one."""
    return incoming if incoming and _CLIENT_ID.match(incoming) else gw.request_ids.new()


def error_response(err: EdgeError, request_id: str, ctx: RequestContext | None = None, anthropic: bool = False) -> web.Response:
    headers = err.headers()
    if ctx is not None:  # a route was tried: say which, as a good answer does
        headers.update(route_headers(ctx))
    headers["x-request-id"] = request_id
    if anthropic:
        headers["request-id"] = request_id  # what the Anthropic SDKs read (APIStatusError.request_id)
        status = error_status(err)[0]
        return web.Response(status=status, body=error_body(err, request_id), content_type="application/json", headers=headers)
    return web.Response(status=err.status, body=err.envelope(), content_type="application/json", headers=headers)


def _translate(exc: web.HTTPException, request: web.Request) -> EdgeError:
    if exc.status == 404:
        return NotFound(f"Unknown endpoint: {request.method} {request.path}.")
    if exc.status == 405:
        # RFC 9110 section 15.5.6: a 405 lists the methods the resource has.
        allowed = ", ".join(sorted(getattr(exc, "allowed_methods", ()) or ()))
        return MethodNotAllowed(f"Method {request.method} is not allowed on {request.path}.", extra_headers={"allow": allowed})
    if exc.status == 413:
        limit = request.app._client_max_size  # aiohttp keeps the configured limit only here
        return PayloadTooLarge(f"Request body is larger than the limit of {limit} bytes (server.max_body_mb).")
    error = EdgeError(exc.reason or "HTTP error")
    error.status, error.type = exc.status, "invalid_request_error" if exc.status < 500 else "api_error"
    return error


@web.middleware
async def edge_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    incoming = request.headers.get("x-request-id")
    gw = request.app[GATEWAY]
    request_id = request_id_of(gw, incoming)
    request[REQUEST_ID] = request_id
    inflight = gw.metrics.inflight  # the gauge's series, [requests in flight]
    inflight[0] += 1
    caps = request.app.get(CAPS)
    key = None
    path = request.path
    anthropic = path.startswith(_MESSAGES)
    if path == _FILES and request.method == "POST":
        allow_file_upload(request)
    try:
        if caps is not None and path not in _UNCAPPED:
            authorization = gateway_authorization(request) if anthropic else request.headers.get("authorization")
            caller = caps.key_of(authorization)
            caps.acquire(caller)
            key = caller  # only now is there something to release
            if request.body_exists:
                await _read_body(request)
            if authorization is not None and gw.auth.needs_lookup(authorization):
                await gw.auth.lookup(authorization)  # a key made on another instance just now
        response = await handler(request)
    except EdgeError as err:
        return error_response(err, request_id, request.get(CONTEXT), anthropic)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(_translate(exc, request), request_id, anthropic=anthropic)
    except Exception:
        log.exception("unhandled error in %s %s (request %s)", request.method, request.path, request_id)
        internal = EdgeError(f"Internal gateway error; quote request id {request_id} when reporting it.")
        return error_response(internal, request_id, anthropic=anthropic)
    finally:
        inflight[0] -= 1
        if key is not None:
            caps.release(key)  # type: ignore[union-attr]
    if not response.prepared:
        response.headers["x-request-id"] = request_id
    return response


async def _read_body(request: web.Request) -> None:
    """Read the whole body within server.body_timeout_s (a trickling client gets 408).

    aiohttp keeps what it read, so the handler's own read returns it at once.
    """
    # The request's own limit: server.max_body_mb, or batch.max_file_mb for a file upload
    # (edge.http.batch_common.allow_file_upload); aiohttp's read() holds the body to the same one.
    length, limit = request.content_length, request._client_max_size
    if length is not None and length > limit:
        # Unread, the declared body would keep the connection busy: close it after the answer.
        raise PayloadTooLarge(f"Request body is {length} bytes; the limit is {limit} bytes ({'batch.max_file_mb' if limit > request.app._client_max_size else 'server.max_body_mb'}).", extra_headers={"connection": "close"})
    if request.content.is_eof():
        # The whole body came with the head (most API calls): nothing to wait for, so no
        # timer to arm and cancel (and on CPython 3.11 no getpid calls under asyncio.timeout).
        await request.read()
        return
    seconds = request.app[GATEWAY].config.server.body_timeout_s
    try:
        async with asyncio.timeout(seconds):
            await request.read()
    except TimeoutError:
        # The rest of the body may still trickle in: close the connection after the answer.
        err = EdgeError(f"The request body did not arrive within {seconds:g} s (server.body_timeout_s).", code="body_timeout", extra_headers={"connection": "close"})
        err.status, err.type = 408, "invalid_request_error"
        raise err from None


@web.middleware
async def tracing_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The request's server span (OpenTelemetry HTTP server conventions), around edge_middleware.

    Installed only when tracing is on (edge.http.app), so the off path pays nothing for it.
    An incoming W3C ``traceparent`` is continued; a streamed answer's span ends with the stream.
    """
    tracing = request.app[GATEWAY].tracing
    if tracing is None or request.path in _UNTRACED:
        return await handler(request)
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else None  # a template: low cardinality
    attributes = {"http.request.method": request.method, "url.path": request.path}
    if route is not None:
        attributes["http.route"] = route
    headers = request.headers
    trace = tracing.start_server(f"{request.method} {route}" if route else request.method, headers if "traceparent" in headers else None, attributes)
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:  # below 400: redirects edge_middleware lets through
        status = exc.status
        raise
    except asyncio.CancelledError:
        status = 499  # the client went away
        raise
    finally:
        done: dict[str, object] = {"http.response.status_code": status}
        request_id = request.get(REQUEST_ID)
        if request_id is not None:
            done["edge.request_id"] = request_id
        tracing.end_server(trace, done, status >= 500)
