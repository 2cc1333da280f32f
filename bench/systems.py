"""The systems under test, each started fresh in its own process tree in front of one mock.

    direct    the mock upstream itself (no proxy): the latency baseline
    floor     bench/floor_proxy.py, a bare aiohttp+uvloop+orjson proxy: the CPU budget's reference
    floor_lean  bench/floor_lean.py, the same proxy with no web framework: an asyncio protocol,
              httptools parsing, orjson, edge.client upstream (what a lean server path could cost)
    nginx     bench/nginx_floor.py, nginx with one worker per --workers, keep-alive upstream,
              proxy_buffering off: the native limit (no JSON at all); skipped with a note where
              nginx is not installed (``apt-get install -y nginx``)
    edge      ``edge serve`` with auth, routing, accounting (SQLite ledger) and metrics on
    edge_limits  the same config, but the bench key is a non-admin gateway key with limits
              (rpm, tpm, a budget, tags), imported through POST /v1/keys: admission and budget
              checks on every request (issue 6); runs chat and stream20 unless --scenarios
    litellm   LiteLLM proxy, from its own venv (``--litellm`` or EDGE_BENCH_LITELLM); skipped
              with a note when not found
    grpc_floor   bench/grpc_floor.py, an empty grpc.aio servicer of edge.v1.Gateway (gRPC only)
    grpc_relay   bench/grpc_floor.py --relay: the same, plus the upstream call and one message per
              upstream read (the relay floor: gRPC streams cannot cost less than relaying)
    edge_nocooldown  the edge config with a cooldown that never opens (both rules off); runs
              the chaos scenario, so the report can show the breaker's share of its figures
    edge_grpc    ``edge serve --grpc-port 0`` with the edge config, measured on its gRPC port
              (a process of its own, so the gRPC listener stays out of the HTTP figures)
    edge_tracing the edge config with OpenTelemetry tracing on, every request sampled, exporting
              OTLP/HTTP to bench/otlp_sink.py (a process outside the measured tree); runs chat
              and stream20 unless --scenarios, beside edge (tracing off) in the same run
    edge_cache_miss  the edge config with a response cache that keeps nothing (``cache.max_entry_kb``
              below any answer): the cache scenarios there are misses every time (key, lookup,
              the upstream call), where edge answers them from the cache

Every HTTP system serves the public model ``echo`` (and ``embed``) and accepts the same bearer
key, so the load generator sends identical bytes to all of them; the gRPC systems get the same
serialized ChatRequest. The edge systems also serve ``flaky`` and ``fallback429`` (a failing
primary with ``echo`` as fallback) for the resilience scenarios.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from .peers import EMBED_UPSTREAM, find_litellm, find_portkey, litellm_config, litellm_version, portkey_version
from .procs import Child

__all__ = ["FLOORS", "SYSTEMS", "Running", "start_mock", "start_system"]

SYSTEMS = ("direct", "floor", "floor_lean", "nginx", "edge", "edge_aiohttp", "edge_base", "edge_limits", "edge_nocooldown", "edge_tracing", "edge_cache_miss", "litellm", "portkey", "grpc_floor", "grpc_relay", "edge_grpc")
GRPC_SYSTEMS = ("grpc_floor", "grpc_relay", "edge_grpc")
# Peers that get an explicit "not applicable" row for a scenario they cannot serve.
PEERS = ("direct", "floor", "floor_lean", "nginx", "litellm", "portkey")
# The reference floors: each runs what the aiohttp floor runs.
FLOORS = ("floor", "floor_lean", "nginx")
# What a system runs when --scenarios is not given (None: every scenario of its protocol).
DEFAULT_SCENARIOS: dict[str, tuple[str, ...]] = {"edge_limits": ("chat", "stream20"), "edge_nocooldown": ("chaos",), "edge_tracing": ("chat", "stream20"), "edge_cache_miss": ("cache_hit", "cache_hit_stream20")}
# edge_nocooldown: the edge config with a cooldown that never opens, so the chaos scenario
# shows what retries and the fallback alone cost when the failing primary is never skipped.
NO_COOLDOWN = "cooldown: {consecutive_failures: 0, failure_percent: 0}"
# The limits of edge_limits' key: high enough never to refuse, so every request pays for the
# checks (rpm and tpm windows, the token estimate, the budget) and none is refused.
LIMITED_KEY = {"rpm": 10_000_000, "tpm": 10_000_000_000, "budget_usd": 1e9, "tags": {"customer": "bench"}}
HERE = Path(__file__).resolve().parent
# The mock embeds whatever the model is called; LiteLLM accepts `dimensions` only for models it
# knows to support it, so every system names the upstream model like OpenAI's.
_SERVING = re.compile(r"serving on http://([\d.]+):(\d+)")
_GRPC_SERVING = re.compile(r"grpc serving on ([\d.]+):(\d+)")
_SINK_SERVING = re.compile(r"otlp sink serving on http://([\d.]+):(\d+)")
# edge_tracing: every request sampled (the costliest setting), exported over OTLP/HTTP with the
# SDK's default batching (a batch every 5 s or 512 spans).
# edge_cache_miss: entries up to 0.1 kB, smaller than any answer, so nothing is ever kept.
CACHE_KEEPS_NOTHING = """
cache:
  max_entry_kb: 0.1
