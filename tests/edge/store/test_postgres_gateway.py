"""End to end: a real gateway process with ``state.ledger`` on PostgreSQL.

Plain and streamed chat requests go through the gateway to the mock; after a graceful stop
(which must lose nothing) every row in PostgreSQL carries exactly the usage the mock reported,
and the cost the config's prices give. The ledger URL's password never reaches the log.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.edge.store.pg_server import drop_schema, fetch, new_schema, require_postgres_sync, schema_url
from tests.edge.store.workload import SCRIPT, expected_cost, run_workload
from tests.support import Mock, Server, gateway_config, write_config


def _with_password(url: str) -> str:
    # Trust auth ignores it; it is there to prove the gateway never logs it.
    return url.replace("postgres@", "postgres:pg-secret-pw@", 1) if "postgres@" in url else url


def test_gateway_writes_the_ledger_to_postgres(mock: Mock, tmp_path: Path) -> None:
    require_postgres_sync()
    schema = new_schema()
    url = _with_password(schema_url(schema))
    text = gateway_config(mock.base_url, tmp_path).replace(f"ledger: sqlite:///{tmp_path}/edge.db", f"ledger: {url}")
    assert url in text
    gateway = Server(["serve", "--config", str(write_config(tmp_path / "edge.yaml", text))], cwd=str(tmp_path))
    try:
        seen = run_workload(gateway.url)
    finally:
        assert gateway.stop() == 0  # graceful: the ledger flushes what it holds
    try:
        rows = asyncio.run(fetch(
            schema_url(schema),
            "SELECT request_id, status, stream, estimated, public_model, provider, upstream_model, prompt_tokens, "
            "completion_tokens, cached_tokens, reasoning_tokens, cost_usd, surface FROM requests ORDER BY request_id",
        ))
    finally:
        asyncio.run(drop_schema(schema))
    assert "pg-secret-pw" not in gateway.output and "PostgreSQL at" in gateway.output
    assert not (tmp_path / "edge.db").exists()  # nothing went to the SQLite default
    assert [r["request_id"] for r in rows] == [s[0] for s in SCRIPT]
    for row, (request_id, stream, *_rest) in zip(rows, SCRIPT):
        usage = seen[request_id]
        assert (row["status"], row["stream"], row["estimated"], row["surface"]) == (200, int(stream), 0, "http")
        assert (row["public_model"], row["provider"], row["upstream_model"]) == ("chat", "up", "echo")
        assert row["prompt_tokens"] == usage["prompt_tokens"]
        assert row["completion_tokens"] == usage["completion_tokens"]
        assert row["cached_tokens"] == usage["prompt_tokens_details"]["cached_tokens"]
        assert row["reasoning_tokens"] == usage["completion_tokens_details"]["reasoning_tokens"]
        assert row["cost_usd"] == pytest.approx(expected_cost(usage), rel=1e-12)
