"""A configured secret an upstream echoes never reaches the client of a native Responses stream,
nor the stored response: the held-back ``response.completed`` (edge/responses/native.py) is
scrubbed like the events before it (edge/scrub.py)."""

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
"""
    proc = Server(["serve", "--config", str(write_config(home / "edge.yaml", config))], cwd=str(home))
    yield proc
    proc.stop()


def test_echoed_secret_is_scrubbed_in_the_stream_and_the_store(gateway: Server) -> None:
    body = {"model": "native/echo", "input": f"alpha {SECRET} omega", "stream": True}
    auth = {"authorization": "Bearer k", "content-type": "application/json"}
    status, _, raw = request("POST", gateway.url + "/v1/responses", json.dumps(body).encode(), auth)
    assert status == 200
    events = [json.loads(line[5:]) for line in raw.splitlines() if line.startswith(b"data:")]
    assert events[-1]["type"] == "response.completed"
    final = events[-1]["response"]
    text = "".join(p["text"] for i in final["output"] if i["type"] == "message" for p in i["content"])
    assert text.startswith("alpha ") and text.endswith(" omega") and SECRET not in text
    assert SECRET.encode() not in raw and final["model"] == "native/echo"

    def stored() -> bytes | None:
        got = request("GET", f"{gateway.url}/v1/responses/{final['id']}", None, auth)
        return got[2] if got[0] == 200 else None

    doc = wait_for(stored, what="the stored response")
    assert SECRET.encode() not in doc and json.loads(doc)["output"] == final["output"]
