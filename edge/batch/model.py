"""Files, batches and rows as stored, and as OpenAI's API shows them.

Field names and statuses follow OpenAI's ``File`` and ``Batch`` objects
(https://platform.openai.com/docs/api-reference/batch/object): status is one of validating,
failed, in_progress, finalizing, completed, expired, cancelling, cancelled; request_counts are
total, completed, failed; times are unix seconds. Ours beside them: ``retry_of`` (the batch a
retry re-runs the failed rows of), ``tags`` and ``cost_usd``.
"""

from __future__ import annotations

import secrets
from typing import Any

from msgspec import Struct

from edge.fastpath import jsonio

__all__ = ["ACTIVE", "TERMINAL", "FileRow", "JobRow", "NewRow", "Claimed", "Finished", "batch_object", "file_object", "new_id"]

# Statuses whose rows may still run or be finalized; the others never change again.
ACTIVE = ("validating", "in_progress", "finalizing", "cancelling")
TERMINAL = ("failed", "completed", "expired", "cancelled")

JOB_COLUMNS = (
    "id", "owner", "endpoint", "input_file_id", "completion_window", "status", "created_at", "in_progress_at",
    "expires_at", "finalizing_at", "completed_at", "failed_at", "expired_at", "cancelling_at", "cancelled_at",
    "output_file_id", "error_file_id", "metadata", "tags", "retry_of", "errors",
)


def new_id(prefix: str) -> str:
    """OpenAI-looking ids: file-..., batch_..., batch_req_... (24 random hex digits)."""
    return prefix + secrets.token_hex(12)


class FileRow(Struct, kw_only=True):
    id: str
    owner: str
    purpose: str
    filename: str
    bytes: int
    created_at: float


class JobRow(Struct, kw_only=True):
    id: str
    owner: str
    endpoint: str
    input_file_id: str
    completion_window: str
    status: str
    created_at: float
    in_progress_at: float | None = None
    expires_at: float | None = None
    finalizing_at: float | None = None
    completed_at: float | None = None
    failed_at: float | None = None
    expired_at: float | None = None
    cancelling_at: float | None = None
    cancelled_at: float | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    metadata: dict[str, str] | None = None
    tags: dict[str, str] | None = None
    retry_of: str | None = None
    errors: list[dict[str, Any]] | None = None
    # Read from the rows, not stored with the job.
    total: int = 0
    completed: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: float = 0.0

    def values(self) -> tuple[Any, ...]:
        """The stored columns (JOB_COLUMNS), JSON fields as text."""
        out: list[Any] = []
        for name in JOB_COLUMNS:
            value = getattr(self, name)
            out.append(jsonio.dumps(value).decode() if name in ("metadata", "tags", "errors") and value is not None else value)
        return tuple(out)

    @classmethod
    def from_values(cls, row: tuple[Any, ...], counts: tuple[Any, ...] | None = None) -> JobRow:
        fields = dict(zip(JOB_COLUMNS, row))
        for name in ("metadata", "tags", "errors"):
            raw = fields[name]
            fields[name] = jsonio.loads(raw) if isinstance(raw, (str, bytes)) and raw else None
        job = jsonio.convert(fields, cls, strict=False)
        if counts is not None:
            job.total, job.completed, job.failed, job.prompt_tokens, job.completion_tokens, job.cached_tokens, job.reasoning_tokens = (int(v or 0) for v in counts[:7])
            job.cost_usd = float(counts[7] or 0.0)
        return job


class NewRow(Struct, array_like=True):
    """One input line as stored: its number, request id, custom_id, url, the line itself, and,
    for a line that cannot run, its output line (state ``failed`` from the start)."""

    line: int
    id: str
    custom_id: str | None
    url: str
    raw: str
    failed_out: str | None = None


class Claimed(Struct, array_like=True):
    batch_id: str
    line: int
    id: str
    custom_id: str | None
    url: str
    raw: str


class Finished(Struct, kw_only=True):
    """A row's outcome, written with its ledger row in one transaction (edge.batch.store)."""

    batch_id: str
    line: int
    claim: str
    state: str  # done | failed
    status_code: int | None
    out: str  # its line of the output or error file
    ledger: tuple[Any, ...] | None  # edge.store.schema.request_row, or None (nothing to bill)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: float = 0.0


def _ts(value: float | None) -> int | None:
    return None if value is None else int(value)


def batch_object(job: JobRow) -> dict[str, Any]:
    """OpenAI's Batch object, plus our retry_of, tags and cost_usd."""
    return {
        "id": job.id,
        "object": "batch",
        "endpoint": job.endpoint,
        "errors": {"object": "list", "data": job.errors} if job.errors else None,
        "input_file_id": job.input_file_id,
        "completion_window": job.completion_window,
        "status": job.status,
        "output_file_id": job.output_file_id,
        "error_file_id": job.error_file_id,
        "created_at": int(job.created_at),
        "in_progress_at": _ts(job.in_progress_at),
        "expires_at": _ts(job.expires_at),
        "finalizing_at": _ts(job.finalizing_at),
        "completed_at": _ts(job.completed_at),
        "failed_at": _ts(job.failed_at),
        "expired_at": _ts(job.expired_at),
        "cancelling_at": _ts(job.cancelling_at),
        "cancelled_at": _ts(job.cancelled_at),
        "request_counts": {"total": job.total, "completed": job.completed, "failed": job.failed},
        "usage": {
            "input_tokens": job.prompt_tokens,
            "input_tokens_details": {"cached_tokens": job.cached_tokens},
            "output_tokens": job.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": job.reasoning_tokens},
            "total_tokens": job.prompt_tokens + job.completion_tokens,
        },
        "metadata": job.metadata,
        "retry_of": job.retry_of,
        "tags": job.tags,
        "cost_usd": round(job.cost_usd, 10),
    }


def file_object(row: FileRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "file",
        "bytes": row.bytes,
        "created_at": int(row.created_at),
        "expires_at": None,
        "filename": row.filename,
        "purpose": row.purpose,
        "status": "processed",
        "status_details": None,
    }
