"""Panic routing (Envoy's panic threshold): when every route of a model is cooling down, the
request goes to the route whose cooldown started first instead of a 503 the SDKs would sleep
out; ``panic: false`` keeps the 503. The embedded default's ``mock/error`` never locks itself.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.support import Mock, Server, write_config


@pytest.fixture(scope="module")
def routed(mock: Mock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("panic")
    config = f"""
server: {{host: 127.0.0.1, port: 0}}
state: {{ledger: "sqlite:///{home}/edge.db"}}
providers:
  up: {{kind: openai, base_url: "{mock.base_url}", timeout_s: 10}}
models:
  lone: {{route: [{{provider: up, model: panic-lone}}]}}
  strict: {{route: [{{provider: up, model: panic-strict}}], panic: false}}
  pair: {{route: [{{provider: up, model: panic-a}}, {{provider: up, model: panic-b}}]}}
routing:
  retries: 0
  cooldown: {{consecutive_failures: 1, failure_percent: 0, base_ejection_s: 60, max_ejection_percent: 100}}
"""
    server = Server(["serve", "--config", str(write_config(home / "edge.yaml", config))], cwd=str(home))
    yield server
    server.stop()


@pytest.fixture()
def client(routed: Server) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=routed.url + "/v1", api_key="k", max_retries=0) as c:
        yield c


def _ask(client: openai.OpenAI, model: str, knobs: dict[str, object] | None = None):  # type: ignore[no-untyped-def]
    return client.chat.completions.with_raw_response.create(model=model, messages=[{"role": "user", "content": "still there"}], extra_body={"mock": knobs} if knobs else None)


def test_every_route_cooling_down_sends_to_the_one_that_cooled_first(client: openai.OpenAI, mock: Mock) -> None:
    with pytest.raises(openai.InternalServerError) as info:
        _ask(client, "lone", {"status": 500})
    assert info.value.response.headers["x-edge-route"] == "up/panic-lone"  # the route cools down now
    before = mock.stats()["chat_requests"]
    raw = _ask(client, "lone")
    assert raw.parse().choices[0].message.content == "still there"
    assert mock.stats()["chat_requests"] == before + 1  # sent, not refused
    assert raw.headers["x-edge-route"] == "up/panic-lone"
    assert raw.headers["x-edge-fallback-reason"].startswith("panic: every route is cooling down")
    # A failing route in panic answers with its own error, never a 503 with a long Retry-After.
    with pytest.raises(openai.InternalServerError) as info:
        _ask(client, "lone", {"status": 500})
    assert info.value.status_code == 500 and "retry-after" not in info.value.response.headers


def test_panic_false_keeps_the_503(client: openai.OpenAI, mock: Mock) -> None:
    with pytest.raises(openai.InternalServerError):
        _ask(client, "strict", {"status": 500})
    before = mock.stats()["chat_requests"]
    with pytest.raises(openai.InternalServerError) as info:
        _ask(client, "strict")
    assert info.value.status_code == 503 and info.value.code == "cooling_down"
    assert int(info.value.response.headers["retry-after"]) > 50
    assert mock.stats()["chat_requests"] == before


def test_the_route_whose_cooldown_started_first_is_chosen(client: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as info:
        _ask(client, "pair", {"status": 500})  # both routes fail in turn: both cool down
    assert info.value.response.headers["x-edge-attempts"] == "2"
    last = info.value.response.headers["x-edge-route"]
    first = ({"up/panic-a", "up/panic-b"} - {last}).pop()
    for _ in range(3):
        raw = _ask(client, "pair")
        assert raw.headers["x-edge-route"] == first and raw.headers["x-edge-attempts"] == "1"


def test_the_embedded_default_mock_error_never_locks_itself(tmp_path: Path) -> None:
    """``mock/error`` (500 every time) keeps answering 500 at once, without the minute-long
    503 the openai SDK would wait out four times."""
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL")) and k not in ("OLLAMA_HOST", "EDGE_ADMIN_KEY")}
    env["EDGE_HOME"] = str(tmp_path)
    server = Server(["serve", "--port", "0"], env=env, cwd=str(tmp_path))
    try:
        with openai.OpenAI(base_url=server.url + "/v1", api_key="any", max_retries=0) as client:
            for _ in range(6):  # the cooldown opens after three failed requests
                started = time.monotonic()
                with pytest.raises(openai.InternalServerError) as info:
                    client.chat.completions.create(model="mock/error", messages=[{"role": "user", "content": "x"}])
                assert info.value.status_code == 500 and info.value.code != "cooling_down"
                assert "retry-after" not in info.value.response.headers
                assert time.monotonic() - started < 5
            assert client.chat.completions.create(model="mock/echo", messages=[{"role": "user", "content": "fine"}]).choices[0].message.content == "fine"
    finally:
        server.stop()
