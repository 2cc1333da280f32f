"""A hostile OpenAI-format upstream on a loopback socket, and the gzip bomb it sends.

``HostileUpstream`` is a plain threaded socket server (no HTTP library, so it can send what no
library would): it reads one request, takes the behaviour from the request body's ``model``
and answers with the bytes of that behaviour, until the gateway hangs up or the answer ends.

- ``endless-header``: a status line, then a header line that never ends (up to 100 MB).
- ``huge-body``: a 300 MB JSON body with its ``content-length``.
- ``huge-chunked``: a 300 MB JSON body, chunked (no length to refuse it by).
- ``gzip-bomb``: about 1 MB of gzip that expands to 1 GiB.
- ``padded-N``: a valid chat completion of about N bytes.
- ``stats``: how many bytes each behaviour got into the socket last time, as JSON.

Anything else gets a small, valid chat completion. ``python -m tests.hostile.hostile_upstream``
runs it in a process of its own (``HostileProcess``), so that sending at full speed does not
compete with the test's own threads for the GIL; it prints its port and serves until stdin
closes.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import zlib
from functools import lru_cache

__all__ = ["HostileProcess", "HostileUpstream", "gzip_bomb"]

MIB = 1024 * 1024
_HUGE = 300 * 1000 * 1000
_PIECE = b"a" * (1024 * 1024)


@lru_cache(maxsize=2)
def gzip_bomb(expanded: int = 1024 * MIB) -> bytes:
    """``expanded`` bytes of zeros as one gzip member, built in well under a second.

    After a full flush a raw deflate stream starts over, so 1 MiB of zeros compresses to the same
    bytes every time: the member is one such segment repeated (deflate's best ratio, ~1,000:1),
    between a gzip header and a trailer with the true CRC-32 and length (RFC 1952).
    """
    assert expanded % MIB == 0
    block = bytes(MIB)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    segment = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
    again = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
    assert segment == again, "a full flush must reset the stream"
    crc = 0
    for _ in range(expanded // MIB):
        crc = zlib.crc32(block, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = crc.to_bytes(4, "little") + (expanded % 2**32).to_bytes(4, "little")
    return header + segment * (expanded // MIB) + deflate.flush() + trailer


def _chat(model: str, content: str = "fine") -> bytes:
    return json.dumps({
        "id": "chatcmpl-hostile", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }).encode()


class HostileUpstream:
    """Listens on 127.0.0.1 (ephemeral port) until ``stop``; one thread per connection."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.sent: dict[str, int] = {}  # behaviour -> bytes written before the gateway hung up
        self._stopped = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    def stop(self) -> None:
        self._stopped.set()
        self._listener.close()
        self._accepting.join(5)
        for thread in self._threads:
            thread.join(10)

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(30)
            try:
                while not self._stopped.is_set():
                    model = self._read_request(conn)
                    if model is None:
                        return
                    if not self._answer(conn, model):
                        return
            except OSError:
                return  # the gateway hung up: what these tests want it to do

    @staticmethod
    def _read_request(conn: socket.socket) -> str | None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            body += chunk
        return str(json.loads(body).get("model", ""))

    def _answer(self, conn: socket.socket, model: str) -> bool:
        """Sends one answer; False when the connection must close after it."""
        sent = 0
        if model != "stats":
            self.sent[model] = 0

        def send(data: bytes) -> None:
            nonlocal sent
            conn.sendall(data)
            sent += len(data)
            if model != "stats":
                self.sent[model] = sent

        if model == "endless-header":
            send(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-endless: ")
            for _ in range(100):  # 100 MB of one header line, never a CRLF
                send(_PIECE)
            return False
        if model in ("huge-body", "huge-chunked"):
            chunked = model == "huge-chunked"
            framing = b"transfer-encoding: chunked" if chunked else b"content-length: %d" % _HUGE
            send(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n" + framing + b"\r\n\r\n")
            left = _HUGE
            while left:
                piece = _PIECE[: min(left, len(_PIECE))]
                send(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                left -= len(piece)
                # About 250 MB/s, a fast upstream's pace: at loopback speed this process and the
                # gateway would take both cores, and every timing in the test with them.
                time.sleep(0.004)
            if chunked:
                send(b"0\r\n\r\n")
            return True
        if model == "gzip-bomb":
            bomb = gzip_bomb()
            send(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-encoding: gzip\r\ncontent-length: %d\r\n\r\n" % len(bomb))
            for at in range(0, len(bomb), 65536):
                send(bomb[at:at + 65536])
            return True
        if model == "stats":
            body = json.dumps(self.sent).encode()
        elif model.startswith("padded-"):
            body = _chat(model, "x" * int(model.removeprefix("padded-")))
        else:
            body = _chat(model)
        send(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
        return True


class HostileProcess:
    """``HostileUpstream`` in a child process; ``sent`` asks it over HTTP."""

    def __init__(self) -> None:
        self._proc = subprocess.Popen([sys.executable, "-m", "tests.hostile.hostile_upstream"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self._proc.stdout is not None
        self.port = int(self._proc.stdout.readline())
        self.base_url = f"http://127.0.0.1:{self.port}/v1"

    @property
    def sent(self) -> dict[str, int]:
        request = urllib.request.Request(self.base_url + "/chat/completions", data=b'{"model": "stats"}', method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            return dict(json.loads(response.read()))

    def stop(self) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        try:
            self._proc.wait(15)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()


if __name__ == "__main__":
    upstream = HostileUpstream()
    print(upstream.port, flush=True)
    sys.stdin.read()  # until the parent closes it (or dies)
    upstream.stop()
