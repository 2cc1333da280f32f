"""A hostile upstream on a loopback socket: it answers with whatever it was sent, echoed back.

Each request's JSON body names a ``script`` (the gateway passes unknown fields through to
OpenAI-format upstreams; a translated kind refuses them, so there it goes in the ``mock`` knobs
every kind passes on: ``{"mock": {"script": ...}}``); the
answer repeats the request's Authorization header, its ``x-custom-auth`` header and the
server's own ``host:port`` in the places real servers and proxies have been seen to echo them.
Plain sockets and threads, one request per connection (``connection: close``), so nothing of
the gateway's own HTTP stack is on this side.

Scripts (OpenAI wire format unless said otherwise):

    error_fields   400 (or the body's ``status``): every field of the error object (message,
                   type, param, code) echoes
    plain_cut      502 text/plain: filler, then the Authorization value across byte 200
    answer         200 chat.completion whose content echoes
    stream_error   200 SSE: one content chunk, then {"error": {...}} with every field echoing
    stream_answer  200 SSE: a content chunk that echoes, then a finish and [DONE]
    anthropic_stream_error  200 Anthropic SSE: message_start, then an ``error`` event that echoes
    anthropic_error         400 Anthropic error body whose message echoes, the key a second time
                            with its dashes as JSON ``\\u002d`` escapes (no byte of the body
                            holds it; only the parsed text does)
"""

from __future__ import annotations

import json
import socket
import threading
from typing import Any

FILLER = 200 - len("Bearer ") - 10  # so the key starts 10 bytes before the 200-byte cut


class EchoUpstream:
    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.where = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.where}"
        self.requests = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._sock.close()
        self._thread.join(5)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            data = b""
            while b"\r\n\r\n" not in data:
                piece = conn.recv(65536)
                if not piece:
                    return
                data += piece
            head, _, body = data.partition(b"\r\n\r\n")
            headers = {}
            for line in head.decode("latin-1").split("\r\n")[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            while len(body) < length:
                piece = conn.recv(65536)
                if not piece:
                    return
                body += piece
            self.requests += 1
            doc = json.loads(body) if body else {}
            knobs = doc.get("mock") if isinstance(doc.get("mock"), dict) else {}
            conn.sendall(self._response(doc.get("script") or knobs.get("script", "answer"), int(doc.get("status", 400)), headers))

    def _response(self, script: str, status: int, headers: dict[str, str]) -> bytes:
        auth = headers.get("authorization") or headers.get("x-api-key", "")
        echo = f"auth {auth}, custom {headers.get('x-custom-auth', '')}, at http://{self.where}/v1"
        if script == "error_fields":
            error = {"message": f"bad request ({echo})", "type": f"invalid_request_error {auth}", "param": f"header {auth}", "code": f"{self.where} {headers.get('x-custom-auth', '')}"}
            return _http(status, "application/json", json.dumps({"error": error}).encode())
        if script == "plain_cut":
            return _http(502, "text/plain", b"x" * FILLER + auth.encode() + b" (proxy error)")
        if script == "answer":
            return _http(200, "application/json", json.dumps(_completion({"message": {"role": "assistant", "content": f"you sent {echo}"}, "finish_reason": "stop"})).encode())
        if script == "stream_error":
            error = {"message": f"overloaded ({echo})", "type": f"server_error {auth}", "param": auth, "code": self.where}
            events = [_completion({"delta": {"role": "assistant", "content": "partial"}, "finish_reason": None}, "chat.completion.chunk"), {"error": error}]
            return _http(200, "text/event-stream", b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events))
        if script == "stream_answer":
            events: list[Any] = [
                _completion({"delta": {"role": "assistant", "content": f"you sent {echo}"}, "finish_reason": None}, "chat.completion.chunk"),
                _completion({"delta": {}, "finish_reason": "stop"}, "chat.completion.chunk"),
            ]
            return _http(200, "text/event-stream", b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n")
        if script == "anthropic_stream_error":
            start = {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": "m", "content": [], "usage": {"input_tokens": 1, "output_tokens": 0}}}
            error = {"type": "error", "error": {"type": f"overloaded_error {auth}", "message": f"overloaded ({echo})"}}
            frames = [f"event: message_start\ndata: {json.dumps(start)}\n\n", f"event: error\ndata: {json.dumps(error)}\n\n"]
            return _http(200, "text/event-stream", "".join(frames).encode())
        if script == "anthropic_error":
            escaped = auth.replace("-", "\\u002d")
            body = '{"type": "error", "error": {"type": "invalid_request_error", "message": "bad request (%s; escaped %s)"}}' % (echo, escaped)
            return _http(400, "application/json", body.encode())
        return _http(404, "application/json", b'{"error": {"message": "unknown script"}}')


def _completion(choice: dict[str, Any], kind: str = "chat.completion") -> dict[str, Any]:
    return {"id": "chatcmpl-echo", "object": kind, "created": 1700000000, "model": "m", "choices": [{"index": 0, **choice}]}


def _http(status: int, content_type: str, body: bytes) -> bytes:
    head = f"HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n"
    return head.encode() + body
