"""The Batch API end to end through the openai SDK: files.create, batches.create/retrieve,
files.content on a 1,000-row batch where the mock fails 10% of rows; the output and error files
row for row; a retry that runs exactly the failed rows; cost per batch and per tag."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.support import Mock, Server, request, write_config

from .batch_support import batch_config, chat_rows, ledger_ids, lines_of, wait_done

ADMIN = "sk-admin-batch"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("batch")


@pytest.fixture(scope="module")
def edge(mock: Mock, home: Path) -> Iterator[Server]:
    config = batch_config(mock.base_url, f"sqlite:///{home}/edge.db", "batch: {concurrency: 16, poll_s: 0.1}")
    server = Server(["serve", "--config", str(write_config(home / "edge.yaml", config))], cwd=str(home))
    yield server
    assert server.stop() == 0


@pytest.fixture()
def client(edge: Server) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=edge.url + "/v1", api_key=ADMIN, max_retries=0) as c:
        yield c


def _retry(edge: Server, batch_id: str) -> dict[str, object]:
    status, _, body = request("POST", f"{edge.url}/v1/batches/{batch_id}/retry", b"", {"authorization": f"Bearer {ADMIN}"})
    assert status == 200, body
    return json.loads(body)


def test_thousand_rows_output_error_retry_and_ledger(edge: Server, client: openai.OpenAI, mock: Mock, home: Path) -> None:
    tag = f"t{uuid.uuid4().hex[:8]}"
    data, failing = chat_rows(1000, tag)
    uploaded = client.files.create(file=("rows.jsonl", data), purpose="batch")
    assert uploaded.purpose == "batch" and uploaded.bytes == len(data)
    batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h", metadata={"team": "search"})
    assert batch.status == "in_progress" and batch.request_counts is not None and batch.request_counts.total == 1000
    done = wait_done(client, batch.id)
    assert done.status == "completed"
    assert done.request_counts is not None
    assert (done.request_counts.total, done.request_counts.completed, done.request_counts.failed) == (1000, 900, 100)
    assert done.completed_at is not None and done.finalizing_at is not None and done.output_file_id and done.error_file_id

    output = lines_of(client, done.output_file_id)
    errors = lines_of(client, done.error_file_id)
    assert len(output) == 900 and len(errors) == 100
    for line in output:  # row for row: each answer echoes its own row's prompt
        assert line["custom_id"] not in failing and line["error"] is None
        assert line["response"]["status_code"] == 200 and line["id"].startswith("batch_req_")
        index = line["custom_id"].split("-")[1]
        assert line["response"]["body"]["choices"][0]["message"]["content"] == f"row {index} of {tag}"
    assert {e["custom_id"] for e in errors} == failing
    assert all(e["response"]["status_code"] == 400 and "error" in e["response"]["body"] for e in errors)

    # Each row once in the ledger, tagged with its batch.
    ids = ledger_ids(home / "edge.db", batch.id)
    assert len(ids) == 1000 and set(Counter(c for c, _ in ids).values()) == {1}

    # Retry: a new batch of exactly the failed rows, linked to the first; they pass now.
    before = mock.stats()["chat_requests"]
    retried = _retry(edge, batch.id)
    assert retried["retry_of"] == batch.id and retried["request_counts"]["total"] == 100  # type: ignore[index]
    second = wait_done(client, str(retried["id"]))
    assert second.status == "completed" and second.request_counts is not None
    assert (second.request_counts.completed, second.request_counts.failed) == (100, 0)
    assert {line["custom_id"] for line in lines_of(client, second.output_file_id)} == failing
    assert second.error_file_id is None
    assert mock.stats()["chat_requests"] - before == 100

    # Cost per batch and per tag of the batch, from the usage report.
    status, _, body = request("GET", f"{edge.url}/v1/usage?group_by=tag:batch_id", None, {"authorization": f"Bearer {ADMIN}"})
    assert status == 200, body
    groups = {g["group"]: g for g in json.loads(body)["rows"]}
    assert groups[batch.id]["requests"] == 1000 and groups[second.id]["requests"] == 100
    assert groups[batch.id]["cost_usd"] > 0
    assert groups[batch.id]["cost_usd"] == pytest.approx(json.loads(request("GET", f"{edge.url}/v1/batches/{batch.id}", None, {"authorization": f"Bearer {ADMIN}"})[2])["cost_usd"])
    status, _, body = request("GET", f"{edge.url}/v1/usage?group_by=tag:team", None, {"authorization": f"Bearer {ADMIN}"})
    assert "search" in {g["group"] for g in json.loads(body)["rows"]}
