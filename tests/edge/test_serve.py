"""`edge serve`: the embedded default, workers sharing a port, restart, graceful drain."""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
from pathlib import Path

import openai

from tests.support import SERVING, Mock, Proc, Server, gateway_config, request, wait_for, write_config


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_", "GEMINI_", "OLLAMA_", "EDGE_"))}
    env.update(EDGE_HOME=str(home), **extra)
    return env


def test_embedded_default_answers_at_once(tmp_path: Path) -> None:
    # How fast is a bench figure (a loaded CI machine took 3.3-6.6 s): here, that the first
    # request is answered by the embedded default as soon as it serves, with no set-up.
    started = time.monotonic()
    proc = Proc(["serve", "--port", "0"], env=_env(tmp_path), cwd=str(tmp_path))
    try:
        found = proc.wait_for(SERVING, 10)
        with openai.OpenAI(base_url=f"http://127.0.0.1:{found.group(2)}/v1", api_key="unused", max_retries=0) as client:
            completion = client.chat.completions.create(model="mock/echo", messages=[{"role": "user", "content": "ready?"}])
            elapsed = time.monotonic() - started
            assert completion.choices[0].message.content == "ready?"
            assert elapsed < 30.0, f"first answer after {elapsed:.2f} s"
            ids = {m.id for m in client.models.list()}
            assert {"mock/echo", "mock/tool", "mock/json"} <= ids
    finally:
        assert proc.stop() == 0
    assert (tmp_path / "edge.db").exists(), "the embedded default keeps its ledger in $EDGE_HOME/edge.db"


def test_embedded_default_adds_providers_from_environment(tmp_path: Path, mock: Mock) -> None:
    env = _env(tmp_path, OPENAI_API_KEY="sk-env-secret-abcdef", OPENAI_BASE_URL=mock.base_url)
    server = Server(["serve", "--port", "0"], env=env, cwd=str(tmp_path))
    try:
        with openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0) as client:
            completion = client.chat.completions.create(model="openai/echo", messages=[{"role": "user", "content": "via env"}])
            assert completion.model == "openai/echo" and completion.choices[0].message.content == "via env"
            # the upstream's own model list shows through, under the provider's name
            assert {"openai/echo", "openai/tool", "openai/json", "mock/echo"} <= {m.id for m in client.models.list()}
    finally:
        assert server.stop() == 0
    assert "sk-env-secret-abcdef" not in server.output


def test_sigterm_drains_inflight_stream_then_exits_zero(tmp_path: Path, mock: Mock) -> None:
    path = write_config(tmp_path / "edge.yaml", gateway_config(mock.base_url, tmp_path))
    server = Server(["serve", "--config", str(path)], cwd=str(tmp_path))
    with openai.OpenAI(base_url=server.url + "/v1", api_key="k", max_retries=0) as client:
        result: dict[str, object] = {}
        received: list[str] = []

        def consume() -> None:
            stream = client.chat.completions.create(
                model="chat", stream=True, messages=[{"role": "user", "content": "x"}], extra_body={"mock": {"tokens": 20, "chunk_delay_ms": 50}}
            )
            for chunk in stream:
                if chunk.choices:
                    received.append(chunk.choices[0].delta.content or "")
            result["text"] = "".join(received)

        reader = threading.Thread(target=consume)
        reader.start()
        try:
            wait_for(lambda: len(received) >= 2, what="the stream under way")
            server.popen.send_signal(signal.SIGTERM)
            server.wait_for(re.compile(r"draining \(pid"))
            # no longer accepting new connections once draining started
            try:
                status = request("GET", server.url + "/readyz", timeout=1)[0]
            except OSError:
                status = None
            assert status in (None, 503)
            reader.join(30)
            code = server.popen.wait(60)  # generous: a loaded host drains slowly, never forever
        finally:
            server.stop()  # a failed wait above must not leave the gateway running
            reader.join(30)
        assert code == 0
        assert len(str(result.get("text", "")).split()) == 20, result


def test_workers_share_port_and_dead_worker_is_restarted(tmp_path: Path, mock: Mock) -> None:
    path = write_config(tmp_path / "edge.yaml", gateway_config(mock.base_url, tmp_path))
    proc = Proc(["serve", "--config", str(path), "--workers", "2", "--port", "0"], cwd=str(tmp_path))
    try:
        def serving() -> dict[int, int]:  # pid -> port, from the workers' "serving on" lines
            found = (re.search(r"serving on http://[\d.]+:(\d+) \(pid (\d+)", line) for line in proc.lines)
            return {int(m.group(2)): int(m.group(1)) for m in found if m}

        workers = wait_for(lambda: len(serving()) == 2 and serving(), 15, what="two workers serving")
        pids, port = set(workers), next(iter(workers.values()))
        with openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=0) as client:
            for _ in range(4):
                assert client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}]).choices[0].message.content == "hi"
            victim = sorted(pids)[0]
            os.kill(victim, signal.SIGKILL)
            wait_for(lambda: set(serving()) - pids, 10, what="a new worker in place of the killed one")
            for _ in range(4):
                assert client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "again"}]).choices[0].message.content == "again"
            # metrics aggregate over workers: the other worker's numbers arrive within one of
            # its 0.5 s ticks (edge.metrics._shared), whichever worker answers the scrape
            def scraped() -> bytes:
                status, headers, body = request("GET", f"http://127.0.0.1:{port}/metrics")
                assert status == 200 and headers["content-type"].startswith("text/plain")
                return body

            wait_for(lambda: b'edge_requests_total{model="chat",provider="up",status="200"}' in scraped(), 5, what="the requests in /metrics")
    finally:
        assert proc.stop() == 0


def test_health_ready_and_metrics(gateway: Server) -> None:
    assert json.loads(request("GET", gateway.url + "/healthz")[2]) == {"status": "ok"}
    assert request("GET", gateway.url + "/readyz")[0] == 200
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key="k", max_retries=0) as client:
        client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "count me"}])
        status, headers, body = request("GET", gateway.url + "/metrics")
        text = body.decode()
        assert status == 200
        assert re.search(r'edge_requests_total\{model="chat",provider="up",status="200"\} \d', text)
        assert re.search(r'edge_tokens_total\{model="chat",type="completion"\} \d', text)
        assert "edge_inflight_requests" in text
        assert "edge_request_duration_seconds_bucket" in text
        assert "sk-upstream-secret" not in text
