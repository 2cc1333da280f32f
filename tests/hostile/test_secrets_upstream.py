"""Upstreams that echo secrets back (issue 16, item 3): nothing configured as secret reaches a
client, the ledger or the log, whatever an upstream puts where.

The upstream is a raw loopback socket (tests/hostile/echo_upstream.py) that repeats the
Authorization header, a custom auth header and its own host:port in every field of an error, in
a plain-text body cut by the gateway at 200 bytes mid-key, in an answer, and inside streams. The
gateway runs at DEBUG with access logging on, serving HTTP and gRPC.

Streams are scrubbed where the relay's transcoders produce output (edge/transcode.py,
edge/egress.py, edge/grpc/stream.py): ``Scrubber.sse`` on whole SSE events, ``Scrubber.text``
on the strings of a gRPC message; a failure's fields through ``Scrubber.error``.
"""

from __future__ import annotations

import json
import re
import socket
import sqlite3
from collections.abc import Iterator

import grpc
import pytest

from tests.edge.grpc.grpc_helpers import GrpcGateway, chat, details, struct
from tests.hostile.echo_upstream import EchoUpstream
from tests.support import Server, request, wait_for, write_config

PROVIDER_KEY = "sk-echo-provider-5f3a9c1e7b2d4a68"
CUSTOM = "custom-auth-9d8c7b6a5f4e3d2c"
ADMIN_KEY = "sk-admin-echo-0a1b2c3d4e5f6a7b"


class Run:
    def __init__(self, gateway: GrpcGateway, upstream: EchoUpstream) -> None:
        self.grpc = gateway
        self.server: Server = gateway.server
        self.upstream = upstream
        self.secrets = (PROVIDER_KEY, CUSTOM, ADMIN_KEY)

    def post(self, body: dict[str, object], path: str = "/v1/chat/completions") -> tuple[int, dict[str, str], bytes]:
        headers = {"content-type": "application/json", "authorization": f"Bearer {ADMIN_KEY}"}
        return request("POST", self.server.url + path, json.dumps(body).encode(), headers)

    def assert_clean(self, data: bytes | str, where: bool = True) -> None:
        text = data.decode() if isinstance(data, bytes) else data
        for secret in self.secrets:
            assert secret not in text, (secret, text)
            assert secret[:10] not in text, (secret[:10], text)  # nor its first part
        if where:
            assert self.upstream.where not in text, text


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    home = tmp_path_factory.mktemp("echo-secrets")
    upstream = EchoUpstream()
    config = f"""
server: {{host: 127.0.0.1, port: 0, drain_timeout_s: 5, access_log: true}}
state: {{ledger: "sqlite:///{home}/edge.db"}}
keys: {{admin: {ADMIN_KEY}}}
routing: {{retries: 1, cooldown: {{consecutive_failures: 0, failure_percent: 0}}}}
providers:
  echo: {{kind: openai, base_url: "{upstream.url}/v1", api_key: {PROVIDER_KEY}, headers: {{x-custom-auth: {CUSTOM}}}, timeout_s: 5}}
  anth: {{kind: anthropic, base_url: "{upstream.url}", api_key: {PROVIDER_KEY}, timeout_s: 5}}
  native: {{kind: openai, base_url: "{upstream.url}/v1", api_key: {PROVIDER_KEY}, headers: {{x-custom-auth: {CUSTOM}}}, responses: native, timeout_s: 5}}
models:
  echoed: {{route: [{{provider: echo, model: m}}]}}
  anth-echo: {{route: [{{provider: anth, model: m}}]}}
  native-echo: {{route: [{{provider: native, model: m}}]}}
"""
    server = Server(["--log-level", "debug", "serve", "--config", str(write_config(home / "edge.yaml", config)), "--grpc-port", "0"], cwd=str(home))
    gateway = GrpcGateway(server, home)
    yield Run(gateway, upstream)
    gateway.close()
    assert server.stop() == 0
    upstream.close()
    for secret in (PROVIDER_KEY, CUSTOM, ADMIN_KEY):
        assert secret not in server.output, secret  # the whole log, DEBUG lines included


