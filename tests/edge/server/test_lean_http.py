"""edge.server against a real gateway and mock upstream over loopback: the HTTP behaviours the
aiohttp path has, on the hot endpoints (keep-alive, pipelining in order, a request for another
endpoint in the pipeline, chunked and gzipped bodies, Expect: 100-continue, the caps, a client
that leaves, the drain), and ``server.lean_path: false`` still serving everything on aiohttp.

Which server answered shows in the head: aiohttp writes ``Server: Python/... aiohttp/...``,
edge.server writes no Server header.
"""

from __future__ import annotations

import gzip
import json
import signal
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.support import Mock, Server, gateway_config, request, wait_for, write_config

from .raw_http import connect, get, parse_answers, post, read_answers, read_until_closed

CAPS = """
server:
  host: 127.0.0.1
  port: 0
  drain_timeout_s: 5
  max_body_mb: 1
  keepalive_timeout_s: 1
  body_timeout_s: 1
  max_header_bytes: 4096
  max_headers: 40
"""
CHAT = "/v1/chat/completions"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Mock]]:
    home = tmp_path_factory.mktemp("lean")
    mock = Mock()
    text = gateway_config(mock.base_url, home).replace("server:\n  host: 127.0.0.1\n  port: 0\n  drain_timeout_s: 10\n", CAPS)
    gw = Server(["serve", "--config", str(write_config(home / "edge.yaml", text))], cwd=str(home))
    yield gw, mock
    assert gw.stop() == 0
    mock.stop()
    assert "Traceback" not in gw.output, gw.output[-3000:]


def _chat_body(text: str, stream: bool = False) -> bytes:
    return json.dumps({"model": "chat", "stream": stream, "messages": [{"role": "user", "content": text}]}).encode()


def _content(body: bytes) -> str:
    return json.loads(body)["choices"][0]["message"]["content"]


def test_the_hot_endpoints_are_served_by_edge_server_and_the_rest_by_aiohttp(gateway: tuple[Server, Mock]) -> None:
    gw, _ = gateway
    status, headers, body = request("POST", gw.url + CHAT, _chat_body("lean"), {"content-type": "application/json"})
    assert status == 200 and _content(body) == "lean"
    assert "server" not in headers and headers["x-request-id"].startswith("req_") and "date" in headers
    status, headers, _ = request("GET", gw.url + "/v1/models")
    assert status == 200 and "aiohttp" in headers["server"]
    # A wrong method on a hot path is aiohttp's too: the same 405 with Allow as before.
    status, headers, body = request("GET", gw.url + CHAT)
    assert status == 405 and headers["allow"] == "POST" and json.loads(body)["error"]["type"] == "invalid_request_error"


def test_the_openai_sdk_on_one_keep_alive_connection(gateway: tuple[Server, Mock]) -> None:
    gw, _ = gateway
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)
    try:
        assert [client.chat.completions.create(model="chat", messages=[{"role": "user", "content": f"n{i}"}]).choices[0].message.content for i in range(3)] == ["n0", "n1", "n2"]
        assert client.models.list().data  # another endpoint on the same connection: aiohttp
        pieces = [c.choices[0].delta.content for c in client.chat.completions.create(model="chat", stream=True, messages=[{"role": "user", "content": "after models"}]) if c.choices]
        assert "".join(p for p in pieces if p) == "after models"
    finally:
        client.close()


def test_pipelined_requests_are_answered_in_order_with_another_endpoint_between(gateway: tuple[Server, Mock]) -> None:
    gw, _ = gateway
    sock = connect(gw.host, gw.port)
    wire = b"".join(post(CHAT, _chat_body(f"p{i}")) for i in range(4)) + get("/v1/models") + post(CHAT, _chat_body("p5")) + post(CHAT, _chat_body("p6"), chunked=True)
    sock.sendall(wire)
    answers = read_answers(sock, 7)
    sock.close()
    assert [a.status for a in answers] == [200] * 7
    assert [_content(a.body) for a in answers[:4]] == ["p0", "p1", "p2", "p3"]
    assert all("server" not in a.headers for a in answers[:4])  # lean
    assert json.loads(answers[4].body)["object"] == "list" and "aiohttp" in answers[4].headers["server"]
    # From the other endpoint on, aiohttp answers the connection's requests, still in order.
    assert [_content(a.body) for a in answers[5:]] == ["p5", "p6"] and all("aiohttp" in a.headers["server"] for a in answers[5:])


