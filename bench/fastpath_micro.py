"""Microbenchmark of the fastpath kernels, compiled build against its pure-Python twin.

Times OpenAIStreamRewriter (one upstream event per feed(), as aiohttp delivers them) on the
recorded OpenAI fixtures in ../shared/fixtures/openai (read in place, skipped when absent)
and on a synthetic 200-chunk stream, plus SSEDecoder, estimate_tokens and the Anthropic
Messages scanner (MessagesScanner, one event per feed, on ../shared/fixtures/anthropic). Prints
microseconds per chunk for each build and the py/c ratio; ``--json`` prints a JSON report.

    python bench/fastpath_micro.py [--json] [--repeat 7]

Each figure is the best of ``--repeat`` runs (the least disturbed one), each run long
enough to last about 0.2 s.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "openai"
ANTHROPIC = SHARED.parent / "anthropic" / "messages-stream-tool-use.sse"
FIXTURES = ["chat-stream-text-usage.sse", "chat-stream-parallel-tool-calls.sse",
            "chat-stream-json-schema.sse", "chat-stream-refusal.sse"]


def synthetic(n: int = 200) -> bytes:
    head = ('{"id":"chatcmpl-B9xYz0123456789abcdef","object":"chat.completion.chunk",'
            '"created":1767225600,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_0123456789",')
    out = [f'data: {head}"choices":[{{"index":0,"delta":{{"role":"assistant","content":""}},'
           '"logprobs":null,"finish_reason":null}],"usage":null}\n\n']
    words = ["The", " gateway", " forwards", " each", " chunk", " as", " it", " arrives", ",", " \\\"quoted\\\""]
    for i in range(n - 2):
        out.append(f'data: {head}"choices":[{{"index":0,"delta":{{"content":"{words[i % len(words)]}"}},'
                   '"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"aB3dE"}\n\n')
    out.append(f'data: {head}"choices":[],"usage":{{"prompt_tokens":20,"completion_tokens":{n},'
               f'"total_tokens":{n + 20}}}}}\n\n')
    out.append("data: [DONE]\n\n")
    return "".join(out).encode()


def events_of(raw: bytes) -> list:
    return [e + b"\n\n" for e in raw.split(b"\n\n") if e.strip()]


def best_per_item(fn, items: int, repeat: int) -> float:
    loops = 1
    while True:  # calibrate: one run lasts about 0.2 s
        start = time.perf_counter()
        for _ in range(loops):
            fn()
        if time.perf_counter() - start > 0.2:
            break
        loops *= 2
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(loops):
            fn()
        best = min(best, (time.perf_counter() - start) / loops)
    return best / items * 1e6


def bench_rewriter(mod, events: list, repeat: int) -> float:
    def run() -> None:
        rw = mod.OpenAIStreamRewriter("public-model", False)
        for ev in events:
            rw.feed(ev)
        rw.flush()

    return best_per_item(run, len(events), repeat)


def bench_sse(mod, events: list, repeat: int) -> float:
    def run() -> None:
        dec = mod.SSEDecoder()
        for ev in events:
            dec.feed(ev)

    return best_per_item(run, len(events), repeat)


def bench_msgscan(mod, events: list, repeat: int) -> float:
    def run() -> None:
        scan = mod.MessagesScanner()
        for ev in events:
            scan.feed(ev)
        scan.flush()

    return best_per_item(run, len(events), repeat)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print a JSON report")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    builds = {}
    for build in ("c", "py"):
        try:
            builds[build] = {k: importlib.import_module(f"edge.fastpath.{k}_{build}")
                             for k in ("reencode", "sse", "tokens", "msgscan")}
        except ImportError:
            print(f"build {build!r} not available", file=sys.stderr)
    streams = {"synthetic-200": synthetic()}
    for name in FIXTURES:
        if (SHARED / name).is_file():
            streams[name] = (SHARED / name).read_bytes()
    text = ("The gateway forwards each chunk as soon as it arrives. 今天下午召开新闻发布会。 "
            "def f(x):\n    return x * 2\n") * 20
    rows = []
    for name, raw in streams.items():
        events = events_of(raw)
        row = {"case": f"reencode {name}", "unit": "us/chunk", "chunks": len(events)}
        for build, mods in builds.items():
            row[build] = round(bench_rewriter(mods["reencode"], events, args.repeat), 3)
        rows.append(row)
    events = events_of(streams["synthetic-200"])
    row = {"case": "sse synthetic-200", "unit": "us/chunk", "chunks": len(events)}
    for build, mods in builds.items():
        row[build] = round(bench_sse(mods["sse"], events, args.repeat), 3)
    rows.append(row)
    if ANTHROPIC.is_file():
        events = events_of(ANTHROPIC.read_bytes())
        row = {"case": f"msgscan {ANTHROPIC.name}", "unit": "us/chunk", "chunks": len(events)}
        for build, mods in builds.items():
            row[build] = round(bench_msgscan(mods["msgscan"], events, args.repeat), 3)
        rows.append(row)
    row = {"case": f"estimate_tokens {len(text)} chars", "unit": "us/call"}
    for build, mods in builds.items():
        fn = mods["tokens"].estimate_tokens
        row[build] = round(best_per_item(lambda fn=fn: fn(text), 1, args.repeat), 3)
    rows.append(row)
    for row in rows:
        if "c" in row and "py" in row:
            row["ratio"] = round(row["py"] / row["c"], 1)
    if args.json:
        print(json.dumps({"python": sys.version.split()[0], "machine": platform.machine(),
                          "processor": platform.processor(), "results": rows}, indent=2))
        return 0
    print(f"{'case':48s} {'c':>10s} {'py':>10s} {'py/c':>7s}")
    for row in rows:
        print(f"{row['case']:48s} {row.get('c', float('nan')):10.3f} {row.get('py', float('nan')):10.3f} "
              f"{row.get('ratio', float('nan')):6.1f}x  {row['unit']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
