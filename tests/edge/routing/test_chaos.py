"""Chaos: a primary that fails 30% of calls at random, a healthy fallback, no client-visible error.

The full-size run with figures is a bench/ scenario; this one is small enough for every run.
What bounds the extra attempts is the retry budget (``routing.retry_budget``): a failure that a
retry recovered does not count against the route (edge.routing.breaker), so whether the primary
is ever ejected here is chance, and the test does not depend on it.
"""

from __future__ import annotations

import asyncio
import math
import time
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
        errors = retries = fallbacks = 0
        gate = asyncio.Semaphore(8)

        async def one(i: int) -> None:
            nonlocal errors, retries, fallbacks
            async with gate:
                try:
                    raw = await client.chat.completions.with_raw_response.create(model="flaky", messages=[{"role": "user", "content": f"n{i}"}], extra_body=knobs)
                except openai.APIError:
                    errors += 1
                    return
                # Attempts beyond the first on the primary are retries; the backup's answer is one
                # more attempt, or the only one while the primary is ejected.
                attempts = int(raw.headers["x-edge-attempts"])
                fell_back = raw.headers["x-edge-route"].endswith("/steady-backup") and attempts > 1
                fallbacks += fell_back
                retries += attempts - 1 - fell_back

        await asyncio.gather(*(one(i) for i in range(300)))
        await client.close()
        return errors, retries, fallbacks

    began = time.monotonic()
    try:
        errors, retries, fallbacks = asyncio.run(run())
    finally:
        server.stop()
    took = time.monotonic() - began
    assert errors == 0
    # Unbounded, ~30% of 300 requests would retry, ~9% twice (117 retries). The budget allows
    # 20% of the requests plus 10 retries per 10 s window.
    budget = 0.2 * 300 + 10 * math.ceil(took / 10)
    assert 0 < retries <= budget, (retries, budget, fallbacks)
    assert fallbacks > 0  # what the budget refused went to the fallback, not to the client
