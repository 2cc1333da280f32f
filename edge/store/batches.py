"""Batch ids: each ledger batch is written exactly once, however often it is sent.

The ledger (edge.ledger) gives every batch an id and sends it again when it cannot tell whether
a write landed: a PostgreSQL server frozen or cut off during COMMIT, a writer process that died
before it answered, a batch spooled to disk and replayed after a restart. Each store writes the
id into ``ledger_batches`` in the same transaction as the rows; a batch whose id is already
there is skipped whole. Ids are kept ``KEEP_S`` (35 days): a spool replayed later than that
could be written twice, so the ledger replays its spool long before (edge.store.spool).
"""

from __future__ import annotations

__all__ = ["KEEP_S", "POSTGRES_CLAIM", "POSTGRES_PRUNE", "SQLITE_CLAIM", "SQLITE_PRUNE", "SQLITE_TABLE", "POSTGRES_TABLE"]

KEEP_S = 35 * 86400.0

SQLITE_TABLE = "CREATE TABLE IF NOT EXISTS ledger_batches (id TEXT PRIMARY KEY, ts REAL NOT NULL) WITHOUT ROWID;"
POSTGRES_TABLE = "CREATE TABLE IF NOT EXISTS ledger_batches (id TEXT PRIMARY KEY, ts DOUBLE PRECISION NOT NULL);"

# One row changed: the batch is new, write it; none: it was written before, skip it. A second
# writer with the same id waits on the primary key until the first commits, then skips.
SQLITE_CLAIM = "INSERT INTO ledger_batches (id, ts) VALUES (?, ?) ON CONFLICT (id) DO NOTHING"
POSTGRES_CLAIM = "INSERT INTO ledger_batches (id, ts) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING"

SQLITE_PRUNE = "DELETE FROM ledger_batches WHERE ts < ?"
POSTGRES_PRUNE = "DELETE FROM ledger_batches WHERE ts < $1"
