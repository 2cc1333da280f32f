"""A raw OpenAI-format upstream on loopback that answers with fixed usage and records what it got.

Its usage has cached and reasoning tokens (the mock reports none), so the traces' cache-read and
reasoning attributes can be checked against exact numbers; every request's headers are kept, so
a test can read the ``traceparent`` each upstream attempt carried.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

USAGE = {
    "prompt_tokens": 31,
    "completion_tokens": 17,
    "total_tokens": 48,
    "prompt_tokens_details": {"cached_tokens": 11},
    "completion_tokens_details": {"reasoning_tokens": 5},
}
ANSWER = "The answer, from the raw upstream."


class RawUpstream:
    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.port = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def last_headers(self) -> dict[str, str]:
        with self._lock:
            return dict(self.requests[-1][0])

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real upstreams do

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
                with upstream._lock:
                    upstream.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                model = body.get("model", "")
                if body.get("stream"):
                    head = {"id": "chatcmpl-raw", "object": "chat.completion.chunk", "created": 1, "model": model}
                    events = [
                        {**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ANSWER}, "finish_reason": None}]},
                        {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
                        {**head, "choices": [], "usage": USAGE},
                    ]
                    data = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"
                    kind = "text/event-stream"
                else:
                    doc = {
                        "id": "chatcmpl-raw", "object": "chat.completion", "created": 1, "model": model,
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER}, "finish_reason": "length"}],
                        "usage": USAGE,
                    }
                    data = json.dumps(doc).encode()
                    kind = "application/json"
                self.send_response(200)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