def test_every_field_of_an_upstream_error_is_scrubbed(run: Run) -> None:
    status, _, data = run.post({"model": "echoed", "messages": [{"role": "user", "content": "hi"}], "script": "error_fields"})
    assert status == 400
    error = json.loads(data)["error"]
    run.assert_clean(data)
    assert all("[redacted]" in error[name] for name in ("message", "type", "param", "code")), error
    assert error["message"].startswith("bad request (auth Bearer [redacted], custom [redacted], at http://[redacted]/v1")


def test_every_field_of_an_upstream_error_is_scrubbed_over_grpc(run: Run) -> None:
    call = chat(model="echoed")
    call.extra_body.CopyFrom(struct({"script": "error_fields"}))
    with pytest.raises(grpc.RpcError) as caught:
        run.grpc.stub.ChatComplete(call, timeout=10, metadata=(("authorization", f"Bearer {ADMIN_KEY}"),))
    err = caught.value
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    info, _ = details(err)
    assert info is not None
    run.assert_clean(err.details() + json.dumps(dict(info.metadata)) + info.reason)
    assert "[redacted]" in info.metadata["param"] and "[redacted]" in info.metadata["code"]


def test_a_translated_error_is_scrubbed_after_it_is_parsed(run: Run) -> None:
    # The key spelled with JSON escapes is in no byte of the body, so only the scrub of the
    # parsed error (Scrubber.error, where the error becomes the client's) can find it: the
    # adapters have no scrubbing of their own.
    status, _, data = run.post({"model": "anth-echo", "messages": [{"role": "user", "content": "hi"}], "mock": {"script": "anthropic_error"}})
    assert status == 400
    message = json.loads(data)["error"]["message"]
    run.assert_clean(data)
    assert message == "bad request (auth [redacted], custom , at http://[redacted]/v1; escaped [redacted])", message


def test_an_error_from_responses_input_tokens_is_scrubbed(run: Run) -> None:
    # POST /v1/responses/input_tokens calls a native route outside call_upstream: its error
    # body is scrubbed where it arrives and its fields as any error's.
    status, _, data = run.post({"model": "native-echo", "input": "hi", "script": "error_fields"}, "/v1/responses/input_tokens")
    assert status == 400, data
    error = json.loads(data)["error"]
    run.assert_clean(data)
    assert all("[redacted]" in error[name] for name in ("message", "param", "code")), error


def test_a_plain_error_body_cut_mid_key_keeps_no_part_of_it(run: Run) -> None:
    # The key starts 10 bytes before the 200-byte cut of a non-JSON body.
    status, _, data = run.post({"model": "echoed", "messages": [{"role": "user", "content": "hi"}], "script": "plain_cut"})
    assert status == 502
    message = json.loads(data)["error"]["message"]
    run.assert_clean(data)
    assert re.fullmatch(r"upstream returned HTTP 502: x+Bearer \[redacted\]", message), message


def test_a_plain_answer_that_echoes_the_key_is_scrubbed(run: Run) -> None:
    status, _, data = run.post({"model": "echoed", "messages": [{"role": "user", "content": "hi"}], "script": "answer"})
    assert status == 200
    content = json.loads(data)["choices"][0]["message"]["content"]
    assert content.startswith("you sent auth Bearer [redacted], custom [redacted]")
    run.assert_clean(data, where=False)  # locations are scrubbed from error text only


def test_a_plain_answer_that_echoes_the_key_is_scrubbed_over_grpc(run: Run) -> None:
    # The servicer builds its message from the parsed answer: the body is scrubbed before the
    # parse (edge/proxy.py), so every surface gets it clean.
    call = chat(model="echoed")
    call.extra_body.CopyFrom(struct({"script": "answer"}))
    response = run.grpc.stub.ChatComplete(call, timeout=10, metadata=(("authorization", f"Bearer {ADMIN_KEY}"),))
    content = response.choices[0].message.content
    assert content.startswith("you sent auth Bearer [redacted], custom [redacted]"), content
    run.assert_clean(str(response), where=False)


