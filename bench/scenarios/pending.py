"""Scenarios whose features land with later issues: listed, skipped, and easy to switch on.

To enable one: give it a real body (and, if it needs one, a system config in systems.py, such
as a second provider that answers 429 or a key with a low rpm), then drop ``pending``. gRPC
needs a load generator that speaks it (ghz, or a grpc.aio client in loadgen.py) and a
``grpc_port`` for the edge system.
"""

from __future__ import annotations

from ..common import Scenario
from ..data import chat_body

SCENARIOS = (
    Scenario(
        name="fallback_429",
        title="429 on the primary, answered by the fallback",
        path="/v1/chat/completions",
        # The primary route answers 429 through the mock's status knob; the fallback answers.
        body=chat_body(reply_tokens=20, stream=False),
        pending="needs routing retries/fallback (routing issue) and a two-route bench model",
    ),
    Scenario(
        name="rate_limited",
        title="rate-limited keys (rpm admission on every request)",
        path="/v1/chat/completions",
        body=chat_body(reply_tokens=20, stream=False),
        pending="needs keys with limits (limits issue)",
    ),
    Scenario(
        name="grpc_unary",
        title="gRPC unary chat",
        path="edge.v1.Gateway/Chat",
        body=b"",
        pending="needs the gRPC surface and a gRPC load generator",
    ),
    Scenario(
        name="grpc_stream",
        title="gRPC streamed chat, 20 messages",
        path="edge.v1.Gateway/ChatStream",
        body=b"",
        stream=True,
        chunks=20,
        pending="needs the gRPC surface and a gRPC load generator",
    ),
)
