"""OpenTelemetry traces from a real gateway, received by a real OTLP collector on loopback.

The gateway process exports over OTLP/HTTP (and, in one test, OTLP/gRPC) to the in-process
collector (tests/edge/tracing/collector.py), which decodes the protobuf export requests. Driven
by the openai SDK and grpcio: the server span continues the caller's W3C traceparent, each
upstream attempt is a client span under it whose context the upstream received as its
traceparent, the attributes follow the GenAI conventions with the numbers the upstream
reported, and neither the prompt nor the answer leaves the gateway unless content capture is on.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from openai import OpenAI

from edge.v1 import chat_pb2, gateway_pb2_grpc
from tests.edge.grpc.grpc_helpers import GRPC_SERVING
from tests.edge.tracing.collector import Collector, Span
from tests.edge.tracing.upstream import ANSWER, USAGE, RawUpstream
from tests.support import Mock, Server, write_config

SECRET = "sk-upstream-secret-0123456789"


def config(home: Path, raw: RawUpstream, mock: Mock, tracing: str) -> str:
    return f"""
server: {{host: 127.0.0.1, port: 0, drain_timeout_s: 10}}
state: {{ledger: "sqlite:///{home}/edge.db"}}
providers:
  raw: {{kind: openai, base_url: "{raw.base_url}", api_key: {SECRET}, timeout_s: 5}}
  up: {{kind: openai, base_url: "{mock.base_url}", timeout_s: 5}}
  down: {{kind: openai, base_url: "http://127.0.0.1:9/v1", timeout_s: 2}}
models:
  smart: {{route: [{{provider: raw, model: gpt-raw}}]}}
  rescue: {{route: [{{provider: down, model: gone}}], fallbacks: [smart]}}
prices:
  gpt-raw: {{input: 1.0, output: 2.0, cached_input: 0.5, reasoning: 3.0}}
routing:
  retries: 0
  cooldown: {{consecutive_failures: 0, failure_percent: 0}}
tracing:
{tracing}
"""


class Traced:
    def __init__(self, server: Server, collector: Collector, raw: RawUpstream) -> None:
        self.server, self.collector, self.raw = server, collector, raw
        self.url = server.url
        self.client = OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)
        found = server.wait_for(GRPC_SERVING)
        self.channel = grpc.insecure_channel(f"127.0.0.1:{found.group(2)}")
        self.stub = gateway_pb2_grpc.GatewayStub(self.channel)


def _start(tmp: Path, raw: RawUpstream, mock: Mock, collector: Collector, tracing: str, env: dict[str, str]) -> Server:
    path = write_config(tmp / "edge.yaml", config(tmp, raw, mock, tracing))
    # Export every 50 ms (the SDK's own variable), so the tests wait little.
    full_env = {**os.environ, "OTEL_BSP_SCHEDULE_DELAY": "50", **env}
    return Server(["serve", "--config", str(path), "--grpc-port", "0"], env=full_env, cwd=str(tmp))


@pytest.fixture(scope="module")
def raw() -> Iterator[RawUpstream]:
    upstream = RawUpstream()
    yield upstream
    upstream.close()


@pytest.fixture(scope="module")
def traced(raw: RawUpstream, mock: Mock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Traced]:
    collector = Collector("http")
    tmp = tmp_path_factory.mktemp("traced")
    # endpoint from the file, the service name from the standard variable
    server = _start(tmp, raw, mock, collector, f"  enabled: true\n  endpoint: {collector.endpoint}\n", {"OTEL_SERVICE_NAME": "edge-under-test"})
    gateway = Traced(server, collector, raw)
    yield gateway
    gateway.client.close()
    gateway.channel.close()
    assert server.stop() == 0
    collector.close()
    assert SECRET not in server.output
    assert "Traceback" not in server.output, server.output


def _ids() -> tuple[str, str]:
    return secrets.token_hex(16), secrets.token_hex(8)


def _spans(collector: Collector, trace_id: str, clients: int) -> tuple[Span, list[Span]]:
    """The trace's server span and its client spans (in attempt order), once all arrived."""

    def complete(spans: list[Span]) -> Any:
        mine = [s for s in spans if s.trace_id == trace_id]
        servers = [s for s in mine if s.kind == "server"]
        attempts = [s for s in mine if s.kind == "client"]
        return (servers[0], sorted(attempts, key=lambda s: s.attributes["edge.attempt"])) if servers and len(attempts) >= clients else None

    return collector.wait(complete)


def _no_content(collector: Collector, *texts: str) -> None:
    for body in collector.bodies:
        for text in texts:
            assert text.encode() not in body, f"{text!r} left the gateway in a trace export"


