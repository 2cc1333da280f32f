"""A request read by edge.server, and the streamed answer written to its connection.

The hot handlers (edge.http.chat and its peers) and edge.http.middleware are written against
aiohttp's ``web.Request``; ``LeanRequest`` has the part of that surface they use (``app``,
``method``, ``path``, ``headers``, ``query``, ``read()``, ``content_length``, per-request keys)
for a request whose whole body the protocol has already read. ``LeanStream`` has the part of
``web.StreamResponse`` the SSE sinks use (``prepare``, ``write``, ``write_eof``): the head, then
each write as one chunk of the chunked coding, the last with the terminating chunk in one send.
``LeanResponse`` is a whole JSON answer: a status, the body and a plain dict of headers, which
is what ``web.Response`` would hold, without its header multidict and content-type parsing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from . import wire

if TYPE_CHECKING:
    from .protocol import LeanProtocol

__all__ = ["LeanRequest", "LeanResponse", "LeanStream"]


class _Resource:
    __slots__ = ("canonical",)

    def __init__(self, canonical: str) -> None:
        self.canonical = canonical


class _Route:
    __slots__ = ("resource",)

    def __init__(self, path: str) -> None:
        self.resource = _Resource(path)


class _MatchInfo:
    """What the tracing middleware reads: the route's template (a hot path is its own)."""

    __slots__ = ("route",)

    def __init__(self, path: str) -> None:
        self.route = _Route(path)


class _Ended:
    """``request.content``: the protocol read the whole body before the handler ran."""

    __slots__ = ()

    def is_eof(self) -> bool:
        return True


class LeanRequest(dict[Any, Any]):
    """One parsed request with its whole body; the dict holds the per-request keys (appkeys)."""

    __slots__ = ("app", "method", "path", "query_string", "headers", "version", "keep_alive", "_body", "_client_max_size", "_connection")

    content = _Ended()

    def __init__(self, app: web.Application, method: str, path: str, query_string: str, headers: CIMultiDictProxy[str], version: str, keep_alive: bool, body: bytes, max_size: int, connection: LeanProtocol) -> None:
        super().__init__()
        self.app = app
        self.method = method
        self.path = path
        self.query_string = query_string
        self.headers = headers
        self.version = version
        self.keep_alive = keep_alive
        self._body = body
        self._client_max_size = max_size
        self._connection = connection

    def __hash__(self) -> int:  # type: ignore[override]  # aiohttp's request is hashable by identity; so is this one
        return id(self)

    def __eq__(self, other: object) -> bool:
        return self is other

    async def read(self) -> bytes:
        return self._body

    @property
    def body_exists(self) -> bool:
        return bool(self._body)

    @property
    def content_length(self) -> int | None:
        return len(self._body) if self._body or "content-length" in self.headers else None

    @property
    def query(self) -> MultiDictProxy[str]:
        return MultiDictProxy(MultiDict(parse_qsl(self.query_string, keep_blank_values=True)))

    @property
    def match_info(self) -> _MatchInfo:
        return _MatchInfo(self.path)

    @property
    def remote(self) -> str | None:
        return self._connection.peer

    def stream_response(self, status: int, headers: dict[str, str]) -> LeanStream:
        return LeanStream(self._connection, status, headers, self.keep_alive)


class LeanStream:
    """A streamed answer on a lean connection, with web.StreamResponse's methods the sinks call."""

    __slots__ = ("_connection", "status", "headers", "_keep_alive", "prepared", "ended", "body_length")

    def __init__(self, connection: LeanProtocol, status: int, headers: dict[str, str], keep_alive: bool) -> None:
        self._connection = connection
        self.status = status
        self.headers = CIMultiDict(headers)
        self._keep_alive = keep_alive
        self.prepared = False
        self.ended = False
        self.body_length = 0

    async def prepare(self, request: object) -> None:
        if self.prepared:
            return
        self.prepared = True
        connection = self._connection
        framing = b"transfer-encoding: chunked\r\n" if self._keep_alive and not connection.closing else b"transfer-encoding: chunked\r\nconnection: close\r\n"
        connection.send(wire.head(self.status, connection.date_line(), list(self.headers.items()), framing))

    async def write(self, data: bytes) -> None:
        if not data:
            return
        if not self.prepared:
            await self.prepare(None)
        self.body_length += len(data)
        connection = self._connection
        connection.send(wire.chunk(data))
        if connection.paused is not None:
            await connection.drain()

    async def write_eof(self, data: bytes = b"") -> None:
        if self.ended:
            return
        if not self.prepared:
            await self.prepare(None)
        self.ended = True
        self.body_length += len(data)
        self._connection.send(wire.chunk(data) + wire.CHUNKED_END if data else wire.CHUNKED_END)


class LeanResponse:
    """A whole answer for a request edge.server read: ``status``, ``body`` and ``headers``, a
    dict with lower-case names (every header edge writes is named so), content-type included."""

    __slots__ = ("status", "body", "headers")

    prepared = False  # what edge.http.middleware asks before it adds x-request-id

    def __init__(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.status = status
        self.body = body
        self.headers = headers
