"""Routing end to end: fallbacks, retries, cooldowns, deadlines, context windows, escalation.

A real gateway in front of the mock upstream, driven by the openai SDK. Each scenario uses its
own upstream model names, so the cooldown state one leaves behind cannot touch another.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator

import openai
import pytest

from tests.support import Mock, Server, gateway_config, wait_for, write_config

MODELS = """
  slow:
    kind: openai
    base_url: {base}
    timeout_s: 0.5
models:
  p429: {{route: [{{provider: up, model: p429}}], fallbacks: [backup]}}
  p429w: {{route: [{{provider: up, model: p429w}}], fallbacks: [backup]}}
  p429l: {{route: [{{provider: up, model: p429l}}], fallbacks: [backup]}}
  p503s: {{route: [{{provider: up, model: p503s}}], fallbacks: [backup]}}
  pstall: {{route: [{{provider: slow, model: pstall}}], fallbacks: [backup]}}
  pstalls: {{route: [{{provider: slow, model: pstalls}}], fallbacks: [backup]}}
  p400: {{route: [{{provider: up, model: p400}}], fallbacks: [backup]}}
  backup: {{route: [{{provider: up, model: back}}]}}
  small: {{route: [{{provider: up, model: small}}], context_window: 1000, fallbacks: [tiny, big]}}
  tiny: {{route: [{{provider: up, model: tiny}}], context_window: 500}}
  big: {{route: [{{provider: up, model: big}}], context_window: 100000}}
  flaky: {{route: [{{provider: up, model: flaky}}]}}
  cool: {{route: [{{provider: up, model: cool}}], panic: false}}  # panic: see test_panic.py
  capped: {{route: [{{provider: up, model: capped, max_concurrency: 1}}]}}
  cheap: {{route: [{{provider: up, model: cheap}}]}}
  strong: {{route: [{{provider: up, model: strong}}]}}
  support-bot:
    escalate: {{from: cheap, to: strong, when: [invalid_json, truncated, refusal, empty]}}
"""

ROUTING = """
routing:
  retries: 2
  retry_on: [429, 500, 502, 503, 504, timeout, connection]
  timeout_s: 20
  first_byte_timeout_s: 0.5
  retry_budget_min: 1000  # these tests retry a lot in little traffic
  cooldown: {consecutive_failures: 3, base_ejection_s: 60}
