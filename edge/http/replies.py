"""A handler's whole JSON answer: aiohttp's ``web.Response``, or edge.server's ``LeanResponse``
for a request edge.server read (the same status, body and headers on the wire)."""

from __future__ import annotations

from typing import cast

from aiohttp import web

from ..server.request import LeanRequest, LeanResponse

__all__ = ["json_response"]


def json_response(request: web.Request, body: bytes, headers: dict[str, str], status: int = 200) -> web.StreamResponse:
    """``headers`` (lower-case names) become the answer's; content-type is application/json."""
    if isinstance(request, LeanRequest):
        headers["content-type"] = "application/json"
        # Typed as aiohttp's, the handlers' type: only edge.server, which read the request,
        # gets this answer back (edge.server.answers writes it).
        return cast(web.StreamResponse, LeanResponse(status, body, headers))
    return web.Response(status=status, body=body, content_type="application/json", headers=headers)
