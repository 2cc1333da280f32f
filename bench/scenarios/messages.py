"""The Anthropic Messages API (POST /v1/messages), beside chat's figures in the same run.

The same request as ``chat`` / ``stream20`` in the Messages shape (data.py ``messages_body``),
two ways through the edge systems (systems.py ``edge_config``):

    messages*            model claude-echo: a provider of kind anthropic in front of the mock's
                         Anthropic dialect: the byte pass-through (target: within 1.1x of chat's
                         CPU per request)
    messages_bridged*    model echo: the OpenAI-format provider, so the request is translated to
                         chat and the answer (or stream) back to Messages (target: within 1.3x)

The floor, the mock and LiteLLM (as configured here) do not serve the Messages API: their rows
are marked not applicable.
"""

from __future__ import annotations

from ..common import Scenario
from ..data import messages_body

NOT_SERVED = "does not serve the Anthropic Messages API (as configured here): not comparable"
EDGE = ("edge",)

SCENARIOS = (
    Scenario(
        name="messages",
        title="messages, non-streamed, pass-through to Anthropic",
        path="/v1/messages",
        body=messages_body(reply_tokens=20, stream=False, model="claude-echo"),
        systems=EDGE,
        not_applicable=NOT_SERVED,
        baseline="chat",
    ),
    Scenario(
        name="messages_stream20",
        title="messages stream, 20 chunks, 1 ms/chunk, pass-through",
        path="/v1/messages",
        body=messages_body(reply_tokens=20, stream=True, chunk_delay_ms=1, model="claude-echo"),
        stream=True,
        chunks=20,
        paced=True,
        systems=EDGE,
        not_applicable=NOT_SERVED,
        baseline="stream20",
    ),
    Scenario(
        name="messages_bridged",
        title="messages, non-streamed, translated to an OpenAI-format upstream",
        path="/v1/messages",
        body=messages_body(reply_tokens=20, stream=False),
        systems=EDGE,
        not_applicable=NOT_SERVED,
        baseline="chat",
    ),
    Scenario(
        name="messages_bridged_stream20",
        title="messages stream, 20 chunks, 1 ms/chunk, translated",
        path="/v1/messages",
        body=messages_body(reply_tokens=20, stream=True, chunk_delay_ms=1),
        stream=True,
        chunks=20,
        paced=True,
        systems=EDGE,
        not_applicable=NOT_SERVED,
        baseline="stream20",
    ),
)
