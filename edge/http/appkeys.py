"""Typed keys for values stored on the aiohttp app and request (aiohttp AppKey / RequestKey)."""

from __future__ import annotations

from aiohttp import web

from edge.gateway import Gateway

__all__ = ["CONTEXT", "GATEWAY", "REQUEST_ID"]

GATEWAY = web.AppKey("edge_gateway", Gateway)
# aiohttp has no typed request keys; a plain string namespaced to us.
REQUEST_ID = "edge_request_id"
# The request's RequestContext once the handler made one: the middleware names the route that
# was tried on an error response.
CONTEXT = "edge_request_context"