def test_the_ledger_keeps_no_echoed_secret(run: Run) -> None:
    # 503 is retried once (routing.retries 1), so the row lists both attempts and their errors.
    status, headers, _ = run.post({"model": "echoed", "messages": [{"role": "user", "content": "hi"}], "script": "error_fields", "status": 503})
    assert status == 503
    request_id = headers["x-request-id"]

    def row() -> tuple[str, str] | None:
        try:
            with sqlite3.connect(run.grpc.home / "edge.db") as db:
                return db.execute("SELECT error_type, attempt_log FROM requests WHERE request_id = ?", (request_id,)).fetchone()
        except sqlite3.OperationalError:
            return None

    found = wait_for(row, 10)
    assert found is not None, "no ledger row"
    error_type, attempts = found
    assert "[redacted]" in error_type and attempts and attempts.count("[redacted]") == 2, found
    run.assert_clean(f"{error_type} {attempts}")


def test_malformed_request_heads_leave_no_credential_in_the_debug_log(run: Run) -> None:
    start = len(run.server.lines)
    client_secrets = ("sk-client-bearer-1f2e3d4c5b6a", "client-x-api-key-9a8b7c6d", "session=cookie-7e6d5c4b3a29")
    heads = (
        f"Authorization: Bearer {client_secrets[0]}\x01",
        f"X-Api-Key: {client_secrets[1]}\x01",
        f"Cookie: {client_secrets[2]}\x01",
    )
    for line in heads:
        with socket.create_connection((run.server.host, run.server.port), timeout=5) as sock:
            sock.sendall(f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n{line}\r\ncontent-length: 0\r\n\r\n".encode("latin-1"))
            assert sock.recv(4096).startswith(b"HTTP/1.")
    refused = re.compile("refused a malformed request")
    wait_for(lambda: sum(bool(refused.search(l)) for l in run.server.lines[start:]) >= len(heads), 10)
    logged = [l for l in run.server.lines[start:] if refused.search(l)]
    assert len(logged) == len(heads), logged
    for line, secret in zip(logged, client_secrets):
        # aiohttp quotes the head with the credential redacted; edge.server (these are hot
        # endpoints) names llhttp's reason and quotes nothing.
        assert secret not in line and ("[redacted]" in line or "Invalid header value char (the head is not quoted)" in line), line


def test_any_log_line_loses_configured_secrets(run: Run) -> None:
    # The access log prints the request line: a client that puts the provider key in a path
    # (it should not know it, but say an error once showed it) does not get it into the log.
    start = len(run.server.lines)
    status, _, _ = request("GET", f"{run.server.url}/v1/models/echo-{PROVIDER_KEY}", headers={"authorization": f"Bearer {ADMIN_KEY}"})
    assert status in (200, 400, 404)
    access = wait_for(lambda: [l for l in run.server.lines[start:] if "GET /v1/models/echo-" in l], 10)
    assert access and "[redacted]" in access[0] and PROVIDER_KEY not in access[0], access


def test_an_in_stream_error_event_is_scrubbed(run: Run) -> None:
    status, _, data = run.post({"model": "echoed", "stream": True, "messages": [{"role": "user", "content": "hi"}], "script": "stream_error"})
    assert status == 200 and b'"partial"' in data and b'"error"' in data
    run.assert_clean(data)


def test_streamed_content_that_echoes_the_key_is_scrubbed(run: Run) -> None:
    status, _, data = run.post({"model": "echoed", "stream": True, "messages": [{"role": "user", "content": "hi"}], "script": "stream_answer"})
    assert status == 200 and data.endswith(b"data: [DONE]\n\n")
    assert b"you sent auth Bearer [redacted], custom [redacted]" in data
    run.assert_clean(data, where=False)


def test_a_translated_in_stream_error_is_scrubbed(run: Run) -> None:
    status, _, data = run.post({"model": "anth-echo", "stream": True, "messages": [{"role": "user", "content": "hi"}], "mock": {"script": "anthropic_stream_error"}})
    assert status == 200 and b'"error"' in data
    run.assert_clean(data)


def test_an_in_stream_error_is_scrubbed_over_grpc(run: Run) -> None:
    call = chat(model="echoed")
    call.extra_body.CopyFrom(struct({"script": "stream_error"}))
    seen: list[str] = []
    with pytest.raises(grpc.RpcError) as caught:
        for message in run.grpc.stub.ChatStream(call, timeout=10, metadata=(("authorization", f"Bearer {ADMIN_KEY}"),)):
            seen.append(str(message))
    err = caught.value
    info, _ = details(err)
    run.assert_clean("".join(seen) + err.details() + (json.dumps(dict(info.metadata)) if info else ""))
