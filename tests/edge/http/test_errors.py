"""Errors: upstream failures in the OpenAI envelope, and bad input that never reaches upstream."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest

from tests.support import Mock, Server, request


@pytest.fixture()
def client(gateway: Server) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key="any-key", max_retries=0) as client:
        yield client


def _envelope(body: bytes) -> dict:
    doc = json.loads(body)
    assert set(doc) == {"error"}
    assert set(doc["error"]) == {"message", "type", "param", "code"}
    assert doc["error"]["message"]
    return doc["error"]


def test_upstream_429_passes_status_and_retry_after(client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "x"}], extra_body={"mock": {"status": 429, "retry_after": 7}})
    err = info.value
    assert err.status_code == 429
    assert err.response.headers["retry-after"] == "7"
    assert err.response.headers["x-request-id"].startswith("req_")
    assert err.code == "rate_limit_exceeded"
    assert "sk-upstream-secret" not in err.response.text


def test_upstream_500_and_503(client: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "x"}], extra_body={"mock": {"status": 500}})
    assert info.value.status_code == 500
    assert "mock upstream error 500" in info.value.message
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="chat", stream=True, messages=[{"role": "user", "content": "x"}], extra_body={"mock": {"status": 503, "retry_after": 1}})
    assert info.value.status_code == 503
    assert info.value.response.headers["retry-after"] == "1"


def test_unreachable_upstream_is_502(client: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="down/echo", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 502
    assert "127.0.0.1:9" not in info.value.message  # no internal addresses in errors


def test_mid_stream_upstream_failure_ends_with_error_event(client: openai.OpenAI, mock: Mock) -> None:
    stream = client.chat.completions.create(
        model="chat", stream=True, messages=[{"role": "user", "content": "a b c d e f"}], extra_body={"mock": {"fail_after": 3}}
    )
    received = []
    with pytest.raises(openai.APIError) as info:
        for chunk in stream:
            received.append(chunk)
    assert len(received) == 3  # the chunks before the failure reached the client
    assert "broke off" in info.value.message or "ended the stream" in info.value.message


def test_bad_requests_never_reach_upstream(gateway: Server, mock: Mock) -> None:
    url = gateway.url + "/v1/chat/completions"
    json_headers = {"content-type": "application/json"}
    cases = [
        (b'{"model": "chat", "messages": [', json_headers, 400, "parse"),
        (b'{"model": "chat", "messages": [{"role": "user", "content": 5}]}', json_headers, 400, "messages[0].content"),
        (b'{"model": "chat", "messages": [{"role": "robot", "content": "x"}]}', json_headers, 400, "messages[0].role"),
        (b'{"model": "chat", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"}', json_headers, 400, "temperature"),
        (b'{"messages": [{"role": "user", "content": "x"}]}', json_headers, 400, "'model' is a required property"),
        (b'{"model": "chat"}', json_headers, 400, "'messages' is a required property"),
        (b'{"model": "chat", "messages": []}', json_headers, 400, "messages"),
        (b'[1, 2]', json_headers, 400, "object"),
        (b"", json_headers, 400, "empty"),
        (b'{"model": "chat", "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function", "function": {"name": "f", "parameters": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5000 + b"}}]}", json_headers, 400, "nested too deeply"),
        (b'{"model": "chat", "messages": [{"role": "user", "content": "\xff\xfe"}]}', json_headers, 400, "parse"),
        (b'{"model": "nope", "messages": [{"role": "user", "content": "x"}]}', json_headers, 404, "does not exist"),
        (b'{"model": "ghost/gpt", "messages": [{"role": "user", "content": "x"}]}', json_headers, 404, "no provider named 'ghost'"),
        (b'{"model": "chat", "messages": [{"role": "user", "content": "x"}]}', {"content-type": "text/plain"}, 415, "application/json"),
        (b'{"model": "chat", "messages": [{"role": "user", "content": "' + b"x" * (17 * 1024 * 1024) + b'"}]}', json_headers, 413, "limit"),
    ]
    before = mock.stats()["requests"]
    for body, headers, status, needle in cases:
        got, response_headers, data = request("POST", url, body, headers)
        assert got == status, (body[:80], got, data[:300])
        error = _envelope(data)
        assert needle in error["message"] or needle == error["param"], (needle, error)
        assert response_headers["x-request-id"].startswith("req_")
    got, _, data = request("POST", url, b'{"model": "nope", "messages": [{"role": "user", "content": "x"}]}', json_headers)
    assert _envelope(data)["code"] == "model_not_found"
    assert mock.stats()["requests"] == before, "a rejected request reached the upstream"
    # and the worker is still fine
    assert request("GET", gateway.url + "/healthz")[0] == 200


def test_bad_embeddings_request(gateway: Server, mock: Mock) -> None:
    before = mock.stats()["requests"]
    got, _, data = request("POST", gateway.url + "/v1/embeddings", b'{"model": "embed", "input": {"a": 1}}', {"content-type": "application/json"})
    assert got == 400 and _envelope(data)["param"] == "input"
    assert mock.stats()["requests"] == before


def test_unknown_endpoint_and_method(gateway: Server) -> None:
    status, headers, data = request("GET", gateway.url + "/v1/nothing")
    assert status == 404 and "Unknown endpoint" in _envelope(data)["message"]
    status, _, data = request("GET", gateway.url + "/v1/chat/completions")
    assert status == 405 and _envelope(data)["code"] == "method_not_allowed"
