"""Secrets: a full run with a provider key, an admin key and a gateway key; then every output
(responses, the gateway's log with access logging on, /metrics, every ledger column) is searched
for them. Upstream errors that echo the key and the upstream's address are passed on scrubbed.
The admin API answers nobody but the admin key."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import Mock, Server, gateway_config, request, wait_for, write_config

PROVIDER_KEY = "sk-upstream-secret-0123456789"  # what gateway_config gives provider "up"
ADMIN_KEY = "sk-admin-7d1e0c5b9a7f4e2d8c6b"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Mock, Path]]:
    home = tmp_path_factory.mktemp("secrets")
    mock = Mock("--api-key", PROVIDER_KEY)
    text = gateway_config(mock.base_url, home, extra=f"keys:\n  admin: {ADMIN_KEY}\n").replace("drain_timeout_s: 10\n", "drain_timeout_s: 10\n  access_log: true\n")
    gw = Server(["serve", "--config", str(write_config(home / "edge.yaml", text))], cwd=str(home))
    yield gw, mock, home
    gw.stop()
    mock.stop()


def _post(gw: Server, path: str, body: object, key: str | None) -> tuple[int, dict[str, str], bytes]:
    headers = {"content-type": "application/json"}
    if key is not None:
        headers["authorization"] = f"Bearer {key}"
    return request("POST", gw.url + path, json.dumps(body).encode(), headers)


def test_the_admin_api_answers_only_the_admin_key(run: tuple[Server, Mock, Path]) -> None:
    gw, _, _ = run
    status, _, body = _post(gw, "/v1/keys", {"name": "team-a"}, ADMIN_KEY)
    assert status == 201
    user_key = json.loads(body)["key"]
    for key, expected in ((None, 401), ("sk-not-a-key-at-all-000", 401), (user_key, 403), (ADMIN_KEY[:-1], 401)):
        headers = {"authorization": f"Bearer {key}"} if key else {}
        assert _post(gw, "/v1/keys", {"name": "evil"}, key)[0] == expected
        assert request("GET", gw.url + "/v1/keys", headers=headers)[0] == expected
        assert request("DELETE", gw.url + "/v1/keys/team-a", headers=headers)[0] == expected
        assert request("GET", gw.url + "/v1/usage", headers=headers)[0] == expected
    listing = request("GET", gw.url + "/v1/keys", headers={"authorization": f"Bearer {ADMIN_KEY}"})[2]
    assert user_key not in listing.decode() and "evil" not in listing.decode()


def test_no_secret_in_any_output_of_a_full_run(run: tuple[Server, Mock, Path]) -> None:
    gw, mock, home = run
    user_key = json.loads(_post(gw, "/v1/keys", {"name": "team-b", "tags": {"team": "b"}}, ADMIN_KEY)[2])["key"]
    outputs: list[bytes] = []
    written: list[str] = []  # request ids whose ledger rows are searched too
    chat = {"model": "chat", "messages": [{"role": "user", "content": "hello"}]}
    for body in (
        chat,
        {**chat, "stream": True, "stream_options": {"include_usage": True}},
        {**chat, "mock": {"status": 400, "echo_secrets": True}},
        {**chat, "mock": {"status": 500, "echo_secrets": True}},
        {**chat, "stream": True, "mock": {"status": 429, "echo_secrets": True, "retry_after": 1}},
        {**chat, "model": "failover"},  # the first route is unreachable
    ):
        status, headers, data = _post(gw, "/v1/chat/completions", body, user_key)
        outputs += [data, json.dumps(headers).encode()]
        written.append(headers["x-request-id"])
    status, headers, data = _post(gw, "/v1/chat/completions", {**chat, "mock": {"status": 400, "echo_secrets": True}}, user_key)
    written.append(headers["x-request-id"])
    err = json.loads(data)["error"]["message"]
    assert status == 400 and "[redacted]" in err and "mock upstream error 400" in err  # passed on, scrubbed
    _, headers, data = _post(gw, "/v1/embeddings", {"model": "embed", "input": "x"}, user_key)
    outputs.append(data)
    written.append(headers["x-request-id"])
    outputs.append(_post(gw, "/v1/chat/completions", chat, user_key + "x")[2])  # a near-miss key
    outputs.append(_post(gw, "/v1/chat/completions", chat, PROVIDER_KEY)[2])  # the provider key as a gateway key
    outputs.append(request("GET", gw.url + "/metrics")[2])
    outputs.append(request("GET", gw.url + "/openapi.json")[2])
    outputs.append(request("GET", gw.url + "/v1/usage?group_by=key", headers={"authorization": f"Bearer {ADMIN_KEY}"})[2])

    def all_rows_written() -> bool:
        with sqlite3.connect(home / "edge.db") as db:
            return set(written) <= {row[0] for row in db.execute("SELECT request_id FROM requests")}

    wait_for(all_rows_written, what="the ledger rows of every request")
    with sqlite3.connect(home / "edge.db") as db:
        ledger = "\n".join(repr(row) for row in db.execute("SELECT * FROM requests")).encode()
        keys = "\n".join(repr(row) for row in db.execute("SELECT * FROM keys")).encode()
    assert ledger.count(b"chat") >= 6
    client_visible = b"\n".join(outputs) + ledger
    internal = f"127.0.0.1:{mock.port}".encode()
    for secret in (PROVIDER_KEY.encode(), ADMIN_KEY.encode(), user_key.encode(), internal):
        assert secret not in client_visible, secret
    for secret in (PROVIDER_KEY, ADMIN_KEY, user_key):
        assert secret not in gw.output, secret  # the log, access lines included
        assert secret.encode() not in keys  # keys are stored by digest
    assert "POST /v1/chat/completions" in gw.output  # the access log was on