def test_plain_chat_continues_the_callers_trace_with_genai_attributes(traced: Traced) -> None:
    trace_id, parent = _ids()
    marker = "zebra-" + secrets.token_hex(6)
    raw = traced.client.chat.completions.with_raw_response.create(
        model="smart",
        messages=[{"role": "user", "content": f"say {marker}"}],
        extra_headers={"traceparent": f"00-{trace_id}-{parent}-01", "x-edge-tags": "customer=acme,feature=search"},
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == ANSWER
    cost = float(raw.headers["x-edge-cost-usd"])
    server, (attempt,) = _spans(traced.collector, trace_id, 1)

    # The server span continues the caller's span; the attempt is its child.
    assert (server.name, server.kind, server.parent_span_id) == ("POST /v1/chat/completions", "server", parent)
    assert (attempt.name, attempt.kind, attempt.parent_span_id) == ("chat gpt-raw", "client", server.span_id)
    assert attempt.start_ns >= server.start_ns and attempt.end_ns <= server.end_ns
    # ... and the upstream received the attempt's context as its traceparent.
    assert traced.raw.last_headers()["traceparent"] == f"00-{trace_id}-{attempt.span_id}-01"

    a = server.attributes
    assert a["http.request.method"] == "POST" and a["http.route"] == "/v1/chat/completions" and a["http.response.status_code"] == 200
    assert a["gen_ai.operation.name"] == "chat"
    assert (a["gen_ai.request.model"], a["gen_ai.response.model"], a["gen_ai.provider.name"]) == ("smart", "gpt-raw", "openai")
    assert a["gen_ai.usage.input_tokens"] == completion.usage.prompt_tokens == USAGE["prompt_tokens"]
    assert a["gen_ai.usage.output_tokens"] == USAGE["completion_tokens"]
    assert a["gen_ai.usage.cache_read.input_tokens"] == USAGE["prompt_tokens_details"]["cached_tokens"]
    assert a["gen_ai.usage.reasoning.output_tokens"] == USAGE["completion_tokens_details"]["reasoning_tokens"]
    assert a["gen_ai.response.finish_reasons"] == ["length"]
    assert (a["edge.route"], a["edge.attempts"], a["edge.request_id"]) == ("raw/gpt-raw", 1, raw.headers["x-request-id"])
    assert a["edge.cost_usd"] == pytest.approx(cost, abs=1e-8)
    # 20 uncached + 11 cached input, 12 output + 5 reasoning, at the config's prices
    assert cost == pytest.approx((20 * 1.0 + 11 * 0.5 + 12 * 2.0 + 5 * 3.0) / 1e6, abs=1e-8)
    assert a["edge.tags"] == ["customer=acme", "feature=search"]
    assert "error.type" not in a and server.status == "unset"
    assert server.resource["service.name"] == "edge-under-test"

    c = attempt.attributes
    assert (c["gen_ai.operation.name"], c["gen_ai.provider.name"], c["gen_ai.request.model"], c["gen_ai.response.model"]) == ("chat", "openai", "gpt-raw", "gpt-raw")
    assert (c["server.address"], c["server.port"]) == ("127.0.0.1", traced.raw.port)
    assert (c["edge.route"], c["edge.attempt"]) == ("raw/gpt-raw", 1)
    assert (c["gen_ai.usage.input_tokens"], c["gen_ai.usage.output_tokens"]) == (31, 17)
    assert c["gen_ai.response.finish_reasons"] == ["length"]
    # No prompt and no answer anywhere in what was exported, by default.
    assert not any(k.startswith(("gen_ai.input", "gen_ai.output")) for k in {**a, **c})
    _no_content(traced.collector, marker, ANSWER)


def test_stream_attempt_span_lasts_the_whole_stream(traced: Traced) -> None:
    trace_id, parent = _ids()
    stream = traced.client.chat.completions.create(
        model="smart", stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "stream please"}],
        extra_headers={"traceparent": f"00-{trace_id}-{parent}-01"},
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ANSWER
    server, (attempt,) = _spans(traced.collector, trace_id, 1)
    assert attempt.parent_span_id == server.span_id and server.parent_span_id == parent
    # The stream's usage reached the attempt span when the request settled, after the stream.
    for span in (server, attempt):
        assert span.attributes["gen_ai.usage.input_tokens"] == USAGE["prompt_tokens"]
        assert span.attributes["gen_ai.usage.output_tokens"] == USAGE["completion_tokens"]
        assert span.attributes["gen_ai.usage.cache_read.input_tokens"] == 11
    assert server.attributes["edge.stream"] is True
    assert server.attributes["gen_ai.response.finish_reasons"] == attempt.attributes["gen_ai.response.finish_reasons"] == ["stop"]
    assert traced.raw.last_headers()["traceparent"] == f"00-{trace_id}-{attempt.span_id}-01"


