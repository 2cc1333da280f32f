"""The mock as an aiohttp app on a loopback port: every dialect's routes on one server."""

from __future__ import annotations

from aiohttp import web

from . import anthropic, gemini, ollama, openai, responses
from .state import KNOBS, STATE, MockKnobs, MockState

__all__ = ["create_mock_app", "start_mock_server"]


def create_mock_app(knobs: MockKnobs | None = None) -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[STATE] = MockState()
    app[KNOBS] = knobs or MockKnobs()
    app.router.add_post("/v1/chat/completions", openai.chat)
    app.router.add_post("/v1/embeddings", openai.embeddings)
    app.router.add_get("/v1/models", openai.models)
    app.router.add_post("/v1/responses", responses.create)
    app.router.add_post("/v1/responses/input_tokens", responses.input_tokens)
    # The native dialects.
    app.router.add_post("/v1/messages", anthropic.messages)
    app.router.add_post("/v1/messages/count_tokens", anthropic.count_tokens)
    app.router.add_post("/v1beta/models/{tail}", gemini.models)
    app.router.add_post("/api/chat", ollama.chat)
    app.router.add_get("/mock/stats", openai.stats)
    app.router.add_post("/mock/reset", openai.reset)
    return app


async def start_mock_server(host: str = "127.0.0.1", port: int = 0, knobs: MockKnobs | None = None) -> tuple[web.AppRunner, int]:
    """Start the mock on the running loop; returns the runner (to clean up) and the bound port."""
    runner = web.AppRunner(create_mock_app(knobs), access_log=None, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    addresses = runner.addresses  # the bound sockets' names: the port that port 0 picked
    assert addresses
    return runner, addresses[0][1]


class LocalMock:
    """The mock started inside a gateway worker for a provider of kind ``mock``."""

    def __init__(self, runner: web.AppRunner, port: int) -> None:
        self._runner = runner
        self.base_url = f"http://127.0.0.1:{port}/v1"

    @classmethod
    async def start(cls) -> LocalMock:
        runner, port = await start_mock_server("127.0.0.1", 0)
        return cls(runner, port)

    async def close(self) -> None:
        await self._runner.cleanup()
