"""edge.server's listening socket: the hot endpoints, their handler chains, the caps, the drain.

The hot endpoints are the four that carry the traffic: ``POST /v1/chat/completions``,
``/v1/responses``, ``/v1/messages`` and ``/v1/embeddings``. Each is served by the handler the
aiohttp app routes it to, wrapped in the app's middleware (request id, caps, body, errors;
tracing when it is on), so both paths give the same answers; the protocol (edge.server.protocol)
replaces aiohttp's request parsing, request and response objects and writer. Every other
request is served by the app's aiohttp server (edge.server.handoff). The caps are the ones
edge.serve gives aiohttp (``server.*``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from multidict import CIMultiDictProxy

from edge.errors import EdgeError

from ..http.appkeys import GATEWAY
from ..http.chat import chat_completions
from ..http.embeddings import embeddings
from ..http.messages import messages
from ..http.middleware import error_response, request_id_of
from ..http.responses import create_response
from . import wire
from .protocol import LeanProtocol
from .request import LeanRequest

__all__ = ["HOT_PATHS", "LeanSite"]

Handler = Callable[[LeanRequest], Awaitable[web.StreamResponse]]

HOT_PATHS: dict[str, Callable[..., Awaitable[web.StreamResponse]]] = {
    "/v1/chat/completions": chat_completions,
    "/v1/responses": create_response,
    "/v1/messages": messages,
    "/v1/embeddings": embeddings,
}


class LeanSite:
    """The hot endpoints on one listening socket (SO_REUSEPORT across workers)."""

    def __init__(self, runner: web.AppRunner, access_log: logging.Logger | None) -> None:
        app = runner.app
        config = app[GATEWAY].config.server
        self.loop = asyncio.get_running_loop()
        self.app = app
        self.gateway = app[GATEWAY]
        self._runner = runner
        self.connections: set[LeanProtocol] = set()
        self.clock = wire.Clock()
        self.access_log = access_log
        self.keepalive_s = config.keepalive_timeout_s
        self.body_timeout_s = config.body_timeout_s
        self.max_line = config.max_header_bytes
        self.max_headers = config.max_headers
        self.max_head = (config.max_headers + 1) * config.max_header_bytes
        self.max_body = self.gateway.max_body_bytes
        self.hot = frozenset(path.encode("ascii") for path in HOT_PATHS)
        self.hot_starts = tuple(b"POST " + path for path in self.hot)
        handlers = {path: _chained(app, handler) for path, handler in HOT_PATHS.items()}
        self.handler: Callable[[str], Handler] = handlers.__getitem__
        self._server: asyncio.AbstractServer | None = None

    def aiohttp_protocol(self) -> asyncio.Protocol:
        server = self._runner.server
        assert server is not None
        return server()  # aiohttp's RequestHandler, registered with its server for the drain

    def error(self, err: EdgeError, headers: CIMultiDictProxy[str] | None, path: str) -> web.Response:
        request_id = request_id_of(self.gateway, headers.get("x-request-id") if headers is not None else None)
        return error_response(err, request_id, anthropic=path.startswith("/v1/messages"))

    def log_access(self, request: LeanRequest, status: int, size: int) -> None:
        """One line in aiohttp's default access-log format, on the same logger."""
        assert self.access_log is not None
        target = request.path + ("?" + request.query_string if request.query_string else "")
        headers = request.headers
        when = time.strftime("[%d/%b/%Y:%H:%M:%S +0000]", time.gmtime())
        self.access_log.info('%s %s "%s %s HTTP/1.1" %d %d "%s" "%s"', request.remote or "-", when, request.method, target, status, size, headers.get("referer", "-"), headers.get("user-agent", "-"))

    async def start(self, host: str, port: int, reuse_port: bool) -> int:
        """Listen; the port bound (what port 0 picked)."""
        self._server = await self.loop.create_server(lambda: LeanProtocol(self), host, port, reuse_port=reuse_port, backlog=2048)
        return int(self._server.sockets[0].getsockname()[1])

    async def drain(self, timeout_s: float) -> None:
        """Stop listening; close idle connections; let the busy finish for up to ``timeout_s``."""
        if self._server is not None:
            self._server.close()
        for connection in list(self.connections):
            connection.shutdown()
        deadline = self.loop.time() + timeout_s
        while self.connections and self.loop.time() < deadline:
            await asyncio.sleep(0.05)
        for connection in list(self.connections):
            connection.abort()
        if self._server is not None:
            await self._server.wait_closed()


def _chained(app: web.Application, handler: Callable[..., Awaitable[web.StreamResponse]]) -> Handler:
    """The handler inside the app's middlewares, outermost first (as aiohttp applies them)."""
    chained: Any = handler
    for middleware in reversed(app.middlewares):
        chained = functools.partial(middleware, handler=chained)
    return chained
