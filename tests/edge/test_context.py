"""edge.context: per-request state, admission for either surface, and settling the books.

A real Gateway from a config (never started: nothing here calls an upstream); its accounting
is watched through Accounting.observe, which is what every record passes through on its way to
the metrics and the ledger.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from edge.accounting import UsageRecord
from edge.adapters.types import Usage
from edge.auth import ANONYMOUS, Principal
from edge.config import parse_config
from edge.context import RequestContext, admit, admit_checked, settle, settled_on_failure
from edge.errors import BadGateway, InvalidRequest, PermissionDenied, RateLimited
from edge.gateway import Gateway

PRICED, UNPRICED = "priced-model", "model-with-no-price-anywhere"


@pytest.fixture()
def gw(tmp_path: Path) -> Gateway:
    doc = {
        "state": {"ledger": f"sqlite:///{tmp_path}/edge.db"},
        "providers": {"a": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1"}},
        "models": {"m": {"route": [{"provider": "a", "model": PRICED}]}},
        "prices": {PRICED: {"input": 1.0, "output": 2.0, "cached_input": 0.5}},  # USD per 1M tokens
    }
    return Gateway(parse_config(doc, env={}, source=str(tmp_path / "edge.yaml")))


@pytest.fixture()
def records(gw: Gateway) -> list[UsageRecord]:
    seen: list[UsageRecord] = []
    gw.accounting.observe(seen.append)
    return seen


def ctx_for(principal: Principal = ANONYMOUS, model: str = "m", timeout_s: float | None = None) -> RequestContext:
    return RequestContext("req-ctx-1", principal, model, "chat", True, surface="grpc", timeout_s=timeout_s)


def test_a_new_context_starts_its_record() -> None:
    ctx = ctx_for(Principal(key_id="k1", name="team"), timeout_s=2.5)
    record = ctx.record
    assert (record.request_id, record.public_model, record.key_id, record.endpoint, record.surface, record.stream) == ("req-ctx-1", "m", "k1", "chat", "grpc", True)
    assert abs(record.ts - time.time()) < 5 and record.status == 0 and record.attempts == 0
    assert ctx.timeout_s == 2.5 and ctx.deadline is None  # the executor fixes the deadline
    assert ctx.remaining() == float("inf")
    ctx.deadline = time.monotonic() + 10
    assert 9 < ctx.remaining() <= 10
    assert ctx.elapsed_ms() >= 0


def test_usage_and_cost_add_up_across_answers(gw: Gateway) -> None:
    ctx = ctx_for()
    ctx.add_usage(gw, PRICED, None)  # nothing to count
    assert ctx.usage is None and ctx.cost == 0.0
    ctx.add_usage(gw, PRICED, Usage(prompt_tokens=1000, completion_tokens=500, cached_tokens=400))
    assert ctx.cost == pytest.approx((600 * 1.0 + 400 * 0.5 + 500 * 2.0) / 1e6)
    ctx.add_usage(gw, PRICED, Usage(prompt_tokens=10, completion_tokens=20, reasoning_tokens=5, estimated=True))
    assert ctx.usage == Usage(prompt_tokens=1010, completion_tokens=520, cached_tokens=400, reasoning_tokens=5, estimated=True)
    assert ctx.cost == pytest.approx((1800 + 10 + 40) / 1e6)
    ctx.add_usage(gw, UNPRICED, Usage(prompt_tokens=1, completion_tokens=1))
    assert ctx.cost is None  # one unpriced answer makes the total unknown
    ctx.add_usage(gw, PRICED, Usage(prompt_tokens=1, completion_tokens=1))
    assert ctx.cost is None and ctx.usage.prompt_tokens == 1012  # type: ignore[union-attr]


def test_settle_writes_one_record_with_the_usage_and_cost(gw: Gateway, records: list[UsageRecord]) -> None:
    ctx = ctx_for()
    ctx.record.status, ctx.record.upstream_model = 200, PRICED
    ctx.attempt("a/" + PRICED, 200, 12.5)
    cost = settle(gw, ctx, Usage(prompt_tokens=1000, completion_tokens=1000, cached_tokens=1000, reasoning_tokens=100))
    assert cost == pytest.approx((1000 * 0.5 + 1000 * 2.0) / 1e6)
    assert len(records) == 1
    row = records[0]
    assert (row.prompt_tokens, row.completion_tokens, row.cached_tokens, row.reasoning_tokens, row.estimated) == (1000, 1000, 1000, 100, False)
    assert row.cost_usd == cost and row.latency_ms >= 0
    assert row.attempt_log is None  # one attempt is the row itself
    assert row.fallback_reason is None


def test_settle_lists_attempts_and_the_fallback_reason_when_there_were_several(gw: Gateway, records: list[UsageRecord]) -> None:
    ctx = ctx_for()
    ctx.record.upstream_model = PRICED
    ctx.attempt("a/first", 503, 3.14159, "server_error")
    ctx.attempt("a/" + PRICED, 200, 7.0)
    ctx.fallback_reason = "503 on a/first"
    settle(gw, ctx, Usage(prompt_tokens=1, completion_tokens=1))
    (row,) = records
    assert row.fallback_reason == "503 on a/first"
    assert [(a.route, a.status, a.latency_ms, a.error) for a in row.attempt_log or []] == [("a/first", "503", 3.142, "server_error"), ("a/" + PRICED, "200", 7.0, None)]


def test_settle_without_usage_counts_nothing_and_has_no_cost(gw: Gateway, records: list[UsageRecord]) -> None:
    ctx = ctx_for()
    ctx.record.status = 502
    assert settle(gw, ctx) is None
    (row,) = records
    assert (row.prompt_tokens, row.completion_tokens, row.cost_usd, row.status) == (0, 0, None, 502)


async def test_admit_estimates_tokens_only_for_keys_with_a_token_limit(gw: Gateway) -> None:
    messages = [{"role": "user", "content": "how many tokens is this prompt?"}]
    plain = ctx_for(Principal(key_id="k1", name="plain", rpm=100))
    await admit(gw, plain, {"team": "a"}, messages, 100)
    assert plain.token_estimate == 0 and plain.record.tags == {"team": "a"}
    assert plain.limit_headers is not None and plain.limit_headers["x-ratelimit-limit-requests"] == "100"
    metered = ctx_for(Principal(key_id="k2", name="metered", tpm=10_000))
    await admit(gw, metered, None, messages, 100)
    assert metered.token_estimate > 0 and metered.limit_headers is not None
    # What the estimate took (one less at Unix-time magnitudes: float rounding, see test_gcra's xfail).
    assert 0 <= 10_000 - metered.token_estimate - int(metered.limit_headers["x-ratelimit-remaining-tokens"]) <= 1
    open_door = ctx_for()
    await admit(gw, open_door, None, messages, 100)
    assert open_door.limit_headers is None  # no limits: no headers at all


@pytest.mark.parametrize(
    ("principal", "tag_header", "error", "status"),
    [
        (Principal(key_id="k1", name="narrow", models=("other-*",)), None, PermissionDenied, 403),
        (ANONYMOUS, "not-a-pair", InvalidRequest, 400),
        (Principal(key_id="k3", name="tiny", tpm=1), None, RateLimited, 429),
    ],
)
async def test_a_refusal_is_recorded_once_then_raised(gw: Gateway, records: list[UsageRecord], principal: Principal, tag_header: str | None, error: type, status: int) -> None:
    ctx = ctx_for(principal)
    with pytest.raises(error):
        await admit_checked(gw, ctx, tag_header=tag_header, metadata=None, messages=[{"role": "user", "content": "a prompt of several tokens"}], body_size=100)
    (row,) = records
    assert row.status == status and row.error_type == error.type and row.attempts == 0


async def test_admit_checked_passes_tags_from_every_source(gw: Gateway, records: list[UsageRecord]) -> None:
    ctx = ctx_for(Principal(key_id="k1", name="team", tags={"team": "search"}))
    await admit_checked(gw, ctx, tag_header="feature=chat", metadata={"workflow": "nightly"}, messages=[], body_size=2)
    assert ctx.record.tags == {"feature": "chat", "workflow": "nightly", "team": "search"}
    assert records == []  # admitted: the books are settled later, by the caller


async def test_a_failed_exchange_is_recorded_and_raised(gw: Gateway, records: list[UsageRecord]) -> None:
    async def failing() -> str:
        raise BadGateway("The upstream broke off.", code="upstream_stream_error")

    ctx = ctx_for()
    with pytest.raises(BadGateway):
        await settled_on_failure(gw, ctx, failing())
    (row,) = records
    assert (row.status, row.error_type) == (502, "api_error")


async def test_a_cancelled_exchange_is_a_client_gone_row(gw: Gateway, records: list[UsageRecord]) -> None:
    started = asyncio.Event()

    async def forever() -> str:
        started.set()
        await asyncio.Event().wait()
        return "never"

    ctx = ctx_for()
    task = asyncio.ensure_future(settled_on_failure(gw, ctx, forever()))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (row,) = records
    assert (row.status, row.client_disconnected) == (499, True)


async def test_a_cancel_can_be_classified_by_the_surface(gw: Gateway, records: list[UsageRecord]) -> None:
    def deadline_passed(ctx: RequestContext) -> None:
        ctx.record.status, ctx.record.error_type = 504, "timeout"

    started = asyncio.Event()

    async def forever() -> str:
        started.set()
        await asyncio.Event().wait()
        return "never"

    ctx = ctx_for()
    task = asyncio.ensure_future(settled_on_failure(gw, ctx, forever(), on_cancel=deadline_passed))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (row,) = records
    assert (row.status, row.error_type, row.client_disconnected) == (504, "timeout", False)


async def test_a_successful_exchange_is_left_to_the_caller(gw: Gateway, records: list[UsageRecord]) -> None:
    async def answer() -> str:
        return "ok"

    assert await settled_on_failure(gw, ctx_for(), answer()) == "ok"
    assert records == []
