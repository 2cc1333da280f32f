"""Recorded OpenAI streams through the gateway: the ledger's tokens equal the upstream's usage.

A tiny upstream on a loopback socket answers every chat request with the bytes of one recorded
stream from ../shared/fixtures/openai (real provider traffic), in small pieces; the gateway is a
real process in front of it; the client is the openai SDK.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from aiohttp import web

from tests.support import Server, wait_for, write_config

RECORDED = ["chat-stream-text-usage.sse", "chat-stream-parallel-tool-calls.sse", "chat-stream-finish-length.sse", "chat-stream-refusal.sse", "chat-stream-json-schema.sse"]


class Replayer:
    """Serves one recorded body per request (the test picks which with the upstream model name)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.loop = asyncio.new_event_loop()
        self.port = 0
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait(10)

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        self.runner = web.AppRunner(app)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        ready.set()
        self.loop.run_forever()

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        data = (self.folder / body["model"]).read_bytes()
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        for start in range(0, len(data), 97):  # odd-sized pieces: events split mid-line
            await response.write(data[start : start + 97])
        await response.write_eof()
        return response

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture()
def replay_gateway(shared_fixtures: Path, tmp_path: Path) -> Iterator[tuple[Server, Path]]:
    replayer = Replayer(shared_fixtures / "openai")
    config = f"""
server: {{port: 0}}
state: {{ledger: "sqlite:///{tmp_path}/edge.db", ledger_flush_s: 0.05}}
providers:
  rec: {{kind: openai, base_url: "http://127.0.0.1:{replayer.port}/v1", timeout_s: 10}}
routing: {{retries: 0}}
"""
    server = Server(["serve", "--config", str(write_config(tmp_path / "edge.yaml", config))], cwd=str(tmp_path))
    try:
        yield server, tmp_path / "edge.db"
    finally:
        server.stop()
        replayer.stop()


def _recorded_usage(path: Path) -> dict:
    usage = None
    for line in path.read_text().splitlines():
        found = re.match(r"data: (\{.*\})\s*$", line)
        if found and '"usage":{' in found.group(1):
            usage = json.loads(found.group(1))["usage"]
    assert usage is not None
    return usage


@pytest.mark.shared_fixtures
@pytest.mark.parametrize("name", RECORDED)
def test_ledger_tokens_equal_recorded_usage(replay_gateway: tuple[Server, Path], shared_fixtures: Path, name: str) -> None:
    server, db = replay_gateway
    with openai.OpenAI(base_url=server.url + "/v1", api_key="k", max_retries=0) as client:
        stream = client.chat.completions.create(model=f"rec/{name}", stream=True, messages=[{"role": "user", "content": "replay"}])
        chunks = list(stream)
        request_id = stream.response.headers["x-request-id"]
        assert chunks and all(c.model == f"rec/{name}" for c in chunks)
        assert all(c.usage is None for c in chunks)  # this client did not ask for the usage chunk
        expected = _recorded_usage(shared_fixtures / "openai" / name)

        def ledger_row() -> tuple | None:
            with sqlite3.connect(db) as conn:
                return conn.execute("SELECT prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, estimated, status FROM requests WHERE request_id = ?", (request_id,)).fetchone()

        row = wait_for(ledger_row, what=f"the ledger row of {request_id}")
        details = expected.get("prompt_tokens_details") or {}
        cdetails = expected.get("completion_tokens_details") or {}
        assert row == (expected["prompt_tokens"], expected["completion_tokens"], details.get("cached_tokens", 0), cdetails.get("reasoning_tokens", 0), 0, 200)
