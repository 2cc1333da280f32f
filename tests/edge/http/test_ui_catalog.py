"""The model catalog (GET /models, public) in headless Chromium, and GET /v1/models's catalog fields.

A gateway with public models over OpenAI-format, Anthropic and Gemini routes (the mock behind
all of them). The page, opened without a key, must list every model GET /v1/models lists, each
with the prices the price table gives (the highest of its routes'), its context window and its
per-feature support; its curl and Python examples, run as printed, get an answer. The page runs
no script and loads nothing from elsewhere. capabilities() (the adapters' declarations) must
agree with the conformance table in docs/compatibility.md and with what each adapter does.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from edge.adapters import KINDS, build_adapter
from edge.adapters.types import Unsupported
from edge.capabilities import FEATURES, capabilities
from edge.probe import FEATURES as PROBED
from tests.edge.http.browser import artifacts_dir, chromium
from tests.support import Mock, Server, request, write_config

ADMIN = "sk-admin-catalog-0123456789abcdef"
DOC = Path(__file__).resolve().parents[3] / "docs" / "compatibility.md"

CONFIG = """
server: {{host: 127.0.0.1, port: 0}}
state: {{ledger: "sqlite:///{home}/edge.db"}}
providers:
  up: {{kind: openai, base_url: "{mock}/v1", timeout_s: 10, models: [echo]}}
  ant: {{kind: anthropic, base_url: "{mock}", api_key: sk-ant-secret-0123456789, timeout_s: 10, models: [claude-sonnet-4-5]}}
  gem: {{kind: gemini, base_url: "{mock}", api_key: gem-secret-0123456789, timeout_s: 10}}
models:
  chat: {{route: [{{provider: up, model: echo}}]}}
  smart:
    route:
      - {{provider: ant, model: claude-sonnet-4-5, weight: 3}}
      - {{provider: up, model: gpt-4o-mini}}
    fallbacks: [cheap]
  cheap: {{route: [{{provider: gem, model: gemini-2.5-flash}}]}}
  support: {{escalate: {{from: cheap, to: smart}}}}
  mystery: {{route: [{{provider: up, model: no-such-price}}]}}
prices:
  echo: {{input: 0.5, output: 1.5, cached_input: 0.05}}
