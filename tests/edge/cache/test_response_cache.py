"""The response cache in one worker's memory (issue 17): real gateway, real mock upstream.

A hit makes no upstream call (the mock's request counter), answers the same bytes with
``x-edge-cache: hit``, and is a ledger row with cost 0, ``cache_hit`` and the saved cost; a
stream is replayed as the same SSE bytes; entries are per gateway key unless the model shares
them; the bookkeeping fields (user, metadata) do not change the key, the messages do; a sampled
request (temperature above 0) is cached only where the config says so; the header turns the
cache on with a TTL, or off; an entry is gone after its TTL; a bad header is a 400.
"""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.support import Mock, Server, request, write_config

ADMIN = "sk-admin-rcache-0123456789"
CHAT = "/v1/chat/completions"


def config(mock_url: str, home: Path, extra_cache: str = "") -> str:
    return f"""
server: {{host: 127.0.0.1, port: 0}}
state: {{ledger: "sqlite:///{home}/edge.db", ledger_flush_s: 0.05}}
keys: {{admin: {ADMIN}, refresh_s: 0.1}}
{extra_cache}
providers:
  up: {{kind: openai, base_url: "{mock_url}", api_key: sk-upstream-0123456789, timeout_s: 10}}
models:
  cached:
    route: [{{provider: up, model: echo}}]
    cache: {{response: {{ttl_s: 600}}}}
  shared:
    route: [{{provider: up, model: echo}}]
    cache: {{response: {{ttl_s: 600, shared: true}}}}
  sampled:
    route: [{{provider: up, model: echo}}]
    cache: {{response: {{ttl_s: 600, temperature: true}}}}
  plain:
    route: [{{provider: up, model: echo}}]
prices:
  echo: {{input: 1.0, output: 2.0}}
routing: {{retries: 0}}
"""


