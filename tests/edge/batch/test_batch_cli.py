"""``edge batch submit / status / results / retry`` against a running gateway, as a user runs them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import Mock, Server, request, write_config

from .batch_support import batch_config, chat_rows

ADMIN = "sk-admin-batch"


@pytest.fixture(scope="module")
def edge(mock: Mock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("batch-cli")
    server = Server(["serve", "--config", str(write_config(home / "edge.yaml", batch_config(mock.base_url, f"sqlite:///{home}/edge.db", "batch: {poll_s: 0.1}")))], cwd=str(home))
    yield server
    assert server.stop() == 0


def _edge(server: Server, *args: str) -> str:
    env = {**os.environ, "EDGE_URL": server.url, "EDGE_KEY": ADMIN}
    done = subprocess.run([sys.executable, "-m", "edge.cli", "batch", *args], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_submit_status_results_retry(edge: Server, tmp_path: Path) -> None:
    tag = f"c{uuid.uuid4().hex[:8]}"
    data, failing = chat_rows(50, tag, model="openai/not-this-one")
    source = tmp_path / "rows.jsonl"
    source.write_bytes(data)
    out = _edge(edge, "submit", str(source), "--model", "openai/echo", "--tags", "project=cli-test")
    batch_id = re.search(r"submitted (batch_\w+) \(50 requests", out).group(1)  # type: ignore[union-attr]
    status = _edge(edge, "status", batch_id)  # waits, drawing progress, until the batch ends
    assert re.search(rf"{batch_id} \[#{{30}}\] 50/50 completed 45 failed 5 completed", status), status
    assert "cost $" in status
    assert batch_id in _edge(edge, "status")
    results = tmp_path / "out.jsonl"
    assert "wrote 50 lines" in _edge(edge, "results", batch_id, "-o", str(results))
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert {line["custom_id"] for line in lines if line["response"]["status_code"] != 200} == failing
    assert all(line["response"]["body"]["model"] == "openai/echo" for line in lines if line["response"]["status_code"] == 200)
    retried = _edge(edge, "retry", batch_id)
    new_id = re.search(r"submitted (batch_\w+): the 5 failed requests", retried).group(1)  # type: ignore[union-attr]
    assert "completed 5 failed 0 completed" in _edge(edge, "status", new_id)
    _, _, body = request("GET", f"{edge.url}/v1/usage?group_by=tag:project", None, {"authorization": f"Bearer {ADMIN}"})
    assert {"group": "cli-test"}.items() <= next(r for r in json.loads(body)["rows"] if r["group"] == "cli-test").items()


def test_a_gateway_that_is_not_there_is_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "EDGE_URL": "http://127.0.0.1:9", "EDGE_KEY": "k"}
    done = subprocess.run([sys.executable, "-m", "edge.cli", "batch", "status", "batch_x"], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 1 and done.stderr.startswith("edge batch: cannot reach the gateway at http://127.0.0.1:9")
