"""Instructions per request: the gateway's cost counted by Valgrind, for an A/B on a busy machine.

CPU time per request moves by +-15% between rounds when the machine is shared (other processes,
its two cores' caches), which hides a difference of a few percent. The number of instructions a
worker executes per request does not depend on the load: this counts them with Valgrind's
callgrind (``apt-get install -y valgrind``) over two runs of one gateway, ``--small`` and
``--large`` requests one at a time on one keep-alive connection, and reports
(large - small) / (large - small requests), so start-up and shut-down cancel out.

    python -m bench.icount [--python OTHER_VENV/bin/python] [--scenario chat|stream20] [--old-cooldown]

``--python`` runs the gateway of another checkout (its virtualenv's python), as ``edge_base`` does
in ``edge bench``; the mock upstream always runs from this checkout, outside Valgrind.
Instructions are not time (a cache miss costs more than an add), but for two builds of the same
request path the ratio of their counts is the ratio that matters, to about 1%.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from .data import chat_body, messages_body
from .systems import Child, _SERVING, edge_config, start_mock

__all__ = ["count_run", "main"]

KEY = "sk-icount-admin-0123456789"
_OLD_COOLDOWN = "cooldown: {failures: 3, window_s: 30, for_s: 5}"
_COOLDOWN = "cooldown: {consecutive_failures: 3, base_ejection_s: 5}"
# The bench's edge config cut to what every checkout reads (edge_config grows with new features,
# which an older checkout refuses). Under Valgrind a worker takes far longer than the bench's
# 5 s to drain: a supervisor that killed it would lose its counts (callgrind writes them at exit).
CONFIG = """
server: {{host: 127.0.0.1, port: 0, drain_timeout_s: 600}}
state: {{ledger: "sqlite:///{home}/edge-bench.db"}}
providers:
  mock: {{kind: openai, base_url: "{mock}/v1", api_key: sk-bench-upstream-0123456789, timeout_s: 30}}
models:
  echo:
    route: [{{provider: mock, model: echo}}]
routing:
  retries: 2
  {cooldown}
prices:
  echo: {{input: 1.0, output: 2.0}}
keys:
  admin: {key}
"""
_TOTALS = re.compile(rb"^(?:summary|totals): (\d+)", re.M)


# scenario -> (path, body): chat's two and the Messages API's (bench/scenarios/messages.py):
# claude-echo is the byte pass-through, echo the translation to an OpenAI-format upstream.
SCENARIOS = {
    "chat": ("/v1/chat/completions", lambda: chat_body(reply_tokens=20, stream=False)),
    "stream20": ("/v1/chat/completions", lambda: chat_body(reply_tokens=20, stream=True)),
    "messages": ("/v1/messages", lambda: messages_body(reply_tokens=20, stream=False, model="claude-echo")),
    "messages_stream20": ("/v1/messages", lambda: messages_body(reply_tokens=20, stream=True, model="claude-echo")),
    "messages_bridged": ("/v1/messages", lambda: messages_body(reply_tokens=20, stream=False)),
    "messages_bridged_stream20": ("/v1/messages", lambda: messages_body(reply_tokens=20, stream=True)),
}


def _body(scenario: str) -> bytes:
    return SCENARIOS[scenario][1]()


def _drive(port: int, body: bytes, count: int, path: str = "/v1/chat/completions") -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"content-type": "application/json", "authorization": "Bearer " + KEY}
    try:
        for _ in range(count):
            conn.request("POST", path, body, headers)
            response = conn.getresponse()
            data = response.read()
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}: {data[:300]!r}")
    finally:
        conn.close()


def count_run(python: str, mock_url: str, scenario: str, requests: int, old_cooldown: bool, home: Path, idle_s: float = 0.0) -> tuple[int, float]:
    """Instructions the whole gateway (every process) executed to start, serve ``requests``
    requests (after 20 warm-up ones: the same in every run, so they cancel out too), stay idle
    ``idle_s`` and stop; and the seconds the requests took."""
    home.mkdir(parents=True, exist_ok=True)
    if scenario.startswith("messages"):
        # The Messages scenarios need the bench's own models (claude-echo): this checkout only.
        text = edge_config(mock_url, home, KEY).replace("drain_timeout_s: 5", "drain_timeout_s: 600")
    else:
        text = CONFIG.format(home=home, mock=mock_url, key=KEY, cooldown=_OLD_COOLDOWN if old_cooldown else _COOLDOWN)
    config = home / "edge.yaml"
    config.write_text(text)
    out = home / "callgrind.%p"
    argv = ["valgrind", "--tool=callgrind", "--trace-children=yes", f"--callgrind-out-file={out}", python, "-m", "edge.cli", "serve", "--config", str(config), "--workers", "1"]
    child = Child("edge", argv, env=dict(os.environ, PYTHONHASHSEED="0"), cwd=str(home))
    try:
        found = child.wait_for(_SERVING, 600)
        port = int(found.group(2))
        path = SCENARIOS[scenario][0]
        _drive(port, _body(scenario), 20, path)
        began = time.monotonic()
        _drive(port, _body(scenario), requests, path)
        took = time.monotonic() - began
        time.sleep(idle_s)
    finally:
        child.stop(timeout=900)  # SIGTERM: callgrind writes its counts as each process exits
    total = 0
    for path in home.glob("callgrind.*"):
        found_totals = _TOTALS.findall(path.read_bytes())
        total += int(found_totals[-1]) if found_totals else 0
        path.unlink()
    return total, took


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.icount", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--python", default=sys.executable, help="the python of the gateway to count (default: this one)")
    p.add_argument("--scenario", choices=tuple(SCENARIOS), default="chat")
    p.add_argument("--small", type=int, default=50)
    p.add_argument("--large", type=int, default=450)
    p.add_argument("--idle", type=float, default=60.0, help="seconds of the idle run that measures the timers' cost")
    p.add_argument("--old-cooldown", action="store_true", help="write routing.cooldown the way checkouts before issue 16 read it")
    args = p.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install -y valgrind)", file=sys.stderr)
        return 2
    mock = start_mock()
    try:
        with tempfile.TemporaryDirectory(prefix="edge-icount-") as tmp:
            began = time.monotonic()
            small, small_s = count_run(args.python, mock.url, args.scenario, args.small, args.old_cooldown, Path(tmp) / "small")
            large, large_s = count_run(args.python, mock.url, args.scenario, args.large, args.old_cooldown, Path(tmp) / "large")
            # The gateway's timers (ledger flush, refreshes, health) run per second, not per
            # request, and a request under Valgrind takes ~50x longer: count an idle minute and
            # take that rate times the extra seconds out.
            idle, _ = count_run(args.python, mock.url, args.scenario, args.small, args.old_cooldown, Path(tmp) / "idle", idle_s=args.idle)
    finally:
        assert mock.child is not None
        mock.child.stop()
    per_second = max(0.0, (idle - small) / args.idle)
    per = (large - small - per_second * (large_s - small_s)) / (args.large - args.small)
    print(
        f"{args.scenario}: {per:,.0f} instructions per request ({args.python}; {small:,} and {large:,} in all, "
        f"idle {per_second:,.0f}/s over {large_s - small_s:.0f} extra s taken out; {time.monotonic() - began:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
