"""Slow and large clients and upstreams against a real gateway: each has a bounded outcome.

Caps under test (server.* in the config; docs/hostile.md): keepalive_timeout_s (the request
head must arrive in time), body_timeout_s (408), max_body_mb (413), max_header_bytes and
max_headers (400, connection closed), max_concurrent / max_concurrent_per_key (503 / 429 with
Retry-After), routing.timeout_s (the whole stream), provider timeout_s (idle between chunks),
and the 16 MB SSE line cap of every stream decoder.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import Mock, Server, gateway_config, request, wait_for, write_config

CAPS = """
server:
  host: 127.0.0.1
  port: 0
  drain_timeout_s: 5
  max_body_mb: 1
  keepalive_timeout_s: 1
  body_timeout_s: 1
  max_header_bytes: 8192
  max_headers: 100
  max_concurrent: 6
  max_concurrent_per_key: 3
"""
ROUTING = "routing:\n  retries: 0\n  timeout_s: 3\n  cooldown: {consecutive_failures: 0, failure_percent: 0}\n"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Mock, Path]]:
    home = tmp_path_factory.mktemp("hostile")
    mock = Mock()
    text = gateway_config(mock.base_url, home, routing=ROUTING).replace(
        "server:\n  host: 127.0.0.1\n  port: 0\n  drain_timeout_s: 10\n", CAPS
    ).replace("timeout_s: 5\n    models: [echo, tool, json]", "timeout_s: 1\n    models: [echo, tool, json]")
    gw = Server(["serve", "--config", str(write_config(home / "edge.yaml", text))], cwd=str(home))
    yield gw, mock, home
    assert gw.stop() == 0
    mock.stop()
    assert "Traceback" not in gw.output, gw.output[-3000:]


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def _connect(gw: Server) -> socket.socket:
    sock = socket.create_connection((gw.host, gw.port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _read_all(sock: socket.socket, limit_s: float) -> tuple[bytes, float]:
    """Everything until the server closes; and when it closed."""
    started, data = time.monotonic(), b""
    sock.settimeout(limit_s)
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return data, time.monotonic() - started


def _chat(gw: Server, mock: dict[str, object] | None = None, headers: dict[str, str] | None = None, stream: bool = True) -> tuple[int, dict[str, str], bytes]:
    body = {"model": "chat", "stream": stream, "messages": [{"role": "user", "content": "hello hostile world"}]}
    if mock:
        body["mock"] = mock
    return request("POST", gw.url + "/v1/chat/completions", json.dumps(body).encode(), {"content-type": "application/json", **(headers or {})})


def _events(body: bytes) -> list[bytes]:
    return [e for e in body.split(b"\n\n") if e]


def _ledger(home: Path, request_id: str, wait_s: float = 3.0) -> tuple[object, ...]:
    def row() -> tuple[object, ...] | None:
        with sqlite3.connect(home / "edge.db") as db:
            return db.execute("SELECT status, error_type, completion_tokens FROM requests WHERE request_id = ?", (request_id,)).fetchone()

    return wait_for(row, wait_s, what=f"the ledger row of {request_id}")


# -- slow clients ---------------------------------------------------------------------------


def test_slowloris_head_is_closed_after_keepalive_timeout(hostile: tuple[Server, Mock, Path]) -> None:
    gw, _, _ = hostile
    sock = _connect(gw)
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
    started, closed = time.monotonic(), False
    for i in range(40):  # one header byte every 0.1 s: would take 4 s+
        try:
            sock.sendall(b"X"[:1] if i % 10 else b"\r\nX-Slow: ")
        except (BrokenPipeError, ConnectionResetError):
            closed = True
            break
        time.sleep(0.1)  # the slow client under test: this pause is what it does, not a wait
    data, _ = _read_all(sock, 3.0)
    sock.close()
    assert closed or data == b"" or data.startswith(b"HTTP/1.1 4")
    assert time.monotonic() - started < 4.5  # keepalive_timeout_s is 1


def test_slowloris_body_gets_408(hostile: tuple[Server, Mock, Path]) -> None:
    gw, mock, _ = hostile
    before = mock.stats()["requests"]
    sock = _connect(gw)
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
    started = time.monotonic()
    try:
        for _ in range(15):  # 1.5 s of trickle; body_timeout_s is 1
            sock.sendall(b" ")
            time.sleep(0.1)  # the trickling client under test, not a wait for something
    except (BrokenPipeError, ConnectionResetError):
        pass
    data, _ = _read_all(sock, 3.0)
    sock.close()
    assert data.startswith(b"HTTP/1.1 408"), data[:300]
    assert b'"code":"body_timeout"' in data and b"connection: close" in data.lower()
    assert time.monotonic() - started < 3.5  # answered at 1 s, closed after lingering 1 s
    assert mock.stats()["requests"] == before


def test_body_over_the_limit_is_413_before_it_is_read(hostile: tuple[Server, Mock, Path]) -> None:
    gw, mock, _ = hostile
    sock = _connect(gw)
    # Declares 200 MB and sends none of it: the answer must not wait for the body.
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 209715200\r\n\r\n")
    data, took = _read_all(sock, 3.0)
    sock.close()
    assert data.startswith(b"HTTP/1.1 413"), data[:300]
    assert b'"code":"request_too_large"' in data and took < 2.5  # answered at once, closed after lingering 1 s
    # Chunked, no length: read up to the limit, then 413.
    sock = _connect(gw)
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    try:
        for _ in range(3):
            sock.sendall(b"%x\r\n%s\r\n" % (600_000, b" " * 600_000))
    except (BrokenPipeError, ConnectionResetError):
        pass
    data, _ = _read_all(sock, 3.0)
    sock.close()
    assert data.startswith(b"HTTP/1.1 413") and b'"code":"request_too_large"' in data, data[:300]


def test_ten_thousand_headers_and_a_huge_header_are_refused(hostile: tuple[Server, Mock, Path]) -> None:
    gw, _, _ = hostile
    for head in (
        b"".join(b"X-H%d: v\r\n" % i for i in range(10_000)),
        b"X-Big: " + b"a" * 100_000 + b"\r\n",
    ):
        sock = _connect(gw)
        try:
            sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\n" + head + b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        data, took = _read_all(sock, 3.0)
        sock.close()
        assert data == b"" or data.startswith((b"HTTP/1.0 400", b"HTTP/1.1 400", b"HTTP/1.1 431")), data[:200]
        assert took < 2.5
    assert request("GET", gw.url + "/healthz")[0] == 200  # and it still serves


def test_concurrency_caps_answer_429_then_503_with_retry_after(hostile: tuple[Server, Mock, Path]) -> None:
    gw, mock, _ = hostile
    slow = {"tokens": 10, "chunk_delay_ms": 200}  # a 2 s stream (provider idle timeout is 1 s)
    results: list[tuple[int, dict[str, str], bytes]] = []

    def call(key: str) -> None:
        results.append(_chat(gw, slow, {"authorization": f"Bearer {key}"}))

    # 3 per key fit; the 4th of key a is 429. Keys b and c fill the total of 6; one more is 503.
    threads = [threading.Thread(target=call, args=(k,)) for k in ("a", "a", "a", "b", "b", "c")]
    open_before = mock.stats()["open_streams"]
    for t in threads:
        t.start()
    wait_for(lambda: mock.stats()["open_streams"] == open_before + 6, what="six streams in flight")
    over_key = _chat(gw, slow, {"authorization": "Bearer a"}, stream=False)
    over_total = _chat(gw, slow, {"authorization": "Bearer d"}, stream=False)
    health = request("GET", gw.url + "/healthz")
    for t in threads:
        t.join()
    assert over_key[0] == 429 and json.loads(over_key[2])["error"]["code"] == "concurrency_limit_exceeded"
    assert over_total[0] == 503 and json.loads(over_total[2])["error"]["code"] == "server_busy"
    assert over_key[1]["retry-after"] == "1" and over_total[1]["retry-after"] == "1"
    assert health[0] == 200  # operators' endpoints are never capped
    assert sorted(r[0] for r in results) == [200] * 6
    assert _chat(gw, None, {"authorization": "Bearer a"}, stream=False)[0] == 200  # released


# -- hostile upstreams ------------------------------------------------------------------------


def test_a_100_mb_sse_line_from_upstream_ends_the_stream_with_502(hostile: tuple[Server, Mock, Path]) -> None:
    gw, _, home = hostile
    rss = _rss_mb(gw.popen.pid)
    started = time.monotonic()
    status, headers, body = _chat(gw, {"huge_line_mb": 100})
    assert status == 200 and time.monotonic() - started < 10
    last = json.loads(_events(body)[-1][6:])
    assert last["error"]["code"] == "upstream_stream_error" and "exceeds" in last["error"]["message"]
    assert _rss_mb(gw.popen.pid) - rss < 64  # the line is never held beyond the 16 MB cap
    assert _ledger(home, headers["x-request-id"])[0] == 502


def test_a_never_ending_stream_is_cut_at_the_deadline(hostile: tuple[Server, Mock, Path]) -> None:
    gw, mock, home = hostile
    started = time.monotonic()
    status, headers, body = _chat(gw, {"endless": True, "chunk_delay_ms": 5})
    took = time.monotonic() - started
    assert status == 200 and 2.5 < took < 5  # routing.timeout_s is 3
    assert json.loads(_events(body)[-1][6:])["error"]["code"] == "deadline_exceeded"
    row = _ledger(home, headers["x-request-id"])
    assert row[0] == 504 and row[2] > 10  # the tokens the client got are counted
    wait_for(lambda: mock.stats()["open_streams"] == 0, 2.0, what="the upstream stream closed")


def test_an_upstream_that_goes_quiet_is_cut_after_its_idle_timeout(hostile: tuple[Server, Mock, Path]) -> None:
    gw, _, home = hostile
    started = time.monotonic()
    status, headers, body = _chat(gw, {"stall_after": 2, "stall_ms": 2500})
    assert status == 200 and time.monotonic() - started < 2.5  # provider timeout_s is 1
    err = json.loads(_events(body)[-1][6:])["error"]
    assert err["type"] == "timeout" and "sent nothing for 1 s" in err["message"]
    assert _ledger(home, headers["x-request-id"])[0] == 504


def test_a_truncated_chunk_ends_the_stream_with_an_error_event(hostile: tuple[Server, Mock, Path]) -> None:
    gw, _, home = hostile
    status, headers, body = _chat(gw, {"truncate": True})
    assert status == 200
    assert json.loads(_events(body)[-1][6:])["error"]["code"] == "upstream_stream_error"
    assert not body.endswith(b"data: [DONE]\n\n")
    assert _ledger(home, headers["x-request-id"])[0] == 502


def test_an_invalid_json_chunk_ends_the_stream_with_an_error_event(hostile: tuple[Server, Mock, Path]) -> None:
    # A chat chunk that is not JSON is never passed on: the chunks before it reach the client,
    # then a final error event; the ledger says 502.
    gw, _, home = hostile
    status, headers, body = _chat(gw, {"invalid_json": True})
    assert status == 200 and b"not json at all" not in body
    assert json.loads(_events(body)[-1][6:])["error"]["code"] == "upstream_stream_error"
    assert "not valid JSON" in json.loads(_events(body)[-1][6:])["error"]["message"]
    assert not body.endswith(b"data: [DONE]\n\n")
    assert _ledger(home, headers["x-request-id"])[0] == 502


def test_invalid_json_from_a_whole_response_is_502(hostile: tuple[Server, Mock, Path]) -> None:
    gw, _, _ = hostile
    status, _, body = _chat(gw, {"invalid_json": True, "truncate": True}, stream=False)
    # Non-streamed answers ignore the stream knobs: this checks the plain path still answers.
    assert status == 200 and json.loads(body)["object"] == "chat.completion"
