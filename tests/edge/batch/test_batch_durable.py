"""A batch survives kill -9 of the gateway and resumes after a restart, and two instances on
one PostgreSQL share a batch; either way each custom_id is in the ledger exactly once and in the
output file exactly once."""

from __future__ import annotations

import asyncio
import json
import signal
import uuid
from collections import Counter
from pathlib import Path

import openai

from tests.edge.store.pg_server import drop_schema, fetch, new_schema, require_postgres_sync, schema_url
from tests.support import Mock, Server, wait_for, write_config

from .batch_support import batch_config, chat_rows, ledger_ids, lines_of, wait_done

ADMIN = "sk-admin-batch"
# Each row waits at the mock, so the batch is still running when the gateway is killed.
SLOW = "batch: {concurrency: 8, poll_s: 0.1, lease_s: 1.5}"


def _slow_rows(count: int, tag: str) -> bytes:
    data, _ = chat_rows(count, tag, fail_every=0)
    lines = []
    for line in data.decode().splitlines():
        row = json.loads(line)
        row["body"]["mock"] = {"latency_ms": 25}
        lines.append(json.dumps(row))
    return ("\n".join(lines) + "\n").encode()


def _submit(url: str, data: bytes) -> str:
    with openai.OpenAI(base_url=url + "/v1", api_key=ADMIN, max_retries=0) as client:
        uploaded = client.files.create(file=("rows.jsonl", data), purpose="batch")
        return client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h").id


def _completed(url: str, batch_id: str) -> int:
    with openai.OpenAI(base_url=url + "/v1", api_key=ADMIN, max_retries=0) as client:
        counts = client.batches.retrieve(batch_id).request_counts
        return counts.completed if counts is not None else 0


def test_kill_9_mid_batch_then_restart_completes_each_row_once(mock: Mock, tmp_path: Path) -> None:
    config = write_config(tmp_path / "edge.yaml", batch_config(mock.base_url, f"sqlite:///{tmp_path}/edge.db", SLOW))
    first = Server(["serve", "--config", str(config)], cwd=str(tmp_path))
    tag = f"k{uuid.uuid4().hex[:8]}"
    try:
        batch_id = _submit(first.url, _slow_rows(400, tag))
        wait_for(lambda: _completed(first.url, batch_id) >= 80, timeout=120, what="a fifth of the rows done")
    finally:
        first.stop(signal.SIGKILL)
    assert first.popen.returncode == -signal.SIGKILL
    done_at_kill = sum(1 for _ in ledger_ids(tmp_path / "edge.db", batch_id))
    assert 0 < done_at_kill < 400
    second = Server(["serve", "--config", str(config)], cwd=str(tmp_path))
    try:
        with openai.OpenAI(base_url=second.url + "/v1", api_key=ADMIN, max_retries=0) as client:
            batch = wait_done(client, batch_id)
            assert batch.status == "completed" and batch.request_counts is not None
            assert (batch.request_counts.completed, batch.request_counts.failed) == (400, 0)
            output = lines_of(client, batch.output_file_id)
    finally:
        assert second.stop() == 0
    assert sorted(line["custom_id"] for line in output) == sorted(f"{tag}-{i}" for i in range(400))
    ids = ledger_ids(tmp_path / "edge.db", batch_id)
    assert len(ids) == 400 and set(Counter(c for c, _ in ids).values()) == {1}
    print(f"kill -9 after {done_at_kill} of 400 rows; after restart 400 completed, each once in the ledger")


def test_two_instances_on_one_postgres_share_a_batch_without_doubles(mock: Mock, tmp_path: Path) -> None:
    require_postgres_sync()
    schema = new_schema()
    url = schema_url(schema)
    servers: list[Server] = []
    try:
        for name in ("a", "b"):
            home = tmp_path / name
            home.mkdir()
            servers.append(Server(["serve", "--config", str(write_config(home / "edge.yaml", batch_config(mock.base_url, url, SLOW)))], cwd=str(home)))
        tag = f"p{uuid.uuid4().hex[:8]}"
        batch_id = _submit(servers[0].url, _slow_rows(300, tag))
        with openai.OpenAI(base_url=servers[1].url + "/v1", api_key=ADMIN, max_retries=0) as client:
            batch = wait_done(client, batch_id)  # read through the other instance
            assert batch.status == "completed" and batch.request_counts is not None
            assert (batch.request_counts.completed, batch.request_counts.failed) == (300, 0)
            output = lines_of(client, batch.output_file_id)
        assert sorted(line["custom_id"] for line in output) == sorted(f"{tag}-{i}" for i in range(300))
        rows = asyncio.run(fetch(url, "SELECT r.custom_id, r.claim FROM requests AS q JOIN batch_rows AS r ON r.id = q.request_id WHERE r.batch_id = $1", batch_id))
        assert len(rows) == 300 and set(Counter(r["custom_id"] for r in rows).values()) == {1}
        by_worker = Counter(r["claim"] for r in rows)
        assert len(by_worker) == 2, by_worker  # both instances ran rows of the one batch
    finally:
        for server in servers:
            assert server.stop() == 0
        asyncio.run(drop_schema(schema))


def test_a_gateway_started_while_postgres_is_down_serves_and_batches_once_it_is_back(mock: Mock, tmp_path: Path) -> None:
    from tests.edge.store.pg_instance import PgInstance
    from tests.support import request

    pg = PgInstance()
    try:
        config = write_config(tmp_path / "edge.yaml", batch_config(mock.base_url, pg.url, "batch: {poll_s: 0.1}"))
        gateway = Server(["serve", "--config", str(config)], cwd=str(tmp_path), timeout=60)
        try:
            auth = {"authorization": f"Bearer {ADMIN}"}
            status, headers, body = request("GET", gateway.url + "/v1/batches", None, auth)
            assert status == 503 and json.loads(body)["error"]["code"] == "store_unavailable" and headers.get("retry-after")
            pg.start()
            wait_for(lambda: request("GET", gateway.url + "/v1/batches", None, auth)[0] == 200, timeout=30, what="the batch store back")
            tag = f"d{uuid.uuid4().hex[:8]}"
            batch_id = _submit(gateway.url, _slow_rows(20, tag))
            with openai.OpenAI(base_url=gateway.url + "/v1", api_key=ADMIN, max_retries=0) as client:
                batch = wait_done(client, batch_id)
            assert batch.status == "completed" and batch.request_counts is not None and batch.request_counts.completed == 20
        finally:
            assert gateway.stop() == 0
        assert "Traceback" not in gateway.output, gateway.output[-3000:]
    finally:
        pg.destroy()
