"""gRPC (issues 4 and 7): unary ChatComplete and a 20-message ChatStream on edge.v1.Gateway.

Run by the gRPC systems only: ``grpc_floor`` (bench/grpc_floor.py, an empty grpc.aio servicer)
and ``edge_grpc`` (``edge serve --grpc-port 0``, the edge config). The request is the chat
scenario's as an edge.v1 ChatRequest, mock knobs in ``extra_body`` (the floor honours the same
two: tokens and chunk_delay_ms). Load: bench/loadgen_grpc.py.
"""

from __future__ import annotations

from ..common import Scenario
from ..data import grpc_chat_body

SCENARIOS = (
    Scenario(
        name="grpc_unary",
        title="gRPC unary ChatComplete",
        path="/edge.v1.Gateway/ChatComplete",
        body=grpc_chat_body(reply_tokens=20),
        protocol="grpc",
    ),
    Scenario(
        name="grpc_stream",
        title="gRPC ChatStream, 20 messages, 1 ms/message",
        path="/edge.v1.Gateway/ChatStream",
        body=grpc_chat_body(reply_tokens=20, chunk_delay_ms=1),
        stream=True,
        chunks=20,
        paced=True,
        protocol="grpc",
    ),
    Scenario(
        # The floor's figure here is the reference (822 us per 20-message stream); the
        # gateway forwards what one upstream read holds as one message, so its unpaced streams
        # carry fewer, larger messages (the probe counts them).
        name="grpc_stream_unpaced",
        title="gRPC ChatStream, 20 chunks, unpaced",
        path="/edge.v1.Gateway/ChatStream",
        body=grpc_chat_body(reply_tokens=20),
        stream=True,
        chunks=1,
        protocol="grpc",
    ),
)
