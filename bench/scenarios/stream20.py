"""Streamed chat of 20 content chunks, paced at 1 ms per chunk (as a model emits) and unpaced.

Paced is the figure the targets use: the gateway's CPU per stream then reflects forwarding chunks
one by one, as in production. Unpaced lets chunks coalesce in socket buffers and mostly measures
the mock.
"""

from __future__ import annotations

from ..common import Scenario
from ..data import chat_body

SCENARIOS = (
    Scenario(
        name="stream20",
        title="stream, 20 chunks, 1 ms/chunk",
        path="/v1/chat/completions",
        body=chat_body(reply_tokens=20, stream=True, chunk_delay_ms=1),
        stream=True,
        chunks=20,
        paced=True,
    ),
    Scenario(
        name="stream20_unpaced",
        title="stream, 20 chunks, unpaced",
        path="/v1/chat/completions",
        body=chat_body(reply_tokens=20, stream=True),
        stream=True,
        chunks=20,
    ),
)