"""
TRACING = """
tracing:
  enabled: true
  endpoint: {endpoint}
  sampler: always_on
"""


@dataclass
class Running:
    name: str
    url: str  # base URL without /v1
    child: Child | None  # None for "direct": its process is the shared mock
    root_pid: int
    workers: int
    version: str = ""
    protocol: str = "http"
    grpc_target: str | None = None  # host:port of a gRPC system
    ledger: Path | None = None  # the edge systems' SQLite ledger
    sink: Child | None = None  # edge_tracing's OTLP receiver (outside the measured tree)
    sink_url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)  # sent with every request (Portkey's routing)

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()
        if self.sink is not None:
            self.sink.stop()

    def sink_stats(self) -> dict[str, int] | None:
        """What edge_tracing's sink received (exports, spans, bytes); None for other systems."""
        if self.sink_url is None:
            return None
        try:
            with urllib.request.urlopen(self.sink_url + "/stats", timeout=5) as response:
                return json.loads(response.read())
        except OSError:
            return None


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
    """Auth (one key), routing (public -> upstream name), accounting (SQLite ledger, prices), metrics.

    ``flaky`` and ``fallback429`` are the resilience scenarios' models: one route whose upstream
    model the mock fails on request (``mock.by_model``), and ``echo`` as the fallback.
    """
    return f"""
server:
  host: 127.0.0.1
  port: 0
  drain_timeout_s: 5
  # The load test's one key opens up to 1,024 connections (bench.scaling): caps above that.
  max_concurrent: 4096
  max_concurrent_per_key: 2048
state:
  ledger: sqlite:///{home}/edge-bench.db
providers:
  mock:
    kind: openai
    base_url: {mock_url}/v1
    api_key: sk-bench-upstream-0123456789
    timeout_s: 30
  # The same mock, declared to speak the Responses API (the responses scenarios' native model).
  mock_responses:
    kind: openai
    base_url: {mock_url}/v1
    api_key: sk-bench-upstream-0123456789
    timeout_s: 30
    responses: native
  mock_anthropic:
    kind: anthropic
    base_url: {mock_url}
    api_key: sk-bench-upstream-0123456789
    timeout_s: 30
models:
  echo:
    route:
      - {{provider: mock, model: echo}}
  echo_native:
    route:
      - {{provider: mock_responses, model: echo}}
  claude-echo:
    route:
      - {{provider: mock_anthropic, model: echo}}
  embed:
    route:
      - {{provider: mock, model: {EMBED_UPSTREAM}}}
  flaky:
    route:
      - {{provider: mock, model: flaky-primary}}
    fallbacks: [echo]
  fallback429:
    route:
      - {{provider: mock, model: primary429}}
    fallbacks: [echo]
  cached:
    route:
      - {{provider: mock, model: echo}}
    cache: {{response: {{ttl_s: 3600, temperature: true}}}}
routing:
  retries: 2
  cooldown: {{consecutive_failures: 3, base_ejection_s: 5}}
prices:
  echo: {{input: 1.0, output: 2.0}}
  flaky-primary: {{input: 1.0, output: 2.0}}
  primary429: {{input: 1.0, output: 2.0}}
  {EMBED_UPSTREAM}: {{input: 0.02, output: 0.0}}
keys:
  admin: {key}
"""


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


