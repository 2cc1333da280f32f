"""Prompt-cache hints across dialects, and what recorded cache writes and reads cost (issue 17).

The gateway is a real process; the upstream is a recorded one on a loopback socket
(tests/edge/cache/recorded.py: real Anthropic and Gemini answers with cache usage from
../shared/fixtures) that keeps the bytes of every request; the client is the openai SDK.

- ``cache_control`` on content parts and tools reaches Anthropic as breakpoints, ttl kept
  (checked in the bytes the upstream got); ``cache: {auto: [system, tools]}`` adds them for a
  client that sent none; a fifth breakpoint is a 400 naming the limit, and nothing is sent.
- To Gemini (implicit caching) the hints are not sent: they are named as dropped.
- The recorded cache writes (5 minutes, 1 hour apart) and reads become ledger rows with those
  tokens, the cost at the cache rates and the USD saved against uncached prices; the usage
  report (GET /v1/usage, ``edge usage``) shows them by model, key and tag.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

from tests.edge.cache.recorded import RecordedUpstream, recorded_answers
from tests.support import Mock, Server, request, write_config

ADMIN = "sk-admin-prompt-cache-0123456789"
HOUR = {"type": "ephemeral", "ttl": "1h"}
FIVE = {"type": "ephemeral", "ttl": "5m"}
TOOL = {"type": "function", "function": {"name": "lookup", "description": "Look a thing up.", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}
# USD per 1M tokens for the recorded models the built-in table does not know.
OPUS = {"input": 5.0, "output": 25.0, "cached_input": 0.5, "cache_write": 6.25, "cache_write_1h": 10.0}
SONNET5 = {"input": 3.0, "output": 15.0, "cached_input": 0.3, "cache_write": 3.75, "cache_write_1h": 6.0}
# claude-sonnet-4-5 in edge/prices.py: 3.00 in, 15.00 out, 0.30 cache reads.
SONNET45 = {"input": 3.0, "output": 15.0, "cached_input": 0.3, "cache_write": 3.75, "cache_write_1h": 6.0}
FLASH = {"input": 0.30, "output": 2.50, "cached_input": 0.03}


@pytest.fixture(scope="module")
def openai_mock() -> Iterator[Mock]:
    proc = Mock()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, openai_mock: Mock) -> Iterator[tuple[Server, RecordedUpstream, Path]]:
    from tests.conftest import SHARED

    fixtures = SHARED / "fixtures"
    if not fixtures.is_dir():
        pytest.skip("recorded provider fixtures not found (../shared/fixtures)")
    home = tmp_path_factory.mktemp("prompt-cache")
    upstream = RecordedUpstream(recorded_answers(fixtures))
    config = f"""
server: {{host: 127.0.0.1, port: 0}}
state: {{ledger: "sqlite:///{home}/edge.db", ledger_flush_s: 0.05}}
keys: {{admin: {ADMIN}}}
providers:
  ant: {{kind: anthropic, base_url: "{upstream.url}", api_key: sk-ant-test-0123456789, timeout_s: 10}}
  gem: {{kind: gemini, base_url: "{upstream.url}", api_key: gem-test-0123456789, timeout_s: 10}}
  oai: {{kind: openai, base_url: "{openai_mock.base_url}", timeout_s: 10}}
  router: {{kind: openai, base_url: "{openai_mock.base_url}", timeout_s: 10, cache_control: pass}}
models:
  auto:
    route: [{{provider: ant, model: plain}}]
    cache: {{auto: [system, tools]}}
  auto-hour:
    route: [{{provider: ant, model: plain}}]
    cache: {{auto: [system], auto_ttl: 1h}}
prices:
  claude-opus-4-8: {json.dumps(OPUS)}
  claude-sonnet-5: {json.dumps(SONNET5)}
