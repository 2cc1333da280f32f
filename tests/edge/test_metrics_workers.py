"""/metrics on a gateway of two workers counts every request exactly once, a killed worker's too.

Each worker counts in its own memory and writes its numbers to the supervisor's shared folder
every 0.5 s (edge.metrics._shared); a scrape adds the serving worker's numbers, fresh, to the
other files. So another worker's requests show up within one tick: the test polls for the exact
total, waits for both workers' ticks (reading the folder), and then checks it holds, whichever
worker answers. A worker killed with SIGKILL keeps the
numbers of its last tick (the test waits for that tick before the kill, reading the folder),
folded by the supervisor into the folder's retired.json; its in-flight gauge leaves the
aggregate (the supervisor's mark_dead).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from pathlib import Path

from tests.support import Mock, Server, gateway_config, request, wait_for, write_config

REQUESTS = 'edge_requests_total{model="chat",provider="up",status="200"}'
COMPLETION = 'edge_tokens_total{model="chat",type="completion"}'
PROMPT = 'edge_tokens_total{model="chat",type="prompt"}'
DURATIONS = 'edge_request_duration_seconds_count{model="chat"}'
INFLIGHT = "edge_inflight_requests"


def _scrape(server: Server) -> dict[str, float]:
    """Every sample of one scrape (a fresh connection each time: either worker may answer)."""
    status, _, body = request("GET", server.url + "/metrics")
    assert status == 200
    samples = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def _chat(server: Server, text: str) -> tuple[int, int]:
    body = json.dumps({"model": "chat", "messages": [{"role": "user", "content": text}]}).encode()
    status, _, answer = request("POST", server.url + "/v1/chat/completions", body, {"content-type": "application/json"})
    assert status == 200, answer
    usage = json.loads(answer)["usage"]
    return usage["prompt_tokens"], usage["completion_tokens"]


def _workers(supervisor: int) -> list[int]:
    out = subprocess.run(["ps", "--ppid", str(supervisor), "-o", "pid="], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _shared_dir(worker: int) -> Path:
    args = Path(f"/proc/{worker}/cmdline").read_bytes().split(b"\0")
    return Path(args[args.index(b"--shared-dir") + 1].decode())


def _on_disk(folder: Path, pattern: str = "counts-*.json") -> float:
    """The requests the workers' last ticks wrote (their counts files in the shared folder), and
    the folded counts of the dead ones (retired.json) unless ``pattern`` names other files."""
    total = 0.0
    for path in folder.glob(pattern):
        for labels, series in json.loads(path.read_bytes()).get("edge_requests", []):
            total += series[0]
    retired = folder / "retired.json"
    if pattern == "counts-*.json" and retired.exists():
        total += sum(series[0] for labels, series in json.loads(retired.read_bytes())["counts"].get("edge_requests", []))
    return total


def _holds(server: Server, expected: dict[str, float], scrapes: int = 6) -> None:
    for _ in range(scrapes):
        samples = _scrape(server)
        assert {name: samples.get(name) for name in expected} == expected



def _send(server: Server, n: int, words: str, counted: dict[str, float]) -> dict[str, float]:
    """``n`` chat requests (a connection each: the kernel spreads them over both workers), and
    what /metrics must say after them, once it says so."""
    expected = dict(counted)
    for i in range(n):
        p, c = _chat(server, words * (i + 1))
        expected[REQUESTS] += 1
        expected[DURATIONS] += 1
        expected[PROMPT] += p
        expected[COMPLETION] += c
    total = int(expected[REQUESTS])
    wait_for(lambda: all(_scrape(server).get(k) == v for k, v in expected.items()), 10, what=f"{total} requests in /metrics")
    return expected

def test_two_workers_count_every_request_once_and_a_killed_one_stays_counted(mock: Mock, tmp_path: Path) -> None:
    config = write_config(tmp_path / "edge.yaml", gateway_config(mock.base_url, tmp_path))
    server = Server(["serve", "--config", str(config), "--workers", "2"], cwd=str(tmp_path))
    try:
        wait_for(lambda: server.output.count("serving on") >= 2, 30, what="both workers serving")
        workers = _workers(server.popen.pid)
        assert len(workers) == 2, workers
        folder = _shared_dir(workers[0])
        assert _scrape(server).get(REQUESTS) is None  # nothing counted yet, on either worker
        expected = _send(server, 16, "one two three ", {REQUESTS: 0.0, PROMPT: 0.0, COMPLETION: 0.0, DURATIONS: 0.0})
        # Seen on one worker is not yet seen on the other: that one may still show the first's
        # numbers of the last tick. Once both have ticked, every scrape says 16 (and the
        # victim's tick is the one a SIGKILL must not beat).
        wait_for(lambda: _on_disk(folder) == 16, 10, what="both workers' counts on disk")
        _holds(server, expected)
        on_disk = [_on_disk(folder, f"counts-{pid}-*.json") for pid in workers]
        assert all(n > 0 for n in on_disk), on_disk  # both served some

        victim = workers[0]
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: "restarting" in server.output and server.output.count("serving on") >= 3, 30, what="the killed worker restarted")
        _holds(server, expected)  # the dead worker's requests stay counted, none twice
        wait_for(lambda: _scrape(server).get(INFLIGHT) == 1, 10, what="only the scrape itself in flight")
        assert not list(folder.glob(f"live-{victim}-*.json")), "the dead worker's gauges stay in the aggregate"
        retired = json.loads((folder / "retired.json").read_bytes())  # its counts, folded in
        assert [name for name in retired["absorbed"] if name.startswith(f"counts-{victim}-")], retired["absorbed"]
        assert not list(folder.glob(f"counts-{victim}-*.json"))

        expected = _send(server, 8, "again ", expected)
        wait_for(lambda: _on_disk(folder) == 24, 10, what="both workers' counts on disk")
        _holds(server, expected)
        text = request("GET", server.url + "/metrics")[2].decode()
        assert re.search(r"^# TYPE edge_requests_total counter$", text, re.M)
        assert "_created" not in text
    finally:
        assert server.stop() == 0
