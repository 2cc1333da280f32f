"""Helpers for tests/edge/grpc: the gateway's gRPC port and stub, requests, error details, the ledger."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import struct_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from edge.v1 import chat_pb2, gateway_pb2_grpc
from tests.support import Server, wait_for

GRPC_SERVING = re.compile(r"grpc serving on ([\d.]+):(\d+)")


class GrpcGateway:
    """A running gateway process and a channel to its gRPC port."""

    def __init__(self, server: Server, home: Path) -> None:
        found = server.wait_for(GRPC_SERVING)
        self.server = server
        self.home = home
        self.grpc_port = int(found.group(2))
        self.target = f"127.0.0.1:{self.grpc_port}"
        self.channel = grpc.insecure_channel(self.target)
        self.stub = gateway_pb2_grpc.GatewayStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def ledger(self, request_id: str, columns: str = "*", timeout: float = 5.0) -> sqlite3.Row:
        """The ledger row for a request id, waiting for the batched write."""

        def row() -> sqlite3.Row | None:
            with sqlite3.connect(self.home / "edge.db") as db:
                db.row_factory = sqlite3.Row
                try:
                    return db.execute(f"SELECT {columns} FROM requests WHERE request_id = ?", (request_id,)).fetchone()
                except sqlite3.OperationalError:  # the table is created on the first flush
                    return None

        return wait_for(row, timeout, what=f"the ledger row of {request_id}")


def struct(value: dict[str, Any]) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(value)
    return out


def chat(text: str = "hello there gateway", model: str = "chat", **fields: Any) -> chat_pb2.ChatRequest:
    """A one-message ChatRequest; ``mock`` becomes extra_body {"mock": ...} (the mock's knobs)."""
    knobs = fields.pop("mock", None)
    request = chat_pb2.ChatRequest(model=model, messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content=text)], **fields)
    if knobs is not None:
        request.extra_body.CopyFrom(struct({"mock": knobs}))
    return request


def details(err: grpc.RpcError) -> tuple[error_details_pb2.ErrorInfo | None, error_details_pb2.RetryInfo | None]:
    """The ErrorInfo and RetryInfo in a failed call's google.rpc.Status."""
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    assert status is not None, "no grpc-status-details-bin trailer"
    assert status.code == err.code().value[0] and status.message == err.details()
    info = retry = None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
    return info, retry


def metadata(call: Any, key: str) -> str | None:
    for item in call.initial_metadata() or ():
        if item.key == key:
            return item.value
    for item in call.trailing_metadata() or ():
        if item.key == key:
            return item.value
    return None