routing: {{retries: 0}}
"""
    server = Server(["serve", "--config", str(write_config(home / "edge.yaml", config))], cwd=str(home))
    try:
        yield server, upstream, home
    finally:
        server.stop()
        upstream.stop()


def _client(server: Server) -> openai.OpenAI:
    # Made per call and never closed, so it keeps no connection open once an answer is read: an
    # idle pooled socket, collected during a later test, would fail that test (ResourceWarning).
    http = openai.DefaultHttpxClient(limits=httpx2.Limits(max_keepalive_connections=0))
    return openai.OpenAI(base_url=server.url + "/v1", api_key=ADMIN, max_retries=0, http_client=http)


def _post(server: Server, body: dict[str, Any], headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
    status, got, data = request("POST", server.url + "/v1/chat/completions", json.dumps(body).encode(), {"content-type": "application/json", "authorization": f"Bearer {ADMIN}", **(headers or {})})
    return status, got, json.loads(data)


def test_hints_reach_anthropic_as_breakpoints(setup: tuple[Server, RecordedUpstream, Path]) -> None:
    server, upstream, _ = setup
    raw = _client(server).chat.completions.with_raw_response.create(
        model="ant/plain",
        messages=[
            {"role": "system", "content": [{"type": "text", "text": "Long stable rules.", "cache_control": HOUR}, {"type": "text", "text": "Today is Tuesday."}]},
            {"role": "user", "content": [{"type": "text", "text": "A long shared document.", "cache_control": FIVE}, {"type": "text", "text": "The question?"}]},
        ],
        tools=[dict(TOOL, cache_control={"type": "ephemeral"})],  # type: ignore[list-item]
    )
    assert raw.http_response.status_code == 200
    assert "x-edge-dropped-params" not in raw.headers  # translated, nothing dropped
    sent = upstream.bodies[-1]
    # The breakpoints, byte for byte as Anthropic's API reads them (the adapter's compact JSON).
    assert b'{"type":"text","text":"Long stable rules.","cache_control":{"type":"ephemeral","ttl":"1h"}}' in sent
    assert b'{"type":"text","text":"A long shared document.","cache_control":{"type":"ephemeral","ttl":"5m"}}' in sent
    doc = json.loads(sent)
    assert doc["system"] == [{"type": "text", "text": "Long stable rules.", "cache_control": HOUR}, {"type": "text", "text": "Today is Tuesday."}]
    assert doc["messages"] == [{"role": "user", "content": [{"type": "text", "text": "A long shared document.", "cache_control": FIVE}, {"type": "text", "text": "The question?"}]}]
    assert doc["tools"][0]["cache_control"] == {"type": "ephemeral"} and doc["tools"][0]["name"] == "lookup"
    assert sent.count(b"cache_control") == 3


def test_auto_breakpoints_for_unchanged_clients(setup: tuple[Server, RecordedUpstream, Path]) -> None:
    server, upstream, _ = setup
    messages = [{"role": "system", "content": "Long stable rules."}, {"role": "user", "content": "The question?"}]
    assert _client(server).chat.completions.create(model="auto", messages=messages, tools=[TOOL]).choices[0].message.content == "ok"  # type: ignore[arg-type, list-item]
    doc = upstream.last()
    assert doc["system"] == [{"type": "text", "text": "Long stable rules.", "cache_control": FIVE}]
    assert doc["tools"][-1]["cache_control"] == FIVE
    assert doc["messages"] == [{"role": "user", "content": "The question?"}]  # only the prefixes the config names
    _client(server).chat.completions.create(model="auto-hour", messages=messages, tools=[TOOL])  # type: ignore[arg-type, list-item]
    doc = upstream.last()
    assert doc["system"] == [{"type": "text", "text": "Long stable rules.", "cache_control": HOUR}] and "cache_control" not in doc["tools"][-1]
    # The same request by its route name (no model config): no breakpoint is added.
    _client(server).chat.completions.create(model="ant/plain", messages=messages, tools=[TOOL])  # type: ignore[arg-type, list-item]
    assert b"cache_control" not in upstream.bodies[-1]


def test_auto_breakpoints_leave_room_for_the_clients(setup: tuple[Server, RecordedUpstream, Path]) -> None:
    """A client that used all four breakpoints keeps them; the automatic ones step aside."""
    server, upstream, _ = setup
    parts = [{"type": "text", "text": f"part {i}", "cache_control": FIVE} for i in range(4)]
    status, _, doc = _post(server, {"model": "auto", "messages": [{"role": "system", "content": "rules"}, {"role": "user", "content": parts}], "tools": [TOOL]})
    assert status == 200, doc
    assert upstream.bodies[-1].count(b"cache_control") == 4
    assert "cache_control" not in upstream.last()["tools"][-1] and upstream.last()["system"] == [{"type": "text", "text": "rules"}]


def test_a_fifth_breakpoint_is_refused(setup: tuple[Server, RecordedUpstream, Path]) -> None:
    server, upstream, _ = setup
    before = len(upstream.bodies)
    parts = [{"type": "text", "text": f"part {i}", "cache_control": FIVE} for i in range(5)]
    status, _, doc = _post(server, {"model": "ant/plain", "messages": [{"role": "user", "content": parts}]})
    assert status == 400, doc
    assert doc["error"]["type"] == "invalid_request_error"
    assert "at most 4 cache breakpoints" in doc["error"]["message"] and "has 5" in doc["error"]["message"]
    assert len(upstream.bodies) == before  # nothing was sent
    # Four on parts and one on a tool count together.
    status, _, doc = _post(server, {"model": "ant/plain", "messages": [{"role": "user", "content": parts[:4]}], "tools": [dict(TOOL, cache_control=FIVE)]})
    assert status == 400 and "has 5" in doc["error"]["message"]
    assert len(upstream.bodies) == before


def test_a_malformed_hint_is_a_400(setup: tuple[Server, RecordedUpstream, Path]) -> None:
    server, upstream, _ = setup
    before = len(upstream.bodies)
    status, _, doc = _post(server, {"model": "ant/plain", "messages": [{"role": "user", "content": [{"type": "text", "text": "x", "cache_control": {"type": "ephemeral", "ttl": "2h"}}]}]})
    assert status == 400 and doc["error"]["param"] == "messages[0].content[0].cache_control.ttl", doc
    assert "'2h'" in doc["error"]["message"]
    assert len(upstream.bodies) == before


def test_gemini_gets_no_hints_and_they_are_named(setup: tuple[Server, RecordedUpstream, Path]) -> None:
    server, upstream, _ = setup
    body = {"model": "gem/gemini-2.5-flash", "messages": [{"role": "user", "content": [{"type": "text", "text": "doc", "cache_control": FIVE}, {"type": "text", "text": "q"}]}], "tools": [dict(TOOL, cache_control=FIVE)]}
    status, headers, doc = _post(server, body)
    assert status == 200, doc
    named = [n.strip() for n in headers["x-edge-dropped-params"].split(",")]
    assert "messages[].content[].cache_control" in named and "tools[].cache_control" in named
    assert b"cache_control" not in upstream.bodies[-1] and b"functionDeclarations" in upstream.bodies[-1]


def _row(server: Server, home: Path, request_id: str) -> dict[str, Any]:
    assert request("GET", server.url + "/v1/usage?since=1h", headers={"authorization": f"Bearer {ADMIN}"})[0] == 200  # flushes the worker's rows
    with sqlite3.connect(home / "edge.db") as db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT * FROM requests WHERE request_id = ?", (request_id,)).fetchone()
    assert row is not None, request_id
    return dict(row)


def _priced(price: dict[str, float], usage: dict[str, int]) -> tuple[float, float]:
    """(cost, saved) in USD for an Anthropic usage object, from the price list's own words."""
    hour = usage.get("cache_creation", {}).get("ephemeral_1h_input_tokens", 0)
    written = usage["cache_creation_input_tokens"]
    read = usage["cache_read_input_tokens"]
    cost = usage["input_tokens"] * price["input"] + (written - hour) * price["cache_write"] + hour * price["cache_write_1h"] + read * price["cached_input"] + usage["output_tokens"] * price["output"]
    uncached = (usage["input_tokens"] + written + read) * price["input"] + usage["output_tokens"] * price["output"]
    return cost / 1e6, (uncached - cost) / 1e6


