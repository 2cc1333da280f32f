"""Every recorded Messages client request (../shared/fixtures/anthropic-inbound) replayed.

Each interaction's request (its bytes when the recording kept them, else its parsed body; its
path and query; its anthropic-* headers) goes to the gateway three ways: to an Anthropic
provider, whose upstream must receive the very bytes with only the model replaced, and
translated to an OpenAI-format and a Gemini provider, which must answer in Anthropic's shapes
and event order.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import Mock, Server, request, write_config

from .messages_support import check_order, events

pytestmark = pytest.mark.shared_fixtures

FIXTURES = Path(__file__).resolve().parents[4] / "shared" / "fixtures" / "anthropic-inbound"
NAMES = ("claude-sonnet-4-5", "claude-opus-4-8", "claude-haiku-4-5", "claude-haiku-4-5-20251001")
KEY = "edge-admin-key-fixtures-0001"


def _interactions() -> list[tuple[str, int, dict[str, Any]]]:
    out = []
    for path in sorted(FIXTURES.glob("*.yaml")) if FIXTURES.is_dir() else ():
        for i, interaction in enumerate(yaml.safe_load(path.read_text())["interactions"]):
            out.append((path.stem, i, interaction["request"]))
    return out


@pytest.fixture(scope="module")
def gateway(mock: Mock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("messages-fixtures")
    models = "\n".join(
        f"  {prefix}{name}: {{route: [{{provider: {provider}, model: echo}}]}}" for name in NAMES for prefix, provider in (("", "claude"), ("oai-", "oai"), ("gem-", "gem"), ("oll-", "oll"))
    )
    text = f"""
server: {{host: 127.0.0.1, port: 0, drain_timeout_s: 10}}
state: {{ledger: "sqlite:///{home}/edge.db", ledger_flush_s: 0.05}}
keys: {{admin: {KEY}}}
providers:
  claude: {{kind: anthropic, base_url: "{mock.url}", api_key: sk-ant-upstream-secret-0123, timeout_s: 5, models: [echo]}}
  oai: {{kind: openai, base_url: "{mock.base_url}", api_key: sk-upstream-secret-0123456789, timeout_s: 5, models: [echo]}}
  gem: {{kind: gemini, base_url: "{mock.url}", api_key: gem-upstream-secret-0123, timeout_s: 5, models: [echo]}}
  oll: {{kind: ollama, base_url: "{mock.url}", timeout_s: 5, models: [echo]}}   # the mock's Ollama dialect (no Ollama server here)
models:
{models}
"""
    server = Server(["serve", "--config", str(write_config(home / "edge.yaml", text))], cwd=str(home))
    yield server
    assert server.stop() == 0


def _request(recorded: dict[str, Any]) -> tuple[bytes, str, dict[str, str], dict[str, Any]]:
    raw = recorded["body"].encode() if "body" in recorded else json.dumps(recorded["parsed_body"], separators=(",", ":")).encode()
    uri = recorded["uri"].split("api.anthropic.com", 1)[1]
    headers = {"content-type": "application/json", "x-api-key": KEY, "anthropic-version": "2023-06-01"}
    for name, values in recorded["headers"].items():
        if name.lower().startswith("anthropic-"):
            headers[name.lower()] = values[0]
    return raw, uri, headers, json.loads(raw)


def _check_answer(status: int, raw: bytes, doc: dict[str, Any], uri: str, model: str) -> None:
    assert status == 200, raw[:500]
    if "count_tokens" in uri:
        assert json.loads(raw)["input_tokens"] > 0
    elif doc.get("stream"):
        docs = events(raw)
        check_order(docs)
        assert docs[0]["message"]["model"] == model
    else:
        answer = json.loads(raw)
        assert answer["type"] == "message" and answer["model"] == model and answer["content"]


@pytest.mark.parametrize("name,index,recorded", _interactions(), ids=lambda v: str(v) if not isinstance(v, dict) else "")
def test_replayed_to_anthropic_untouched(gateway: Server, mock: Mock, shared_fixtures: Path, name: str, index: int, recorded: dict[str, Any]) -> None:
    raw, uri, headers, doc = _request(recorded)
    status, _, answer = request("POST", gateway.url + uri, raw, headers)
    _check_answer(status, answer, doc, uri, doc["model"])
    seen = mock.stats()["recent"][-1]
    assert seen["path_qs"] == uri  # ?beta=true kept
    expected = raw.replace(json.dumps(doc["model"]).encode(), b'"echo"', 1)
    assert seen["body"].encode() == expected  # the client's bytes, only the model replaced
    for header, value in headers.items():
        if header.startswith("anthropic-"):
            assert seen["headers"][header] == value


@pytest.mark.parametrize("route", ("oai", "gem", "oll"))
@pytest.mark.parametrize("name,index,recorded", _interactions(), ids=lambda v: str(v) if not isinstance(v, dict) else "")
def test_replayed_translated(gateway: Server, mock: Mock, shared_fixtures: Path, route: str, name: str, index: int, recorded: dict[str, Any]) -> None:
    raw, uri, headers, doc = _request(recorded)
    model = f"{route}-{doc['model']}"
    status, got, answer = request("POST", gateway.url + uri, raw.replace(json.dumps(doc["model"]).encode(), json.dumps(model).encode(), 1), headers)
    _check_answer(status, answer, doc, uri, model)
    if "count_tokens" in uri:
        assert got["x-edge-token-count"] == ("exact" if route == "gem" else "estimated")
        return
    if route == "oai":
        sent = mock.stats()["last_request"]
        roles = [m["role"] for m in sent["messages"]]
        assert (roles[0] == "system") == bool(doc.get("system")) and sent["max_completion_tokens"] == doc["max_tokens"]
        uses = [b for m in doc["messages"] if isinstance(m["content"], list) for b in m["content"] if b["type"] == "tool_use"]
        calls = [c["id"] for m in sent["messages"] for c in m.get("tool_calls") or ()]
        results = [m["tool_call_id"] for m in sent["messages"] if m["role"] == "tool"]
        assert calls == results == [u["id"].removeprefix("toolu_") for u in uses]  # paired, ids mapped
        if doc.get("thinking"):
            assert sent["reasoning_effort"] == "low"  # budget 1024
    if any(isinstance(b, dict) and b.get("cache_control") for m in doc["messages"] if isinstance(m["content"], list) for b in m["content"]) or doc.get("cache_control"):
        assert "cache_control" in got["x-edge-dropped-params"]  # ignored, and named
