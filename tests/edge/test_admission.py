"""edge.admission: a key's rate limits and budgets before the upstream call, settling after.

Real pieces throughout: the host's limit table (an anonymous map, or a file two instances share
as two workers do), a SQLite ledger for budgets, and for the outage case a Redis URL where
nothing listens.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from edge.admission import LARGE_BODY, Admission, charge, count_tokens, estimate_tokens, go_duration
from edge.auth import ANONYMOUS, Principal
from edge.config import parse_config
from edge.errors import InsufficientQuota, RateLimited
from edge.fastpath import tokens as token_math
from edge.store import open_store

Make = Callable[..., Awaitable[Admission]]


@pytest.fixture()
async def make(tmp_path: Path) -> AsyncIterator[Make]:
    store = open_store("sqlite:///ledger.db", tmp_path)
    await store.start()
    made: list[Admission] = []

    async def build(shared_dir: Path | None = None, **config: Any) -> Admission:
        admission = Admission(parse_config(config, env={}), store, shared_dir)
        await admission.start()
        made.append(admission)
        return admission

    yield build
    for admission in made:
        await admission.close()
    await store.close()


def key(**limits: Any) -> Principal:
    return Principal(key_id="k1", name="team", **limits)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(-1, "0ms"), (0, "0ms"), (0.0123, "13ms"), (0.5, "500ms"), (1.0, "1s"), (1.5, "1.5s"), (12, "12s"), (59.9, "59.9s"), (60, "1m0s"), (61.4, "1m1s"), (360, "6m0s")],
)
def test_reset_times_are_go_durations_as_openai_sends_them(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text


def test_the_closer_count_falls_back_to_bytes_for_huge_or_odd_bodies() -> None:
    messages = [{"role": "user", "content": "a short question about the weather"}]
    assert count_tokens(messages, 200) == token_math.estimate_prompt_tokens(messages)
    assert count_tokens(messages, LARGE_BODY + 1) == token_math.estimate_tokens_from_bytes(LARGE_BODY + 1)
    assert count_tokens("not a list", 4000) == token_math.estimate_tokens_from_bytes(4000)
    longer = [{"role": "user", "content": "a short question about the weather " * 20}]
    assert count_tokens(longer, 800) > count_tokens(messages, 200) > 0


def test_admission_estimates_from_the_body_size_and_counts_closer_only_to_refuse() -> None:
    messages = [{"role": "user", "content": "a short question about the weather"}]
    # The estimate reads the size, not the text: the same size, the same estimate, any text.
    assert estimate_tokens(messages, 4000) == estimate_tokens([{"role": "user", "content": "x"}], 4000) == token_math.estimate_tokens_from_bytes(4000)
    assert charge(messages, 4000, None) == 0  # no token limit: nothing to estimate
    assert charge(messages, 4000, 10_000) == estimate_tokens(messages, 4000)
    # Over the whole limit on the estimate alone: the closer count decides (here it fits).
    assert estimate_tokens(messages, 4000) > 100 and charge(messages, 4000, 100) == count_tokens(messages, 4000) < 100
    # A base64 image counts its flat cost, not its bytes.
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 100_000, "detail": "low"}}
    assert estimate_tokens([{"role": "user", "content": [{"type": "text", "text": "what is it?"}, image]}], 100_200) < 200


async def test_requests_per_minute_and_the_openai_headers(make: Make) -> None:
    admission = await make()
    limited: list[str] = []
    admission.on_limited = limited.append
    first = await admission.admit(key(rpm=2), 0, None)
    assert first == {"x-ratelimit-limit-requests": "2", "x-ratelimit-remaining-requests": "1", "x-ratelimit-reset-requests": "30s"}
    second = await admission.admit(key(rpm=2), 0, None)
    assert second["x-ratelimit-remaining-requests"] == "0"
    with pytest.raises(RateLimited) as info:
        await admission.admit(key(rpm=2), 0, None)
    err = info.value
    assert err.status == 429 and err.code == "rate_limit_exceeded"
    assert err.retry_after is not None and 29 < err.retry_after <= 30  # one request refills every 30 s
    assert "Rate limit reached for key 'team': 2 requests per minute" in err.message
    assert err.headers()["x-ratelimit-remaining-requests"] == "0" and err.headers()["retry-after"] == "30"
    assert limited == ["requests"]
    assert await admission.admit(Principal(key_id="k2", name="other", rpm=2), 0, None)  # its own limit


async def test_tokens_per_minute(make: Make) -> None:
    admission = await make()
    limited: list[str] = []
    admission.on_limited = limited.append
    with pytest.raises(RateLimited) as info:
        await admission.admit(key(tpm=100), 101, None)
    assert info.value.code == "tokens_exceed_limit" and info.value.headers()["x-should-retry"] == "false"
    headers = await admission.admit(key(tpm=100), 60, None)  # the oversized one took nothing
    assert headers["x-ratelimit-limit-tokens"] == "100" and headers["x-ratelimit-remaining-tokens"] == "40"
    with pytest.raises(RateLimited, match="100 tokens per minute"):
        await admission.admit(key(tpm=100), 50, None)
    assert limited == ["tokens", "tokens"]


async def test_settling_corrects_the_estimate(make: Make) -> None:
    admission = await make()
    await admission.admit(key(tpm=100), 80, None)
    admission.settle(key(tpm=100), 80, 20, None, None)  # the answer used 20 tokens in all
    assert (await admission.admit(key(tpm=100), 70, None))["x-ratelimit-remaining-tokens"] == "10"
    admission.settle(key(tpm=100), 70, 70, None, None)  # exact: nothing moves
    with pytest.raises(RateLimited):
        await admission.admit(key(tpm=100), 20, None)



async def test_admit_now_answers_without_an_await_only_when_nothing_remote_is_asked(make: Make) -> None:
    admission = await make()
    spender = key(rpm=2, budget_usd=1.0, period="day")
    # The key's spend this period is not known yet: admit_now takes nothing and leaves the
    # request to admit, which reads it from the store.
    assert admission.admit_now(spender, 0, None) is None
    assert (await admission.admit(spender, 0, None))["x-ratelimit-remaining-requests"] == "1"
    headers = admission.admit_now(spender, 0, None)  # known now: answered on the spot
    assert headers is not None and headers["x-ratelimit-remaining-requests"] == "0"
    with pytest.raises(RateLimited):
        admission.admit_now(spender, 0, None)
    # With Redis configured and up, every admission asks it; once it fails, the host's table
    # answers and admit_now can again.
    remote = await make(state={"redis": "redis://127.0.0.1:1/0"})  # nothing listens there
    assert remote.admit_now(key(rpm=2), 0, None) is None
    await remote.admit(key(rpm=2), 0, None)
    headers = remote.admit_now(key(rpm=2), 0, None)
    assert headers is not None and headers["x-ratelimit-remaining-requests"] == "0"

async def test_callers_without_limits_pass_without_headers(make: Make) -> None:
    admission = await make(limits={"default": {"rpm": 1}})
    for _ in range(3):
        assert await admission.admit(ANONYMOUS, 10, None) == {}
        assert await admission.admit(Principal(key_id="admin", name="admin", is_admin=True, rpm=1), 10, None) == {}
        assert await admission.admit(key(), 10, None) == {}


async def test_a_spent_key_budget_refuses_the_next_request(make: Make) -> None:
    admission = await make()
    limited: list[str] = []
    admission.on_limited = limited.append
    spender = key(budget_usd=0.01, period="day")
    await admission.admit(spender, 0, None)
    admission.settle(spender, 0, 10, 0.004, None)
    await admission.admit(spender, 0, None)
    admission.settle(spender, 0, 10, 0.006, None)
    with pytest.raises(InsufficientQuota):
        await admission.admit(spender, 0, None)
    assert limited == ["budget"]


async def test_a_tag_budget_from_the_config(make: Make) -> None:
    admission = await make(budgets=[{"tag": "customer=acme", "usd": 0.01, "period": "month"}])
    acme = {"customer": "acme"}
    await admission.admit(key(), 0, acme)
    admission.settle(key(), 0, 10, 0.01, acme)
    with pytest.raises(InsufficientQuota):
        await admission.admit(Principal(key_id="k7", name="another"), 0, acme)
    await admission.admit(key(), 0, {"customer": "globex"})


async def test_two_workers_on_one_host_share_the_limit(make: Make, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    first, second = await make(shared), await make(shared)
    await first.admit(key(rpm=3), 0, None)
    await second.admit(key(rpm=3), 0, None)
    await first.admit(key(rpm=3), 0, None)
    for worker in (first, second):
        with pytest.raises(RateLimited):
            await worker.admit(key(rpm=3), 0, None)


async def test_without_redis_the_hosts_limits_hold(make: Make, caplog: pytest.LogCaptureFixture) -> None:
    admission = await make(state={"redis": "redis://127.0.0.1:1/0"})  # nothing listens there
    with caplog.at_level(logging.WARNING, logger="edge.admission"):
        await admission.admit(key(rpm=2), 0, None)
        await admission.admit(key(rpm=2), 0, None)
        with pytest.raises(RateLimited):
            await admission.admit(key(rpm=2), 0, None)
    assert any("Redis is not answering" in r.getMessage() for r in caplog.records)
