"""A configured secret an upstream echoes never reaches the client of a Responses stream, nor the
stored response: the final ``response.completed`` (held back by edge/responses/native.py, built
from the whole text by the bridge) is scrubbed like the events before it (edge/scrub.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import Mock, Server, request, wait_for, write_config

SECRET = "sk-native-secret-0123456789"


@pytest.fixture(scope="module")
def gateway(mock: Mock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home: Path = tmp_path_factory.mktemp("responses-scrub")
    config = f"""
server: {{host: 127.0.0.1, port: 0}}
state: {{ledger: "sqlite:///{home}/edge.db", ledger_flush_s: 0.05}}
routing: {{retries: 0, cooldown: {{consecutive_failures: 0, failure_percent: 0}}}}
providers:
  native: {{kind: openai, base_url: "{mock.base_url}", responses: native, api_key: {SECRET}, timeout_s: 10}}
  bridged: {{kind: openai, base_url: "{mock.base_url}", responses: bridge, api_key: {SECRET}, timeout_s: 10}}
"""
    proc = Server(["serve", "--config", str(write_config(home / "edge.yaml", config))], cwd=str(home))
    yield proc
    proc.stop()


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "plain"])
@pytest.mark.parametrize("provider", ["native", "bridged"])
def test_echoed_secret_is_scrubbed_in_the_answer_and_the_store(gateway: Server, provider: str, stream: bool) -> None:
    body = {"model": f"{provider}/echo", "input": f"alpha {SECRET} omega", "stream": stream}
    auth = {"authorization": "Bearer k", "content-type": "application/json"}
    status, _, raw = request("POST", gateway.url + "/v1/responses", json.dumps(body).encode(), auth)
    assert status == 200
    if stream:
        events = [json.loads(line[5:]) for line in raw.splitlines() if line.startswith(b"data:")]
        assert events[-1]["type"] == "response.completed"
        final = events[-1]["response"]
    else:
        final = json.loads(raw)
    text = "".join(p["text"] for i in final["output"] if i["type"] == "message" for p in i["content"])
    assert text.startswith("alpha ") and text.endswith(" omega") and SECRET not in text
    assert SECRET.encode() not in raw and final["model"] == f"{provider}/echo"

    def stored() -> bytes | None:
        got = request("GET", f"{gateway.url}/v1/responses/{final['id']}", None, auth)
        return got[2] if got[0] == 200 else None

    doc = wait_for(stored, what="the stored response")
    assert SECRET.encode() not in doc and json.loads(doc)["output"] == final["output"]
