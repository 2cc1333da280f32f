"""Live requests on the key a batch runs under keep their latency and their share of the key's
rate limit while the batch runs, and the batch can be cancelled mid-way.

The bound is generous on purpose (the suite runs at load 3+ on 2 cores): the median latency of
live requests while the batch runs is at most 3x their median before it, or that plus 250 ms,
whichever is larger; and none of them is refused for the limit the batch shares.
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from collections.abc import Iterator

import openai
import pytest

from tests.support import Mock, Server, request, wait_for, write_config

from .batch_support import batch_config, chat_rows, lines_of, wait_done

ADMIN = "sk-admin-batch"


@pytest.fixture(scope="module")
def edge(mock: Mock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("batch-live")
    config = batch_config(mock.base_url, f"sqlite:///{home}/edge.db", "batch: {concurrency: 8, poll_s: 0.1, live_reserve: 0.25}")
    server = Server(["serve", "--config", str(write_config(home / "edge.yaml", config))], cwd=str(home))
    yield server
    assert server.stop() == 0


def _key(server: Server, rpm: int) -> str:
    body = json.dumps({"name": f"live-{uuid.uuid4().hex[:8]}", "rpm": rpm}).encode()
    status, _, data = request("POST", server.url + "/v1/keys", body, {"authorization": f"Bearer {ADMIN}", "content-type": "application/json"})
    assert status == 201, data
    key = str(json.loads(data)["key"])
    wait_for(lambda: request("GET", server.url + "/v1/models", None, {"authorization": f"Bearer {key}"})[0] == 200, timeout=10, what="the key is known")
    return key


def _live(client: openai.OpenAI, count: int) -> list[float]:
    took = []
    for i in range(count):
        start = time.perf_counter()
        reply = client.chat.completions.create(model="openai/echo", messages=[{"role": "user", "content": f"live {i}"}], extra_body={"mock": {"latency_ms": 10}})
        took.append(time.perf_counter() - start)
        assert reply.choices[0].message.content == f"live {i}"
        time.sleep(0.05)
    return took


def test_live_requests_keep_latency_and_limit_while_a_batch_runs(edge: Server) -> None:
    key = _key(edge, rpm=600)
    with openai.OpenAI(base_url=edge.url + "/v1", api_key=key, max_retries=0) as client:
        before = _live(client, 15)
        data, _ = chat_rows(1000, f"l{uuid.uuid4().hex[:8]}", fail_every=0)
        uploaded = client.files.create(file=("rows.jsonl", data), purpose="batch")
        batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")
        # Past the batch's first burst: it has taken what the key's limit leaves above the reserve.
        wait_for(lambda: (client.batches.retrieve(batch.id).request_counts or batch.request_counts).completed >= 300, timeout=60, what="the batch is running")  # type: ignore[union-attr]
        during = _live(client, 30)  # raises RateLimitError if the batch took the live share
        running = client.batches.retrieve(batch.id)
        assert running.status == "in_progress", "the batch ended before the live requests did: the test measured nothing"
        cancelled = client.batches.cancel(batch.id)
        assert cancelled.status in ("cancelling", "cancelled") and cancelled.cancelling_at is not None
        final = wait_done(client, batch.id, timeout=60)
        assert final.status == "cancelled" and final.cancelled_at is not None and final.request_counts is not None
        assert 300 <= final.request_counts.completed < 1000
        assert len(lines_of(client, final.output_file_id)) == final.request_counts.completed
    base, now = statistics.median(before), statistics.median(during)
    print(f"live median {base * 1000:.1f} ms before the batch, {now * 1000:.1f} ms during it; batch {final.request_counts.completed} rows done when cancelled")
    assert now <= max(3 * base, base + 0.25), (before, during)
