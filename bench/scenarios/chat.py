"""Non-streamed chat completion: a 40-word prompt, a 20-word answer in one JSON body."""

from __future__ import annotations

from ..common import Scenario
from ..data import chat_body

SCENARIOS = (
    Scenario(
        name="chat",
        title="chat, non-streamed",
        path="/v1/chat/completions",
        body=chat_body(reply_tokens=20, stream=False),
    ),
)
