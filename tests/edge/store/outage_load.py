"""Load and probes for the store outage tests: real HTTP clients against a real gateway.

``Load`` runs client threads that send chat requests over keep-alive connections, each with its
own ``x-request-id``, and keeps what every one got (status, time, Retry-After, error code), so
a test can check afterwards that each answered request has exactly one ledger row. ``probe``
sends one request on a new connection and times it. ``gateway_lines`` and ``metric`` read the
gateway's log and /metrics.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
from typing import Any

from msgspec import Struct

from tests.support import request

ADMIN_KEY = "sk-admin-outage-0123456789abcdef"


class Answer(Struct):
    request_id: str
    status: int  # 0: no answer (the connection failed before one came)
    started: float  # time.monotonic()
    seconds: float
    retry_after: str | None = None
    code: str | None = None


def chat_body(customer: str) -> bytes:
    return json.dumps({"model": "chat", "messages": [{"role": "user", "content": "hello there"}], "metadata": {"customer": customer}, "mock": {"tokens": 8}}).encode()


def _headers(request_id: str) -> dict[str, str]:
    return {"content-type": "application/json", "authorization": f"Bearer {ADMIN_KEY}", "x-request-id": request_id}


def _code(body: bytes) -> str | None:
    try:
        return json.loads(body)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


def probe(base_url: str, request_id: str, customer: str) -> Answer:
    """One chat request on a new connection (so it may reach any worker), timed."""
    started = time.monotonic()
    try:
        status, headers, body = request("POST", base_url + "/v1/chat/completions", chat_body(customer), _headers(request_id), timeout=60)
    except OSError:
        return Answer(request_id, 0, started, time.monotonic() - started)
    return Answer(request_id, status, started, time.monotonic() - started, headers.get("retry-after"), _code(body) if status != 200 else None)


def create_key(base_url: str, name: str) -> tuple[int, dict[str, str], bytes, float]:
    started = time.monotonic()
    status, headers, body = request("POST", base_url + "/v1/keys", json.dumps({"name": name}).encode(), {"content-type": "application/json", "authorization": f"Bearer {ADMIN_KEY}"}, timeout=60)
    return status, headers, body, time.monotonic() - started


class Load:
    """``threads`` clients sending chat requests for ``customer`` until stopped."""

    def __init__(self, base_url: str, prefix: str, threads: int = 4, customer: str = "warm") -> None:
        match = re.match(r"http://([^/:]+):(\d+)", base_url)
        assert match, base_url
        self._host, self._port = match.group(1), int(match.group(2))
        self._prefix, self._customer = prefix, customer
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.answers: list[Answer] = []
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    def start(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> list[Answer]:
        self._stop.set()
        for thread in self._threads:
            thread.join(90)
        return self.answers

    def _run(self, index: int) -> None:
        conn: http.client.HTTPConnection | None = None
        body = chat_body(self._customer)
        n = 0
        while not self._stop.is_set():
            n += 1
            request_id = f"{self._prefix}-{index}-{n}"
            started = time.monotonic()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(self._host, self._port, timeout=60)
                conn.request("POST", "/v1/chat/completions", body=body, headers=_headers(request_id))
                response = conn.getresponse()
                data = response.read()
                answer = Answer(request_id, response.status, started, time.monotonic() - started, response.getheader("retry-after"), _code(data) if response.status != 200 else None)
                if response.getheader("connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException):
                # A worker that drains closes its keep-alive connections: no answer, try again.
                answer = Answer(request_id, 0, started, time.monotonic() - started)
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.05)
            with self._lock:
                self.answers.append(answer)
        if conn is not None:
            conn.close()

    def between(self, start: float, end: float) -> list[Answer]:
        """Answers to requests sent in [start, end) (monotonic times)."""
        with self._lock:
            return [a for a in self.answers if start <= a.started < end]


def metric(base_url: str, name: str, labels: str = "") -> float | None:
    """One sample from /metrics (``labels`` as written there, e.g. ``side="reads"``)."""
    status, _, body = request("GET", base_url + "/metrics", timeout=30)
    assert status == 200
    want = f"{name}{{{labels}}}" if labels else name
    for line in body.decode().splitlines():
        if line.startswith(want + " "):
            return float(line.split()[-1])
    return None


def wait_until(condition: Any, timeout: float, what: str, every: float = 0.2) -> Any:
    """Poll ``condition()`` until it is truthy; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


def warning_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if " WARNING " in line or " ERROR " in line or " CRITICAL " in line]