def test_chunked_and_compressed_bodies(gateway: tuple[Server, Mock]) -> None:
    gw, mock = gateway
    sock = connect(gw.host, gw.port)
    raw = _chat_body("gz")
    sock.sendall(post(CHAT, _chat_body("chunked"), chunked=True))
    sock.sendall(post(CHAT, gzip.compress(raw), b"Content-Encoding: gzip\r\n"))
    sock.sendall(post(CHAT, zlib.compress(_chat_body("zlib")), b"Content-Encoding: deflate\r\n"))
    answers = read_answers(sock, 3)
    assert [a.status for a in answers] == [200, 200, 200] and all("server" not in a.headers for a in answers)
    assert [_content(a.body) for a in answers] == ["chunked", "gz", "zlib"]
    before = mock.stats()["requests"]
    # An encoding it cannot read, bytes that are not gzip, and a bomb over max_body_mb (1 MB):
    # each a 4xx that says why, the connection kept, nothing sent upstream.
    bomb = gzip.compress(b'{"model":"chat","messages":[]' + b" " * 3_000_000 + b"}")
    sock.sendall(post(CHAT, raw, b"Content-Encoding: zstd\r\n") + post(CHAT, b"not gzip", b"Content-Encoding: gzip\r\n") + post(CHAT, bomb, b"Content-Encoding: gzip\r\n") + post(CHAT, _chat_body("still open")))
    answers = read_answers(sock, 4)
    sock.close()
    errors = [json.loads(a.body)["error"] for a in answers[:3]]
    assert [a.status for a in answers] == [400, 400, 413, 200]
    assert "zstd" in errors[0]["message"] and "gzip" in errors[1]["message"] and errors[2]["code"] == "request_too_large"
    assert _content(answers[3].body) == "still open"
    assert mock.stats()["requests"] == before + 1


def test_expect_100_continue(gateway: tuple[Server, Mock]) -> None:
    gw, mock = gateway
    body = _chat_body("continued")
    sock = connect(gw.host, gw.port)
    sock.sendall(b"POST %s HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n" % (CHAT.encode(), len(body)))
    sock.settimeout(5)
    assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
    sock.sendall(body)
    answers = read_answers(sock, 1)
    sock.close()
    assert answers[0].status == 200 and _content(answers[0].body) == "continued"
    # Declared over the limit: 413 at once, no 100, the body never asked for.
    before = mock.stats()["requests"]
    sock = connect(gw.host, gw.port)
    sock.sendall(b"POST %s HTTP/1.1\r\nHost: edge\r\nExpect: 100-continue\r\nContent-Length: 5000000\r\n\r\n" % CHAT.encode())
    data, closed = read_until_closed(sock, 3.0)
    sock.close()
    assert data.startswith(b"HTTP/1.1 413 ") and b"100 Continue" not in data and closed
    assert json.loads(parse_answers(data)[0].body)["error"]["code"] == "request_too_large"
    assert mock.stats()["requests"] == before


@pytest.mark.parametrize(
    "head",
    [
        b"".join(b"X-H%d: v\r\n" % i for i in range(60)),  # over max_headers (40)
        b"X-Big: " + b"a" * 6000 + b"\r\n",  # a field over max_header_bytes (4096)
        b"X-Big: " + b"a" * 300_000,  # a line that never ends, over the whole head's bound
    ],
    ids=["too-many", "too-large", "unterminated"],
)
def test_header_caps_on_a_hot_endpoint(gateway: tuple[Server, Mock], head: bytes) -> None:
    gw, mock = gateway
    before = mock.stats()["requests"]
    sock = connect(gw.host, gw.port)
    try:
        sock.sendall(b"POST %s HTTP/1.1\r\nHost: edge\r\n%s" % (CHAT.encode(), head) + (b"Content-Length: 2\r\n\r\n{}" if head.endswith(b"\r\n") else b""))
    except (BrokenPipeError, ConnectionResetError):
        pass
    data, closed = read_until_closed(sock, 4.0)
    sock.close()
    assert closed and data.startswith(b"HTTP/1.1 400 "), data[:200]
    assert json.loads(parse_answers(data)[0].body)["error"]["code"] == "header_too_large"
    assert mock.stats()["requests"] == before


def test_an_idle_keep_alive_connection_is_closed_after_the_keepalive_timeout(gateway: tuple[Server, Mock]) -> None:
    gw, _ = gateway
    sock = connect(gw.host, gw.port)
    sock.sendall(post(CHAT, _chat_body("then idle")))
    assert read_answers(sock, 1)[0].status == 200
    started = time.monotonic()
    data, closed = read_until_closed(sock, 4.0)
    sock.close()
    assert closed and data == b"" and 0.5 < time.monotonic() - started < 2.5  # keepalive_timeout_s is 1


