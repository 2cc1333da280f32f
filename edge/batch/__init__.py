"""The Batch API (OpenAI's Files and Batches endpoints), run by the gateway itself.

A batch's rows go through the same routing, fallbacks, limits and budgets as live requests,
at a concurrency that yields to live traffic (edge.batch.runner). Files, batches and row states
live in the ledger's store (edge.batch.store: SQLite or PostgreSQL), so a batch survives a
restart; a row's answer, its ledger row and its spend are written in one transaction, so no row
is written or billed twice. Wire formats: https://platform.openai.com/docs/api-reference/batch
and .../files. Kept light: nothing here loads until a batch endpoint or the runner needs it.
"""

from __future__ import annotations

__all__: list[str] = []
