"""Token accounting on both builds: estimator error on held-out text, exact counts, usage."""

from __future__ import annotations

import importlib.util
import json

import pytest

# Held out: written for this test, never seen by the calibration (_calibrate_tokens.py).
HELD_OUT = {
    "en": "The gateway forwards each chunk as soon as it arrives, so a slow client never "
    "holds up the upstream connection. When the upstream fails before the first byte, "
    "the router retries on the next deployment; after that, it ends the stream cleanly.",
    "en2": "Quarterly revenue rose 12% to $4.3 billion, beating analysts' expectations, "
    "while operating costs fell for the third consecutive quarter.",
    "fr": "Les voyageurs sont priés de vérifier l'horaire de leur train avant de se rendre "
    "à la gare, car plusieurs liaisons régionales ont été supprimées ce week-end.",
    "de": "Die Ergebnisse der Untersuchung werden voraussichtlich Ende nächster Woche "
    "veröffentlicht; bis dahin bittet das Ministerium um Geduld und Verständnis.",
    "zh": "今天下午，市政府召开新闻发布会，介绍了今年上半年城市交通建设的进展情况，"
    "并表示地铁新线路将在年底前开通运营，方便市民出行。",
    "ja": "明日の会議は午前十時から始まります。資料は事前にメールで送りますので、"
    "必ず目を通しておいてください。質問があれば、いつでも連絡してください。",
    "code": "def retry(fn, attempts=3):\n    for i in range(attempts):\n        try:\n"
    "            return fn()\n        except TimeoutError as exc:\n            last = exc\n"
    "    raise RuntimeError('gave up') from last\n",
    "json": '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], '
    '"temperature": 0.2, "max_completion_tokens": 256, "stream": true}',
    "numbers": "3.14159 2.71828 1.41421 299792458 6.02214076e23 1024 65536 4294967296",
    "spaces": "name        value       unit\n----        -----       ----\nalpha       1.0         m\n"
    "beta        22.5        kg\n",
}
HAVE_BPE = importlib.util.find_spec("bpe_openai") is not None


def _exact(text: str) -> int:
    from edge.fastpath import tokens_py

    return len(tokens_py._o200k().encode_ordinary(text))  # bpe-openai, loaded once


@pytest.mark.skipif(not HAVE_BPE, reason="bpe-openai not installed (pip install .[test])")
def test_estimate_error_on_held_out_text(tokens_mod) -> None:
    errors = {}
    for name, text in HELD_OUT.items():
        exact = _exact(text)
        errors[name] = abs(tokens_mod.estimate_tokens(text) - exact) / exact
    mean = sum(errors.values()) / len(errors)
    # Documented: mean 5.4%, p95 13% on the calibration's held-out half; on this sample
    # mean 8.4%, max 19% (bytes/4: mean 21%, max 53%, so it fails the bound).
    assert mean < 0.12, errors
    assert max(errors.values()) < 0.35, errors


@pytest.mark.skipif(not HAVE_BPE, reason="bpe-openai not installed (pip install .[test])")
def test_cjk_is_not_bytes_over_four(tokens_mod) -> None:
    for name in ("zh", "ja"):
        text = HELD_OUT[name]
        exact = _exact(text)
        est = tokens_mod.estimate_tokens(text)
        # o200k spends about 0.67 tokens per Han/kana character; bytes/4 (0.75) is 12-14%
        # off on these two, chars/4 over 60%: the bound below fails both.
        assert abs(est - exact) / exact < 0.10, (name, est, exact)
        assert abs(len(text.encode()) / 4 - exact) / exact > 0.10


def test_estimate_basics(tokens_mod) -> None:
    assert tokens_mod.estimate_tokens("") == 0
    assert tokens_mod.estimate_tokens("a") >= 1
    assert tokens_mod.estimate_tokens("word " * 1000) > tokens_mod.estimate_tokens("word " * 10)
    assert tokens_mod.estimate_tokens("\ud800 lone surrogate and emoji \U0001f600") > 0
    assert tokens_mod.estimate_tokens_from_bytes(0) == 0
    assert tokens_mod.estimate_tokens_from_bytes(1) == 1
    assert 200 <= tokens_mod.estimate_tokens_from_bytes(1000) <= 300


@pytest.mark.skipif(not HAVE_BPE, reason="bpe-openai not installed (pip install .[test])")
def test_exact_tokens_matches_bpe_openai(tokens_mod) -> None:
    for text in HELD_OUT.values():
        assert tokens_mod.exact_tokens(text) == _exact(text)
    assert tokens_mod.exact_tokens("") == 0
    assert tokens_mod.exact_tokens("<|endoftext|> is plain text here") == _exact(
        "<|endoftext|> is plain text here")


@pytest.mark.skipif(not HAVE_BPE, reason="bpe-openai not installed (pip install .[test])")
def test_exact_tokens_long_input_is_cut_where_the_tokenizer_cuts(tokens_mod) -> None:
    text = "\n".join(f"line {i}: the quick brown fox, {i * 7}" for i in range(6000))
    assert len(text) > 100_000
    assert tokens_mod.exact_tokens(text) == _exact(text)


