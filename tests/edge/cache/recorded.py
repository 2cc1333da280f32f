"""A recorded upstream on a loopback socket: Anthropic and Gemini answers with prompt-cache usage.

It answers ``POST /v1/messages`` and ``POST /v1beta/models/{model}:generateContent`` with the
recorded answer the request's model names (``ANSWERS``: upstream model -> recorded body, or for
a stream the recorded events), and keeps every request's raw body bytes (``bodies``), so tests
can check what reached the provider byte for byte. The answers are real provider traffic from
../shared/fixtures (SOURCES.md there says where each comes from).
"""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

__all__ = ["RecordedUpstream", "recorded_answers"]


def _vcr_bodies(path: Path) -> list[Any]:
    doc = yaml.safe_load(path.read_text())
    return [i["response"]["parsed_body"] for i in doc["interactions"] if i["request"]["uri"].endswith("/v1/messages?beta=true")]


def recorded_answers(fixtures: Path) -> dict[str, tuple[str, Any]]:
    """Upstream model -> (how to send it, what): ``json`` a body, ``sse`` a list of events."""
    write, read = _vcr_bodies(fixtures / "anthropic-inbound" / "exchange-mid-conversation-system-cache-write-then-read.vcr.yaml")
    [counted_read] = _vcr_bodies(fixtures / "anthropic-inbound" / "exchange-count-tokens-then-cache-read.vcr.yaml")
    events = [json.loads(line) for line in (fixtures / "anthropic" / "messages-stream-prompt-cache-server-tool.jsonl").read_text().splitlines() if line.strip()]
    gemini = json.loads((fixtures / "gemini" / "response-implicit-caching.json").read_text())
    # Named so the gateway prices them as their family (edge.prices: longest prefix).
    return {
        "claude-opus-4-8-write": ("json", write),
        "claude-opus-4-8-read": ("json", read),
        "claude-sonnet-4-5-20250929": ("json", counted_read),
        "claude-sonnet-5-stream": ("sse", events),
        "gemini-2.5-flash": ("json", gemini),
        "plain": ("json", {"id": "msg_plain", "type": "message", "role": "assistant", "model": "plain", "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn", "usage": {"input_tokens": 3, "output_tokens": 1}}),
    }


class RecordedUpstream:
    def __init__(self, answers: dict[str, tuple[str, Any]]) -> None:
        self.answers = answers
        self.bodies: list[bytes] = []
        self.loop = asyncio.new_event_loop()
        self.port = 0
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        assert ready.wait(10)
        self.url = f"http://127.0.0.1:{self.port}"

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_post("/v1beta/models/{tail}", self._gemini)
        self.runner = web.AppRunner(app)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = self.runner.addresses[0][1]
        ready.set()
        self.loop.run_forever()

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        self.bodies.append(raw)
        how, what = self.answers[json.loads(raw)["model"]]
        if how == "json":
            return web.json_response(what)
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        for event in what:
            await response.write(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode())
        await response.write_eof()
        return response

    async def _gemini(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.read())
        model = request.match_info["tail"].split(":")[0]
        return web.json_response(self.answers[model][1])

    def last(self) -> dict[str, Any]:
        return json.loads(self.bodies[-1])

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
