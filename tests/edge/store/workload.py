"""A scripted chat workload against a real gateway, and the usage the upstream reported for it.

Plain and streamed requests (streamed ones ask for ``stream_options.include_usage`` so the
client sees the upstream's usage as the gateway passed it on). Each request carries an
``x-request-id`` so its ledger row can be found, and a customer in ``metadata``.
"""

from __future__ import annotations

import json
from typing import Any

from tests.support import request

# (request id, streamed, words in the prompt, words in the reply, customer)
SCRIPT = [
    ("wl-1", False, 12, 40, "acme"),
    ("wl-2", True, 30, 2500, "acme"),
    ("wl-3", False, 5, 15000, "globex"),
    ("wl-4", True, 800, 7, "globex"),
    ("wl-5", False, 64, 12000, "acme"),
    ("wl-6", True, 3, 3000, "initech"),
]

PRICE_IN, PRICE_OUT = 1.0, 2.0  # USD per 1M tokens for "echo" in tests/support.py gateway_config


def _usage_from_stream(data: bytes) -> dict[str, Any]:
    usage = None
    for line in data.split(b"\n"):
        if line.startswith(b"data: {"):
            chunk = json.loads(line[6:])
            usage = chunk.get("usage") or usage
    assert data.rstrip().endswith(b"data: [DONE]"), data[-200:]
    assert usage is not None, "no usage chunk in the stream"
    return usage


def run_workload(base_url: str, headers: dict[str, str] | None = None, model: str = "chat") -> dict[str, dict[str, Any]]:
    """Send SCRIPT; request id -> usage (with ``customer``) as the client received it."""
    seen: dict[str, dict[str, Any]] = {}
    for request_id, stream, prompt_words, reply_words, customer in SCRIPT:
        body: dict[str, Any] = {
            "model": model,
            "messages": [{"role": "user", "content": " ".join(f"w{i}" for i in range(prompt_words))}],
            "metadata": {"customer": customer},
            "mock": {"tokens": reply_words},
        }
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        status, _, data = request(
            "POST", base_url + "/v1/chat/completions", json.dumps(body).encode(),
            {"content-type": "application/json", "x-request-id": request_id, **(headers or {})},
        )
        assert status == 200, data[:500]
        usage = _usage_from_stream(data) if stream else json.loads(data)["usage"]
        seen[request_id] = {**usage, "customer": customer}
    return seen


def expected_cost(usage: dict[str, Any]) -> float:
    return (usage["prompt_tokens"] * PRICE_IN + usage["completion_tokens"] * PRICE_OUT) / 1_000_000
