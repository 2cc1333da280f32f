"""The batch tables and the statements both engines share (``?`` placeholders; the PostgreSQL
store numbers them). ``files`` holds uploaded and produced files, ``batch_jobs`` one row per
batch, ``batch_rows`` one row per request line with its state: pending, running (claimed by a
worker until ``lease_until``), done or failed, and ``out``, its line of the output or error file.
"""

from __future__ import annotations

import re

from edge.store.schema import REQUEST_COLUMNS

from .model import JOB_COLUMNS

__all__ = ["DDL", "numbered"]


def DDL(blob: str, real: str) -> str:
    """CREATE statements with the engine's binary and floating types."""
    return f"""
CREATE TABLE IF NOT EXISTS files (
    id TEXT PRIMARY KEY, owner TEXT NOT NULL, purpose TEXT NOT NULL, filename TEXT NOT NULL,
    bytes BIGINT NOT NULL, created_at {real} NOT NULL, data {blob} NOT NULL
);
CREATE INDEX IF NOT EXISTS files_owner ON files (owner, created_at);
CREATE TABLE IF NOT EXISTS batch_jobs (
    id TEXT PRIMARY KEY, owner TEXT NOT NULL, endpoint TEXT NOT NULL, input_file_id TEXT NOT NULL,
    completion_window TEXT NOT NULL, status TEXT NOT NULL, created_at {real} NOT NULL,
    in_progress_at {real}, expires_at {real}, finalizing_at {real}, completed_at {real}, failed_at {real},
    expired_at {real}, cancelling_at {real}, cancelled_at {real}, output_file_id TEXT, error_file_id TEXT,
    metadata TEXT, tags TEXT, retry_of TEXT, errors TEXT
);
CREATE INDEX IF NOT EXISTS batch_jobs_status ON batch_jobs (status);
CREATE INDEX IF NOT EXISTS batch_jobs_owner ON batch_jobs (owner, created_at);
CREATE TABLE IF NOT EXISTS batch_rows (
    batch_id TEXT NOT NULL, line INTEGER NOT NULL, id TEXT NOT NULL, custom_id TEXT, url TEXT NOT NULL,
    raw TEXT NOT NULL, state TEXT NOT NULL, claim TEXT, lease_until {real}, not_before {real} NOT NULL,
    status_code INTEGER, out TEXT, prompt_tokens BIGINT NOT NULL DEFAULT 0, completion_tokens BIGINT NOT NULL DEFAULT 0,
    cached_tokens BIGINT NOT NULL DEFAULT 0, reasoning_tokens BIGINT NOT NULL DEFAULT 0, cost_usd {real} NOT NULL DEFAULT 0,
    PRIMARY KEY (batch_id, line)
);
CREATE INDEX IF NOT EXISTS batch_rows_state ON batch_rows (batch_id, state);
"""


_PLACEHOLDER = re.compile(r"\?")


def numbered(sql: str) -> str:
    """``?`` placeholders as PostgreSQL's ``$1, $2, ...``."""
    count = iter(range(1, 10_000))
    return _PLACEHOLDER.sub(lambda _: f"${next(count)}", sql)


JOB_SELECT = f"SELECT {','.join(JOB_COLUMNS)} FROM batch_jobs"
COUNTS = (
    "SELECT COUNT(*), COALESCE(SUM(CASE WHEN state = 'done' THEN 1 ELSE 0 END), 0), "
    "COALESCE(SUM(CASE WHEN state = 'failed' THEN 1 ELSE 0 END), 0), COALESCE(SUM(prompt_tokens), 0), "
    "COALESCE(SUM(completion_tokens), 0), COALESCE(SUM(cached_tokens), 0), COALESCE(SUM(reasoning_tokens), 0), "
    "COALESCE(SUM(cost_usd), 0) FROM batch_rows WHERE batch_id = ?"
)
INSERT_JOB = f"INSERT INTO batch_jobs ({','.join(JOB_COLUMNS)}) VALUES ({','.join('?' * len(JOB_COLUMNS))})"
INSERT_ROW = (
    "INSERT INTO batch_rows (batch_id, line, id, custom_id, url, raw, state, not_before, out) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?)"
)
INSERT_FILE = "INSERT INTO files (id, owner, purpose, filename, bytes, created_at, data) VALUES (?, ?, ?, ?, ?, ?, ?)"
FILE_COLUMNS = "id, owner, purpose, filename, bytes, created_at"
RENEW = "UPDATE batch_rows SET lease_until = ? WHERE claim = ? AND state = 'running'"
RELEASE = "UPDATE batch_rows SET state = 'pending', claim = NULL, lease_until = NULL, not_before = ? WHERE batch_id = ? AND line = ? AND claim = ? AND state = 'running'"
# A finished row keeps its claim: which worker ran it (claims take pending or running rows only).
FINISH = (
    "UPDATE batch_rows SET state = ?, status_code = ?, out = ?, lease_until = NULL, prompt_tokens = ?, "
    "completion_tokens = ?, cached_tokens = ?, reasoning_tokens = ?, cost_usd = ? "
    "WHERE batch_id = ? AND line = ? AND claim = ? AND state = 'running'"
)
# What stops a batch from completing: rows not yet run or running (a dead worker's rows run
# again once their lease ends); a cancelling batch waits only for rows a live worker holds.
OPEN_ROWS = "SELECT COUNT(*) FROM batch_rows WHERE batch_id = ? AND state IN ('pending', 'running')"
HELD_ROWS = "SELECT COUNT(*) FROM batch_rows WHERE batch_id = ? AND state = 'running' AND lease_until >= ?"
UNRUN = "SELECT line, id, custom_id FROM batch_rows WHERE batch_id = ? AND state IN ('pending', 'running')"
EXPIRE_ROW = "UPDATE batch_rows SET state = 'failed', claim = NULL, out = ? WHERE batch_id = ? AND line = ?"
OUTPUT = "SELECT state, out FROM batch_rows WHERE batch_id = ? AND out IS NOT NULL AND state IN ('done', 'failed') ORDER BY line"
FAILED_RAW = "SELECT raw FROM batch_rows WHERE batch_id = ? AND state = 'failed' ORDER BY line"
INSERT_LEDGER = f"INSERT INTO requests ({','.join(REQUEST_COLUMNS)}) VALUES ({','.join('?' * len(REQUEST_COLUMNS))})"
ADD_SPEND = "INSERT INTO spend_daily (scope, day, usd) VALUES (?, ?, ?) ON CONFLICT (scope, day) DO UPDATE SET usd = spend_daily.usd + excluded.usd"
