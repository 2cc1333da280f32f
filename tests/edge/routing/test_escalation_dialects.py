"""Escalation for the Messages and Responses APIs, as for chat (edge.proxy.escalated).

A model with ``escalate`` answers a plain Messages or Responses request with its ``from``
model; when that answer fails a check (the same four as chat's: invalid_json, truncated,
refusal, empty, read from the dialect's own answer by edge.routing.checks), the ``to`` model
answers, the client sees one answer in its own dialect whose usage covers both calls, and
``x-edge-fallback-reason: escalated: <check>``. Through a real gateway and the mock, driven by
the official anthropic and openai SDKs; the Messages cases run through the byte pass-through
(an anthropic provider) and through translation (an OpenAI-format one).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from tests.support import Mock, Server, wait_for, write_config

ASKS_JSON_SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
# The mock's knobs for the weaker model's answer, per check.
BAD = {
    "invalid_json": {"reply": "this is not json"},
    "truncated": {"tokens": 20},
    "empty": {"tokens": 0},
}


@pytest.fixture(scope="module")
def esc_gateway(mock: Mock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    home = tmp_path_factory.mktemp("escalation-dialects")
    config = f"""
server: {{host: 127.0.0.1, port: 0}}
state: {{ledger: "sqlite:///{home}/edge.db", ledger_flush_s: 0.05}}
providers:
  oai: {{kind: openai, base_url: "{mock.base_url}", api_key: sk-upstream-0123456789, timeout_s: 5}}
  ant: {{kind: anthropic, base_url: "{mock.url}", api_key: sk-ant-upstream-0123456789, timeout_s: 5}}
models:
  cheap: {{route: [{{provider: oai, model: cheap}}]}}
  strong: {{route: [{{provider: oai, model: strong}}]}}
  bot: {{escalate: {{from: cheap, to: strong, when: [invalid_json, truncated, refusal, empty]}}}}
  cheap-claude: {{route: [{{provider: ant, model: cheap}}]}}
  strong-claude: {{route: [{{provider: ant, model: strong}}]}}
  claude-bot: {{escalate: {{from: cheap-claude, to: strong-claude, when: [truncated, empty]}}}}
routing: {{retries: 0, cooldown: {{consecutive_failures: 0, failure_percent: 0}}}}
"""
    server = Server(["serve", "--config", str(write_config(home / "edge.yaml", config))], cwd=str(home))
    yield server, home
    assert server.stop() == 0


@pytest.fixture()
def escalating(esc_gateway: tuple[Server, Path]) -> Server:
    return esc_gateway[0]


def _ledger_tokens(home: Path, request_id: str) -> tuple[int, int]:
    """The ledger row's prompt and completion tokens: both calls, each counted once."""

    def row() -> tuple[int, int] | None:
        with sqlite3.connect(home / "edge.db") as db:
            return db.execute("SELECT prompt_tokens, completion_tokens FROM requests WHERE request_id = ?", (request_id,)).fetchone()

    return wait_for(row, what=f"the ledger row of {request_id}")


def _messages_kwargs(check: str) -> dict[str, Any]:
    if check == "invalid_json":
        return {"max_tokens": 64, "extra_body": {"output_config": {"format": {"type": "json_schema", "schema": ASKS_JSON_SCHEMA}}}}
    return {"max_tokens": 3 if check == "truncated" else 64}


@pytest.mark.parametrize(("model", "check"), [("bot", "invalid_json"), ("bot", "truncated"), ("bot", "empty"), ("claude-bot", "truncated"), ("claude-bot", "empty")])
def test_a_messages_answer_that_fails_a_check_escalates(esc_gateway: tuple[Server, Path], model: str, check: str) -> None:
    escalating, home = esc_gateway
    strong = "strong-claude" if model == "claude-bot" else "strong"
    with anthropic.Anthropic(base_url=escalating.url, api_key="any", max_retries=0) as client:
        kwargs = _messages_kwargs(check)
        extra = dict(kwargs.pop("extra_body", {}))
        extra["mock"] = {"by_model": {"cheap": BAD[check]}}
        raw = client.messages.with_raw_response.create(model=model, messages=[{"role": "user", "content": "answer me well"}], extra_body=extra, **kwargs)
        message = raw.parse()
        assert raw.headers["x-edge-fallback-reason"] == f"escalated: {check}"
        assert raw.headers["x-edge-route"].endswith("/strong") and raw.headers["x-edge-attempts"] == "2"
        assert message.model == model and message.type == "message"
        if check == "invalid_json":
            assert json.loads(message.content[0].text) == {"ok": True}  # type: ignore[union-attr]
        alone = client.messages.create(model=strong, messages=[{"role": "user", "content": "answer me well"}], **_messages_kwargs(check))
    # one answer, paid for twice: the usage covers both calls, and so does the ledger row, once
    assert message.usage.input_tokens >= 2 * alone.usage.input_tokens > 0
    assert _ledger_tokens(home, raw.headers["x-request-id"]) == (message.usage.input_tokens, message.usage.output_tokens)


def test_a_messages_answer_that_passes_is_the_weaker_models(escalating: Server) -> None:
    with anthropic.Anthropic(base_url=escalating.url, api_key="any", max_retries=0) as client:
        raw = client.messages.with_raw_response.create(model="bot", max_tokens=64, messages=[{"role": "user", "content": "a fine answer"}])
    assert raw.headers["x-edge-route"] == "oai/cheap" and "x-edge-fallback-reason" not in raw.headers
    assert raw.parse().content[0].text == "a fine answer"  # type: ignore[union-attr]


def _responses_kwargs(check: str) -> dict[str, Any]:
    if check == "invalid_json":
        return {"text": {"format": {"type": "json_schema", "name": "r", "schema": ASKS_JSON_SCHEMA}}}
    return {"max_output_tokens": 3} if check == "truncated" else {}


@pytest.mark.parametrize("check", ["invalid_json", "truncated", "empty"])
def test_a_responses_answer_that_fails_a_check_escalates(esc_gateway: tuple[Server, Path], check: str) -> None:
    escalating, home = esc_gateway
    with openai.OpenAI(base_url=escalating.url + "/v1", api_key="any", max_retries=0) as client:
        raw = client.responses.with_raw_response.create(model="bot", input="answer me well", store=False, extra_body={"mock": {"by_model": {"cheap": BAD[check]}}}, **_responses_kwargs(check))
        response = raw.parse()
        assert raw.headers["x-edge-fallback-reason"] == f"escalated: {check}"
        assert raw.headers["x-edge-route"] == "oai/strong" and raw.headers["x-edge-attempts"] == "2"
        assert response.model == "bot" and response.status == "completed"
        if check == "invalid_json":
            assert json.loads(response.output_text) == {"ok": True}
        alone = client.responses.create(model="strong", input="answer me well", store=False, **_responses_kwargs(check))
    assert response.usage is not None and alone.usage is not None
    assert response.usage.input_tokens >= 2 * alone.usage.input_tokens > 0
    assert _ledger_tokens(home, raw.headers["x-request-id"]) == (response.usage.input_tokens, response.usage.output_tokens)


def test_a_responses_answer_that_passes_is_the_weaker_models(escalating: Server) -> None:
    with openai.OpenAI(base_url=escalating.url + "/v1", api_key="any", max_retries=0) as client:
        raw = client.responses.with_raw_response.create(model="bot", input="a fine answer", store=False)
    assert raw.headers["x-edge-route"] == "oai/cheap" and "x-edge-fallback-reason" not in raw.headers
    assert raw.parse().output_text == "a fine answer"