keys: {{admin: {admin}}}
"""

# What the price table says (edge/prices.py, and the config's echo), per 1M tokens.
EXPECTED_PRICES = {
    "chat": ("$0.5", "$1.5", "$0.05"),
    "smart": ("$3", "$15", "$0.3"),  # the higher of claude-sonnet-4-5 (3/15/0.30) and gpt-4o-mini (0.15/0.60/0.075)
    "cheap": ("$0.3", "$2.5", "$0.03"),
    "support": ("$3", "$15", "$0.3"),  # cheap's routes and smart's
    "mystery": None,
}
EXPECTED_WINDOWS = {"chat": "unknown", "smart": "128,000", "cheap": "1,048,576", "support": "1,048,576", "mystery": "unknown"}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("ui-catalog")
    mock = Mock()
    path = write_config(home / "edge.yaml", CONFIG.format(home=home, mock=mock.url, admin=ADMIN))
    server = Server(["serve", "--config", str(path)], cwd=str(home))
    yield server
    server.stop()
    mock.stop()
    assert "sk-ant-secret" not in server.output


@pytest.fixture()
def client(gateway: Server) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key=ADMIN, max_retries=0, timeout=30) as c:
        yield c


def test_v1_models_carries_prices_windows_and_capabilities(client: openai.OpenAI) -> None:
    models = {m.id: m for m in client.models.list()}
    assert set(EXPECTED_PRICES) <= set(models) and "ant/claude-sonnet-4-5" in models
    for model in models.values():
        assert model.object == "model" and isinstance(model.created, int) and model.owned_by
        extra = model.model_extra or {}
        assert set(extra["capabilities"]) == set(FEATURES)
        assert isinstance(extra["routes"], list) and extra["routes"]
    smart = models["smart"].model_extra or {}
    assert smart["pricing"] == {"input": 3.0, "output": 15.0, "cached_input": 0.3, "reasoning": 15.0, "currency": "USD", "per_tokens": 1_000_000}
    assert [(r["provider"], r["kind"], r["model"]) for r in smart["routes"]] == [("ant", "anthropic", "claude-sonnet-4-5"), ("up", "openai", "gpt-4o-mini")]
    assert smart["routes"][1]["pricing"]["input"] == 0.15
    assert smart["context_window"] == 128_000 and smart["fallbacks"] == ["cheap"]
    assert smart["capabilities"]["embeddings"] == "partial" and smart["capabilities"]["tools"] == "yes"
    assert smart["capabilities"]["reasoning"] == "partial"  # declared by the anthropic kind, not by openai
    assert (models["mystery"].model_extra or {})["pricing"] is None
    assert (models["support"].model_extra or {})["escalates_to"] == "smart"
    retrieved = client.models.retrieve("gem/gemini-2.5-pro")  # any name that routes
    assert (retrieved.model_extra or {})["pricing"]["input"] == 1.25
    assert (retrieved.model_extra or {})["capabilities"]["embeddings"] == "yes"


def test_v1_models_still_needs_a_key_while_the_page_does_not(gateway: Server) -> None:
    assert request("GET", gateway.url + "/v1/models")[0] == 401
    status, headers, body = request("GET", gateway.url + "/models")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in headers["content-security-policy"] and b"<script" not in body


def _summary(page: Any, model: str) -> list[str]:
    return [c.strip() for c in page.locator(f'table.summary tr[data-model="{model}"] td').all_inner_texts()]


def test_catalog_page_lists_every_model(gateway: Server, client: openai.OpenAI, tmp_path: Path) -> None:
    listed = [m.id for m in client.models.list()]
    seen: list[str] = []
    with chromium(tmp_path / "profile") as browser:
        page = browser.new_page()
        page.on("request", lambda r: seen.append(r.url))
        page.goto(gateway.url + "/models")
        assert [s.get_attribute("data-model") for s in page.locator("section.model").all()] == listed
        for model, prices in EXPECTED_PRICES.items():
            cells = _summary(page, model)
            assert cells[2:-1] == (list(prices) if prices else ["no known price"]), (model, cells)
            assert cells[-1] == EXPECTED_WINDOWS[model], (model, cells)
        assert _summary(page, "smart")[1] == "ant/claude-sonnet-4-5, up/gpt-4o-mini"
        for model in listed:
            card = page.locator(f'section.model[data-model="{model}"]')
            expected = (client.models.retrieve(model).model_extra or {})["capabilities"]
            for feature in FEATURES:
                item = card.locator(f'li[data-feature="{feature}"]')
                assert item.get_attribute("class") == f"support-{expected[feature]}", (model, feature)
        smart = page.locator('section.model[data-model="smart"]')
        assert smart.locator('li[data-feature="embeddings"]').inner_text() == "embeddings: some routes"
        assert page.locator('section.model[data-model="ant/claude-sonnet-4-5"] li[data-feature="embeddings"]').inner_text() == "embeddings: no"
        assert "Falls back to: cheap" in smart.inner_text()
        chat = page.locator('section.model[data-model="chat"]')
        chat.locator("summary").click()
        page.screenshot(path=str(artifacts_dir("test_catalog_page_lists_every_model") / "models.png"), full_page=True)
        snippets = {name: chat.locator(f'pre[data-snippet="{name}"]').inner_text() for name in ("curl", "python", "node", "responses", "messages")}
        assert page.locator("script").count() == 0
    assert all(u.startswith(gateway.url + "/") for u in seen), seen
    assert 'model: "chat"' in snippets["node"] and f'baseURL: "{gateway.url}/v1"' in snippets["node"]
    env = {**os.environ, "EDGE_KEY": ADMIN}
    ran = subprocess.run([sys.executable, "-c", snippets["python"]], env=env, capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0 and ran.stdout.strip(), ran.stderr
    answer = ran.stdout.strip()
    ran = subprocess.run(["bash", "-c", snippets["curl"]], env=env, capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0 and '"chat.completion"' in ran.stdout, ran.stdout + ran.stderr
    for dialect in ("responses", "messages"):  # each prints the answer's text, through its own API
        ran = subprocess.run([sys.executable, "-c", snippets[dialect]], env=env, capture_output=True, text=True, timeout=60)
        assert ran.returncode == 0 and ran.stdout.strip() == answer, (dialect, answer, ran.stdout, ran.stderr)


def _conformance_table() -> dict[str, dict[str, str]]:
    text = DOC.read_text()
    body = text.split("<!-- conformance:begin -->")[1].split("<!-- conformance:end -->")[0]
    lines = [line for line in body.strip().splitlines() if line.startswith("|")]
    kinds = [c.strip() for c in lines[0].strip("|").split("|")][1:]
    table: dict[str, dict[str, str]] = {kind: {} for kind in kinds}
    for line in lines[2:]:
        feature, *cells = (c.strip() for c in line.strip("|").split("|"))
        for kind, value in zip(kinds, cells):
            table[kind][feature] = value
    return table


# The conformance suite's feature names that a kind declares, under the declaration's name.
DECLARED_AS = {"chat": "chat", "streaming": "stream", "tools": "tools", "json_schema": "json_schema", "vision": "vision"}


def test_capabilities_agree_with_the_conformance_table() -> None:
    table = _conformance_table()
    assert set(table) == {"openai", "anthropic", "gemini", "ollama"}
    for kind, found in table.items():
        assert set(found) == set(PROBED)
        ours = capabilities(kind)
        for probed, declared in DECLARED_AS.items():
            # The table says yes, FAIL, unsupported or "see note"; only a plain yes is a yes here.
            assert ours[declared] == ("yes" if found[probed] == "yes" else "no"), (kind, probed, found[probed])
    assert set(FEATURES) >= set(DECLARED_AS.values()) | {"embeddings"} and "models_list" not in FEATURES
    assert set(capabilities("no-such-kind").values()) == {"no"}


@pytest.mark.parametrize("kind", list(KINDS))
def test_declared_embeddings_are_what_the_adapter_does(kind: str) -> None:
    adapter = build_adapter(kind, "http://127.0.0.1:9/v1", "key-0123456789")
    try:
        adapter.embeddings_request({"model": "m", "input": "hello"}, "m")
        works = True
    except Unsupported:
        works = False
    assert (capabilities(kind)["embeddings"] == "yes") == works


def test_catalog_escapes_what_it_shows() -> None:
    from edge.catalog import CatalogEntry, CatalogRoute
    from edge.http.catalog_page import render_catalog

    evil = '<img src=x onerror="alert(1)">'
    entry = CatalogEntry(id=evil, owned_by="x", public=True, routes=[CatalogRoute(evil, "openai", evil, None, None)], pricing=None,
                         context_window=None, capabilities=capabilities("openai"), fallbacks=[evil])
    page = render_catalog([entry], "http://h/v1")
    assert "<img" not in page and re.search(r"&lt;img src=x onerror=&quot;alert\(1\)&quot;&gt;", page)
