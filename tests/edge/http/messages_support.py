"""What the Messages API tests share: a gateway with an Anthropic, an OpenAI-format and a Gemini
provider in front of the one mock, the SDK client that records the bytes it sends, and a reader
of raw Anthropic SSE."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic

from tests.support import Mock, Server, wait_for, write_config

ADMIN = "edge-admin-key-messages-0001"
# The ways a Messages request leaves: byte pass-through, and translated to three dialects (Ollama
# through the mock's Ollama dialect, POST /api/chat: no Ollama server can be installed here).
ROUTES = ("claude", "oai", "gem", "oll")


def config(mock: Mock, home: Path, extra: str = "") -> str:
    return f"""
server: {{host: 127.0.0.1, port: 0, drain_timeout_s: 10, max_body_mb: 1, ping_interval_s: 0.2}}
state: {{ledger: "sqlite:///{home}/edge.db", ledger_flush_s: 0.05}}
keys: {{admin: {ADMIN}}}
providers:
  claude: {{kind: anthropic, base_url: "{mock.url}", api_key: sk-ant-upstream-secret-0123, timeout_s: 5, models: [echo, tool, json]}}
  oai: {{kind: openai, base_url: "{mock.base_url}", api_key: sk-upstream-secret-0123456789, timeout_s: 5, models: [echo, tool, json]}}
  oaihint: {{kind: openai, base_url: "{mock.base_url}", api_key: sk-upstream-secret-0123456789, timeout_s: 5, cache_control: pass, models: [echo]}}   # OpenRouter, LiteLLM
  gem: {{kind: gemini, base_url: "{mock.url}", api_key: gem-upstream-secret-0123, timeout_s: 5, models: [echo, tool, json]}}
  oll: {{kind: ollama, base_url: "{mock.url}", timeout_s: 5, models: [echo, tool, json]}}
  claude_down: {{kind: anthropic, base_url: "http://127.0.0.1:9", api_key: sk-ant-upstream-secret-0123, timeout_s: 2}}
models:
  mixed:
    route:
      - {{provider: claude_down, model: echo, weight: 1}}
      - {{provider: oai, model: echo, weight: 0}}   # weight 0: only when the first fails
  claude-sonnet-4-5: {{route: [{{provider: claude, model: echo}}]}}
  claude-haiku-4-5-20251001: {{route: [{{provider: oai, model: echo}}]}}
  claude-haiku-4-5: {{route: [{{provider: claude, model: tool}}]}}
  claude-opus-4-8: {{route: [{{provider: claude, model: echo}}]}}
routing: {{retries: 0, cooldown: {{consecutive_failures: 0, failure_percent: 0}}}}
prices: {{echo: {{input: 1.0, output: 2.0}}}}
{extra}
"""


def start(mock: Mock, home: Path, extra: str = "") -> Iterator[Server]:
    path = write_config(home / "edge.yaml", config(mock, home, extra))
    server = Server(["serve", "--config", str(path)], cwd=str(home))
    yield server
    assert server.stop() == 0
    for secret in ("sk-ant-upstream-secret", "sk-upstream-secret", "gem-upstream-secret", ADMIN):
        assert secret not in server.output


class Recorder:
    """The bytes the SDK sent, per request (an httpx event hook, as the SDK's own client)."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.headers: list[dict[str, str]] = []

    def __call__(self, request: Any) -> None:
        self.bodies.append(bytes(request.content))
        self.headers.append({k.lower(): v for k, v in request.headers.items()})


def client(gateway: Server, recorder: Recorder | None = None, **kwargs: Any) -> anthropic.Anthropic:
    http = anthropic.DefaultHttpxClient(event_hooks={"request": [recorder]}) if recorder is not None else None
    kwargs.setdefault("api_key", ADMIN)
    return anthropic.Anthropic(base_url=gateway.url, max_retries=0, http_client=http, **kwargs)


def events(raw: bytes) -> list[dict[str, Any]]:
    """Raw Anthropic SSE -> the data objects, checking that each ``event:`` names its type."""
    out = []
    for block in raw.decode().split("\n\n"):
        if not block.strip():
            continue
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        doc = json.loads(lines["data"])
        assert lines["event"] == doc["type"], block
        out.append(doc)
    return out


def check_order(docs: list[dict[str, Any]]) -> None:
    """Anthropic's event order (wire-formats.md 2.4): message_start, blocks start/delta/stop with
    indexes from 0 in order, message_delta, message_stop; pings anywhere after message_start."""
    kinds = [d["type"] for d in docs if d["type"] != "ping"]
    assert docs[0]["type"] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"], kinds
    index, open_ = -1, False
    for doc in [d for d in docs if d["type"] != "ping"][1:-2]:
        if doc["type"] == "content_block_start":
            assert not open_ and doc["index"] == index + 1, docs
            index, open_ = doc["index"], True
        elif doc["type"] == "content_block_delta":
            assert open_ and doc["index"] == index
        elif doc["type"] == "content_block_stop":
            assert open_ and doc["index"] == index
            open_ = False
        else:
            raise AssertionError(f"unexpected {doc['type']} inside the message: {kinds}")
    assert not open_


def ledger_row(home: Path, request_id: str) -> dict[str, Any]:
    def row() -> dict[str, Any] | None:
        with sqlite3.connect(home / "edge.db") as db:
            db.row_factory = sqlite3.Row
            found = db.execute("SELECT * FROM requests WHERE request_id = ?", (request_id,)).fetchone()
        return dict(found) if found is not None else None

    return wait_for(row, 10.0, what=f"the ledger row of {request_id}")
