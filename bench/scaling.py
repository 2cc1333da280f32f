"""The scaling table (issue 20): CPU per request as the prompt grows, as the reply grows, and as
connections go from 1 to 1,024, for the floors and llm-edge, each in its own process tree.

    python -m bench.scaling [--systems floor floor_lean edge edge_limits] [--duration 4]
                            [--json out.json] [--markdown out.md]

Three sweeps of a non-streamed chat completion against the mock upstream, wrk (or the built-in
client) at 32 connections unless the sweep is concurrency: prompt 1, 4, 16, 64 KB; reply 20,
200, 2,000 tokens; connections 1, 8, 32, 128, 512, 1,024. Each row gives CPU us per request of
the system's process tree, its step over the row before per added KB (prompt) or per added
100 tokens (reply), and p50/p99. "Nothing super-linear" reads off the steps: a cost linear in
size has steps that stay flat as the size grows.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from .data import chat_body
from .loadgen import builtin_load, wrk_available, wrk_load
from .procs import tree_cpu_seconds
from .peers import find_litellm
from .systems import Running, start_mock, start_system

__all__ = ["main"]

PROMPT_KB = (1, 4, 16, 64)
REPLY_TOKENS = (20, 200, 2000)
CONNECTIONS = (1, 8, 32, 128, 512, 1024)
_BYTES_PER_WORD = 5.5  # bench.data's vocabulary, measured over 1,000 words


def _point(system: Running, mock: Running, body: bytes, key: str, connections: int, duration: float, tool: str) -> dict[str, Any]:
    url = system.url + "/v1/chat/completions"
    load = wrk_load if tool == "wrk" else builtin_load
    load(url, body, key, min(connections, 32), 1.0)  # warm: the pools and the caches fill
    cpu0, mock0 = tree_cpu_seconds(system.root_pid), tree_cpu_seconds(mock.root_pid)
    result = load(url, body, key, connections, duration)
    cpu1, mock1 = tree_cpu_seconds(system.root_pid), tree_cpu_seconds(mock.root_pid)
    served = max(1, result.requests - result.errors)
    return {
        "requests": result.requests,
        "errors": result.errors,
        "rps": served / result.duration_s if result.duration_s else 0.0,
        "cpu_us": (cpu1 - cpu0) / served * 1e6,
        "mock_cpu_us": (mock1 - mock0) / served * 1e6,
        "p50_us": result.p50_us,
        "p99_us": result.p99_us,
        "body_bytes": len(body),
    }


def _sweeps() -> list[tuple[str, Any, bytes, int]]:
    out: list[tuple[str, Any, bytes, int]] = []
    for kb in PROMPT_KB:
        out.append(("prompt_kb", kb, chat_body(reply_tokens=20, stream=False, prompt_words=max(40, int(kb * 1024 / _BYTES_PER_WORD))), 32))
    for tokens in REPLY_TOKENS:
        out.append(("reply_tokens", tokens, chat_body(reply_tokens=tokens, stream=False), 32))
    for conns in CONNECTIONS:
        out.append(("connections", conns, chat_body(reply_tokens=20, stream=False), conns))
    return out


def _markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| system | sweep | value | body | conns | req/s | CPU/req | step | p50 | p99 | errors |", "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    previous: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        key = (row["system"], row["sweep"])
        before = previous.get(key)
        step = "-"
        if before is not None and row["sweep"] == "prompt_kb":
            step = f"{(row['cpu_us'] - before['cpu_us']) / ((row['body_bytes'] - before['body_bytes']) / 1024):.2f} us/KB"
        elif before is not None and row["sweep"] == "reply_tokens":
            step = f"{(row['cpu_us'] - before['cpu_us']) / ((row['value'] - before['value']) / 100):.1f} us/100 tok"
        previous[key] = row
        lines.append(f"| {row['system']} | {row['sweep']} | {row['value']:,} | {row['body_bytes'] / 1024:.1f} KB | {row['connections']:,} | {row['rps']:,.0f} | {row['cpu_us']:.0f} us | {step} | {row['p50_us'] / 1000:.2f} ms | {row['p99_us'] / 1000:.2f} ms | {row['errors']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scaling", description=__doc__.split("\n\n")[0])
    parser.add_argument("--systems", nargs="+", default=["floor", "floor_lean", "edge", "edge_limits"])
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per point (default 4)")
    parser.add_argument("--builtin-client", action="store_true", help="the asyncio load generator instead of wrk")
    parser.add_argument("--json")
    parser.add_argument("--markdown")
    args = parser.parse_args(argv)
    tool = "builtin" if args.builtin_client or not wrk_available() else "wrk"
    key = "sk-bench-" + secrets.token_urlsafe(24)
    rows: list[dict[str, Any]] = []
    mock = start_mock()
    try:
        for name in args.systems:
            with tempfile.TemporaryDirectory(prefix=f"edge-scaling-{name}-") as tmp:
                system = start_system(name, mock, 1, key, Path(tmp), find_litellm(None) if name == "litellm" else None)
                try:
                    for sweep, value, body, conns in _sweeps():
                        point = _point(system, mock, body, key, conns, args.duration, tool)
                        rows.append({"system": name, "sweep": sweep, "value": value, "connections": conns, **point})
                        print(f"{name} {sweep}={value}: {point['cpu_us']:.0f} us/req, {point['rps']:,.0f} req/s, {point['errors']} errors", file=sys.stderr, flush=True)
                finally:
                    system.stop()
    finally:
        mock.stop()
    text = _markdown(rows)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text)
    if args.json:
        Path(args.json).write_bytes(orjson.dumps({"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "tool": tool, "rows": rows}, option=orjson.OPT_INDENT_2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
