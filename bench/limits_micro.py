"""What admission costs one request with a limited key, in one process, by prompt size.

Runs edge.context.admit_checked (allow-list, tags, the token estimate, edge.admission's rate
limits and budget) and the settle of edge.admission for a key with rpm, tpm, a budget and tags,
as bench/systems.py's edge_limits key has, against the admin key, at prompt sizes from 1 to
128 KB. A real Gateway from a config (never started: no upstream is called); the limit table is
the host's shared file (two workers' path, under flock) with ``--shared``, else the lone
worker's anonymous map. Prints CPU microseconds per request and per KB of prompt.

    python -m bench.limits_micro [--requests 20000] [--shared]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from bench.data import prompt
from edge.auth import Principal
from edge.config import parse_config
from edge.context import RequestContext, admit_checked
from edge.fastpath import jsonio
from edge.gateway import Gateway

SIZES_KB = (1, 4, 16, 32, 128)
LIMITED = Principal(key_id="k-bench", name="bench", rpm=10_000_000, tpm=10_000_000_000, budget_usd=1e9, tags={"customer": "bench"})
ADMIN = Principal(key_id="admin", name="admin", is_admin=True)


def _body(kb: int) -> tuple[list[dict[str, str]], int]:
    words = max(1, kb * 1024 // 6)  # the bench vocabulary averages about six bytes a word
    messages = [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": prompt(words)}]
    raw = jsonio.dumps({"model": "m", "messages": messages})
    return messages, len(raw)


async def _per_request(gw: Gateway, principal: Principal, messages: list[dict[str, str]], size: int, n: int) -> float:
    admission = gw.admission
    started = time.process_time()
    for _ in range(n):
        ctx = RequestContext("req_bench", principal, "m", "chat", False)
        await admit_checked(gw, ctx, tag_header=None, metadata=None, messages=messages, body_size=size)
        admission.settle(principal, ctx.token_estimate, ctx.token_estimate + 20, 1e-9, ctx.record.tags)
    return (time.process_time() - started) / n * 1e6


async def _run(requests: int, shared: bool) -> None:
    with tempfile.TemporaryDirectory() as home:
        doc = {
            "state": {"ledger": f"sqlite:///{home}/edge.db"},
            "providers": {"a": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1"}},
            "models": {"m": {"route": [{"provider": "a", "model": "m"}]}},
        }
        gw = Gateway(parse_config(doc, env={}, source=f"{home}/edge.yaml"), shared_dir=Path(home) if shared else None)
        await gw.store.start()
        messages, size = _body(1)
        await _per_request(gw, LIMITED, messages, size, 100)  # the budget's first read, warm-up
        print(f"limit table: {'shared file (flock)' if shared else 'anonymous map'}; {requests} requests per row")
        print(f"{'prompt':>7} {'body B':>8} {'admin us':>9} {'limited us':>11} {'extra us':>9} {'extra us/KB':>12}")
        base = None
        for kb in SIZES_KB:
            messages, size = _body(kb)
            n = max(500, requests // kb)
            admin = await _per_request(gw, ADMIN, messages, size, n)
            limited = await _per_request(gw, LIMITED, messages, size, n)
            extra = limited - admin
            base = extra if base is None else base
            slope = (extra - base) / (kb - 1) if kb > 1 else 0.0
            print(f"{kb:>5}KB {size:>8} {admin:>9.2f} {limited:>11.2f} {extra:>9.2f} {slope:>12.3f}")
        await gw.store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--shared", action="store_true", help="the shared table under flock (what two or more workers use)")
    args = parser.parse_args()
    asyncio.run(_run(args.requests, args.shared))


if __name__ == "__main__":
    main()
