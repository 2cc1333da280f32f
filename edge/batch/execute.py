"""Running one batch row as a live request would run: admission, the row's runner, settling.

The row gets a RequestContext of its own (surface ``batch``, its request id the row's
``batch_req_...`` id), is admitted against its key's allow-list, rate limits and budgets with
the batch's tags (its metadata, ``batch_id``, and the key's own), and answered by its url's
runner (edge.batch.rows). Its settled record does not go to the ledger queue: it comes back
in the row's outcome, which edge.batch.store writes in one transaction with the row's state.
A rate limit that says "not now" gives the row back to run later; it is not a failure.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from edge.fastpath import jsonio

from ..accounting import UsageRecord
from ..admission import charge
from ..auth import Principal
from ..context import RequestContext, settle, settled_on_failure
from ..errors import AuthenticationError, EdgeError, RateLimited
from ..gateway import Gateway
from ..store.schema import request_row
from ..tags import request_tags
from .model import Claimed, Finished, JobRow
from .rows import RUNNERS

__all__ = ["Deferred", "internal_failure", "limit_headroom", "run_row"]


class Deferred:
    """The row's key is at its limit: run it again after ``not_before`` (unix seconds)."""

    __slots__ = ("not_before",)

    def __init__(self, not_before: float) -> None:
        self.not_before = not_before


def _line(row: Claimed, status: int, body: Any) -> str:
    return jsonio.dumps({"id": row.id, "custom_id": row.custom_id, "response": {"status_code": status, "request_id": row.id, "body": body}, "error": None}).decode()


def _finished(job: JobRow, row: Claimed, claim: str, status: int, out: str, record: UsageRecord | None) -> Finished:
    done = "done" if 200 <= status < 300 else "failed"
    if record is None:
        return Finished(batch_id=job.id, line=row.line, claim=claim, state=done, status_code=status, out=out, ledger=None)
    return Finished(
        batch_id=job.id, line=row.line, claim=claim, state=done, status_code=status, out=out, ledger=request_row(record),
        prompt_tokens=record.prompt_tokens, completion_tokens=record.completion_tokens, cached_tokens=record.cached_tokens,
        reasoning_tokens=record.reasoning_tokens, cost_usd=record.cost_usd or 0.0,
    )


def batch_tags(job: JobRow) -> dict[str, str]:
    """The batch's tags on each of its rows: its metadata and tags, and its id (cost per batch)."""
    return {**(job.metadata or {}), **(job.tags or {}), "batch_id": job.id}


async def run_row(gw: Gateway, job: JobRow, principal: Principal | None, row: Claimed, claim: str, on_admitted: Callable[[dict[str, str] | None], None]) -> Finished | Deferred:
    """The row's outcome (answered or failed, with its ledger record), or when to try again.

    ``on_admitted`` hears the rate-limit headers of the row's admission (edge.batch.runner
    pauses the key's batches when little of its limit is left for live requests)."""
    runner = RUNNERS[row.url]
    body = dict(jsonio.loads(row.raw)["body"])  # checked when the batch was made (edge.batch.parse)
    if principal is None:
        err = AuthenticationError("The gateway key that created this batch is no longer active.", code="key_revoked")
        return _finished(job, row, claim, err.status, _line(row, err.status, jsonio.loads(err.envelope())), None)
    try:
        resolution = gw.router.resolve(str(body.get("model", "")))
    except EdgeError as err:
        return _finished(job, row, claim, err.status, _line(row, err.status, jsonio.loads(err.envelope())), None)
    left = None if job.expires_at is None else max(0.001, job.expires_at - time.time())
    ctx = RequestContext(row.id, principal, resolution.public_model, runner.endpoint, False, surface="batch", timeout_s=left)
    captured: list[UsageRecord] = []

    def keep(record: UsageRecord) -> None:
        gw.metrics.add(record)
        captured.append(record)

    ctx.on_record = keep
    try:
        principal.check_model(resolution.public_model)
        tags = request_tags(None, batch_tags(job), principal.tags)
        ctx.record.tags = tags
        ctx.token_estimate = charge(runner.messages(body), len(row.raw), principal.tpm)
        ctx.limit_headers = await gw.admission.admit(principal, ctx.token_estimate, tags) or None
        on_admitted(ctx.limit_headers)
    except RateLimited as err:
        if err.code != "tokens_exceed_limit":  # a limit that refills: the row waits, unbilled
            return Deferred(time.time() + (err.retry_after or 1.0))
        return _refused(gw, job, row, claim, ctx, err, captured)
    except EdgeError as err:
        return _refused(gw, job, row, claim, ctx, err, captured)
    try:
        result = await settled_on_failure(gw, ctx, runner.call(gw, resolution, ctx, body))
    except EdgeError as err:
        return _finished(job, row, claim, err.status, _line(row, err.status, jsonio.loads(err.envelope())), captured[-1] if captured else None)
    ctx.record.status = 200
    settle(gw, ctx, result.usage)
    # A bridged Responses answer may carry only its document; an upstream may echo its key.
    answer = jsonio.loads(gw.scrubber.bytes(result.body or jsonio.dumps(result.document())))
    return _finished(job, row, claim, 200, _line(row, 200, answer), captured[-1])


def _refused(gw: Gateway, job: JobRow, row: Claimed, claim: str, ctx: RequestContext, err: EdgeError, captured: list[UsageRecord]) -> Finished:
    """Refused before any upstream call (model not allowed, over budget): one ledger row, as live."""
    ctx.record.status, ctx.record.error_type = err.status, err.type
    settle(gw, ctx)
    return _finished(job, row, claim, err.status, _line(row, err.status, jsonio.loads(err.envelope())), captured[-1] if captured else None)


def internal_failure(job: JobRow, row: Claimed, claim: str) -> Finished:
    """The outcome of a row whose run raised where it should have answered (a bug of ours)."""
    err = EdgeError(f"Internal gateway error running this request; quote request id {row.id} when reporting it.")
    return _finished(job, row, claim, err.status, _line(row, err.status, jsonio.loads(err.envelope())), None)


def limit_headroom(principal: Principal, headers: dict[str, str] | None) -> float:
    """The smallest share of the key's rpm/tpm left after an admission (1.0 without limits)."""
    if not headers:
        return 1.0
    share = 1.0
    for limit, name in ((principal.rpm, "requests"), (principal.tpm, "tokens")):
        left = headers.get(f"x-ratelimit-remaining-{name}")
        if limit and left is not None:
            share = min(share, int(left) / limit)
    return share
