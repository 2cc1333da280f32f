"""One conformance suite for every adapter: the ``edge probe`` checklist, run through a real gateway
process in front of the real mock provider speaking each dialect, driven by the official openai SDK.

Capability flags say what each adapter is expected to do; the results also generate the table in
docs/compatibility.md (``EDGE_UPDATE_DOCS=1 pytest tests/adapters/test_conformance.py`` rewrites
it; otherwise a test fails when the file no longer matches what the suite found).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
import openai
import pytest

from edge.probe import FEATURES, Result, run_checks
from tests.support import Mock, Server, request, write_config

KEY = "sk-upstream-secret-0123456789"
ADAPTERS = ("openai", "anthropic", "gemini", "ollama")
DOC = Path(__file__).resolve().parents[2] / "docs" / "compatibility.md"
README = Path(__file__).resolve().parents[2] / "README.md"
BEGIN, END = "<!-- conformance:begin -->", "<!-- conformance:end -->"

# Expected result per adapter and feature: "pass", or a reason why the row is not a pass.
CAPS: dict[str, dict[str, str]] = {name: dict.fromkeys(FEATURES, "pass") for name in ADAPTERS}

# Where each dialect puts an image, as the mock saw it (vision row).
IMAGE_SHAPE = {
    "openai": lambda req: req["messages"][0]["content"][1]["image_url"]["url"].startswith("data:image/png;base64,"),
    "anthropic": lambda req: req["messages"][0]["content"][1]["source"]["type"] == "base64",
    "gemini": lambda req: req["contents"][0]["parts"][1]["inlineData"]["mimeType"] == "image/png",
    "ollama": lambda req: len(req["messages"][0]["images"]) == 1,
}
RESULTS: dict[tuple[str, str], Result] = {}


@pytest.fixture(scope="module")
def keyed_mock() -> Iterator[Mock]:
    proc = Mock("--api-key", KEY)
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def gateway(keyed_mock: Mock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("conformance")
    config = f"""
server: {{host: 127.0.0.1, port: 0}}
state: {{ledger: "sqlite:///{home}/edge.db"}}
routing: {{retries: 0}}
providers:
  openai: {{kind: openai, base_url: "{keyed_mock.base_url}", api_key: {KEY}, timeout_s: 20, models: [echo, tool]}}
  anthropic: {{kind: anthropic, base_url: "{keyed_mock.url}", api_key: {KEY}, timeout_s: 20, models: [echo, tool]}}
  gemini: {{kind: gemini, base_url: "{keyed_mock.url}", api_key: {KEY}, timeout_s: 20, models: [echo, tool]}}
  ollama: {{kind: ollama, base_url: "{keyed_mock.url}", api_key: {KEY}, timeout_s: 20, models: [echo, tool]}}
"""
    proc = Server(["serve", "--config", str(write_config(home / "edge.yaml", config))], cwd=str(home))
    yield proc
    proc.stop()


@pytest.fixture()
def client(gateway: Server) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key="any", max_retries=0, timeout=30) as c:
        yield c


@pytest.mark.parametrize("feature", FEATURES)
@pytest.mark.parametrize("adapter", ADAPTERS)
def test_conformance(client: openai.OpenAI, keyed_mock: Mock, adapter: str, feature: str) -> None:
    [result] = run_checks(client, f"{adapter}/echo", f"{adapter}/tool", [feature])
    RESULTS[(adapter, feature)] = result
    expected = CAPS[adapter][feature]
    if expected != "pass":
        pytest.skip(expected)  # documented in docs/compatibility.md, not an adapter failure
    assert result.status == "pass", result.reason
    if feature == "vision":
        assert IMAGE_SHAPE[adapter](keyed_mock.stats()["last_request"])
    if feature == "tools" and adapter == "ollama":
        # Ollama cannot force a call: "required" is refused (adapters/ollama.py FIELDS), "auto" works.
        assert result.reason.endswith("tool_choice required refused, auto used"), result.reason
    if feature == "provider_error":
        assert result.reason.startswith("HTTP 429 rate_limit_error, retry-after 1"), result.reason
    if feature == "stop":
        seen = keyed_mock.stats()["last_request"]
        native = {"openai": lambda r: r["stop"], "anthropic": lambda r: r["stop_sequences"], "gemini": lambda r: r["generationConfig"]["stopSequences"], "ollama": lambda r: r["options"]["stop"]}
        assert native[adapter](seen) == ["STOP"]


def test_gemini_key_travels_in_a_header_not_the_url(client: openai.OpenAI, keyed_mock: Mock) -> None:
    client.chat.completions.create(model="gemini/echo", messages=[{"role": "user", "content": "hi"}])
    seen = keyed_mock.stats()["last_headers"]
    assert KEY not in seen["path_qs"] and "key=" not in seen["path_qs"]
    assert seen["path_qs"].startswith("/v1beta/models/echo:generateContent")


def test_wrong_key_is_an_authentication_error_for_every_dialect(keyed_mock: Mock, tmp_path: Path) -> None:
    providers = "\n".join(
        f'  {name}: {{kind: {name}, base_url: "{keyed_mock.base_url if name == "openai" else keyed_mock.url}", api_key: wrong-key-000000, timeout_s: 10}}' for name in ADAPTERS
    )
    path = write_config(tmp_path / "edge.yaml", f'server: {{host: 127.0.0.1, port: 0}}\nstate: {{ledger: "sqlite:///{tmp_path}/edge.db"}}\nproviders:\n{providers}\n')
    server = Server(["serve", "--config", str(path)], cwd=str(tmp_path))
    try:
        for name in ("anthropic", "gemini", "ollama"):
            status, _, body = request("POST", server.url + "/v1/chat/completions", json.dumps({"model": f"{name}/echo", "messages": [{"role": "user", "content": "x"}]}).encode(), {"content-type": "application/json"})
            assert status == 401, (name, status, body)
            assert json.loads(body)["error"]["message"]
            assert b"wrong-key-000000" not in body
    finally:
        server.stop()


def _table() -> str:
    def cell(adapter: str, feature: str) -> str:
        result = RESULTS[(adapter, feature)]
        expected = CAPS[adapter][feature]
        if expected != "pass":
            return "see note"
        return {"pass": "yes", "unsupported": "unsupported"}.get(result.status, "FAIL")

    lines = ["| feature | " + " | ".join(ADAPTERS) + " |", "| --- |" + " --- |" * len(ADAPTERS)]
    lines += [f"| {feature} | " + " | ".join(cell(a, feature) for a in ADAPTERS) + " |" for feature in FEATURES]
    notes = [f"- {a} / {f}: {why}" for a in ADAPTERS for f, why in CAPS[a].items() if why != "pass"]
    return "\n".join(lines + ([""] + notes if notes else []))


def test_compatibility_doc_matches_the_suite() -> None:
    """docs/compatibility.md and the README carry the same generated table."""
    if len(RESULTS) != len(ADAPTERS) * len(FEATURES):
        pytest.skip("run the whole conformance suite to compare docs/compatibility.md")
    table = _table()
    for doc in (DOC, README):
        text = doc.read_text() if doc.exists() else ""
        head, _, rest = text.partition(BEGIN)
        current, _, tail = rest.partition(END)
        if os.environ.get("EDGE_UPDATE_DOCS") == "1":
            doc.write_text(f"{head}{BEGIN}\n{table}\n{END}{tail}")
            continue
        assert current.strip() == table, f"{doc.name} is stale: EDGE_UPDATE_DOCS=1 pytest tests/adapters/test_conformance.py"
