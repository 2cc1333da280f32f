"""A worker killed from outside leaves no live gauge behind in /metrics (issue 16, left open).

With ``--workers N`` every worker writes its metrics to the supervisor's shared folder; a
worker that stops removes its live gauges itself (edge.metrics.Metrics.close), but one killed
with SIGKILL cannot. Before, its ``edge_inflight_requests`` stayed in the aggregate for good
(four streams in flight when both workers were killed: 5 in flight forever after). Now the
supervisor calls ``edge.metrics.mark_dead`` for every worker that exits.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import threading
from pathlib import Path

from tests.support import Mock, Server, gateway_config, request, wait_for, write_config


def _inflight(server: Server) -> float:
    _, _, body = request("GET", server.url + "/metrics")
    found = re.search(r"^edge_inflight_requests (\S+)$", body.decode(), re.M)
    assert found, body[:2000]
    return float(found.group(1))  # this very request counts: 1 when nothing else is in flight


def _workers(supervisor: int) -> list[int]:
    out = subprocess.run(["ps", "--ppid", str(supervisor), "-o", "pid="], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_killed_workers_leave_no_requests_in_flight_behind(mock: Mock, tmp_path: Path) -> None:
    config = write_config(tmp_path / "edge.yaml", gateway_config(mock.base_url, tmp_path))
    server = Server(["serve", "--config", str(config), "--workers", "2"], cwd=str(tmp_path))
    try:
        wait_for(lambda: server.output.count("serving on") >= 2, 30, what="both workers serving")
        assert _inflight(server) == 1
        body = json.dumps({"model": "chat", "stream": True, "messages": [{"role": "user", "content": "hi"}], "mock": {"tokens": 100, "chunk_delay_ms": 100}}).encode()

        def stream() -> None:
            try:
                request("POST", server.url + "/v1/chat/completions", body, {"content-type": "application/json"}, timeout=30)
            except (OSError, http.client.HTTPException):
                pass  # cut by the kill

        threads = [threading.Thread(target=stream, daemon=True) for _ in range(4)]
        for t in threads:
            t.start()
        wait_for(lambda: _inflight(server) >= 5, 20, what="four streams in flight")
        victims = _workers(server.popen.pid)
        assert len(victims) == 2, victims
        for pid in victims:
            os.kill(pid, signal.SIGKILL)
        for t in threads:
            t.join(30)
        wait_for(lambda: server.output.count("restarting") >= 2 and server.output.count("serving on") >= 4, 30, what="both workers restarted")
        wait_for(lambda: _inflight(server) == 1, 10, what="no request left in flight by the killed workers")
    finally:
        assert server.stop() == 0