def _wait_workers(child: Child, workers: int, timeout: float = 30.0, pattern: re.Pattern[str] = _SERVING) -> None:
    # With a supervisor the first "serving" line comes from one worker; wait until all are up so
    # the load is shared from the first request.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(1 for line in child.lines if pattern.search(line)) >= workers:
            return
        time.sleep(0.1)


def _import_key(url: str, admin: str, key: str) -> None:
    """POST /v1/keys: make the bench key a limited, non-admin gateway key (an imported secret)."""
    body = json.dumps({"name": "bench", "key": key, **LIMITED_KEY}).encode()
    request = urllib.request.Request(url + "/v1/keys", data=body, method="POST", headers={"authorization": "Bearer " + admin, "content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        if response.status != 201:
            raise RuntimeError(f"POST /v1/keys answered {response.status}: {response.read()[:300]!r}")
    time.sleep(0.7)  # every worker re-reads the keys every 0.5 s


def start_system(name: str, mock: Running, workers: int, key: str, home: Path, litellm: str | None) -> Running:
    if name == "direct":
        # Always the one mock process; labelled with the suite's worker count so its rows sit
        # beside the systems they are the baseline for.
        return Running("direct", mock.url, None, mock.root_pid, workers, "mock")
    if name in FLOORS:
        script, label = {"floor": ("floor_proxy.py", "aiohttp+uvloop+orjson"), "floor_lean": ("floor_lean.py", "asyncio protocol+httptools+orjson+edge.client"), "nginx": ("nginx_floor.py", "nginx")}[name]
        if name == "nginx" and not (shutil.which("nginx") or os.path.exists("/usr/sbin/nginx")):
            raise LookupError("nginx not found: apt-get install -y nginx (bench/README.md)")
        argv = _python_argv(str(HERE / script), "--upstream", mock.url + "/v1", "--workers", str(workers))
        child = Child(name, argv, env=_env())
        found = child.wait_for(_SERVING, 20)
        if name != "nginx":  # nginx's workers log nothing; its wrapper answers once the port does
            _wait_workers(child, workers)
        return Running(name, f"http://127.0.0.1:{found.group(2)}", child, child.pid, workers, label)
    if name in ("edge", "edge_aiohttp", "edge_base", "edge_limits", "edge_nocooldown", "edge_grpc", "edge_tracing", "edge_cache_miss"):
        # edge_limits: a different (random) admin key, and the bench key imported with limits.
        admin = "sk-bench-admin-" + secrets.token_urlsafe(32) if name == "edge_limits" else key
        config = home / "edge-bench.yaml"
        text = edge_config(mock.url, home, admin)
        if name == "edge_nocooldown":
            text = re.sub(r"cooldown: \{[^}]*\}", NO_COOLDOWN, text)
        if name == "edge_cache_miss":
            text += CACHE_KEEPS_NOTHING
        if name == "edge_aiohttp":  # every endpoint on aiohttp's server: edge.server's A/B
            text = text.replace("  drain_timeout_s: 5\n", "  drain_timeout_s: 5\n  lean_path: false\n", 1)
        if name == "edge_base" and os.environ.get("EDGE_BENCH_BASE_CONFIG") != "same":
            # EDGE_BENCH_BASE_CONFIG=same: a checkout that reads today's config as it is.
            text = text.replace("    responses: native\n", "")  # an option older checkouts lack
            text = re.sub(r"\n  cached:\n(?:    .*\n)+", "\n", text)  # the response cache's model (issue 17)
            # The checkout before issue 16 names its cooldown settings the old way.
            text = re.sub(r"cooldown: \{[^}]*\}", os.environ.get("EDGE_BENCH_BASE_COOLDOWN", "cooldown: {failures: 3, window_s: 30, for_s: 5}"), text)
        sink = None
        if name == "edge_tracing":
            sink = Child("otlp_sink", _python_argv(str(HERE / "otlp_sink.py"), "--port", "0"), env=_env())
            sink_url = "http://127.0.0.1:" + sink.wait_for(_SINK_SERVING, 20).group(2)
            text += TRACING.format(endpoint=sink_url + "/v1/traces")
        config.write_text(text)
        argv = _python_argv("-m", "edge.cli", "serve", "--config", str(config), "--workers", str(workers))
        if name == "edge_base":
            # The same gateway at another checkout, for an A/B in one run: a Python whose
            # environment has that checkout installed (bench/README.md, "A/B").
            base = os.environ.get("EDGE_BENCH_BASE_PYTHON")
            if not base:
                raise RuntimeError("edge_base needs EDGE_BENCH_BASE_PYTHON: the python of a venv with the baseline checkout installed")
            argv[0] = base
        if name == "edge_grpc":
            argv += ["--grpc-port", "0"]
        try:
            child = Child(name, argv, env=_env(), cwd=str(home))
            found = child.wait_for(_SERVING, 30)
        except Exception:
            if sink is not None:
                sink.stop()
            raise
        _wait_workers(child, workers)
        url = f"http://127.0.0.1:{found.group(2)}"
        version = f"llm-edge at {os.environ.get('EDGE_BENCH_BASE_PYTHON')}" if name == "edge_base" else _edge_version()
        running = Running(name, url, child, child.pid, workers, version, ledger=home / "edge-bench.db")
        if sink is not None:
            running.sink, running.sink_url = sink, sink_url
        if name == "edge_limits":
            try:
                _import_key(url, admin, key)
            except Exception:
                child.stop()
                raise
        if name == "edge_grpc":
            grpc = child.wait_for(_GRPC_SERVING, 30)
            _wait_workers(child, workers, pattern=_GRPC_SERVING)
            running.protocol, running.grpc_target = "grpc", f"127.0.0.1:{grpc.group(2)}"
        return running
    if name in ("grpc_floor", "grpc_relay"):
        relay = ["--relay", mock.url + "/v1/chat/completions"] if name == "grpc_relay" else []
        child = Child(name, _python_argv(str(HERE / "grpc_floor.py"), "--workers", str(workers), *relay), env=_env())
        found = child.wait_for(_GRPC_SERVING, 20)
        _wait_workers(child, workers, pattern=_GRPC_SERVING)
        label = "grpc.aio+uvloop+edge.client" if relay else "grpc.aio+uvloop"
        return Running(name, "", child, child.pid, workers, label, protocol="grpc", grpc_target=f"127.0.0.1:{found.group(2)}")
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
        return Running("litellm", f"http://127.0.0.1:{port}", child, child.pid, workers, litellm_version(litellm))
    if name == "portkey":
        script = find_portkey()
        if script is None:
            raise LookupError("Portkey not found: npm install @portkey-ai/gateway under ../cache/portkey, or set EDGE_BENCH_PORTKEY (bench/README.md)")
        port = _free_port()
        # One Node process (it has no workers option); routed to the mock by headers, as its
        # docs show for an OpenAI-compatible host.
        child = Child("portkey", ["node", script, f"--port={port}", "--headless"], env=_env(), cwd=str(home))
        _wait_http(f"http://127.0.0.1:{port}/", child, 60)
        headers = {"x-portkey-provider": "openai", "x-portkey-custom-host": mock.url + "/v1"}
        return Running("portkey", f"http://127.0.0.1:{port}", child, child.pid, 1, portkey_version(script), headers=headers)
    raise SystemExit(f"edge bench: unknown system {name!r}; known: {', '.join(SYSTEMS)}")


def _edge_version() -> str:
    from edge import __version__

    return f"llm-edge {__version__}"
