"""Batch throughput against the mock: rows per second and CPU per row, with and without live
traffic beside the batch (issue 18).

    python -m bench.batch_throughput [--rows 2000] [--concurrency 8] [--live-rps 20] [--json out.json]

Starts the mock (``edge mock``) and one gateway worker (``edge serve``, SQLite ledger, batch
runner on), then three phases, each in the same processes:

1. live alone: chat requests at ``--live-rps`` for ``--live-s`` seconds; their latency p50/p99
   and the gateway's CPU per live request;
2. batch alone: one batch of ``--rows`` chat rows, submitted through POST /v1/files and
   /v1/batches and polled until completed: rows/s (from the batch's created_at to the moment
   the poll sees it completed) and the gateway's CPU per row (its whole process tree, the
   ledger writer included, from /proc);
3. batch with live traffic: the same batch again with the live requests of phase 1 beside it:
   rows/s, CPU per row (the tree's CPU less the live requests' share, at phase 1's CPU per live
   request), and the live requests' latency p50/p99 while the batch ran.

The batch is polled every 0.2 s (GET /v1/batches/{id}, which counts its rows): its CPU is in
the figures, as a client's would be. ``--profile FILE`` writes py-spy's collapsed stacks of the
worker during phase 2.

CPU per row is the figure that holds on a shared machine; rows/s depends on what else runs.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from .procs import Child, tree_cpu_seconds

KEY = "sk-bench-batch"
SERVING = re.compile(r"serving on http://([\d.]+):(\d+)")
MOCK = re.compile(r"mock provider serving on http://[\d.]+:(\d+)")


class Client:
    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def call(self, method: str, path: str, body: bytes | None = None, content_type: str = "application/json") -> Any:
        self.conn.request(method, path, body=body, headers={"authorization": f"Bearer {KEY}", "content-type": content_type})
        response = self.conn.getresponse()
        data = response.read()
        if response.status >= 400:
            raise RuntimeError(f"{method} {path}: {response.status} {data[:300]!r}")
        return json.loads(data)

    def close(self) -> None:
        self.conn.close()


def _rows(count: int, tag: str) -> bytes:
    lines = (
        json.dumps({"custom_id": f"{tag}-{i}", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "echo", "messages": [{"role": "user", "content": f"row {i}: " + "word " * 30}], "mock": {"tokens": 20}}})
        for i in range(count)
    )
    return ("\n".join(lines) + "\n").encode()


def _submit(client: Client, data: bytes) -> str:
    boundary = uuid.uuid4().hex
    form = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="rows.jsonl"\r\n\r\n'
    ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
    uploaded = client.call("POST", "/v1/files", form, f"multipart/form-data; boundary={boundary}")
    batch = client.call("POST", "/v1/batches", json.dumps({"input_file_id": uploaded["id"], "endpoint": "/v1/chat/completions", "completion_window": "24h"}).encode())
    return str(batch["id"])


def _run_batch(port: int, rows: int, root: int) -> dict[str, float]:
    client = Client(port)
    try:
        data = _rows(rows, uuid.uuid4().hex[:6])
        cpu0, t0 = tree_cpu_seconds(root), time.monotonic()
        batch_id = _submit(client, data)
        while True:
            batch = client.call("GET", f"/v1/batches/{batch_id}")
            if batch["status"] in ("completed", "failed", "expired", "cancelled"):
                break
            time.sleep(0.2)  # polls cost the gateway CPU too: a client's pace, not a tight loop
        took, cpu = time.monotonic() - t0, tree_cpu_seconds(root) - cpu0
    finally:
        client.close()
    counts = batch["request_counts"]
    if batch["status"] != "completed" or counts["completed"] != rows:
        raise RuntimeError(f"batch ended {batch['status']} with {counts}")
    return {"rows": rows, "seconds": took, "rows_per_s": rows / took, "cpu_s": cpu, "cpu_ms_per_row": cpu * 1000 / rows}


class Live(threading.Thread):
    """Chat requests at a fixed rate on one keep-alive connection, latencies kept."""

    def __init__(self, port: int, rps: float) -> None:
        super().__init__(daemon=True)
        self.port, self.every = port, 1.0 / rps
        self.latencies: list[float] = []
        self.errors = 0
        self.stop_at = float("inf")
        self._halt = threading.Event()

    def run(self) -> None:
        client = Client(self.port)
        body = json.dumps({"model": "echo", "messages": [{"role": "user", "content": "live " + "word " * 30}], "mock": {"tokens": 20}}).encode()
        try:
            next_at = time.monotonic()
            while not self._halt.is_set():
                start = time.monotonic()
                try:
                    client.call("POST", "/v1/chat/completions", body)
                    self.latencies.append(time.monotonic() - start)
                except (RuntimeError, OSError):
                    self.errors += 1
                    client.close()
                    client = Client(self.port)
                next_at += self.every
                self._halt.wait(max(0.0, next_at - time.monotonic()))
        finally:
            client.close()

    def finish(self) -> None:
        self._halt.set()
        self.join(30)

    def summary(self) -> dict[str, float]:
        ordered = sorted(self.latencies) or [0.0]
        return {"requests": len(self.latencies), "errors": self.errors, "p50_ms": statistics.median(ordered) * 1000, "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000}


def _config(home: Path, mock_port: int, concurrency: int) -> Path:
    path = home / "edge.yaml"
    path.write_text(
        f"""
