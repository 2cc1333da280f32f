"""Starting real processes for tests: the mock upstream and the gateway, on loopback ports.

Each is a real ``edge`` process; tests learn its port from the line it logs when it listens.
Everything a process writes to stderr is kept, so tests can grep it (for secrets, for example).
Tests never sleep to wait for something: ``wait_for`` (``async_wait_for`` in a test's own event
loop) polls for the condition with a deadline, and the gateway's timers that a test waits on
(ledger flush, key reload, budget refresh) are config settings the tests shorten.
"""

from __future__ import annotations

import asyncio
import http.client
import inspect
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

SERVING = re.compile(r"serving on http://([\d.]+):(\d+)")

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float = 5.0, interval: float = 0.02, what: str = "") -> T:
    """Poll ``predicate`` until it returns something truthy, and return that.

    Raises TimeoutError (naming ``what``, or the predicate) when ``timeout`` seconds pass first.
    The deadline is generous on purpose: on a loaded machine a wait only takes longer.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"not within {timeout} s: {what or getattr(predicate, '__qualname__', 'the condition')}")
        time.sleep(interval)


async def async_wait_for(predicate: Callable[[], T | Awaitable[T]], timeout: float = 5.0, interval: float = 0.01, what: str = "") -> T:
    """wait_for inside a test's event loop (the loop keeps running between polls); the predicate
    may be a coroutine function."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"not within {timeout} s: {what or getattr(predicate, '__qualname__', 'the condition')}")
        await asyncio.sleep(interval)


class Proc:
    """A child process whose stderr is drained into ``lines`` by a thread."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None, cwd: str | None = None) -> None:
        self.args = args
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "edge.cli", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env if env is not None else dict(os.environ),
            cwd=cwd,
        )
        self.lines: list[str] = []
        self._seen = threading.Condition()
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        assert self.popen.stdout is not None
        for raw in self.popen.stdout:
            with self._seen:
                self.lines.append(raw.decode("utf-8", "replace"))
                self._seen.notify_all()
        with self._seen:
            self._seen.notify_all()

    def wait_for(self, pattern: re.Pattern[str], timeout: float = 15.0, start: int = 0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        with self._seen:
            while True:
                for line in self.lines[start:]:
                    found = pattern.search(line)
                    if found:
                        return found
                if self.popen.poll() is not None and not self._reader.is_alive():
                    raise RuntimeError(f"process exited with {self.popen.returncode}:\n{self.output}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no line matching {pattern.pattern!r}:\n{self.output}")
                self._seen.wait(min(left, 0.2))

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._reader.join(5)
        if self.popen.stdout is not None:
            self.popen.stdout.close()
        return self.popen.returncode


class Server(Proc):
    """A process that logs 'serving on http://host:port'."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None, cwd: str | None = None, timeout: float = 15.0) -> None:
        super().__init__(args, env, cwd)
        try:
            found = self.wait_for(SERVING, timeout)
        except BaseException:
            # Never left running (or its pipe open) when it did not come up in time.
            self.stop(signal.SIGKILL, 10)
            raise
        self.host, self.port = found.group(1), int(found.group(2))
        self.url = f"http://{self.host}:{self.port}"


class Mock(Proc):
    PATTERN = re.compile(r"mock provider serving on http://([\d.]+):(\d+)")

    def __init__(self, *extra: str) -> None:
        super().__init__(["mock", "--port", "0", *extra])
        found = self.wait_for(self.PATTERN)
        self.port = int(found.group(2))
        self.url = f"http://127.0.0.1:{self.port}"
        self.base_url = self.url + "/v1"

    def stats(self) -> dict[str, Any]:
        status, _, body = request("GET", self.url + "/mock/stats")
        assert status == 200
        return json.loads(body)

    def reset(self) -> None:
        request("POST", self.url + "/mock/reset")


def request(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None, timeout: float = 30.0) -> tuple[int, dict[str, str], bytes]:
    """A raw HTTP request, for what the SDK will not send (bad JSON, wrong content type)."""
    match = re.match(r"http://([^/:]+):(\d+)(/.*)", url)
    assert match, url
    conn = http.client.HTTPConnection(match.group(1), int(match.group(2)), timeout=timeout)
    try:
        conn.request(method, match.group(3), body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data
    finally:
        conn.close()


def write_config(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


ONE_ATTEMPT = "routing:\n  retries: 0\n  cooldown: {consecutive_failures: 0, failure_percent: 0}\n"


def gateway_config(mock_base_url: str, home: Path, extra: str = "", routing: str = ONE_ATTEMPT, ledger_flush_s: float = 0.05) -> str:
    """A config with the mock as an OpenAI-format provider (kind openai, as a vendor would be).

    By default each route is tried once and never cools down, so tests of plain behaviour see
    upstream errors as they are; routing tests pass their own ``routing`` section. The ledger
    flushes every 0.05 s (0.5 s by default) so tests that read a row wait little for it.
    """
    return f"""
server:
  host: 127.0.0.1
  port: 0
  drain_timeout_s: 10
state:
  ledger: sqlite:///{home}/edge.db
  ledger_flush_s: {ledger_flush_s}
providers:
  up:
    kind: openai
    base_url: {mock_base_url}
    api_key: sk-upstream-secret-0123456789
    timeout_s: 5
    models: [echo, tool, json]
  down:
    kind: openai
    base_url: http://127.0.0.1:9/v1
    timeout_s: 2
models:
  chat:
    route:
      - {{provider: up, model: echo}}
  failover:
    route:
      - {{provider: down, model: echo, weight: 1}}
      - {{provider: up, model: echo, weight: 0}}   # weight 0: only when the first fails
  embed:
    route:
      - {{provider: up, model: embed}}
prices:
  echo: {{input: 1.0, output: 2.0}}
{routing}
{extra}
"""