"""


@pytest.fixture(scope="module")
def routed(mock: Mock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("routing")
    text = gateway_config(mock.base_url, home, routing=ROUTING)
    # Replace the default models with the routing scenarios, and add a provider with a short timeout.
    head, _, _ = text.partition("models:\n")
    text = head + MODELS.format(base=mock.base_url) + ROUTING
    path = write_config(home / "edge.yaml", text)
    server = Server(["serve", "--config", str(path)], cwd=str(home))
    server.home = home  # type: ignore[attr-defined]
    yield server
    server.stop()


@pytest.fixture()
def client(routed: Server) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=routed.url + "/v1", api_key="k", max_retries=0) as client:
        yield client


def _ask(client: openai.OpenAI, model: str, text: str = "hello", **kwargs):  # type: ignore[no-untyped-def]
    return client.chat.completions.with_raw_response.create(model=model, messages=[{"role": "user", "content": text}], **kwargs)


def test_primary_429_falls_back_after_retries(client: openai.OpenAI, mock: Mock) -> None:
    raw = _ask(client, "p429", "fall back please", extra_body={"mock": {"by_model": {"p429": {"status": 429}}}})
    completion = raw.parse()
    assert completion.model == "p429"  # the client still sees the name it asked for
    assert completion.choices[0].message.content == "fall back please"
    assert raw.headers["x-edge-route"] == "up/back"
    assert raw.headers["x-edge-attempts"] == "4"  # 1 + 2 retries on the primary, then the fallback
    assert raw.headers["x-edge-fallback-reason"] == "429 on up/p429"


def test_stream_falls_back_before_the_first_byte(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="p503s", stream=True, messages=[{"role": "user", "content": "streamed fallback"}],
        extra_body={"mock": {"by_model": {"p503s": {"status": 503}}}},
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "streamed fallback"
    assert stream.response.headers["x-edge-route"] == "up/back"


def test_stalled_primary_times_out_then_falls_back(client: openai.OpenAI) -> None:
    started = time.monotonic()
    raw = _ask(client, "pstall", "after the stall", extra_body={"mock": {"by_model": {"pstall": {"latency_ms": 3000}}}})
    assert raw.parse().choices[0].message.content == "after the stall"
    assert raw.headers["x-edge-route"] == "up/back"
    assert raw.headers["x-edge-fallback-reason"] == "timeout on slow/pstall"
    assert time.monotonic() - started < 2.9  # three 0.5 s attempts and backoff, not the stall
    stream = client.chat.completions.create(
        model="pstalls", stream=True, messages=[{"role": "user", "content": "stream after stall"}],
        extra_body={"mock": {"by_model": {"pstalls": {"latency_ms": 3000}}}},
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "stream after stall"


def test_client_deadline_shortens_the_request(client: openai.OpenAI) -> None:
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as info:
        _ask(client, "backup", extra_body={"mock": {"latency_ms": 5000}}, extra_headers={"x-edge-timeout-ms": "300"})
    assert info.value.status_code == 504
    assert time.monotonic() - started < 2.0
    with pytest.raises(openai.BadRequestError):
        _ask(client, "backup", extra_headers={"x-edge-timeout-ms": "soon"})


def test_context_length_falls_back_only_to_a_larger_window(client: openai.OpenAI, mock: Mock) -> None:
    knobs = {"by_model": {"small": {"context_limit": 5}, "tiny": {"context_limit": 5}}}
    raw = _ask(client, "small", "this prompt is much too long for the small model", extra_body={"mock": knobs})
    assert raw.headers["x-edge-route"] == "up/big"
    assert raw.headers["x-edge-attempts"] == "2"  # tiny (window 500 < 1000) was skipped, not tried
    assert raw.headers["x-edge-fallback-reason"] == "context_length on up/small"
    assert mock.stats()["last_request"]["model"] == "big"


def test_bad_input_does_not_fall_back(client: openai.OpenAI, mock: Mock) -> None:
    before = mock.stats()["chat_requests"]
    with pytest.raises(openai.BadRequestError) as info:
        _ask(client, "p400", extra_body={"mock": {"by_model": {"p400": {"status": 400}}}})
    assert info.value.response.headers["x-request-id"]
    assert mock.stats()["chat_requests"] == before + 1  # one attempt, no retry, no fallback


def test_retry_on_the_same_route_succeeds(client: openai.OpenAI) -> None:
    scenario = uuid.uuid4().hex
    raw = _ask(client, "flaky", "third time lucky", extra_body={"mock": {"fail_first": 2, "scenario": scenario}})
    assert raw.parse().choices[0].message.content == "third time lucky"
    assert raw.headers["x-edge-attempts"] == "3" and raw.headers["x-edge-route"] == "up/flaky"
    assert "x-edge-fallback-reason" not in raw.headers


def test_cooldown_skips_a_failing_route_without_calling_it(client: openai.OpenAI, mock: Mock) -> None:
    # One failing request counts once, however many retries it made: three requests are needed.
    for attempt in range(3):
        with pytest.raises(openai.InternalServerError) as info:
            _ask(client, "cool", extra_body={"mock": {"status": 503}})
        assert info.value.code != "cooling_down", f"cooled down after {attempt + 1} request(s)"
    before = mock.stats()["chat_requests"]
    with pytest.raises(openai.InternalServerError) as info:
        _ask(client, "cool")
    assert info.value.status_code == 503 and info.value.code == "cooling_down"
    assert int(info.value.response.headers["retry-after"]) > 50
    assert mock.stats()["chat_requests"] == before


def test_concurrency_cap(client: openai.OpenAI, mock: Mock) -> None:
    results: list[object] = []

    def call() -> None:
        try:
            results.append(_ask(client, "capped", extra_body={"mock": {"latency_ms": 600}}).parse())
        except openai.APIStatusError as exc:
            results.append(exc.status_code)

    before = mock.stats()["chat_requests"]
    threads = [threading.Thread(target=call) for _ in range(2)]
    threads[0].start()
    # The second starts while the first holds the route's only slot (the upstream takes 0.6 s).
    wait_for(lambda: mock.stats()["chat_requests"] > before, what="the first request at the upstream")
    threads[1].start()
    for t in threads:
        t.join()
    assert 503 in results and len(results) == 2


@pytest.mark.parametrize(
    ("knobs", "kwargs", "reason"),
    [
        ({"reply": "this is not json"}, {"response_format": {"type": "json_schema", "json_schema": {"name": "r", "schema": {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}}}}, "invalid_json"),
        ({"tokens": 20}, {"max_tokens": 3}, "truncated"),
        ({"refusal": "I cannot help with that"}, {}, "refusal"),
        ({"tokens": 0}, {}, "empty"),
    ],
)
def test_escalation_on_each_check(client: openai.OpenAI, knobs: dict, kwargs: dict, reason: str) -> None:
    raw = _ask(client, "support-bot", "answer me well", extra_body={"mock": {"by_model": {"cheap": knobs}}}, **kwargs)
    completion = raw.parse()
    assert completion.model == "support-bot"
    assert raw.headers["x-edge-route"] == "up/strong"
    assert raw.headers["x-edge-fallback-reason"] == f"escalated: {reason}"
    assert raw.headers["x-edge-attempts"] == "2"
    if reason == "invalid_json":
        assert json.loads(completion.choices[0].message.content) == {"ok": True}
    # the usage covers both calls: the strong answer alone has fewer completion tokens
    strong_alone = _ask(client, "strong", "answer me well", **kwargs).parse().usage
    assert completion.usage.prompt_tokens == 2 * strong_alone.prompt_tokens
    assert completion.usage.completion_tokens > strong_alone.completion_tokens


def test_no_escalation_when_the_answer_passes(client: openai.OpenAI) -> None:
    raw = _ask(client, "support-bot", "a fine answer")
    assert raw.headers["x-edge-route"] == "up/cheap" and "x-edge-fallback-reason" not in raw.headers


def test_buffered_stream_escalates(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="support-bot", stream=True, stream_options={"include_usage": True}, messages=[{"role": "user", "content": "buffered answer"}],
        extra_body={"mock": {"by_model": {"cheap": {"tokens": 0}}}}, extra_headers={"x-edge-buffer": "true"},
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "buffered answer"
    assert stream.response.headers["x-edge-fallback-reason"] == "escalated: empty"
    assert chunks[-1].usage is not None and chunks[-1].choices == []


def test_every_attempt_is_in_the_ledger(client: openai.OpenAI, routed: Server) -> None:
    raw = _ask(client, "p429l", "ledger me", extra_body={"mock": {"by_model": {"p429l": {"status": 429}}}})
    request_id = raw.headers["x-request-id"]
    db = routed.home / "edge.db"  # type: ignore[attr-defined]

    def row() -> tuple | None:
        with sqlite3.connect(db) as conn:
            return conn.execute("SELECT attempts, attempt_log, fallback_reason FROM requests WHERE request_id = ?", (request_id,)).fetchone()

    attempts, log, reason = wait_for(row, what=f"the ledger row of {request_id}")
    entries = json.loads(log)
    assert attempts == len(entries) == 4
    assert [e["route"] for e in entries] == ["up/p429l"] * 3 + ["up/back"]
    assert [e["status"] for e in entries] == ["429", "429", "429", "200"]
    assert all(e["latency_ms"] >= 0 for e in entries)
    assert reason == "429 on up/p429l"


def test_a_long_retry_after_is_not_waited_for(client: openai.OpenAI) -> None:
    started = time.monotonic()
    raw = _ask(client, "p429w", "no long waits", extra_body={"mock": {"by_model": {"p429w": {"status": 429, "retry_after": 60}}}})
    assert time.monotonic() - started < 3  # not 2 x 60 s of waiting on the primary
    assert raw.headers["x-edge-route"] == "up/back" and raw.headers["x-edge-attempts"] == "2"
