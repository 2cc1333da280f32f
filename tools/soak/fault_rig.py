"""The processes and clients of the fault soak (tools/soak/fault_soak.py), all real, on loopback.

``Rig`` starts, for one ledger variant (``sqlite`` on a small tmpfs when one can be mounted, or
``postgres`` on a PostgreSQL of its own started with initdb/pg_ctl on a free port):

- the mock upstream (normal traffic), a second mock nobody should reach (path-injected names
  must never get there), the keep-alive dropper (tests/edge/routing/upstreams.py), the hostile
  socket upstream in a process of its own (tests/hostile/hostile_upstream.py) and the echoing
  upstream (tests/hostile/echo_upstream.py), each behind a provider with a secret key;
- a redis-server of its own on a free port (tests/edge/limits/redis_server.py), for limits;
- ``edge serve --workers 2`` over all of them, DEBUG off, every secret in its config.

``Client`` threads send requests over keep-alive connections, each with its own x-request-id,
and keep every answer's status, error code and raw bytes' verdict (did a configured secret
appear anywhere in the head or body?). ``Probe`` streams a fast route and times each chunk.
``lag`` reads the gateway's ``edge_event_loop_lag_seconds`` histogram (edge/looplag.py).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.edge.limits.redis_server import OwnRedis  # noqa: E402
from tests.edge.routing.upstreams import KeepAliveDropper  # noqa: E402
from tests.hostile.echo_upstream import EchoUpstream  # noqa: E402
from tests.hostile.hostile_upstream import HostileProcess  # noqa: E402
from tests.support import Mock, Server, request, write_config  # noqa: E402

ADMIN_KEY = "sk-admin-soak-0a1b2c3d4e5f6a7b"
SECRETS = {
    "admin": ADMIN_KEY,
    "up": "sk-soak-upstream-7c1e9a3b5d2f4e60",
    "drop": "sk-soak-dropper-1a2b3c4d5e6f7081",
    "bad": "sk-soak-hostile-9f8e7d6c5b4a3921",
    "echo": "sk-soak-echo-5f3a9c1e7b2d4a68",
    "echo-header": "custom-soak-9d8c7b6a5f4e3d2c",
}
HOSTILE_MODELS = ("endless", "huge", "huge-chunked", "bomb")


def leaked(data: bytes | str) -> list[str]:
    """The names of the configured secrets in ``data`` (whole, or their first 10 characters)."""
    text = data if isinstance(data, str) else data.decode("utf-8", "replace")
    return [name for name, secret in SECRETS.items() if secret in text or secret[:10] in text]


@dataclass
class Answer:
    rid: str
    phase: str
    kind: str  # what was asked: load, probe or the fault's own traffic
    status: int  # 0: no answer
    code: str | None
    complete: bool  # the whole answer arrived (a stream ended with [DONE] or an error event)
    started: float
    seconds: float
    leaks: list[str] = field(default_factory=list)


def _code(status: int, body: bytes) -> str | None:
    if status == 200:
        if b"data: " in body[:8]:
            events = [e for e in body.split(b"\n\n") if e]
            if events and events[-1] != b"data: [DONE]":
                try:
                    return str(json.loads(events[-1][6:])["error"].get("code") or "stream_error")
                except (ValueError, KeyError, TypeError, AttributeError):
                    return "cut"
        return None
    try:
        return str(json.loads(body)["error"].get("code"))
    except (ValueError, KeyError, TypeError, AttributeError):
        return "no_envelope"


class Conn:
    """One keep-alive HTTP/1.1 connection to the gateway; reopened when it breaks."""

    def __init__(self, host: str, port: int, timeout: float = 60.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self._conn: http.client.HTTPConnection | None = None

    def send(self, rid: str, phase: str, kind: str, path: str, body: dict[str, Any], key: str) -> Answer:
        started = time.monotonic()
        headers = {"content-type": "application/json", "authorization": f"Bearer {key}", "x-request-id": rid}
        try:
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self._conn.request("POST", path, json.dumps(body), headers)
            response = self._conn.getresponse()
            data = response.read()
            head = "".join(f"{k}: {v}\n" for k, v in response.getheaders())
            if response.getheader("connection", "").lower() == "close":
                self.close()
        except (OSError, http.client.HTTPException):
            self.close()
            return Answer(rid, phase, kind, 0, None, False, started, time.monotonic() - started)
        status = response.status
        code = _code(status, data)
        complete = status != 200 or not body.get("stream") or data.endswith(b"data: [DONE]\n\n") or code not in (None, "cut")
        return Answer(rid, phase, kind, status, code, complete and code != "cut", started, time.monotonic() - started, leaked(head.encode() + data))

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class Client(threading.Thread):
    """Sends ``make(n)`` -> (kind, path, body) until stopped; ``phase()`` names the current phase."""

    def __init__(self, name: str, rig: Rig, make: Callable[[int], tuple[str, str, dict[str, Any]]], phase: Callable[[], str], key: str, pause_s: float = 0.0) -> None:
        super().__init__(daemon=True, name=name)
        self.rig, self.make, self.phase, self.key, self.pause_s = rig, make, phase, key, pause_s
        self.answers: list[Answer] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        conn = Conn(self.rig.gateway.host, self.rig.gateway.port)
        n = 0
        while not self.stopping.is_set():
            n += 1
            kind, path, body = self.make(n)
            answer = conn.send(f"soak-{self.name}-{n}", self.phase(), kind, path, body, self.key)
            self.answers.append(answer)
            if answer.status == 0:
                time.sleep(0.05)
            elif self.pause_s:
                time.sleep(self.pause_s)
        conn.close()

    def stop(self) -> list[Answer]:
        self.stopping.set()
        self.join(120)
        return self.answers


class Probe(threading.Thread):
    """Streams the fast route (20 chunks, 10 ms apart) again and again; the longest wait
    between two chunks per phase (wall clock on the client's side: it includes the machine)."""

    def __init__(self, rig: Rig, phase: Callable[[], str], key: str) -> None:
        super().__init__(daemon=True, name="probe")
        self.rig, self.phase, self.key = rig, phase, key
        self.gaps: dict[str, float] = {}
        self.streams: dict[str, int] = {}
        self.stopping = threading.Event()

    def run(self) -> None:
        body = json.dumps({"model": "fast", "stream": True, "messages": [{"role": "user", "content": "probe"}], "mock": {"tokens": 20, "chunk_delay_ms": 10}})
        n = 0
        while not self.stopping.is_set():
            n += 1
            phase = self.phase()
            try:
                conn = http.client.HTTPConnection(self.rig.gateway.host, self.rig.gateway.port, timeout=30)
                conn.request("POST", "/v1/chat/completions", body, {"content-type": "application/json", "authorization": f"Bearer {self.key}", "x-request-id": f"soak-probe-{n}"})
                response = conn.getresponse()
                last, worst = time.monotonic(), 0.0
                while piece := response.read1(65536):
                    now = time.monotonic()
                    worst, last = max(worst, now - last), now
                    if leaked(piece):
                        self.rig.probe_leaks += 1
                conn.close()
            except (OSError, http.client.HTTPException):
                time.sleep(0.05)
                continue
            self.gaps[phase] = max(self.gaps.get(phase, 0.0), worst)
            self.streams[phase] = self.streams.get(phase, 0) + 1

    def stop(self) -> None:
        self.stopping.set()
        self.join(60)


def _mount_tmpfs(path: Path, size: str) -> str | None:
    """Mount a small tmpfs at ``path``; None, or why it could not."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    return None if done.returncode == 0 else (done.stderr.decode().strip() or f"mount exited {done.returncode}")


def _umount(path: Path) -> None:
    if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


class Rig:
    def __init__(self, variant: str, home: Path | None = None) -> None:
        assert variant in ("sqlite", "postgres"), variant
        self.variant = variant
        self.home = home or Path(tempfile.mkdtemp(prefix=f"edge-fault-soak-{variant}-"))
        self.notes: list[str] = []
        self.probe_leaks = 0
        self.disk: Path | None = None
        self.pg: Any = None
        self._stack: list[Callable[[], object]] = []
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    def _start(self) -> None:
        home = self.home
        self.mock = Mock()
        self._stack.append(self.mock.stop)
        self.untouched = Mock()  # the providers path-injected names aim at: must never be called
        self._stack.append(self.untouched.stop)
        self.dropper = KeepAliveDropper(drop_share=0.02)
        self.dropper.start()
        self._stack.append(self.dropper.stop)
        self.hostile = HostileProcess()
        self._stack.append(self.hostile.stop)
        self.echo = EchoUpstream()
        self._stack.append(self.echo.close)
        (home / "redis").mkdir(exist_ok=True)
        self.redis = OwnRedis(home / "redis")
        self._stack.append(self.redis.stop)
        if self.variant == "postgres":
            from tests.edge.store.pg_instance import PgInstance

            self.pg = PgInstance()
            self._stack.append(self.pg.destroy)
            self.pg.start()
            ledger = self.pg.url
        else:
            disk = home / "disk"
            why = _mount_tmpfs(disk, "128m")
            if why is None:
                self.disk = disk
                self._stack.append(lambda: _umount(disk))
            else:
                self.notes.append(f"no tmpfs for the full-disk fault ({why}); the ledger is on the home disk")
            ledger = f"sqlite:///{disk}/edge.db"
        self.config = write_config(home / "edge.yaml", self.config_text(ledger))
        self.gateway = self.serve(self.config)
        self._stack.append(self.stop_gateway)
        self.load_key = self.make_key("soak-load", rpm=1_000_000)

    def config_text(self, ledger: str) -> str:
        s = SECRETS
        bad = self.hostile.base_url
        return f"""
server: {{host: 127.0.0.1, port: 0, drain_timeout_s: 10}}
state:
  ledger: "{ledger}"
  ledger_flush_s: 0.2
  redis: "{self.redis.url}"
  store_timeout_s: 1.0
  spool_fallback_dir: "{self.home / "fallback-spool"}"
keys: {{admin: {s["admin"]}}}
limits: {{redis_timeout_s: 0.1}}
providers:
  up: {{kind: openai, base_url: "{self.mock.base_url}", api_key: {s["up"]}, timeout_s: 10, models: [echo]}}
  drop: {{kind: openai, base_url: "{self.dropper.base_url}", api_key: {s["drop"]}, timeout_s: 10, models: [m1]}}
  bad: {{kind: openai, base_url: "{bad}", api_key: {s["bad"]}, timeout_s: 30, models: [gzip-bomb]}}
  echo: {{kind: openai, base_url: "{self.echo.url}/v1", api_key: {s["echo"]}, headers: {{x-custom-auth: {s["echo-header"]}}}, timeout_s: 10, models: [m]}}
  inj: {{kind: openai, base_url: "{self.untouched.base_url}", timeout_s: 5, models: [gpt-4o]}}
  gem: {{kind: gemini, base_url: "{self.untouched.url}", timeout_s: 5, models: [gemini-2.5-flash]}}
models:
  chat: {{route: [{{provider: up, model: echo}}]}}
  fast: {{route: [{{provider: up, model: echo}}]}}
  flaky: {{route: [{{provider: drop, model: m1}}]}}
  flaky-two: {{route: [{{provider: drop, model: m2}}, {{provider: drop, model: down-m2}}]}}
  endless: {{route: [{{provider: bad, model: endless-header}}]}}
  huge: {{route: [{{provider: bad, model: huge-body}}]}}
  huge-chunked: {{route: [{{provider: bad, model: huge-chunked}}]}}
  bomb: {{route: [{{provider: bad, model: gzip-bomb}}]}}
  echoed: {{route: [{{provider: echo, model: m}}]}}
prices:
  echo: {{input: 1.0, output: 2.0}}
"""

    def serve(self, config: Path, workers: int = 2) -> Server:
        server = Server(["serve", "--config", str(config), "--workers", str(workers)], cwd=str(config.parent), timeout=60)
        deadline = time.monotonic() + 60
        while server.output.count("serving on") < workers:
            if time.monotonic() > deadline:
                server.stop(timeout=30)
                raise RuntimeError(f"not every worker started:\n{server.output[-3000:]}")
            time.sleep(0.05)
        return server

    def make_key(self, name: str, rpm: int) -> str:
        body = json.dumps({"name": f"{name}-{os.urandom(3).hex()}", "rpm": rpm}).encode()
        status, _, data = request("POST", self.gateway.url + "/v1/keys", body, {"authorization": f"Bearer {ADMIN_KEY}", "content-type": "application/json"})
        if status != 201:
            raise RuntimeError(f"POST /v1/keys answered {status}: {data[:300]!r}")
        key = str(json.loads(data)["key"])
        ready: set[str] = set()
        deadline = time.monotonic() + 20
        while len(ready) < 2:  # every worker re-reads keys every 0.5 s; an id's start names its worker
            if time.monotonic() > deadline:
                raise RuntimeError("a new key did not reach both workers")
            status, headers, _ = request("GET", self.gateway.url + "/v1/models", headers={"authorization": f"Bearer {key}"})
            if status == 200:
                ready.add(headers["x-request-id"][:20])
        return key

    def metrics(self) -> str:
        status, _, body = request("GET", self.gateway.url + "/metrics", timeout=30)
        return body.decode() if status == 200 else ""

    def lag(self) -> dict[str, dict[str, float]]:
        """edge_event_loop_lag_seconds by kind: each bucket bound -> cumulative count, and count."""
        out: dict[str, dict[str, float]] = {}
        for line in self.metrics().splitlines():
            if not line.startswith("edge_event_loop_lag_seconds_"):
                continue
            name, _, value = line.rpartition(" ")
            kind = name.split('kind="', 1)[1].split('"', 1)[0]
            if "_bucket{" in name:
                out.setdefault(kind, {})[name.split('le="', 1)[1].split('"', 1)[0]] = float(value)
            elif "_count" in name:
                out.setdefault(kind, {})["count"] = float(value)
        return out

    def ledger_rows(self) -> dict[str, int]:
        """request_id -> status, for every row in the ledger."""
        if self.pg is not None:
            import asyncio

            import asyncpg

            async def read() -> dict[str, int]:
                conn = await asyncpg.connect(self.pg.url)
                try:
                    return {r["request_id"]: r["status"] for r in await conn.fetch("SELECT request_id, status FROM requests")}
                finally:
                    await conn.close()

            return asyncio.run(read())
        import sqlite3

        path = (self.disk or self.home / "disk") / "edge.db"
        with sqlite3.connect(path) as db:
            return {rid: status for rid, status in db.execute("SELECT request_id, status FROM requests")}

    def doubled_rows(self) -> int:
        """Request ids with more than one ledger row (a batch written twice)."""
        query = "SELECT count(*) FROM (SELECT request_id FROM requests GROUP BY request_id HAVING count(*) > 1) AS d"
        if self.pg is not None:
            import asyncio

            import asyncpg

            async def read() -> int:
                conn = await asyncpg.connect(self.pg.url)
                try:
                    return int(await conn.fetchval(query))
                finally:
                    await conn.close()

            return asyncio.run(read())
        import sqlite3

        with sqlite3.connect((self.disk or self.home / "disk") / "edge.db") as db:
            return int(db.execute(query).fetchone()[0])

    def stop_gateway(self) -> int:
        code = self.gateway.stop(timeout=60)
        self.gateway_log = self.gateway.output
        return code

    def close(self) -> None:
        while self._stack:
            step = self._stack.pop()
            try:
                step()
            except Exception as exc:  # keep tearing down; say what failed
                self.notes.append(f"teardown: {type(exc).__name__}: {exc}")
        shutil.rmtree(self.home, ignore_errors=True)