def test_prompt_estimate_overheads(tokens_mod) -> None:
    est = tokens_mod.estimate_tokens
    assert tokens_mod.estimate_prompt_tokens([]) == 3
    one = tokens_mod.estimate_prompt_tokens([{"role": "user", "content": "hello there"}])
    assert one == 3 + 3 + 1 + est("hello there")
    named = tokens_mod.estimate_prompt_tokens([{"role": "user", "content": "hi", "name": "bob"}])
    assert named == 3 + 3 + 1 + est("hi") + 1 + est("bob")
    parts = [{"type": "text", "text": "what is this"},
             {"type": "image_url", "image_url": {"url": "data:...", "detail": "low"}},
             {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
             {"type": "input_audio", "input_audio": {"data": "...", "format": "wav"}}]
    multi = tokens_mod.estimate_prompt_tokens([{"role": "user", "content": parts}])
    assert multi == 3 + 3 + 1 + est("what is this") + 85 + 765 + 256
    calls = [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}]
    tool = tokens_mod.estimate_prompt_tokens([
        {"role": "assistant", "content": None, "tool_calls": calls},
        {"role": "tool", "tool_call_id": "c1", "content": "42"}])
    assert tool > 3 + 2 * 4


@pytest.mark.skipif(not HAVE_BPE, reason="bpe-openai not installed (pip install .[test])")
def test_prompt_estimate_close_to_openai_recipe(tokens_mod) -> None:
    msgs = [{"role": "system", "content": HELD_OUT["en"]}, {"role": "user", "content": HELD_OUT["fr"]}]
    recipe = 3 + sum(3 + _exact(m["role"]) + _exact(m["content"]) for m in msgs)
    assert abs(tokens_mod.estimate_prompt_tokens(msgs) - recipe) / recipe < 0.15



def test_body_estimate_reads_sizes_and_media_parts_not_text(tokens_mod) -> None:
    body = tokens_mod.estimate_body_tokens
    by_size = tokens_mod.estimate_tokens_from_bytes
    plain = [{"role": "user", "content": HELD_OUT["en"]}]
    assert body(plain, 3000) == body([{"role": "user", "content": "x"}], 3000) == by_size(3000)
    assert body(None, 3000) == body("odd", 3000) == by_size(3000) and body([], 0) == 0
    b64 = "A" * 40_000
    parts = [{"type": "text", "text": "what is this"},
             {"type": "image_url", "image_url": {"url": "data:image/png;base64," + b64, "detail": "low"}},
             {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
             {"type": "input_audio", "input_audio": {"data": b64, "format": "wav"}},
             {"type": "file", "file": {"file_data": b64, "filename": "a.pdf"}}]
    # Every string of a media part, one level down too: its type, the payload, the detail.
    media = (len("image_url") + len(parts[1]["image_url"]["url"]) + len("low") + len("image_url") + len("https://x/y.png")
             + len("input_audio") + len(b64) + len("wav") + len("file") + len(b64) + len("a.pdf"))
    assert body([{"role": "user", "content": parts}], 130_000) == 85 + 765 + 256 + 256 + by_size(130_000 - media)
    # Responses input items and Anthropic blocks; a text document is prompt, its bytes count.
    items = [{"type": "input_image", "image_url": "data:image/png;base64," + b64, "detail": "low"},
             {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": b64}},
             {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "plain text"}}]
    media = len(items[0]["image_url"]) + len("input_image") + 3 + len("image") + len("base64") + len("image/png") + len(b64)
    assert body([{"role": "user", "content": items}], 90_000) == 85 + 765 + by_size(90_000 - media)


@pytest.mark.skipif(not HAVE_BPE, reason="bpe-openai not installed (pip install .[test])")
def test_body_estimate_over_counts_chat_bodies_within_bounds(tokens_mod) -> None:
    """Calibrated on the corpus (bytes per token): for a chat body it counts the JSON too, so
    it over-counts short ones; never by more than twice here, nor under by more than 10%."""
    for text in HELD_OUT.values():
        msgs = [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": text}]
        size = len(json.dumps({"model": "gpt-4o-mini", "messages": msgs}, ensure_ascii=False).encode())
        recipe = 3 + sum(4 + _exact(m["content"]) for m in msgs)
        assert 0.9 * recipe <= tokens_mod.estimate_body_tokens(msgs, size) <= 2 * recipe

def test_usage_accumulator_deltas(tokens_mod) -> None:
    acc = tokens_mod.UsageAccumulator()
    assert not acc.seen and acc.total_tokens == 0
    acc.add(prompt=10, cached=4)
    acc.add(completion=3)
    acc.add(completion=5, reasoning=2)
    assert (acc.prompt_tokens, acc.completion_tokens, acc.cached_tokens, acc.reasoning_tokens) == (10, 8, 4, 2)
    assert acc.total_tokens == 18 and acc.seen


def test_usage_accumulator_cumulative(tokens_mod) -> None:
    acc = tokens_mod.UsageAccumulator()
    acc.add(prompt=12, completion=1, cumulative=True)
    acc.add(prompt=12, completion=7, reasoning=3, cumulative=True)
    acc.add(prompt=12, completion=5, cumulative=True)  # never goes backwards
    assert (acc.prompt_tokens, acc.completion_tokens, acc.reasoning_tokens) == (12, 7, 3)
    assert acc.total_tokens == 19
    acc2 = tokens_mod.UsageAccumulator()
    acc2.add()
    assert not acc2.seen


def test_builds_agree_on_estimates() -> None:
    from tests.fastpath.fastpath_builds import load_build

    py, c = load_build("tokens", "py"), load_build("tokens", "c")
    for text in list(HELD_OUT.values()) + ["", "x", "ABCdefGHI jkl", "\t\t\n\n  ", "é" * 50]:
        assert py.estimate_tokens(text) == c.estimate_tokens(text)
        assert py._features(text) == c._features(text)