def test_connection_close_and_http_1_0(gateway: tuple[Server, Mock]) -> None:
    gw, _ = gateway
    sock = connect(gw.host, gw.port)
    sock.sendall(post(CHAT, _chat_body("last"), b"Connection: close\r\n"))
    data, closed = read_until_closed(sock, 3.0)
    sock.close()
    (answer,) = parse_answers(data)
    assert closed and answer.status == 200 and answer.headers["connection"] == "close" and _content(answer.body) == "last"
    sock = connect(gw.host, gw.port)  # HTTP/1.0: aiohttp's, as before
    body = _chat_body("old")
    sock.sendall(b"POST %s HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (CHAT.encode(), len(body), body))
    data, closed = read_until_closed(sock, 3.0)
    sock.close()
    assert closed and data.startswith(b"HTTP/1.") and b"aiohttp" in data and b'"content":"old"' in data


def test_a_client_that_leaves_mid_stream_cancels_the_upstream_call(gateway: tuple[Server, Mock]) -> None:
    gw, mock = gateway
    body = json.dumps({"model": "chat", "stream": True, "messages": [{"role": "user", "content": "x"}], "mock": {"tokens": 50, "chunk_delay_ms": 100}}).encode()
    sock = connect(gw.host, gw.port)
    sock.sendall(post(CHAT, body))
    sock.settimeout(5)
    first = sock.recv(65536)
    assert first.startswith(b"HTTP/1.1 200 ") and b"transfer-encoding: chunked" in first.lower()
    aborted = mock.stats()["streams_aborted"]
    sock.close()
    # The mock sees its stream aborted long before the 5 s it would take.
    wait_for(lambda: mock.stats()["streams_aborted"] == aborted + 1, 3.0, what="the upstream stream aborted")
    assert request("POST", gw.url + CHAT, _chat_body("alive"), {"content-type": "application/json"})[0] == 200


def test_every_lean_connection_has_tcp_nodelay(gateway: tuple[Server, Mock]) -> None:
    gw, _ = gateway
    # Seen from the client's side: an answer of many small chunks arrives without the 40 ms
    # delayed-ACK stalls Nagle's algorithm would add between them.
    body = json.dumps({"model": "chat", "stream": True, "messages": [{"role": "user", "content": "x"}], "mock": {"tokens": 40}}).encode()
    started = time.monotonic()
    status, _, data = request("POST", gw.url + CHAT, body, {"content-type": "application/json"})
    assert status == 200 and data.count(b"data: ") >= 40
    assert time.monotonic() - started < 1.0


def test_drain_finishes_a_lean_stream_and_refuses_new_connections(tmp_path: Path) -> None:
    mock = Mock()
    home = tmp_path
    gw = Server(["serve", "--config", str(write_config(home / "edge.yaml", gateway_config(mock.base_url, home)))], cwd=str(home))
    try:
        body = json.dumps({"model": "chat", "stream": True, "messages": [{"role": "user", "content": "x"}], "mock": {"tokens": 10, "chunk_delay_ms": 100}}).encode()
        idle = connect(gw.host, gw.port)
        idle.sendall(post(CHAT, _chat_body("idle")))
        assert read_answers(idle, 1)[0].status == 200
        sock = connect(gw.host, gw.port)
        sock.sendall(post(CHAT, body))
        sock.settimeout(5)
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200 ")
        result: dict[str, object] = {}
        stopper = threading.Thread(target=lambda: result.setdefault("rc", gw.stop(signal.SIGTERM, 20)))
        stopper.start()
        rest, closed = read_until_closed(sock, 10.0)
        stopper.join(20)
        sock.close()
        idle_data, idle_closed = read_until_closed(idle, 1.0)
        idle.close()
        events = (first + rest).split(b"\r\n\r\n", 1)[1]
        assert closed and b"data: [DONE]" in events and events.count(b"data: {") >= 10
        assert idle_closed and idle_data == b""
        assert result["rc"] == 0
        with pytest.raises(OSError):
            socket.create_connection((gw.host, gw.port), timeout=2).close()
    finally:
        if gw.popen.poll() is None:
            gw.stop(signal.SIGKILL, 10)
        mock.stop()


def _answer_heads(url: str) -> dict[str, dict[str, str]]:
    """The heads of a chat and an embeddings answer, without the headers that differ per request."""
    chat = request("POST", url + CHAT, _chat_body("same head"), {"content-type": "application/json"})
    embeddings = request("POST", url + "/v1/embeddings", json.dumps({"model": "embed", "input": ["a", "b"]}).encode(), {"content-type": "application/json"})
    heads = {}
    for name, (status, headers, body) in (("chat", chat), ("embeddings", embeddings)):
        assert status == 200 and headers["content-length"] == str(len(body)), (name, status, headers)
        heads[name] = {k: v for k, v in headers.items() if k not in ("date", "x-request-id", "x-edge-cost-usd", "server", "content-length")}
    return heads


def test_lean_path_off_serves_the_hot_endpoints_on_aiohttp(tmp_path: Path, gateway: tuple[Server, Mock]) -> None:
    mock = Mock()
    text = gateway_config(mock.base_url, tmp_path).replace("drain_timeout_s: 10\n", "drain_timeout_s: 10\n  lean_path: false\n")
    gw = Server(["serve", "--config", str(write_config(tmp_path / "edge.yaml", text))], cwd=str(tmp_path))
    try:
        status, headers, body = request("POST", gw.url + CHAT, _chat_body("aiohttp"), {"content-type": "application/json"})
        assert status == 200 and _content(body) == "aiohttp" and "aiohttp" in headers["server"]
        # The same answers carry the same head from either server (edge.server's LeanResponse
        # against aiohttp's web.Response); the length is the body's on both.
        lean, aiohttp = _answer_heads(gateway[0].url), _answer_heads(gw.url)
        assert lean == aiohttp and lean["chat"]["content-type"] == "application/json" and "x-edge-route" in lean["embeddings"]
    finally:
        assert gw.stop() == 0
        mock.stop()
