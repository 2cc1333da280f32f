"""Streamed chat of 200 content chunks, paced at 1 ms per chunk and unpaced: per-chunk cost."""

from __future__ import annotations

from ..common import Scenario
from ..data import chat_body

SCENARIOS = (
    Scenario(
        name="stream200",
        title="stream, 200 chunks, 1 ms/chunk",
        path="/v1/chat/completions",
        body=chat_body(reply_tokens=200, stream=True, chunk_delay_ms=1),
        stream=True,
        chunks=200,
        paced=True,
    ),
    Scenario(
        name="stream200_unpaced",
        title="stream, 200 chunks, unpaced",
        path="/v1/chat/completions",
        body=chat_body(reply_tokens=200, stream=True),
        stream=True,
        chunks=200,
    ),
)
