"""A client that asked for ``stream_options.include_usage`` always gets the usage chunk.

When the upstream sends none (Anthropic's OpenAI-compatible endpoint, recorded in
../shared/fixtures/openai/anthropic-openai-compat-stream-tool-index1.sse; the mock's ``no_usage``
knob), the stream still ends with a usage chunk: the gateway's estimate, ``"estimated": true``
in the usage object (which the openai SDK keeps), and the ledger row says ``estimated``.
"""

from __future__ import annotations

import http.server
import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.support import Mock, Server, request, write_config


class _Replay(http.server.BaseHTTPRequestHandler):
    """An OpenAI-format upstream that answers every chat request with one recorded stream."""

    body = b""

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("content-length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def replay() -> Iterator[http.server.ThreadingHTTPServer]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Replay)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def edge(mock: Mock, replay: http.server.ThreadingHTTPServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    home = tmp_path_factory.mktemp("estimated")
    config = f"""
server: {{host: 127.0.0.1, port: 0}}
state: {{ledger: "sqlite:///{home}/edge.db"}}
routing: {{retries: 0}}
providers:
  up: {{kind: openai, base_url: "{mock.base_url}"}}
  recorded: {{kind: openai, base_url: "http://127.0.0.1:{replay.server_address[1]}/v1"}}
"""
    server = Server(["serve", "--config", str(write_config(home / "edge.yaml", config))], cwd=str(home))
    yield server, home
    server.stop()


def _stream(server: Server, model: str, rid: str, include_usage: bool = True, **extra: Any) -> list[Any]:
    with openai.OpenAI(base_url=server.url + "/v1", api_key="k", max_retries=0, default_headers={"x-request-id": rid}) as client:
        options = {"stream_options": {"include_usage": True}} if include_usage else {}
        return list(client.chat.completions.create(model=model, stream=True, messages=[{"role": "user", "content": "count one two three"}], **options, **extra))  # type: ignore[call-overload]


def _estimated_in_ledger(home: Path, rid: str) -> int:
    def row() -> Any:
        with sqlite3.connect(home / "edge.db") as db:
            return db.execute("SELECT estimated, completion_tokens FROM requests WHERE request_id = ?", (rid,)).fetchone()

    import time

    deadline = time.monotonic() + 10
    while (found := row()) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert found is not None, f"no ledger row for {rid}"
    assert found[1] > 0
    return int(found[0])


def test_an_upstream_without_usage_still_gives_the_client_its_usage_chunk(edge: tuple[Server, Path]) -> None:
    server, home = edge
    chunks = _stream(server, "up/echo", "estimated-1", extra_body={"mock": {"no_usage": True}})
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert last.usage.completion_tokens > 0 and last.usage.prompt_tokens > 0
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens
    assert last.usage.model_extra == {"estimated": True}  # visible to the client, documented
    assert [c for c in chunks[:-1] if c.usage is not None] == []
    assert _estimated_in_ledger(home, "estimated-1") == 1


def test_the_upstream_s_own_usage_is_not_marked(edge: tuple[Server, Path]) -> None:
    server, home = edge
    chunks = _stream(server, "up/echo", "estimated-2")
    usage = [c.usage for c in chunks if c.usage is not None]
    assert len(usage) == 1 and not usage[0].model_extra
    assert _estimated_in_ledger(home, "estimated-2") == 0


def test_a_client_that_did_not_ask_gets_no_usage_chunk(edge: tuple[Server, Path]) -> None:
    server, home = edge
    chunks = _stream(server, "up/echo", "estimated-3", include_usage=False, extra_body={"mock": {"no_usage": True}})
    assert chunks and all(c.usage is None and c.choices for c in chunks)
    assert _estimated_in_ledger(home, "estimated-3") == 1


def test_the_recorded_anthropic_openai_layer_stream(edge: tuple[Server, Path], replay: http.server.ThreadingHTTPServer, shared_fixtures: Path) -> None:
    """The recorded stream that sends no usage chunk although asked: the client still gets one."""
    _Replay.body = (shared_fixtures / "openai" / "anthropic-openai-compat-stream-tool-index1.sse").read_bytes()
    server, home = edge
    status, _, raw = request(
        "POST", server.url + "/v1/chat/completions",
        json.dumps({"model": "recorded/claude", "stream": True, "stream_options": {"include_usage": True}, "messages": [{"role": "user", "content": "read a.txt"}]}).encode(),
        {"content-type": "application/json", "x-request-id": "estimated-recorded"},
    )
    assert status == 200
    events = [line[6:] for line in raw.decode().split("\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    usage = json.loads(events[-2])
    assert usage["choices"] == [] and usage["usage"]["estimated"] is True and usage["usage"]["completion_tokens"] > 0
    assert _estimated_in_ledger(home, "estimated-recorded") == 1
