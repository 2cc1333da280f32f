"""Crash soak: load against ``edge serve --workers 2`` while a worker is killed with SIGKILL every
few seconds; then check the books.

    python -m tools.soak.crash_soak [--seconds 60] [--kill-every 3] [--clients 8] [--json out.json]

Every client request carries its own x-request-id (the gateway keeps a safe one), so each answer
can be matched to its ledger row. Afterwards:
- every request whose full answer the client received has its ledger row, except rows a killed
  worker still held in memory: the ledger writes every 0.5 s, so a missing row must have
  completed within ``--window`` (0.6 s) before a kill (or up to 0.25 s after it: the last bytes
  were on their way when the worker died, before it recorded the row);
- the supervisor restarted every killed worker (two workers alive, one restart line per kill);
- no client saw a response that lied about its status: a 200 whose JSON is not a completion, a
  200 stream that ends with [DONE] after an error event, or an error status without the
  OpenAI envelope. Connections cut by a kill are counted as such (the client can tell: no
  answer, or a stream without [DONE]).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from support import Mock, Server, gateway_config, write_config  # noqa: E402


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "--ppid", str(pid), "-o", "pid="], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


class Client(threading.Thread):
    def __init__(self, n: int, host: str, port: int, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.n, self.host, self.port, self.stop = n, host, port, stop
        self.results: list[dict[str, object]] = []

    def run(self) -> None:
        i = 0
        while not self.stop.is_set():
            i += 1
            rid = f"soak-{self.n}-{i}"
            stream = i % 2 == 0
            body = {"model": "chat", "stream": stream, "messages": [{"role": "user", "content": "soak test " * 4}], "mock": {"tokens": 12, "chunk_delay_ms": 2}}
            result: dict[str, object] = {"id": rid, "stream": stream, "started": time.time()}
            try:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=15)
                conn.request("POST", "/v1/chat/completions", json.dumps(body), {"content-type": "application/json", "x-request-id": rid})
                response = conn.getresponse()
                data = response.read()
                conn.close()
                result.update(status=response.status, outcome=self._judge(response.status, data, stream))
            except (OSError, http.client.HTTPException) as exc:
                result.update(status=None, outcome="cut", error=type(exc).__name__)
            result["done"] = time.time()
            self.results.append(result)

    @staticmethod
    def _judge(status: int, data: bytes, stream: bool) -> str:
        """complete | error (an honest error) | cut (visibly incomplete) | lie."""
        if status != 200:
            try:
                return "error" if "error" in json.loads(data) else "lie"
            except ValueError:
                return "lie"
        if not stream:
            try:
                doc = json.loads(data)
            except ValueError:
                return "cut" if data else "cut"  # a body cut short is visible to the client
            return "complete" if doc.get("object") == "chat.completion" and doc["choices"][0]["message"]["content"] else "lie"
        events = [e for e in data.split(b"\n\n") if e]
        if not events or events[-1] != b"data: [DONE]":
            return "error" if events and b'"error"' in events[-1] else "cut"
        payloads = [json.loads(e[6:]) for e in events[:-1]]
        if any("error" in p for p in payloads):
            return "lie"
        return "complete" if any(p.get("choices") and p["choices"][0].get("finish_reason") for p in payloads) else "lie"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.soak.crash_soak")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--kill-every", type=float, default=3.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--window", type=float, default=0.6, help="the ledger's write interval plus slack")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="edge-soak-"))
    mock = Mock()
    # The ledger's default interval (the tests' config shortens it): --window assumes 0.5 s.
    text = gateway_config(mock.base_url, home, ledger_flush_s=0.5).replace("drain_timeout_s: 10", "drain_timeout_s: 5\n  workers: 2")
    gateway = Server(["serve", "--config", str(write_config(home / "edge.yaml", text))], cwd=str(home))
    time.sleep(1.0)  # both workers up
    supervisor = gateway.popen.pid
    stop = threading.Event()
    clients = [Client(n, gateway.host, gateway.port, stop) for n in range(args.clients)]
    for c in clients:
        c.start()
    kills: list[tuple[float, int]] = []
    rng = random.Random(1)
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        time.sleep(args.kill_every)
        workers = _children(supervisor)
        if workers:
            victim = rng.choice(workers)
            os.kill(victim, signal.SIGKILL)
            kills.append((time.time(), victim))
    stop.set()
    for c in clients:
        c.join(20)
    time.sleep(1.5)  # restarts settle
    alive = _children(supervisor)
    gateway.stop()
    mock.stop()
    results = [r for c in clients for r in c.results]
    with sqlite3.connect(home / "edge.db") as db:
        rows = {rid: status for rid, status in db.execute("SELECT request_id, status FROM requests")}
    completed = [r for r in results if r["outcome"] == "complete"]
    missing = [r for r in completed if r["id"] not in rows]
    kill_times = [t for t, _ in kills]

    def near_kill(r: dict[str, object]) -> bool:
        # A kill can also land after the worker wrote the last byte but before it recorded the
        # row, while the client is still reading: the kill then precedes "done" by a little.
        return any(-0.25 <= t - float(r["done"]) <= args.window for t in kill_times)  # type: ignore[arg-type]

    restarts = gateway.output.count("exited with -9; restarting")
    wrong_status = [r for r in completed if r["id"] in rows and rows[r["id"]] != 200]
    figures = {
        "seconds": args.seconds,
        "clients": args.clients,
        "kills": len(kills),
        "restarts_logged": restarts,
        "workers_alive_after": len(alive),
        "requests": len(results),
        "outcomes": {k: sum(1 for r in results if r["outcome"] == k) for k in ("complete", "error", "cut", "lie")},
        "completed_without_row": len(missing),
        "missing_rows_outside_window": sum(1 for r in missing if not near_kill(r)),
        "completed_with_wrong_ledger_status": len(wrong_status),
        "ledger_rows": len(rows),
        "cut_by": {e: sum(1 for r in results if r.get("error") == e) for e in sorted({str(r.get("error")) for r in results if r["outcome"] == "cut"})},
        "missing_row_seconds_before_kill_max": max((round(min((t - float(r["done"]) for t in kill_times), key=abs, default=99), 3) for r in missing), default=None),  # type: ignore[arg-type]
    }
    print(json.dumps(figures, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    ok = (
        figures["outcomes"]["lie"] == 0
        and figures["missing_rows_outside_window"] == 0
        and figures["workers_alive_after"] == 2
        and restarts >= len(kills)
        and not wrong_status
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
