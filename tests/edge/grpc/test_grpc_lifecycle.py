"""Deadlines and cancellation: the caller's deadline bounds the upstream; a cancel closes it."""

from __future__ import annotations

import time

import grpc
import pytest

from tests.edge.grpc.grpc_helpers import GrpcGateway, chat
from tests.support import Mock, wait_for


def test_unary_deadline_exceeded_is_recorded(grpc_gateway: GrpcGateway) -> None:
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as caught:
        grpc_gateway.stub.ChatComplete(chat("slow", mock={"latency_ms": 3000}), metadata=(("x-request-id", "grpc-deadline-1"),), timeout=0.5)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - started < 1.5
    row = grpc_gateway.ledger("grpc-deadline-1", "status, error_type, surface")
    assert tuple(row) == (504, "timeout", "grpc")


def test_stream_deadline_closes_the_upstream(grpc_gateway: GrpcGateway, mock: Mock) -> None:
    aborted = mock.stats()["streams_aborted"]
    stream = grpc_gateway.stub.ChatStream(chat(mock={"tokens": 200, "chunk_delay_ms": 50}), metadata=(("x-request-id", "grpc-deadline-2"),), timeout=0.6)
    received = []
    with pytest.raises(grpc.RpcError) as caught:
        for chunk in stream:
            received.append(chunk)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert 3 <= len(received) < 30
    wait_for(lambda: mock.stats()["streams_aborted"] > aborted, 2.0, what="the upstream stream closed")
    row = grpc_gateway.ledger("grpc-deadline-2", "status, error_type, estimated, completion_tokens")
    assert (row["status"], row["error_type"], row["estimated"]) == (504, "timeout", 1) and row["completion_tokens"] > 0


def test_cancelled_stream_closes_the_upstream_and_is_accounted(grpc_gateway: GrpcGateway, mock: Mock) -> None:
    aborted = mock.stats()["streams_aborted"]
    stream = grpc_gateway.stub.ChatStream(chat("cancel-me", mock={"tokens": 200, "chunk_delay_ms": 50}), metadata=(("x-request-id", "grpc-cancel-1"),), timeout=20)
    for _ in range(3):
        next(stream)
    stream.cancel()
    cancelled_at = time.monotonic()
    wait_for(lambda: mock.stats()["streams_aborted"] > aborted, 3.0, what="the upstream stream closed")
    # The upstream noticed within a chunk interval or two, not after the 10 s the stream would take.
    assert time.monotonic() - cancelled_at < 2.0
    row = grpc_gateway.ledger("grpc-cancel-1", "status, client_disconnected, estimated, completion_tokens, prompt_tokens")
    assert (row["status"], row["client_disconnected"], row["estimated"]) == (499, 1, 1)
    assert 0 < row["completion_tokens"] < 200 and row["prompt_tokens"] > 0


def test_cancelled_unary_call_is_accounted(grpc_gateway: GrpcGateway, mock: Mock) -> None:
    before = mock.stats()["chat_requests"]
    future = grpc_gateway.stub.ChatComplete.future(chat("slow", mock={"latency_ms": 2000}), metadata=(("x-request-id", "grpc-cancel-2"),), timeout=20)
    wait_for(lambda: mock.stats()["chat_requests"] > before, what="the call reached the upstream")
    assert future.cancel()
    row = grpc_gateway.ledger("grpc-cancel-2", "status, client_disconnected")
    assert tuple(row) == (499, 1)