@pytest.fixture(scope="module")
def upstream() -> Iterator[Mock]:
    proc = Mock()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def gateway(upstream: Mock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    home = tmp_path_factory.mktemp("rcache")
    server = Server(["serve", "--config", str(write_config(home / "edge.yaml", config(upstream.base_url, home)))], cwd=str(home))
    yield server, home
    assert server.stop() == 0


def new_key(server: Server) -> str:
    status, _, data = request("POST", server.url + "/v1/keys", json.dumps({"name": f"k-{secrets.token_hex(4)}"}).encode(), {"content-type": "application/json", "authorization": f"Bearer {ADMIN}"})
    assert status == 201, data
    return str(json.loads(data)["key"])


def post(server: Server, body: dict[str, Any], key: str = ADMIN, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    return request("POST", server.url + CHAT, json.dumps(body).encode(), {"content-type": "application/json", "authorization": f"Bearer {key}", **(headers or {})})


def unique(text: str = "") -> list[dict[str, Any]]:
    """Messages no other test sends (entries live as long as the module's gateway)."""
    return [{"role": "user", "content": f"{text} {secrets.token_hex(6)}".strip()}]


def calls(upstream: Mock) -> int:
    return int(upstream.stats()["chat_requests"])


def ledger_row(server: Server, home: Path, request_id: str) -> dict[str, Any]:
    assert request("GET", server.url + "/v1/usage?since=1h", headers={"authorization": f"Bearer {ADMIN}"})[0] == 200
    with sqlite3.connect(home / "edge.db") as db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT * FROM requests WHERE request_id = ?", (request_id,)).fetchone()
    assert row is not None, request_id
    return dict(row)


def metric(server: Server, model: str, result: str) -> float:
    _, _, text = request("GET", server.url + "/metrics")
    found = re.search(r'^edge_response_cache_total\{model="' + model + r'",result="' + result + r'"\} ([0-9.e+]+)$', text.decode(), re.M)
    return float(found.group(1)) if found else 0.0


def test_a_hit_makes_no_upstream_call(gateway: tuple[Server, Path], upstream: Mock) -> None:
    server, home = gateway
    with openai.OpenAI(base_url=server.url + "/v1", api_key=ADMIN, max_retries=0) as client:
        messages = unique("first")
        before, hits, misses = calls(upstream), metric(server, "cached", "hit"), metric(server, "cached", "miss")
        first = client.chat.completions.with_raw_response.create(model="cached", messages=messages)  # type: ignore[arg-type]
        assert first.headers["x-edge-cache"] == "miss" and calls(upstream) == before + 1
        second = client.chat.completions.with_raw_response.create(model="cached", messages=messages)  # type: ignore[arg-type]
        assert second.headers["x-edge-cache"] == "hit" and calls(upstream) == before + 1
        assert second.http_response.content == first.http_response.content
        assert second.parse().choices[0].message.content == messages[0]["content"]
        assert second.headers["x-request-id"] != first.headers["x-request-id"]
        assert (metric(server, "cached", "hit"), metric(server, "cached", "miss")) == (hits + 1, misses + 1)
        made = ledger_row(server, home, first.headers["x-request-id"])
        hit = ledger_row(server, home, second.headers["x-request-id"])
        assert made["cost_usd"] > 0 and made["cache_hit"] == 0
        assert (hit["status"], hit["cache_hit"], hit["cost_usd"], hit["prompt_tokens"], hit["attempts"]) == (200, 1, 0.0, 0, 0)
        assert hit["saved_usd"] == pytest.approx(made["cost_usd"], rel=1e-12)
        assert float(second.headers["x-edge-cost-usd"]) == 0.0


def test_the_key_ignores_bookkeeping_not_the_question(gateway: tuple[Server, Path], upstream: Mock) -> None:
    server, _ = gateway
    messages = unique("bookkeeping")
    assert post(server, {"model": "cached", "messages": messages, "user": "alice"})[1]["x-edge-cache"] == "miss"
    before = calls(upstream)
    status, headers, _ = post(server, {"messages": messages, "metadata": {"run": "2"}, "user": "bob", "model": "cached"})  # key order differs too
    assert status == 200 and headers["x-edge-cache"] == "hit" and calls(upstream) == before
    status, headers, _ = post(server, {"model": "cached", "messages": messages, "max_tokens": 5})
    assert headers["x-edge-cache"] == "miss" and calls(upstream) == before + 1
    status, headers, _ = post(server, {"model": "cached", "messages": unique("bookkeeping")})
    assert headers["x-edge-cache"] == "miss" and calls(upstream) == before + 2


def test_a_stream_is_replayed_intact(gateway: tuple[Server, Path], upstream: Mock) -> None:
    server, home = gateway
    body = {"model": "cached", "messages": unique("stream me please"), "stream": True, "stream_options": {"include_usage": True}}
    before = upstream.stats()["streams_started"]
    status, first_headers, first = post(server, body)
    assert status == 200 and first_headers["x-edge-cache"] == "miss" and first.endswith(b"data: [DONE]\n\n")
    status, headers, again = post(server, body)
    assert status == 200 and headers["x-edge-cache"] == "hit" and headers["content-type"].startswith("text/event-stream")
    assert again == first  # the same chunks, byte for byte
    assert upstream.stats()["streams_started"] == before + 1
    # The SDK reads the replay as a stream, usage chunk included.
    with openai.OpenAI(base_url=server.url + "/v1", api_key=ADMIN, max_retries=0) as client:
        stream = client.chat.completions.create(**body)  # type: ignore[call-overload]
        chunks = list(stream)
        assert stream.response.headers["x-edge-cache"] == "hit"
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == body["messages"][0]["content"]
        assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
        hit = ledger_row(server, home, stream.response.headers["x-request-id"])
        assert (hit["stream"], hit["cache_hit"], hit["cost_usd"]) == (1, 1, 0.0) and hit["saved_usd"] > 0
        # A plain request for the same question is its own entry (a stream is kept as a stream).
        status, headers, _ = post(server, dict(body, stream=False, stream_options=None))
        assert headers["x-edge-cache"] == "miss"


def test_entries_are_per_key_unless_shared(gateway: tuple[Server, Path], upstream: Mock) -> None:
    server, _ = gateway
    one, two = new_key(server), new_key(server)
    messages = unique("per key")
    assert post(server, {"model": "cached", "messages": messages}, one)[1]["x-edge-cache"] == "miss"
    assert post(server, {"model": "cached", "messages": messages}, one)[1]["x-edge-cache"] == "hit"
    before = calls(upstream)
    assert post(server, {"model": "cached", "messages": messages}, two)[1]["x-edge-cache"] == "miss"
    assert calls(upstream) == before + 1
    shared = unique("shared")
    assert post(server, {"model": "shared", "messages": shared}, one)[1]["x-edge-cache"] == "miss"
    assert post(server, {"model": "shared", "messages": shared}, two)[1]["x-edge-cache"] == "hit"
    assert calls(upstream) == before + 2


def test_sampled_requests_only_where_the_config_says(gateway: tuple[Server, Path], upstream: Mock) -> None:
    server, _ = gateway
    messages = unique("sampled")
    before = calls(upstream)
    for _ in range(2):
        assert post(server, {"model": "cached", "messages": messages, "temperature": 0.7})[1]["x-edge-cache"] == "miss"
    assert calls(upstream) == before + 2
    assert post(server, {"model": "sampled", "messages": messages, "temperature": 0.7})[1]["x-edge-cache"] == "miss"
    assert post(server, {"model": "sampled", "messages": messages, "temperature": 0.7})[1]["x-edge-cache"] == "hit"
    assert post(server, {"model": "cached", "messages": messages, "temperature": 0})[1]["x-edge-cache"] == "miss"
    assert post(server, {"model": "cached", "messages": messages, "temperature": 0})[1]["x-edge-cache"] == "hit"
    assert calls(upstream) == before + 4


def test_the_header_turns_it_on_and_off(gateway: tuple[Server, Path], upstream: Mock) -> None:
    server, _ = gateway
    messages = unique("header")
    status, headers, _ = post(server, {"model": "plain", "messages": messages})
    assert status == 200 and "x-edge-cache" not in headers  # off by default
    assert post(server, {"model": "plain", "messages": messages}, headers={"x-edge-cache": "600"})[1]["x-edge-cache"] == "miss"
    assert post(server, {"model": "plain", "messages": messages}, headers={"x-edge-cache": "600"})[1]["x-edge-cache"] == "hit"
    # Off for one request on a model that caches: no lookup, the upstream answers.
    cached = unique("header off")
    assert post(server, {"model": "cached", "messages": cached})[1]["x-edge-cache"] == "miss"
    before = calls(upstream)
    status, headers, _ = post(server, {"model": "cached", "messages": cached}, headers={"x-edge-cache": "off"})
    assert status == 200 and "x-edge-cache" not in headers and calls(upstream) == before + 1


def test_a_bad_header_is_a_400(gateway: tuple[Server, Path], upstream: Mock) -> None:
    server, _ = gateway
    before = calls(upstream)
    for value in ("soon", "0", "-5", "99999999"):
        status, _, data = post(server, {"model": "cached", "messages": unique()}, headers={"x-edge-cache": value})
        error = json.loads(data)["error"]
        assert status == 400 and error["param"] == "x-edge-cache" and "seconds" in error["message"] and value in error["message"], error
    assert calls(upstream) == before


def test_an_entry_expires_after_its_ttl(gateway: tuple[Server, Path], upstream: Mock) -> None:
    server, _ = gateway
    messages = unique("ttl")
    assert post(server, {"model": "plain", "messages": messages}, headers={"x-edge-cache": "1"})[1]["x-edge-cache"] == "miss"
    stored = time.monotonic()
    time.sleep(max(0.0, 1.3 - (time.monotonic() - stored)))  # a lower bound only: later is as good
    before = calls(upstream)
    assert post(server, {"model": "plain", "messages": messages}, headers={"x-edge-cache": "1"})[1]["x-edge-cache"] == "miss"
    assert calls(upstream) == before + 1


def test_a_bounded_memory_cache_lets_the_oldest_go(upstream: Mock, tmp_path: Path) -> None:
    """cache.max_mb bounds what one worker keeps: past it, the least recently used entry goes."""
    extra = "cache: {backend: memory, max_mb: 0.005}"  # 5.2 kB: room for two answers of ~2 kB, not three
    server = Server(["serve", "--config", str(write_config(tmp_path / "edge.yaml", config(upstream.base_url, tmp_path, extra)))], cwd=str(tmp_path))
    try:
        first, second, third = (unique("lru " + "x" * 1500) for _ in range(3))
        for messages in (first, second):
            assert post(server, {"model": "cached", "messages": messages})[1]["x-edge-cache"] == "miss"
        assert post(server, {"model": "cached", "messages": first})[1]["x-edge-cache"] == "hit"  # first is now the most recent
        assert post(server, {"model": "cached", "messages": third})[1]["x-edge-cache"] == "miss"  # second goes
        assert post(server, {"model": "cached", "messages": first})[1]["x-edge-cache"] == "hit"
        assert post(server, {"model": "cached", "messages": second})[1]["x-edge-cache"] == "miss"
    finally:
        assert server.stop() == 0
