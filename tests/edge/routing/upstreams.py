"""Misbehaving OpenAI-format upstreams on loopback sockets, for the outlier-detection tests.

``KeepAliveDropper`` answers chat completions over HTTP/1.1 keep-alive and, after a share of its
complete answers, drops that connection the way a load balancer's idle close crosses the
client's next request: the answer was whole, the connection looked reusable, and the next
request sent on it gets the connection closed under it with no response. Which upstream model
the request names decides the rest: ``down-*`` models always answer 503.

It runs its own event loop in a thread of the test process (a real socket, no mocked
transport); counters are per upstream model.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import threading
from collections import Counter

__all__ = ["KeepAliveDropper"]


def _answer(model: str, content: str) -> bytes:
    body = json.dumps({
        "id": "chatcmpl-dropper", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }).encode()
    return b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)


def _unavailable() -> bytes:
    body = json.dumps({"error": {"message": "overloaded", "type": "server_error", "code": None, "param": None}}).encode()
    return b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)


class KeepAliveDropper:
    def __init__(self, drop_share: float = 0.02, seed: int = 7) -> None:
        self.drop_share = drop_share
        self._rng = random.Random(seed)
        self.answered: Counter[str] = Counter()  # upstream model -> complete answers (2xx and 5xx)
        self.dropped = 0  # requests that arrived on a doomed connection and got it closed
        self.connections = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._lock = threading.Lock()
        self.base_url = ""

    def start(self) -> str:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(asyncio.start_server(self._serve, "127.0.0.1", 0), self._loop).result(10)
        port = self._server.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}/v1"
        return self.base_url

    def stop(self) -> None:
        async def close() -> None:
            assert self._server is not None
            self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            # Wait for each connection's ``finally`` and for its transport to really close the
            # socket before the loop stops: a transport closed on a stopped loop leaves its socket
            # to the garbage collector, and pytest turns that ResourceWarning into a failure of
            # whichever test happens to be running then.
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def count(self, model: str) -> int:
        with self._lock:
            return self.answered[model]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        doomed = False
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
                    return
                if doomed:
                    # The next request on a connection we meant to close: it gets no answer.
                    with self._lock:
                        self.dropped += 1
                    return
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length) if length else b""
                try:
                    request = json.loads(body or b"{}")
                except ValueError:
                    request = {}
                model = str(request.get("model", ""))
                if model.startswith("down"):
                    writer.write(_unavailable())
                else:
                    content = "ok"
                    messages = request.get("messages")
                    if isinstance(messages, list) and messages and isinstance(messages[-1], dict):
                        content = str(messages[-1].get("content", "ok"))
                    writer.write(_answer(model, content))
                await writer.drain()
                with self._lock:
                    self.answered[model] += 1
                    doomed = self._rng.random() < self.drop_share
        except ConnectionError:
            return
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
