"""Model names are checked per provider before any upstream call (issue 16, item 4).

A key limited to ``gem/gemini-2.5-flash*`` once reached ``gemini-ultra`` with
``gem/gemini-2.5-flash/../../../v1beta/models/gemini-ultra``: the name went into Gemini's URL
path with ``/`` left unquoted, and the upstream's server resolved the dot segments. Now every
adapter declares what a valid upstream model name is (``model_names``), a passthrough name
that is not one is a 400 naming ``model`` with no upstream call, and Gemini quotes the name as
one path segment whatever it holds. Real gateway, real mock speaking each dialect.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from edge.adapters import KINDS, build_adapter
from edge.adapters.gemini import GeminiAdapter
from edge.adapters.types import ModelNames
from tests.support import Mock, Server, request, write_config

ADMIN_KEY = "sk-admin-names-0123456789abcdef"
TRAVERSAL = "gem/gemini-2.5-flash/../../../v1beta/models/gemini-ultra"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Mock, str]]:
    home = tmp_path_factory.mktemp("model-names")
    mock = Mock()
    config = f"""
server: {{host: 127.0.0.1, port: 0, drain_timeout_s: 5}}
state: {{ledger: "sqlite:///{home}/edge.db"}}
keys: {{admin: {ADMIN_KEY}}}
routing: {{retries: 0}}
providers:
  gem: {{kind: gemini, base_url: "{mock.url}", timeout_s: 5}}
  up: {{kind: openai, base_url: "{mock.base_url}", timeout_s: 5}}
  anth: {{kind: anthropic, base_url: "{mock.url}", timeout_s: 5}}
  oll: {{kind: ollama, base_url: "{mock.url}", timeout_s: 5}}
"""
    server = Server(["serve", "--config", str(write_config(home / "edge.yaml", config))], cwd=str(home))
    status, _, body = request("POST", server.url + "/v1/keys", json.dumps({"name": "flash-only", "models": ["gem/gemini-2.5-flash*"]}).encode(), {"authorization": f"Bearer {ADMIN_KEY}", "content-type": "application/json"})
    assert status == 201, body
    yield server, mock, json.loads(body)["key"]
    assert server.stop() == 0
    mock.stop()


def _chat(server: Server, key: str, model: str, path: str = "/v1/chat/completions", **extra: object) -> tuple[int, dict]:
    body = {"model": model, "messages": [{"role": "user", "content": "hello"}], **extra} if path.endswith("completions") else {"model": model, "input": "hello", **extra}
    status, _, data = request("POST", server.url + path, json.dumps(body).encode(), {"authorization": f"Bearer {key}", "content-type": "application/json"})
    return status, json.loads(data)


@pytest.mark.parametrize(
    "model",
    [
        TRAVERSAL,
        "gem/gemini-2.5-flash/../gemini-ultra",
        "gem/gemini-2.5-flash%2F..%2Fgemini-ultra",
        "gem/gemini-2.5-flash:streamGenerateContent",
        "gem/gemini-2.5-flash?key=x",
        "gem/gemini-2.5-flash/",
        "gem/models/../gemini-ultra",
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_a_name_that_is_not_one_gemini_model_is_refused_before_any_call(gateway: tuple[Server, Mock, str], model: str, stream: bool) -> None:
    server, mock, flash_key = gateway
    before = mock.stats()["requests"]
    status, doc = _chat(server, flash_key, model, stream=stream)
    assert status == 400, doc
    error = doc["error"]
    assert error["param"] == "model" and error["code"] == "invalid_model" and error["type"] == "invalid_request_error"
    assert "provider 'gem' (kind gemini)" in error["message"] and "one path segment" in error["message"]
    assert mock.stats()["requests"] == before  # never an upstream call


def test_the_allowed_name_reaches_the_upstream_as_one_segment(gateway: tuple[Server, Mock, str]) -> None:
    server, mock, flash_key = gateway
    status, doc = _chat(server, flash_key, "gem/gemini-2.5-flash")
    assert status == 200, doc
    assert doc["model"] == "gem/gemini-2.5-flash"
    assert mock.stats()["last_headers"]["path_qs"] == "/v1beta/models/gemini-2.5-flash:generateContent"


def test_the_allow_list_still_holds_for_a_valid_name(gateway: tuple[Server, Mock, str]) -> None:
    server, mock, flash_key = gateway
    before = mock.stats()["requests"]
    status, doc = _chat(server, flash_key, "gem/gemini-ultra")
    assert status == 403 and doc["error"]["code"] == "model_not_allowed"
    assert mock.stats()["requests"] == before


@pytest.mark.parametrize("model", ["up/a/../b", "up/./gpt-4o", "anth/claude/..", "oll/llama3 8b", "up/gpt-4o\n", "up/" + "x" * 257, "oll/a//b"])
def test_body_dialects_refuse_names_with_dot_segments_or_odd_characters(gateway: tuple[Server, Mock, str], model: str) -> None:
    server, mock, _ = gateway
    before = mock.stats()["requests"]
    status, doc = _chat(server, ADMIN_KEY, model)
    assert status == 400 and doc["error"]["param"] == "model" and doc["error"]["code"] == "invalid_model", doc
    assert mock.stats()["requests"] == before


@pytest.mark.parametrize("model", ["up/meta-llama/Llama-3.3-70B-Instruct", "up/ft:gpt-4o-mini:acme::AbC123", "oll/hf.co/user/repo:Q4_K_M", "anth/claude-3-5-sonnet@20240620", "gem/models/gemini-2.5-flash"])
def test_vendor_shaped_names_still_pass(gateway: tuple[Server, Mock, str], model: str) -> None:
    server, _, _ = gateway
    status, doc = _chat(server, ADMIN_KEY, model)
    assert status == 200, doc
    assert doc["model"] == model


def test_embeddings_names_are_checked_too(gateway: tuple[Server, Mock, str]) -> None:
    server, mock, _ = gateway
    before = mock.stats()["requests"]
    status, doc = _chat(server, ADMIN_KEY, "gem/text-embedding-004/../../x", path="/v1/embeddings")
    assert status == 400 and doc["error"]["param"] == "model"
    assert mock.stats()["requests"] == before


def test_every_adapter_declares_its_model_names() -> None:
    for kind in KINDS:
        adapter = build_adapter(kind, "http://127.0.0.1:9/v1", None)
        assert isinstance(adapter.model_names, ModelNames), kind


def test_gemini_puts_any_name_in_one_path_segment() -> None:
    # Configured routes are the operator's and not checked per request; quoting still keeps
    # whatever they hold inside one segment.
    adapter = GeminiAdapter("https://generativelanguage.googleapis.com")
    url = adapter.chat_request({"model": "x", "messages": [{"role": "user", "content": "hi"}]}, "gemini-2.5-flash/../../x", False).url
    assert url == "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash%2F..%2F..%2Fx:generateContent"
    assert adapter.chat_request({"model": "x", "messages": [{"role": "user", "content": "hi"}]}, "tunedModels/mine-1", False).url.endswith("/v1beta/tunedModels/mine-1:generateContent")