def test_each_attempt_is_a_span_and_the_fallback_says_why(traced: Traced) -> None:
    trace_id, parent = _ids()
    raw = traced.client.chat.completions.with_raw_response.create(
        model="rescue", messages=[{"role": "user", "content": "hi"}], extra_headers={"traceparent": f"00-{trace_id}-{parent}-01"},
    )
    assert raw.headers["x-edge-attempts"] == "2"
    server, (failed, answered) = _spans(traced.collector, trace_id, 2)
    assert failed.parent_span_id == answered.parent_span_id == server.span_id
    f = failed.attributes
    assert (f["edge.route"], f["edge.attempt"], f["error.type"], failed.status) == ("down/gone", 1, "connection", "error")
    assert (f["server.address"], f["server.port"]) == ("127.0.0.1", 9)
    w = answered.attributes
    assert (w["edge.route"], w["edge.attempt"], w["edge.fallback_reason"], answered.status) == ("raw/gpt-raw", 2, "connection on down/gone", "unset")
    assert "error.type" not in w
    assert server.attributes["edge.fallback_reason"] == "connection on down/gone"
    assert (server.attributes["edge.attempts"], server.attributes["gen_ai.request.model"]) == (2, "rescue")
    # Only the attempt that reached an upstream could tell it; it carried its own span id.
    assert traced.raw.last_headers()["traceparent"] == f"00-{trace_id}-{answered.span_id}-01"


def test_a_caller_that_does_not_sample_gets_no_spans_but_its_trace_still_travels(traced: Traced) -> None:
    quiet, parent = _ids()
    traced.client.chat.completions.create(model="smart", messages=[{"role": "user", "content": "hi"}], extra_headers={"traceparent": f"00-{quiet}-{parent}-00"})
    header = traced.raw.last_headers()["traceparent"]
    assert header.startswith(f"00-{quiet}-") and header.endswith("-00") and parent not in header
    # A sampled request after it: once its spans are in, the unsampled one would have been too.
    loud, parent2 = _ids()
    traced.client.chat.completions.create(model="smart", messages=[{"role": "user", "content": "hi"}], extra_headers={"traceparent": f"00-{loud}-{parent2}-01"})
    _spans(traced.collector, loud, 1)
    assert traced.collector.trace(quiet) == []


def test_without_a_traceparent_the_gateway_starts_the_trace(traced: Traced) -> None:
    rid = "trace-root-" + secrets.token_hex(4)
    traced.client.chat.completions.create(model="smart", messages=[{"role": "user", "content": "hi"}], extra_headers={"x-request-id": rid})
    server = traced.collector.wait(lambda spans: next((s for s in spans if s.kind == "server" and s.attributes.get("edge.request_id") == rid), None))
    assert server.parent_span_id == ""
    attempt = traced.collector.wait(lambda spans: next((s for s in spans if s.kind == "client" and s.parent_span_id == server.span_id), None))
    header = traced.raw.last_headers()["traceparent"]
    # Sampled (bit 0), and the SDK marks the trace id it made as random (bit 1, W3C level 2).
    assert header.startswith(f"00-{server.trace_id}-{attempt.span_id}-") and int(header[-2:], 16) & 1


def test_grpc_calls_get_rpc_server_spans(traced: Traced) -> None:
    trace_id, parent = _ids()
    metadata = (("traceparent", f"00-{trace_id}-{parent}-01"),)
    request = chat_pb2.ChatRequest(model="smart", messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content="over grpc")])
    reply = traced.stub.ChatComplete(request, metadata=metadata, timeout=10)
    assert reply.usage.prompt_tokens == USAGE["prompt_tokens"]
    server, (attempt,) = _spans(traced.collector, trace_id, 1)
    assert (server.name, server.kind, server.parent_span_id) == ("edge.v1.Gateway/ChatComplete", "server", parent)
    a = server.attributes
    assert (a["rpc.system.name"], a["rpc.method"], a["rpc.response.status_code"]) == ("grpc", "edge.v1.Gateway/ChatComplete", "OK")
    assert (a["gen_ai.request.model"], a["gen_ai.usage.output_tokens"]) == ("smart", USAGE["completion_tokens"])
    assert attempt.parent_span_id == server.span_id
    assert traced.raw.last_headers()["traceparent"] == f"00-{trace_id}-{attempt.span_id}-01"

    # A caller's mistake is not the server's error: NOT_FOUND, span status unset, no attempt.
    bad_trace, bad_parent = _ids()
    with pytest.raises(grpc.RpcError) as caught:
        traced.stub.ChatComplete(chat_pb2.ChatRequest(model="no-such-model", messages=request.messages), metadata=(("traceparent", f"00-{bad_trace}-{bad_parent}-01"),), timeout=10)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    span = traced.collector.wait(lambda spans: next((s for s in spans if s.trace_id == bad_trace), None))
    assert (span.attributes["rpc.response.status_code"], span.status) == ("NOT_FOUND", "unset")
    assert [s for s in traced.collector.trace(bad_trace) if s.kind == "client"] == []


