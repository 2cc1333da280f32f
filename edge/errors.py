"""One error hierarchy, mapped once to an HTTP status and the OpenAI error envelope.

Envelope: ``{"error": {"message", "type", "param", "code"}}`` (OpenAI OpenAPI ``Error``; all four
keys present, param and code may be null). Type and code values follow what OpenAI sends
(shared/reference/wire-formats.md section 1.6). The gRPC surface maps the same classes to status
codes, so both surfaces agree.
"""

from __future__ import annotations

import math

from edge.adapters.types import UpstreamErrorInfo
from edge.fastpath import jsonio

__all__ = [
    "AuthenticationError",
    "BadGateway",
    "EdgeError",
    "GatewayTimeout",
    "InsufficientQuota",
    "InvalidRequest",
    "ModelNotFound",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "RateLimited",
    "ServiceUnavailable",
    "UnsupportedMediaType",
    "UpstreamError",
    "error_event",
    "invalid_from_validation",
]


class EdgeError(Exception):
    """Base class: a status, an OpenAI error type and code, a message safe to show a client."""

    status = 500
    type = "api_error"
    code: str | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None, retry_after: float | None = None, extra_headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        self.retry_after = retry_after
        self.extra_headers = extra_headers

    def envelope(self) -> bytes:
        return jsonio.dumps({"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}})

    def headers(self) -> dict[str, str]:
        headers = dict(self.extra_headers) if self.extra_headers else {}
        if self.retry_after is not None:
            # Retry-After is whole seconds (RFC 9110); retry-after-ms keeps the precision for
            # the OpenAI SDKs, which read it first.
            headers["retry-after"] = str(max(1, math.ceil(self.retry_after)))
            headers["retry-after-ms"] = str(int(self.retry_after * 1000))
        return headers


class InvalidRequest(EdgeError):
    status = 400
    type = "invalid_request_error"


class AuthenticationError(EdgeError):
    status = 401
    type = "invalid_request_error"
    code = "invalid_api_key"


class PermissionDenied(EdgeError):
    status = 403
    type = "permission_error"


class NotFound(EdgeError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"


class ModelNotFound(NotFound):
    code = "model_not_found"


class MethodNotAllowed(EdgeError):
    status = 405
    type = "invalid_request_error"
    code = "method_not_allowed"


class PayloadTooLarge(EdgeError):
    status = 413
    type = "invalid_request_error"
    code = "request_too_large"


class UnsupportedMediaType(EdgeError):
    status = 415
    type = "invalid_request_error"
    code = "unsupported_media_type"


class RateLimited(EdgeError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"


class InsufficientQuota(EdgeError):
    """A budget is spent; retrying will not help until the period turns (OpenAI's 429 quota)."""

    status = 429
    type = "insufficient_quota"
    code = "insufficient_quota"

    def headers(self) -> dict[str, str]:
        return {**super().headers(), "x-should-retry": "false"}


class BadGateway(EdgeError):
    status = 502
    type = "api_error"
    code = "upstream_unreachable"


class ServiceUnavailable(EdgeError):
    status = 503
    type = "api_error"
    code = "service_unavailable"


class GatewayTimeout(EdgeError):
    status = 504
    type = "timeout"
    code = "upstream_timeout"


class UpstreamError(EdgeError):
    """An error the upstream answered with, passed on with its status, type and code."""

    def __init__(self, info: UpstreamErrorInfo, provider: str) -> None:
        super().__init__(info.message, param=info.param, code=info.code, retry_after=info.retry_after)
        self.status = info.status if 400 <= info.status <= 599 else 502
        self.type = info.type
        self.provider = provider
        self.info = info


def invalid_from_validation(text: str) -> InvalidRequest:
    """A msgspec ValidationError message (``... - at `$.messages[0].role```) -> a 400 whose
    ``param`` is the failing path (``messages[0].role``); both surfaces use it."""
    message, sep, where = text.rpartition(" - at `")
    if not sep:
        message, where = text, "$"
    param = where.rstrip("`").removeprefix("$").lstrip(".") or None
    if message.startswith("Object missing required field"):
        field = message.split("`")[1]
        param = f"{param}.{field}" if param else field
        return InvalidRequest(f"Invalid request: '{param}' is a required property.", param=param)
    message = message.replace("`", "'")
    return InvalidRequest(f"Invalid request: {message} at '{param}'." if param else f"Invalid request: {message}.", param=param)


def error_event(err: EdgeError) -> bytes:
    """The final SSE event of a stream that failed after it started (the SDKs raise on it)."""
    return b"data: " + err.envelope() + b"\n\n"
