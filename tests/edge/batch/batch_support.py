"""Helpers for the batch tests: input files, a gateway config, waiting on a batch, the ledger."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import openai

__all__ = ["batch_config", "chat_rows", "ledger_ids", "wait_done"]


def chat_rows(count: int, tag: str, fail_every: int = 10, model: str = "openai/echo") -> tuple[bytes, set[str]]:
    """``count`` chat rows whose prompt names the row; every ``fail_every``-th fails once at the
    mock (fail_first 1, status 400, its own scenario), so a retry of it succeeds. Returns the
    file and the custom_ids that fail the first time."""
    lines, failing = [], set()
    for i in range(count):
        body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": f"row {i} of {tag}"}]}
        if fail_every and i % fail_every == 0:
            body["mock"] = {"fail_first": 1, "fail_status": 400, "scenario": f"{tag}-{i}"}
            failing.add(f"{tag}-{i}")
        lines.append(json.dumps({"custom_id": f"{tag}-{i}", "method": "POST", "url": "/v1/chat/completions", "body": body}))
    return ("\n".join(lines) + "\n").encode(), failing


def batch_config(mock_base_url: str, ledger: str, extra: str = "") -> str:
    return f"""
server: {{host: 127.0.0.1, port: 0}}
state: {{ledger: "{ledger}", ledger_flush_s: 0.05}}
providers:
  openai: {{kind: openai, base_url: "{mock_base_url}"}}
prices:
  echo: {{input: 1.0, output: 2.0}}
routing:
  retries: 0
  cooldown: {{consecutive_failures: 0, failure_percent: 0}}
keys: {{admin: sk-admin-batch}}
{extra}
"""


def wait_done(client: openai.OpenAI, batch_id: str, timeout: float = 180.0) -> Any:
    """Poll batches.retrieve until the batch reaches a terminal status (never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        batch = client.batches.retrieve(batch_id)
        if batch.status in ("completed", "failed", "expired", "cancelled"):
            return batch
        if time.monotonic() > deadline:
            raise TimeoutError(f"batch {batch_id} still {batch.status} ({batch.request_counts}) after {timeout} s")
        time.sleep(0.1)


def lines_of(client: openai.OpenAI, file_id: str | None) -> list[dict[str, Any]]:
    if file_id is None:
        return []
    return [json.loads(line) for line in client.files.content(file_id).text.splitlines() if line]


def ledger_ids(db: Path, batch_id: str) -> list[tuple[str, str]]:
    """(custom_id, ledger request_id) for every ledger row of the batch's rows."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(
            "SELECT r.custom_id, q.request_id FROM requests AS q JOIN batch_rows AS r ON r.id = q.request_id WHERE r.batch_id = ?",
            (batch_id,),
        ).fetchall()
    finally:
        conn.close()
