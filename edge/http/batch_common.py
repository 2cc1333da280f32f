"""What the Files and Batches endpoints share: the worker's batch service, owners, paging."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from edge.errors import EdgeError, InvalidRequest
from edge.store.guard import StoreUnavailable

from ..auth import Principal
from ..batch.service import BatchService

__all__ = ["BATCH", "Conflict", "allow_file_upload", "guarded", "owner_of", "page_limit"]

BATCH = web.AppKey("edge_batch", BatchService)


class Conflict(EdgeError):
    """The object is not in a state that allows this (cancel a finished batch, retry a running one)."""

    status = 409
    type = "invalid_request_error"
    code = "conflict"


def owner_of(principal: Principal) -> str | None:
    """Whose files and batches a caller sees: its own (anonymous: ''), or all for the admin key."""
    return None if principal.is_admin else principal.key_id or ""


def page_limit(raw: str | None, default: int, most: int) -> int:
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequest(f"'limit' must be a whole number, got '{raw[:20]}'.", param="limit") from None
    if not 1 <= value <= most:
        raise InvalidRequest(f"'limit' must be between 1 and {most}, got {value}.", param="limit")
    return value


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def guarded(handler: Handler) -> Handler:
    """The handler, with a database that cannot answer now turned into 503 store_unavailable
    (Retry-After) instead of a 500."""

    async def run(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except EdgeError:
            raise
        except Exception as exc:
            if request.app[BATCH].store.unavailable(exc):
                raise StoreUnavailable(f"The batch store is not answering ({type(exc).__name__}); retry in a moment.", retry_after=1.0) from None
            raise

    return run


def allow_file_upload(request: web.Request) -> None:
    """POST /v1/files may carry up to batch.max_file_mb (and its form around it); every other
    request keeps server.max_body_mb. aiohttp keeps the limit per request, as the private
    ``_client_max_size`` (set from the application's; there is no public setter). Called by
    edge.http.middleware before anything reads the body (a middleware of its own would cost
    every request one more layer)."""
    service = request.app.get(BATCH)
    if service is not None:
        request._client_max_size = max(request._client_max_size, service.max_file_bytes + 65536)
