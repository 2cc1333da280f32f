"""Raw HTTP/1.1 over a socket for the server tests: what no SDK sends (pipelining, a smuggled
request, a trickled body), and the answers parsed back with llhttp's response parser."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field

import httptools


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    chunked: bool = False


@dataclass
class _Collect:
    parser: httptools.HttpResponseParser | None = None
    done: list[Answer] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode().lower()] = value.decode()

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        assert self.parser is not None
        status = self.parser.get_status_code()
        if status != 100:
            self.done.append(Answer(status, self.headers, self.body, self.headers.get("transfer-encoding") == "chunked"))
        self.headers, self.body = {}, b""


def parse_answers(data: bytes) -> list[Answer]:
    collect = _Collect()
    collect.parser = httptools.HttpResponseParser(collect)
    collect.parser.feed_data(data)
    return collect.done


def connect(host: str, port: int) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_until_closed(sock: socket.socket, limit_s: float = 5.0) -> tuple[bytes, bool]:
    """Everything the server sends until it closes (True) or ``limit_s`` passes (False)."""
    data = b""
    deadline = time.monotonic() + limit_s
    while True:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return data, False
        except ConnectionResetError:
            return data, True
        if not chunk:
            return data, True
        data += chunk


def read_answers(sock: socket.socket, count: int, limit_s: float = 10.0) -> list[Answer]:
    """The first ``count`` answers on a connection that stays open."""
    data = b""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            answers = parse_answers(data)
        except httptools.HttpParserError:
            answers = []
        if len(answers) >= count:
            return answers
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    raise AssertionError(f"{count} answers did not come; got {data[:500]!r}")


def post(path: str, body: bytes, headers: bytes = b"", chunked: bool = False) -> bytes:
    head = b"POST %s HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\n%s" % (path.encode(), headers)
    if chunked:
        pieces = [body[i : i + 7] for i in range(0, len(body), 7)]
        return head + b"Transfer-Encoding: chunked\r\n\r\n" + b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    return head + b"Content-Length: %d\r\n\r\n" % len(body) + body


def get(path: str) -> bytes:
    return b"GET %s HTTP/1.1\r\nHost: edge\r\n\r\n" % path.encode()
