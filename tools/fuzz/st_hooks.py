"""Schemathesis hooks for the HTTP surface run (tools/fuzz/http_api.py): two extra checks.

``no_gateway_5xx`` replaces the stock not_a_server_error: every 5xx fails (the mock behind is
healthy, so a 5xx is the gateway's own) except a 504 for a request whose own
``x-edge-timeout-ms`` was under 100 ms: the client asked for a deadline that passed before or
during the upstream call, and 504 is the documented answer.

``no_upstream_call_when_rejected``: a 4xx that the gateway made (every 4xx here: the mock never
answers one unless asked through a ``mock`` knob) must not have reached the upstream. The mock's
request counter (GET /mock/stats) is read before and after each call, so run with --workers 1.
Set EDGE_FUZZ_MOCK_URL to the mock's base URL.
"""

from __future__ import annotations

import json
import os
import urllib.request
from typing import Any

import schemathesis

_MOCK = os.environ.get("EDGE_FUZZ_MOCK_URL", "")
_BEFORE: dict[str, int] = {}


def _mock_requests() -> int:
    with urllib.request.urlopen(_MOCK + "/mock/stats", timeout=10) as response:
        return int(json.loads(response.read())["requests"])


@schemathesis.hook
def before_call(context: schemathesis.HookContext, case: schemathesis.Case, kwargs: dict[str, Any]) -> None:
    if _MOCK:
        _BEFORE["n"] = _mock_requests()


@schemathesis.check
def no_upstream_call_when_rejected(ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case) -> bool | None:
    if not _MOCK or "n" not in _BEFORE or not 400 <= response.status_code < 500:
        return None
    calls = _mock_requests() - _BEFORE["n"]
    if calls:
        raise AssertionError(f"The gateway answered {response.status_code} but called the upstream {calls} time(s)")
    return None


@schemathesis.check
def no_gateway_5xx(ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case) -> bool | None:
    if response.status_code < 500:
        return None
    if response.status_code == 504:
        try:
            asked = float((case.headers or {}).get("x-edge-timeout-ms", "inf"))
        except ValueError:
            asked = float("inf")
        if asked < 100:
            return None
    raise AssertionError(f"The gateway answered {response.status_code}: {response.content[:300]!r}")
