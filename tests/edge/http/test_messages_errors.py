"""Errors on /v1/messages in Anthropic's shape, each class as the anthropic SDK raises it.

``{"type": "error", "error": {"type", "message"}, "request_id"}`` with 401 authentication_error,
403 permission_error, 404 not_found_error, 400 invalid_request_error, 413 request_too_large,
429 rate_limit_error (retry-after), 529 overloaded_error, 500 api_error; an ``error`` event
ends a stream that fails after it started; ``request-id`` on every response.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest

from tests.support import Mock, Server, request

from .messages_support import ADMIN, client, events, ledger_row, start

Q = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("messages-errors")


@pytest.fixture(scope="module")
def gateway(mock: Mock, home: Path) -> Iterator[Server]:
    yield from start(mock, home)


def _key(gateway: Server, **spec: Any) -> str:
    status, _, body = request("POST", gateway.url + "/v1/keys", json.dumps({"name": "messages-test", **spec}).encode(), {"authorization": f"Bearer {ADMIN}", "content-type": "application/json"})
    assert status == 201, body
    return str(json.loads(body)["key"])


def _raises(kind: type[anthropic.APIStatusError], call: Any, status: int, etype: str) -> anthropic.APIStatusError:
    with pytest.raises(kind) as info:
        call()
    err = info.value
    assert err.status_code == status, err
    body = err.body
    assert isinstance(body, dict) and body["type"] == "error" and body["error"]["type"] == etype and body["error"]["message"], body
    assert err.request_id and err.response.headers["request-id"] == err.response.headers["x-request-id"] == body["request_id"]
    return err


def test_401_authentication_error(gateway: Server, mock: Mock) -> None:
    before = mock.stats()["requests"]
    with client(gateway, api_key="not-a-gateway-key") as sdk:
        err = _raises(anthropic.AuthenticationError, lambda: sdk.messages.create(model="claude/echo", max_tokens=8, messages=Q), 401, "authentication_error")  # type: ignore[arg-type]
        assert "gateway key" in err.message
    status, headers, raw = request("POST", gateway.url + "/v1/messages", b'{"model":"claude/echo","max_tokens":8,"messages":[{"role":"user","content":"x"}]}', {"content-type": "application/json"})
    doc = json.loads(raw)
    assert status == 401 and doc["error"]["type"] == "authentication_error" and "Missing gateway key" in doc["error"]["message"] and headers["request-id"]
    assert mock.stats()["requests"] == before  # nothing went upstream


def test_403_permission_error(gateway: Server) -> None:
    with client(gateway, api_key=_key(gateway, models=["claude-sonnet-4-5"])) as sdk:
        assert sdk.messages.create(model="claude-sonnet-4-5", max_tokens=8, messages=Q).content  # type: ignore[arg-type]
        err = _raises(anthropic.PermissionDeniedError, lambda: sdk.messages.create(model="claude/echo", max_tokens=8, messages=Q), 403, "permission_error")  # type: ignore[arg-type]
        assert "claude/echo" in err.message


def test_404_not_found_error(gateway: Server) -> None:
    with client(gateway) as sdk:
        err = _raises(anthropic.NotFoundError, lambda: sdk.messages.create(model="claude-nonexistent-9", max_tokens=8, messages=Q), 404, "not_found_error")  # type: ignore[arg-type]
        assert "claude-nonexistent-9" in err.message
        _raises(anthropic.NotFoundError, lambda: sdk.messages.create(model="claude/echo-missing", max_tokens=8, messages=Q), 404, "not_found_error")  # type: ignore[arg-type]


def test_400_invalid_request_error(gateway: Server, mock: Mock) -> None:
    headers = {"x-api-key": ADMIN, "anthropic-version": "2023-06-01", "content-type": "application/json"}
    for body, where in (
        (b'{"model":"claude/echo","messages":[{"role":"user","content":"x"}]}', "max_tokens"),
        (b'{"model":"claude/echo","max_tokens":5,"messages":[{"role":"robot","content":"x"}]}', "messages[0].role"),
        (b'{"model":"claude/echo","max_tokens":5,"messages":[]}', "messages"),
        (b'{"model":', "JSON"),
    ):
        status, got, raw = request("POST", gateway.url + "/v1/messages", body, headers)
        doc = json.loads(raw)
        assert status == 400 and doc["type"] == "error" and doc["error"]["type"] == "invalid_request_error" and where in doc["error"]["message"], doc
        assert got["request-id"]
    # Bridged routes refuse what they cannot honour, naming field and provider; nothing is sent.
    before = mock.stats()["requests"]
    with client(gateway) as sdk:
        for route in ("oai", "gem", "oll"):
            tools = [{"type": "web_search_20250305", "name": "web_search", "max_uses": 2}]
            err = _raises(anthropic.BadRequestError, lambda: sdk.messages.create(model=f"{route}/echo", max_tokens=8, messages=Q, tools=tools), 400, "invalid_request_error")  # type: ignore[arg-type,list-item]
            assert "tools[0]" in err.message and f"Provider '{route}'" in err.message and "server tools" in err.message
            err = _raises(anthropic.BadRequestError, lambda: sdk.messages.create(model=f"{route}/echo", max_tokens=8, messages=Q, extra_body={"top_k": 5}), 400, "invalid_request_error")  # type: ignore[arg-type]
            assert "top_k" in err.message and f"Provider '{route}'" in err.message
            err = _raises(anthropic.BadRequestError, lambda: sdk.messages.create(model=f"{route}/echo", max_tokens=8, messages=Q, extra_body={"mcp_servers": [{"type": "url", "url": "https://mcp.example", "name": "x"}]}), 400, "invalid_request_error")  # type: ignore[arg-type]
            assert "mcp_servers" in err.message
    assert mock.stats()["requests"] == before
    # ... while the same request passes to Anthropic untouched.
    with client(gateway) as sdk:
        assert sdk.messages.create(model="claude/echo", max_tokens=8, messages=Q, extra_body={"top_k": 5}).content  # type: ignore[arg-type]
        assert json.loads(mock.stats()["recent"][-1]["body"])["top_k"] == 5


def test_413_request_too_large(gateway: Server) -> None:
    with client(gateway) as sdk:
        big = [{"role": "user", "content": "x" * (1024 * 1024 + 10)}]
        _raises(anthropic.RequestTooLargeError, lambda: sdk.messages.create(model="claude/echo", max_tokens=8, messages=big), 413, "request_too_large")  # type: ignore[arg-type]


@pytest.mark.parametrize("route", ("claude", "oai", "oll"))
def test_429_529_500_from_the_upstream(gateway: Server, route: str) -> None:
    with client(gateway) as sdk:
        err = _raises(anthropic.RateLimitError, lambda: sdk.messages.create(model=f"{route}/echo", max_tokens=8, messages=Q, extra_body={"mock": {"status": 429, "retry_after": 7}}), 429, "rate_limit_error")  # type: ignore[arg-type]
        assert err.response.headers["retry-after"] == "7"
        overloaded = 529 if route == "claude" else 503
        _raises(anthropic.OverloadedError, lambda: sdk.messages.create(model=f"{route}/echo", max_tokens=8, messages=Q, extra_body={"mock": {"status": overloaded}}), 529, "overloaded_error")  # type: ignore[arg-type]
        _raises(anthropic.InternalServerError, lambda: sdk.messages.create(model=f"{route}/echo", max_tokens=8, messages=Q, extra_body={"mock": {"status": 500}}), 500, "api_error")  # type: ignore[arg-type]


def test_429_from_the_gateways_own_limit(gateway: Server) -> None:
    with client(gateway, api_key=_key(gateway, rpm=1)) as sdk:
        assert sdk.messages.create(model="claude/echo", max_tokens=8, messages=Q).content  # type: ignore[arg-type]
        err = _raises(anthropic.RateLimitError, lambda: sdk.messages.create(model="claude/echo", max_tokens=8, messages=Q), 429, "rate_limit_error")  # type: ignore[arg-type]
        assert int(err.response.headers["retry-after"]) >= 1


@pytest.mark.parametrize("route,knob", [("claude", {"error_mid_stream": True}), ("oai", {"fail_after": 3}), ("gem", {"fail_after": 1}), ("oll", {"error_mid_stream": True}), ("oll", {"fail_after": 2})])
def test_error_event_mid_stream(gateway: Server, home: Path, route: str, knob: dict[str, Any]) -> None:
    body = json.dumps({"model": f"{route}/echo", "max_tokens": 64, "stream": True, "messages": [{"role": "user", "content": "a few words to stream here"}], "mock": knob}).encode()
    status, headers, raw = request("POST", gateway.url + "/v1/messages", body, {"x-api-key": ADMIN, "anthropic-version": "2023-06-01", "content-type": "application/json"})
    docs = events(raw)
    assert status == 200 and docs[0]["type"] == "message_start" and docs[-1]["type"] == "error", [d["type"] for d in docs]
    assert docs[-1]["error"]["type"] in ("overloaded_error", "api_error") and docs[-1]["error"]["message"]
    assert not any(d["type"] == "message_stop" for d in docs)
    row = ledger_row(home, headers["request-id"])
    assert row["endpoint"] == "messages" and row["status"] == 502
    with client(gateway) as sdk:
        with pytest.raises(anthropic.APIError):
            with sdk.messages.stream(model=f"{route}/echo", max_tokens=64, messages=[{"role": "user", "content": "a few words to stream here"}], extra_body={"mock": knob}) as stream:  # type: ignore[arg-type]
                stream.get_final_message()


def test_unknown_path_and_method_answer_in_anthropic_shape(gateway: Server) -> None:
    status, headers, raw = request("GET", gateway.url + "/v1/messages", None, {"x-api-key": ADMIN})
    doc = json.loads(raw)
    assert status == 405 and doc["type"] == "error" and doc["error"]["type"] == "invalid_request_error" and headers["request-id"]
