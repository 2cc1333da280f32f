"""The ``batch:`` config section: how the gateway runs OpenAI-format batches itself (edge.batch)."""

from __future__ import annotations

from msgspec import Struct

__all__ = ["BatchConfig"]


class BatchConfig(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    # Run the rows of submitted batches in this gateway's workers (off: the endpoints still
    # store files and batches, and another instance on the same store runs them).
    run: bool = True
    # Rows in flight per worker while no live request is; each live request in flight on the
    # worker takes one slot away, down to min_concurrency (edge.batch.runner).
    concurrency: int = 8
    min_concurrency: int = 1
    # The share of a key's rpm/tpm a batch leaves to live requests: once a batch row's
    # admission leaves less than this fraction remaining, the key's batches pause until it
    # has refilled (edge.batch.runner).
    live_reserve: float = 0.25
    # The largest file POST /v1/files takes (OpenAI's 200 MB) and the most rows in one batch.
    max_file_mb: float = 200.0
    max_rows: int = 50_000
    # A claimed row belongs to its worker this long, renewed every lease_s / 3 while it runs;
    # rows of a worker that died are taken again once their lease ends.
    lease_s: float = 30.0
    # How often an idle worker looks for rows to run, and how long finished rows may wait to
    # be written together (one transaction for many rows).
    poll_s: float = 0.5
    flush_s: float = 0.05
