"""Reading a JSON request body: content type, size limit, malformed JSON and schema errors.

Each failure becomes a 4xx whose message says what was wrong and where, before anything is sent
upstream. msgspec reports the failing path (``$.messages[0].content``); it becomes the envelope's
``param`` (``messages[0].content``).
"""

from __future__ import annotations

from typing import Any, TypeVar

from aiohttp import web

from edge.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType, invalid_from_validation
from edge.fastpath import jsonio

__all__ = ["read_json"]

T = TypeVar("T")


async def read_json(request: web.Request, type: type[T], max_bytes: int) -> tuple[T, dict[str, Any]]:
    """The typed view (for validation and routing) and the raw dict (passed through upstream)."""
    content_type = request.headers.get("content-type")
    if content_type is not None:
        mime = content_type.partition(";")[0].strip().lower()
        if mime != "application/json" and not mime.endswith("+json"):
            raise UnsupportedMediaType(f"Content-Type must be application/json, got '{mime[:100]}'.")
    length = request.content_length
    if length is not None and length > max_bytes:
        raise PayloadTooLarge(f"Request body is {length} bytes; the limit is {max_bytes} bytes (server.max_body_mb).")
    raw = await request.read()
    if not raw:
        raise InvalidRequest("The request body is empty; expected a JSON object.")
    # Decoded once (orjson, into the dict passed upstream); the typed view is built from that
    # dict, which costs the same at any prompt size (msgspec from bytes scans them all again).
    try:
        body = jsonio.loads(raw)
    except jsonio.JSONDecodeError as exc:  # malformed, not UTF-8, or nested past orjson's limit
        if str(exc).startswith("depth limit exceeded"):
            raise InvalidRequest("The JSON body of your request is nested too deeply.", code="invalid_json") from None
        raise InvalidRequest(f"We could not parse the JSON body of your request: {exc}.", code="invalid_json") from None
    try:
        typed = jsonio.convert(body, type)
    except jsonio.ValidationError as exc:
        raise invalid_from_validation(str(exc)) from None
    except RecursionError:
        raise InvalidRequest("The JSON body of your request is nested too deeply.", code="invalid_json") from None
    return typed, body
