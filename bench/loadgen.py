"""Load generators: wrk when installed (a Lua script sends the POST body), else a built-in client.

Both keep connections alive, run a fixed number of connections for a fixed time, and report the
requests completed, the errors (non-2xx and socket errors) and latency percentiles in microseconds
for the whole response (a stream's latency runs to its last byte). wrk costs far less CPU than a
Python client, which matters on a 2-core machine where the load generator shares the cores with
the mock and the system under test; the built-in client exists so ``edge bench`` works anywhere.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import orjson

from .common import percentile

__all__ = ["LoadResult", "Probe", "builtin_load", "probe", "wrk_available", "wrk_load"]


@dataclass
class LoadResult:
    requests: int
    errors: int
    duration_s: float
    p50_us: float
    p90_us: float
    p99_us: float
    tool: str
    messages_per_stream: float | None = None  # gRPC streams: messages received / calls completed


@dataclass
class Probe:
    status: int
    events: int  # SSE "data:" events in the answer (0 for JSON answers)
    seconds: float
    body: bytes


def wrk_available() -> str | None:
    return shutil.which("wrk")


# wrk's done() hook prints one JSON line the runner parses; latency is in microseconds.
_LUA = """
wrk.method = "POST"
local f = assert(io.open("%(body)s", "rb"))
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(key)s"
%(extra)sdone = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%%d,"duration_us":%%d,"connect":%%d,"read":%%d,"write":%%d,"status":%%d,"timeout":%%d,"p50":%%d,"p90":%%d,"p99":%%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end
"""
_WRKJSON = re.compile(r"^WRKJSON (\{.*\})$", re.M)


def wrk_load(url: str, body: bytes, key: str, connections: int, duration_s: float, timeout_s: float = 10.0, headers: dict[str, str] | None = None) -> LoadResult:
    with tempfile.TemporaryDirectory(prefix="edge-bench-wrk-") as tmp:
        body_path = Path(tmp) / "body.json"
        body_path.write_bytes(body)
        script = Path(tmp) / "post.lua"
        extra = "".join(f'wrk.headers["{name}"] = "{value}"\n' for name, value in (headers or {}).items())
        script.write_text(_LUA % {"body": body_path, "key": key, "extra": extra})
        argv = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration_s))}s", f"--timeout={timeout_s:g}s", "-s", str(script), url]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=duration_s + timeout_s + 30)
    found = _WRKJSON.search(done.stdout)
    if done.returncode != 0 or not found:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout[-2000:]} {done.stderr[-2000:]}")
    doc = orjson.loads(found.group(1))
    errors = doc["connect"] + doc["read"] + doc["write"] + doc["status"] + doc["timeout"]
    return LoadResult(doc["requests"], errors, doc["duration_us"] / 1e6, doc["p50"], doc["p90"], doc["p99"], "wrk")


def builtin_load(url: str, body: bytes, key: str, connections: int, duration_s: float, timeout_s: float = 10.0, headers: dict[str, str] | None = None) -> LoadResult:
    """``connections`` keep-alive connections, each sending the next request when one completes."""
    try:
        import uvloop

        return uvloop.run(_builtin(url, body, key, connections, duration_s, timeout_s, headers))
    except ImportError:
        return asyncio.run(_builtin(url, body, key, connections, duration_s, timeout_s, headers))


async def _builtin(url: str, body: bytes, key: str, connections: int, duration_s: float, timeout_s: float, extra: dict[str, str] | None = None) -> LoadResult:
    headers = {"content-type": "application/json", "authorization": "Bearer " + key, **(extra or {})}
    latencies: list[float] = []
    errors = 0
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, skip_auto_headers=("User-Agent",)) as session:
        start = time.perf_counter()
        deadline = start + duration_s

        async def one_connection() -> None:
            nonlocal errors
            clock = time.perf_counter
            while clock() < deadline:
                began = clock()
                try:
                    async with session.post(url, data=body, headers=headers) as response:
                        await response.read()
                        ok = response.status < 400
                except (aiohttp.ClientError, TimeoutError):
                    ok = False
                if ok:
                    latencies.append((clock() - began) * 1e6)
                else:
                    errors += 1

        await asyncio.gather(*(one_connection() for _ in range(connections)))
        elapsed = time.perf_counter() - start
    latencies.sort()
    return LoadResult(len(latencies) + errors, errors, elapsed, percentile(latencies, 50), percentile(latencies, 90), percentile(latencies, 99), "builtin")


def probe(url: str, body: bytes, key: str, timeout_s: float = 30.0, extra: dict[str, str] | None = None) -> Probe:
    """One request, read whole: checks the system answers and counts the SSE events of a stream."""

    async def go() -> Probe:
        headers = {"content-type": "application/json", "authorization": "Bearer " + key, **(extra or {})}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as session:
            began = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as response:
                data = await response.read()
                status = response.status
            took = time.perf_counter() - began
        events = sum(1 for line in data.split(b"\n") if line.startswith(b"data:"))
        return Probe(status, events, took, data)

    return asyncio.run(go())