@pytest.mark.parametrize(
    ("model", "price"),
    [("claude-opus-4-8-write", OPUS), ("claude-opus-4-8-read", OPUS), ("claude-sonnet-4-5-20250929", SONNET45)],
)
def test_recorded_cache_usage_in_the_ledger(setup: tuple[Server, RecordedUpstream, Path], model: str, price: dict[str, float]) -> None:
    server, upstream, home = setup
    raw = _client(server).chat.completions.with_raw_response.create(model=f"ant/{model}", messages=[{"role": "user", "content": "again"}])
    completion = raw.parse()
    usage = upstream.answers[model][1]["usage"]
    written, read = usage["cache_creation_input_tokens"], usage["cache_read_input_tokens"]
    prompt = usage["input_tokens"] + written + read
    assert completion.usage is not None and completion.usage.prompt_tokens == prompt
    assert completion.usage.prompt_tokens_details is not None and completion.usage.prompt_tokens_details.cached_tokens == read
    row = _row(server, home, raw.headers["x-request-id"])
    cost, saved = _priced(price, usage)
    assert (row["prompt_tokens"], row["cached_tokens"], row["cache_write_5m_tokens"], row["cache_write_1h_tokens"], row["completion_tokens"]) == (prompt, read, written, 0, usage["output_tokens"])
    assert round(row["cost_usd"], 2) == round(cost, 2) and row["cost_usd"] == pytest.approx(cost, rel=1e-9)
    assert row["saved_usd"] == pytest.approx(saved, rel=1e-9)
    assert (saved > 0) == (read > 0)  # a write costs more than uncached input: saved is negative
    assert float(raw.headers["x-edge-cost-usd"]) == pytest.approx(cost, abs=1e-8)


