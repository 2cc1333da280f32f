"""The systems under test, each started fresh in its own process tree in front of one mock.

    direct    the mock upstream itself (no proxy): the latency baseline
    floor     bench/floor_proxy.py, a bare aiohttp+uvloop+orjson proxy: the CPU budget's reference
    edge      ``edge serve`` with auth, routing, accounting (SQLite ledger) and metrics on
    litellm   LiteLLM proxy, from its own venv (``--litellm`` or EDGE_BENCH_LITELLM); skipped
              with a note when not found

Every system serves the public model ``echo`` (and ``embed``) and accepts the same bearer key, so
the load generator sends identical bytes to all of them.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .procs import Child

__all__ = ["SYSTEMS", "Running", "start_mock", "start_system"]

SYSTEMS = ("direct", "floor", "edge", "litellm")
HERE = Path(__file__).resolve().parent
# The mock embeds whatever the model is called; LiteLLM accepts `dimensions` only for models it
# knows to support it, so every system names the upstream model like OpenAI's.
EMBED_UPSTREAM = "text-embedding-3-small"
_SERVING = re.compile(r"serving on http://([\d.]+):(\d+)")


@dataclass
class Running:
    name: str
    url: str  # base URL without /v1
    child: Child | None  # None for "direct": its process is the shared mock
    root_pid: int
    workers: int
    version: str = ""

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()


def _python_argv(*args: str) -> list[str]:
    return [sys.executable, *args]


def start_mock() -> Running:
    # One process: the mock is shared by every system, and a single worker keeps it predictable.
    child = Child("mock", _python_argv("-m", "edge.cli", "mock", "--host", "127.0.0.1", "--port", "0"), env=_env())
    found = child.wait_for(re.compile(r"mock provider serving on http://([\d.]+):(\d+)"), 20)
    return Running("direct", f"http://127.0.0.1:{found.group(2)}", child, child.pid, 1, "mock")


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update(extra)
    return env


def edge_config(mock_url: str, home: Path, key: str) -> str:
    """Auth (one key), routing (public -> upstream name), accounting (SQLite ledger, prices), metrics."""
    return f"""
server:
  host: 127.0.0.1
  port: 0
  drain_timeout_s: 5
state:
  ledger: sqlite:///{home}/edge-bench.db
providers:
  mock:
    kind: openai
    base_url: {mock_url}/v1
    api_key: sk-bench-upstream-0123456789
    timeout_s: 30
models:
  echo:
    route:
      - {{provider: mock, model: echo}}
  embed:
    route:
      - {{provider: mock, model: {EMBED_UPSTREAM}}}
prices:
  echo: {{input: 1.0, output: 2.0}}
  {EMBED_UPSTREAM}: {{input: 0.02, output: 0.0}}
keys:
  admin: {key}
"""


def litellm_config(mock_url: str) -> str:
    rows = "".join(
        f"""  - model_name: {name}
    litellm_params:
      model: openai/{upstream}
      api_base: {mock_url}/v1
      api_key: sk-bench-upstream-0123456789
"""
        for name, upstream in (("echo", "echo"), ("embed", EMBED_UPSTREAM))
    )
    return f"model_list:\n{rows}general_settings:\n  master_key: os.environ/LITELLM_MASTER_KEY\n"


def find_litellm(explicit: str | None) -> str | None:
    path = explicit or os.environ.get("EDGE_BENCH_LITELLM")
    if path:
        return path if Path(path).is_file() else None
    default = Path("/tmp/litellm-venv/bin/litellm")
    return str(default) if default.is_file() else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_http(url: str, child: Child, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.popen.poll() is not None:
            raise RuntimeError(f"{child.name} exited with {child.popen.returncode}:\n{child.tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status < 500:
                    return
        except OSError:
            time.sleep(0.25)
    raise TimeoutError(f"{child.name} did not answer {url} within {timeout:g} s:\n{child.tail()}")


def _wait_workers(child: Child, workers: int, timeout: float = 30.0) -> None:
    # With a supervisor the first "serving" line comes from one worker; wait until all are up so
    # the load is shared from the first request.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(1 for line in child.lines if _SERVING.search(line)) >= workers:
            return
        time.sleep(0.1)


def start_system(name: str, mock: Running, workers: int, key: str, home: Path, litellm: str | None) -> Running:
    if name == "direct":
        # Always the one mock process; labelled with the suite's worker count so its rows sit
        # beside the systems they are the baseline for.
        return Running("direct", mock.url, None, mock.root_pid, workers, "mock")
    if name == "floor":
        argv = _python_argv(str(HERE / "floor_proxy.py"), "--upstream", mock.url + "/v1", "--workers", str(workers))
        child = Child("floor", argv, env=_env())
        found = child.wait_for(_SERVING, 20)
        _wait_workers(child, workers)
        return Running("floor", f"http://127.0.0.1:{found.group(2)}", child, child.pid, workers, "aiohttp+uvloop+orjson")
    if name == "edge":
        config = home / "edge-bench.yaml"
        config.write_text(edge_config(mock.url, home, key))
        argv = _python_argv("-m", "edge.cli", "serve", "--config", str(config), "--workers", str(workers))
        child = Child("edge", argv, env=_env(), cwd=str(home))
        found = child.wait_for(_SERVING, 30)
        _wait_workers(child, workers)
        return Running("edge", f"http://127.0.0.1:{found.group(2)}", child, child.pid, workers, _edge_version())
    if name == "litellm":
        if litellm is None:
            raise LookupError("LiteLLM not found: pass --litellm PATH or set EDGE_BENCH_LITELLM (see bench/README.md)")
        config = home / "litellm.yaml"
        config.write_text(litellm_config(mock.url))
        port = _free_port()
        # Offline and quiet: no cost-map download, no telemetry; the master key is the bench key.
        env = _env(LITELLM_MASTER_KEY=key, LITELLM_LOCAL_MODEL_COST_MAP="True", LITELLM_TELEMETRY="False", LITELLM_LOG="ERROR")
        argv = [litellm, "--config", str(config), "--host", "127.0.0.1", "--port", str(port), "--num_workers", str(workers)]
        child = Child("litellm", argv, env=env, cwd=str(home))
        _wait_http(f"http://127.0.0.1:{port}/health/liveliness", child, 180)
        return Running("litellm", f"http://127.0.0.1:{port}", child, child.pid, workers, _litellm_version(litellm))
    raise SystemExit(f"edge bench: unknown system {name!r}; known: {', '.join(SYSTEMS)}")


def _edge_version() -> str:
    from edge import __version__

    return f"llm-edge {__version__}"


def _litellm_version(litellm: str) -> str:
    python = Path(litellm).with_name("python")
    try:
        out = subprocess.run([str(python), "-c", "import importlib.metadata as m; print(m.version('litellm'))"], capture_output=True, text=True, timeout=60)
        return "LiteLLM " + out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "LiteLLM"