def test_health_probes_are_not_traced(traced: Traced) -> None:
    import urllib.request

    rid = "probe-" + secrets.token_hex(4)
    for path in ("/healthz", "/readyz", "/metrics"):
        with urllib.request.urlopen(urllib.request.Request(traced.url + path, headers={"x-request-id": rid}), timeout=5) as response:
            assert response.status == 200
    # A traced request after them is the sync point: by then theirs would have been exported.
    marker = "after-" + secrets.token_hex(4)
    traced.client.models.list(extra_headers={"x-request-id": marker})
    traced.collector.wait(lambda spans: any(s.attributes.get("edge.request_id") == marker for s in spans))
    assert not [s for s in traced.collector.spans if s.attributes.get("edge.request_id") == rid]
    listed = next(s for s in traced.collector.spans if s.attributes.get("edge.request_id") == marker)
    assert (listed.name, listed.attributes["http.response.status_code"]) == ("GET /v1/models", 200)


def test_content_capture_is_opt_in_and_otlp_grpc_works(raw: RawUpstream, mock: Mock, tmp_path: Path) -> None:
    collector = Collector("grpc")
    tracing = f"  enabled: true\n  protocol: grpc\n  endpoint: {collector.endpoint}\n  capture_content: true\n  headers: {{x-tenant: team-a}}\n"
    server = _start(tmp_path, raw, mock, collector, tracing, {})
    try:
        trace_id, parent = _ids()
        marker = "zebra-" + secrets.token_hex(6)
        with OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0) as client:
            client.chat.completions.create(
                model="smart",
                messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": f"say {marker}"}],
                extra_headers={"traceparent": f"00-{trace_id}-{parent}-01"},
            )
        server_span, (attempt,) = _spans(collector, trace_id, 1)
    finally:
        assert server.stop() == 0
        collector.close()
    assert json.loads(server_span.attributes["gen_ai.input.messages"]) == [
        {"role": "system", "parts": [{"type": "text", "content": "be brief"}]},
        {"role": "user", "parts": [{"type": "text", "content": f"say {marker}"}]},
    ]
    output = [{"role": "assistant", "parts": [{"type": "text", "content": ANSWER}], "finish_reason": "length"}]
    assert json.loads(server_span.attributes["gen_ai.output.messages"]) == output
    assert json.loads(attempt.attributes["gen_ai.output.messages"]) == output
    assert collector.headers and all(h.get("x-tenant") == "team-a" for h in collector.headers)


def test_the_gateway_runs_without_opentelemetry_while_tracing_is_off(raw: RawUpstream, mock: Mock, tmp_path: Path) -> None:
    # A finder that makes every opentelemetry module missing, as in an install without the extra.
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(
        "import sys\n"
        "class _NoOtel:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'opentelemetry' or name.startswith('opentelemetry.'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, _NoOtel())\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path / "site"), os.environ.get("PYTHONPATH")]))}
    env = {k: v for k, v in env.items() if not k.startswith("OTEL_")}
    path = write_config(tmp_path / "edge.yaml", config(tmp_path, raw, mock, "  enabled: false\n"))
    server = Server(["serve", "--config", str(path)], env=env, cwd=str(tmp_path))
    try:
        with OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0) as client:
            assert client.chat.completions.create(model="smart", messages=[{"role": "user", "content": "hi"}]).choices[0].message.content == ANSWER
        assert "traceparent" not in raw.last_headers()  # tracing off: nothing added upstream
    finally:
        assert server.stop() == 0
    # Turned on without the SDK: a config error naming the fix, not a crash of every worker.
    on = write_config(tmp_path / "on.yaml", config(tmp_path, raw, mock, "  enabled: true\n"))
    done = subprocess.run([sys.executable, "-m", "edge.cli", "config", "--config", str(on)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "llm-edge[otel]" in done.stderr and "Traceback" not in done.stderr