def test_recorded_cache_stream_in_the_ledger(setup: tuple[Server, RecordedUpstream, Path]) -> None:
    """The stream's message_start splits 5m/1h; its message_delta totals win (more was written)."""
    server, upstream, home = setup
    stream = _client(server).chat.completions.create(model="ant/claude-sonnet-5-stream", messages=[{"role": "user", "content": "sum"}], stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    usage_chunk = chunks[-1].usage
    events = upstream.answers["claude-sonnet-5-stream"][1]
    final = dict(events[0]["message"]["usage"], **[e for e in events if e["type"] == "message_delta"][-1]["usage"])
    assert usage_chunk is not None and usage_chunk.prompt_tokens == final["input_tokens"] + final["cache_creation_input_tokens"] + final["cache_read_input_tokens"]
    row = _row(server, home, stream.response.headers["x-request-id"])
    cost, saved = _priced(SONNET5, final)
    assert (row["cached_tokens"], row["cache_write_5m_tokens"], row["cache_write_1h_tokens"]) == (6289, 3337, 0)
    assert round(row["cost_usd"], 2) == round(cost, 2) and row["cost_usd"] == pytest.approx(cost, rel=1e-9)
    assert row["saved_usd"] == pytest.approx(saved, rel=1e-9)


def test_recorded_gemini_implicit_cache(setup: tuple[Server, RecordedUpstream, Path]) -> None:
    server, upstream, home = setup
    raw = _client(server).chat.completions.with_raw_response.create(model="gem/gemini-2.5-flash", messages=[{"role": "user", "content": "story"}])
    meta = upstream.answers["gemini-2.5-flash"][1]["usageMetadata"]
    row = _row(server, home, raw.headers["x-request-id"])
    cached, prompt = meta["cachedContentTokenCount"], meta["promptTokenCount"]
    completion = meta["candidatesTokenCount"] + meta["thoughtsTokenCount"]
    cost = ((prompt - cached) * FLASH["input"] + cached * FLASH["cached_input"] + completion * FLASH["output"]) / 1e6
    assert (row["prompt_tokens"], row["cached_tokens"], row["completion_tokens"], row["cache_write_5m_tokens"]) == (prompt, cached, completion, 0)
    assert round(row["cost_usd"], 2) == round(cost, 2) and row["cost_usd"] == pytest.approx(cost, rel=1e-9)
    assert row["saved_usd"] == pytest.approx(cached * (FLASH["input"] - FLASH["cached_input"]) / 1e6, rel=1e-9)


def test_usage_report_shows_cache_and_savings(setup: tuple[Server, RecordedUpstream, Path]) -> None:
    """GET /v1/usage and ``edge usage`` by model, key and tag: cache reads and writes, saved USD."""
    server, _, home = setup
    client = _client(server)
    for model in ("claude-opus-4-8-write", "claude-opus-4-8-read", "claude-opus-4-8-read"):
        client.chat.completions.create(model=f"ant/{model}", messages=[{"role": "user", "content": "tagged"}], extra_headers={"x-edge-tags": "team=cache-report"})
    auth = {"authorization": f"Bearer {ADMIN}"}
    status, _, data = request("GET", server.url + "/v1/usage?since=1h&group_by=tag:team", headers=auth)
    assert status == 200
    rows = {row["group"]: row for row in json.loads(data)["rows"]}
    mine = rows["cache-report"]
    write, read = (recorded_answers_usage(server, home, m) for m in ("claude-opus-4-8-write", "claude-opus-4-8-read"))
    assert mine["requests"] == 3 and mine["cached_tokens"] == 2 * read["cache_read_input_tokens"]
    assert mine["cache_write_5m_tokens"] == write["cache_creation_input_tokens"] and mine["cache_write_1h_tokens"] == 0
    expected_saved = _priced(OPUS, write)[1] + 2 * _priced(OPUS, read)[1]
    assert mine["saved_usd"] == pytest.approx(expected_saved, rel=1e-9) and round(mine["saved_usd"], 2) == round(expected_saved, 2)
    for group_by in ("model", "key"):
        status, _, data = request("GET", server.url + f"/v1/usage?since=1h&group_by={group_by}", headers=auth)
        report = json.loads(data)
        assert status == 200 and report["total"]["saved_usd"] == pytest.approx(sum(r["saved_usd"] for r in report["rows"]))
        assert report["total"]["saved_usd"] > 0 and all("cache_write_1h_tokens" in r and "cache_hits" in r for r in report["rows"])
    table = subprocess.run([sys.executable, "-m", "edge.cli", "usage", "--config", str(home / "edge.yaml"), "--since", "1h", "--group-by", "tag:team"], capture_output=True, text=True, timeout=60, cwd=str(home))
    assert table.returncode == 0, table.stderr
    head = next(line for line in table.stdout.splitlines() if line.startswith("| tag:team"))
    assert "cached" in head and "cache_write_5m" in head and "saved_usd" in head
    line = next(line for line in table.stdout.splitlines() if line.startswith("| cache-report"))
    assert f"{expected_saved:.6f}" in line


def recorded_answers_usage(server: Server, home: Path, model: str) -> dict[str, Any]:
    from tests.conftest import SHARED

    return recorded_answers(SHARED / "fixtures")[model][1]["usage"]


def test_openai_format_upstreams_get_hints_only_when_they_read_them(setup: tuple[Server, RecordedUpstream, Path], openai_mock: Mock) -> None:
    """OpenAI itself refuses cache_control: left out and named; ``cache_control: pass`` (an
    OpenRouter or LiteLLM upstream) sends it as it is. prompt_cache_key and _retention pass."""
    server, _, _ = setup
    messages = [{"role": "user", "content": [{"type": "text", "text": "doc", "cache_control": FIVE}, {"type": "text", "text": "q"}]}]
    tools = [dict(TOOL, cache_control=FIVE)]
    body = {"messages": messages, "tools": tools, "prompt_cache_key": "tenant-7", "prompt_cache_retention": "24h"}
    status, headers, doc = _post(server, {"model": "oai/echo", **body})
    assert status == 200, doc
    assert {n.strip() for n in headers["x-edge-dropped-params"].split(",")} == {"messages[].content[].cache_control", "tools[].cache_control"}
    sent = openai_mock.stats()["last_request"]
    assert sent["messages"] == [{"role": "user", "content": [{"type": "text", "text": "doc"}, {"type": "text", "text": "q"}]}]
    assert "cache_control" not in sent["tools"][0] and sent["tools"][0]["function"]["name"] == "lookup"
    assert (sent["prompt_cache_key"], sent["prompt_cache_retention"]) == ("tenant-7", "24h")
    status, headers, doc = _post(server, {"model": "router/echo", **body})
    assert status == 200 and "x-edge-dropped-params" not in headers, doc
    sent = openai_mock.stats()["last_request"]
    assert sent["messages"] == messages and sent["tools"] == tools and sent["prompt_cache_key"] == "tenant-7"
    # A request without hints is not touched on the way (the byte fast path's body as sent).
    status, headers, _ = _post(server, {"model": "oai/echo", "messages": [{"role": "user", "content": "plain"}], "prompt_cache_key": "k"})
    assert status == 200 and "x-edge-dropped-params" not in headers and openai_mock.stats()["last_request"]["prompt_cache_key"] == "k"
