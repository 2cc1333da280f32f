"""An upstream stream is capped in total (issue 16): ``providers.<name>.max_stream_mb``.

Before, only what waited for the client was bounded (256 KiB, the socket paused): an upstream
that streamed forever, or a small gzip body of valid events expanding without end, was relayed
for as long as the client read and the deadline allowed. Now the client counts a stream's
decoded bytes as they arrive; past the cap the stream ends with the dialect's error event
(``upstream_stream_error``), the upstream connection is closed and the ledger says 502. The
gateway here caps at 0.1 MB; the mock streams past it two ways (many small events, one huge
line) and once under it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from tests.edge.grpc.grpc_helpers import GrpcGateway, chat
from tests.support import Mock, Server, gateway_config, request, wait_for, write_config

CAP_MB = 0.1


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GrpcGateway, Mock]]:
    home = tmp_path_factory.mktemp("stream-cap")
    mock = Mock()
    try:
        text = gateway_config(mock.base_url, home).replace("    timeout_s: 5\n    models:", f"    timeout_s: 5\n    max_stream_mb: {CAP_MB}\n    models:")
        assert f"max_stream_mb: {CAP_MB}" in text
        server = Server(["serve", "--config", str(write_config(home / "edge.yaml", text)), "--grpc-port", "0"], cwd=str(home))
        gateway = GrpcGateway(server, home)
        yield gateway, mock
        gateway.close()
        assert server.stop() == 0
        assert "Traceback" not in server.output, server.output[-3000:]
    finally:
        mock.stop()


def _stream(gateway: GrpcGateway, knobs: dict[str, object]) -> tuple[int, str, list[bytes]]:
    body = {"model": "chat", "stream": True, "messages": [{"role": "user", "content": "hello"}], "mock": knobs}
    status, headers, data = request("POST", gateway.server.url + "/v1/chat/completions", json.dumps(body).encode(), {"content-type": "application/json"})
    return status, headers["x-request-id"], [e for e in data.split(b"\n\n") if e]


def _status(home: Path, request_id: str) -> int:
    def row() -> tuple[int] | None:
        try:
            with sqlite3.connect(home / "edge.db") as db:
                return db.execute("SELECT status FROM requests WHERE request_id = ?", (request_id,)).fetchone()
        except sqlite3.OperationalError:
            return None

    return wait_for(row, 10, what=f"the ledger row of {request_id}")[0]


@pytest.mark.parametrize("knobs", [{"endless": True, "chunk_delay_ms": 1}, {"huge_line_mb": 1}], ids=["endless", "one-huge-line"])
def test_a_stream_over_its_cap_ends_with_an_error_event_and_502(capped: tuple[GrpcGateway, Mock], knobs: dict[str, object]) -> None:
    gateway, mock = capped
    status, request_id, events = _stream(gateway, knobs)
    assert status == 200 and events[-1] != b"data: [DONE]"
    error = json.loads(events[-1][6:])["error"]
    assert error["code"] == "upstream_stream_error", error
    assert "stream over a limit" in error["message"] and "cap of 104857 bytes" in error["message"], error
    relayed = sum(len(e) for e in events[:-1])
    assert relayed <= CAP_MB * 1024 * 1024 + 65536, relayed  # stopped at the cap, give or take a read
    assert _status(gateway.home, request_id) == 502
    wait_for(lambda: mock.stats()["open_streams"] == 0, 5, what="the upstream stream closed")


def test_a_stream_under_its_cap_is_untouched(capped: tuple[GrpcGateway, Mock]) -> None:
    gateway, _ = capped
    status, request_id, events = _stream(gateway, {"tokens": 200})
    assert status == 200 and events[-1] == b"data: [DONE]" and b'"error"' not in b"".join(events)
    assert _status(gateway.home, request_id) == 200


def test_a_grpc_stream_over_its_cap_ends_with_an_unavailable_status(capped: tuple[GrpcGateway, Mock]) -> None:
    gateway, _ = capped
    seen = 0
    with pytest.raises(grpc.RpcError) as caught:
        for _ in gateway.stub.ChatStream(chat(mock={"endless": True, "chunk_delay_ms": 1}), timeout=30):
            seen += 1
    err = caught.value
    assert seen > 10 and "stream over a limit" in (err.details() or ""), (seen, err.details())
    assert err.code() == grpc.StatusCode.UNAVAILABLE, err.code()
    request_id = dict(err.trailing_metadata() or ()).get("x-request-id")
    assert request_id and _status(gateway.home, request_id) == 502