server: {{host: 127.0.0.1, port: 0}}
state: {{ledger: "sqlite:///{home}/edge.db"}}
providers:
  mock: {{kind: openai, base_url: "http://127.0.0.1:{mock_port}/v1"}}
models:
  echo: {{route: [{{provider: mock, model: echo}}]}}
prices:
  echo: {{input: 0.15, output: 0.6}}
keys: {{admin: {KEY}}}
batch: {{concurrency: {concurrency}, poll_s: 0.1}}
"""
    )
    return path


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="edge-batch-bench-") as tmp:
        home = Path(tmp)
        mock = Child("mock", [sys.executable, "-m", "edge.cli", "mock", "--port", "0", "--latency-ms", str(args.mock_latency_ms)])
        gateway: Child | None = None
        try:
            mock_port = int(mock.wait_for(MOCK, 30).group(1))
            gateway = Child("edge", [sys.executable, "-m", "edge.cli", "serve", "--config", str(_config(home, mock_port, args.concurrency))], cwd=tmp)
            port = int(gateway.wait_for(SERVING, 30).group(2))
            root = gateway.pid
            _run_batch(port, min(200, args.rows), root)  # warm-up: imports, connections, tables

            live = Live(port, args.live_rps)
            cpu0 = tree_cpu_seconds(root)
            live.start()
            time.sleep(args.live_s)
            live.finish()
            live_alone = live.summary()
            live_cpu_ms = (tree_cpu_seconds(root) - cpu0) * 1000 / max(1, live_alone["requests"])
            live_alone["cpu_ms_per_request"] = live_cpu_ms

            spy = None
            if args.profile:  # py-spy on the worker for the batch-alone phase (bench/README.md)
                import subprocess

                spy = subprocess.Popen(["py-spy", "record", "--format", "raw", "--rate", "200", "--pid", str(root), "--output", args.profile], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(1.0)
            alone = _run_batch(port, args.rows, root)
            if spy is not None:
                spy.send_signal(2)
                spy.wait(60)

            live = Live(port, args.live_rps)
            live.start()
            beside = _run_batch(port, args.rows, root)
            live.finish()
            during = live.summary()
            beside["cpu_ms_per_row"] = (beside["cpu_s"] * 1000 - live_cpu_ms * during["requests"]) / args.rows
        finally:
            if gateway is not None:
                gateway.stop()
            mock.stop()
    return {"rows": args.rows, "concurrency": args.concurrency, "mock_latency_ms": args.mock_latency_ms, "live_rps": args.live_rps, "live_alone": live_alone, "batch_alone": alone, "batch_with_live": beside, "live_during_batch": during}


def markdown(doc: dict[str, Any]) -> str:
    a, b, la, ld = doc["batch_alone"], doc["batch_with_live"], doc["live_alone"], doc["live_during_batch"]
    return "\n".join([
        f"batch of {doc['rows']} chat rows, concurrency {doc['concurrency']}, mock latency {doc['mock_latency_ms']} ms; live traffic {doc['live_rps']} req/s",
        "",
        "| phase | rows/s | CPU ms/row | live p50 ms | live p99 ms | live errors |",
        "| --- | --- | --- | --- | --- | --- |",
        f"| live alone | - | - (live {la['cpu_ms_per_request']:.2f} ms/req) | {la['p50_ms']:.1f} | {la['p99_ms']:.1f} | {la['errors']} |",
        f"| batch alone | {a['rows_per_s']:.0f} | {a['cpu_ms_per_row']:.2f} | - | - | - |",
        f"| batch + live | {b['rows_per_s']:.0f} | {b['cpu_ms_per_row']:.2f} | {ld['p50_ms']:.1f} | {ld['p99_ms']:.1f} | {ld['errors']} |",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.batch_throughput", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--mock-latency-ms", type=float, default=0.0)
    parser.add_argument("--live-rps", type=float, default=20.0)
    parser.add_argument("--live-s", type=float, default=3.0, help="seconds of live traffic alone (phase 1)")
    parser.add_argument("--json", help="write the figures here too")
    parser.add_argument("--profile", help="py-spy raw (collapsed) stacks of the batch-alone phase, to this file")
    args = parser.parse_args(argv)
    doc = run(args)
    print(markdown(doc))
    if args.json:
        Path(args.json).write_text(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
