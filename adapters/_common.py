"""Helpers shared by two or more adapters: error vocabulary, Retry-After, secret scrubbing.

Status-to-type mapping follows the translation cheat-sheet in shared/reference/wire-formats.md
section 6; Retry-After parsing follows RFC 9110 section 10.2.3 plus OpenAI's ``retry-after-ms``.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from typing import Any

from .types import UpstreamErrorInfo

__all__ = ["error_type_for_status", "parse_retry_after", "scrub", "upstream_error"]

_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout",
    409: "conflict_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}

# Longest Retry-After we pass on: the OpenAI SDKs do not retry at all above 120 s
# (openai-python _base_client.py, MAX_RETRY_AFTER_DELAY).
MAX_RETRY_AFTER_S = 120.0


def error_type_for_status(status: int) -> str:
    if status in _TYPE_BY_STATUS:
        return _TYPE_BY_STATUS[status]
    return "api_error" if status >= 500 else "invalid_request_error"


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from retry-after-ms or Retry-After (seconds or HTTP date), capped."""
    if not headers:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return _cap(float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return _cap(float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return _cap(when.timestamp() - time.time())


def _cap(seconds: float) -> float | None:
    if seconds != seconds or seconds < 0:  # NaN or in the past
        return None
    return min(seconds, MAX_RETRY_AFTER_S)


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    """Remove credentials from text that came back from an upstream (some echo the key)."""
    for secret in secrets:
        if secret and len(secret) >= 6 and secret in text:
            text = text.replace(secret, "[redacted]")
    return text


def upstream_error(
    status: int,
    message: str,
    *,
    type: str | None = None,
    code: Any = None,
    param: Any = None,
    retry_after: float | None = None,
    secrets: tuple[str, ...] = (),
) -> UpstreamErrorInfo:
    return UpstreamErrorInfo(
        status=status,
        message=scrub(message, secrets) or f"upstream returned HTTP {status}",
        type=type if isinstance(type, str) and type else error_type_for_status(status),
        code=None if code is None else str(code),
        param=None if param is None else str(param),
        retry_after=retry_after,
    )
