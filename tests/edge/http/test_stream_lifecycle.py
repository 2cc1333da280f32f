"""Stream lifecycle: client disconnects close the upstream and are still accounted for."""

from __future__ import annotations

import http.client
import json
import socket
import sqlite3
import time
from pathlib import Path

from tests.support import Mock, Server, wait_for


def test_client_disconnect_closes_upstream_and_records_usage(gateway: Server, mock: Mock, gateway_home: Path) -> None:
    aborted_before = mock.stats()["streams_aborted"]
    body = json.dumps(
        {"model": "chat", "stream": True, "messages": [{"role": "user", "content": "disconnect-me"}], "mock": {"tokens": 200, "chunk_delay_ms": 50}}
    )
    sock = socket.create_connection((gateway.host, gateway.port), timeout=10)
    head = f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\nx-request-id: disconnect-test-1\r\ncontent-length: {len(body)}\r\n\r\n"
    sock.sendall(head.encode() + body.encode())
    received = b""
    while received.count(b"data: ") < 3:
        data = sock.recv(65536)
        assert data, received
        received += data
    assert received.startswith(b"HTTP/1.1 200")
    sock.close()  # the client goes away mid-stream
    closed_at = time.monotonic()
    wait_for(lambda: mock.stats()["streams_aborted"] > aborted_before, 3.0, what="the upstream stream closed")
    # The upstream noticed within a chunk interval or two, not after the 10 s the stream would take.
    assert time.monotonic() - closed_at < 2.0

    def row():  # type: ignore[no-untyped-def]
        with sqlite3.connect(gateway_home / "edge.db") as db:
            return db.execute(
                "SELECT status, client_disconnected, completion_tokens, prompt_tokens, estimated FROM requests WHERE request_id = ?",
                ("disconnect-test-1",),
            ).fetchone()

    status, disconnected, completion, prompt, estimated = wait_for(row, what="the ledger row of the disconnected stream")
    assert status == 499 and disconnected == 1
    # usage never arrived from the upstream: the tokens received so far are estimated
    assert estimated == 1 and 0 < completion < 200 and prompt > 0


def test_stream_usage_recorded_in_ledger(gateway: Server, gateway_home: Path) -> None:
    body = json.dumps({"model": "chat", "stream": True, "messages": [{"role": "user", "content": "count these four"}]})
    conn = http.client.HTTPConnection(gateway.host, gateway.port, timeout=10)
    conn.request("POST", "/v1/chat/completions", body=body, headers={"content-type": "application/json", "x-request-id": "ledger-stream-1"})
    data = conn.getresponse().read()
    conn.close()
    assert data.endswith(b"data: [DONE]\n\n")

    def row():  # type: ignore[no-untyped-def]
        with sqlite3.connect(gateway_home / "edge.db") as db:
            return db.execute(
                "SELECT status, completion_tokens, estimated, provider, upstream_model, public_model, ttft_ms, cost_usd FROM requests WHERE request_id = ?",
                ("ledger-stream-1",),
            ).fetchone()

    status, completion, estimated, provider, upstream_model, public_model, ttft, cost = wait_for(row, what="the ledger row of the stream")
    assert (status, completion, estimated, provider, upstream_model, public_model) == (200, 3, 0, "up", "echo", "chat")
    assert ttft is not None and ttft > 0 and cost > 0
