"""Chaos: a primary that fails 30% of calls at random, a healthy fallback, no client-visible error.

The full-size run with figures is a bench/ scenario; this one is small enough for every run.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import openai

from tests.support import Mock, Server, gateway_config, write_config

CHAOS = """
models:
  flaky:
    route: [{provider: up, model: flaky-primary}]
    fallbacks: [steady]
  steady:
    route: [{provider: up, model: steady-backup}]
routing:
  retries: 2
  timeout_s: 20
  cooldown: {consecutive_failures: 3, base_ejection_s: 5}
"""


def test_chaos_no_client_errors_and_few_attempts(mock: Mock, tmp_path: Path) -> None:
    text = gateway_config(mock.base_url, tmp_path).partition("models:\n")[0] + CHAOS
    server = Server(["serve", "--config", str(write_config(tmp_path / "edge.yaml", text))], cwd=str(tmp_path))
    knobs = {"mock": {"by_model": {"flaky-primary": {"fail_rate": 0.3, "fail_status": 503}}}}

    async def run() -> tuple[int, int, int]:
        client = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="k", max_retries=0)
        errors = attempts = 0
        gate = asyncio.Semaphore(8)

        async def one(i: int) -> None:
            nonlocal errors, attempts
            async with gate:
                try:
                    raw = await client.chat.completions.with_raw_response.create(model="flaky", messages=[{"role": "user", "content": f"n{i}"}], extra_body=knobs)
                except openai.APIError:
                    errors += 1
                    return
                attempts += int(raw.headers["x-edge-attempts"])

        await asyncio.gather(*(one(i) for i in range(300)))
        await client.close()
        return errors, attempts, 300

    try:
        errors, attempts, total = asyncio.run(run())
    finally:
        server.stop()
    assert errors == 0
    # Retries and the cooldown keep extra attempts well under the 30% failure rate.
    assert attempts / total < 1.3, attempts / total
