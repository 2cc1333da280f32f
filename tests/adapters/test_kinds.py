"""The provider kind registry: each adapter module declares its kind once, and the config loader,
the providers and the docs read it from there (issue 12)."""

from __future__ import annotations

import pytest

from edge.adapters import KINDS, build_adapter
from edge.adapters.types import OPENAI_CHAT, OPENAI_RESPONSES, StreamDecoder
from edge.config import ConfigError, parse_config


def test_every_kind_builds_an_adapter_with_a_decoder() -> None:
    assert set(KINDS) == {"openai", "anthropic", "gemini", "ollama", "mock"}
    for name, kind in KINDS.items():
        adapter = build_adapter(name, "http://127.0.0.1:1/v1", "k")
        assert adapter.kind == (name if name != "mock" else "openai")
        decoder: StreamDecoder = adapter.stream_decoder()
        assert decoder.done is False and decoder.feed(b"") == [] and decoder.flush() == []
        # Only the OpenAI dialect passes OpenAI chat bytes through; the translators declare none.
        assert (OPENAI_CHAT in adapter.passthrough) == (name in ("openai", "mock")), name
        assert kind.capabilities, name


def test_kind_options_are_decoded_by_the_kinds_own_struct() -> None:
    config = parse_config(
        {"providers": {"a": {"kind": "anthropic", "base_url": "https://x", "default_max_tokens": 77, "thinking_budgets": {"low": 5}}, "o": {"kind": "openai", "base_url": "https://y"}}},
        env={},
    )
    a = config.providers["a"].options
    assert type(a).__name__ == "AnthropicOptions" and a.default_max_tokens == 77 and a.thinking_budgets == {"low": 5}
    o = config.providers["o"].options
    assert type(o).__name__ == "OpenAIOptions" and o.cache_control == "drop" and o.responses is None
    # responses: native unless said otherwise for OpenAI's own host, bridge for any other server
    assert not o.speaks_responses("https://y") and o.speaks_responses("https://api.openai.com/v1")
    assert OPENAI_RESPONSES in build_adapter("openai", "https://api.openai.com/v1", "k").passthrough
    assert OPENAI_RESPONSES not in build_adapter("openai", "http://127.0.0.1:8000/v1", "k").passthrough
    bridged = parse_config({"providers": {"o": {"kind": "openai", "base_url": "https://api.openai.com/v1", "responses": "bridge"}}}, env={})
    assert not bridged.providers["o"].options.speaks_responses("https://api.openai.com/v1")
    adapter = build_adapter("anthropic", "https://x", None, None, a)
    assert adapter.default_max_tokens == 77  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"kind": "openai", "base_url": "https://x", "default_max_tokens": 5}, "providers.p.default_max_tokens: only for kind anthropic (this one is openai)"),
        ({"kind": "ollama", "base_url": "https://x", "thinking_budgets": {"low": 1}}, "providers.p.thinking_budgets: only for kind anthropic and gemini (this one is ollama)"),
        ({"kind": "gemini", "base_url": "https://x", "colour": "red"}, "providers.p.colour: unknown field (this one is gemini)"),
        ({"kind": "anthropic", "base_url": "https://x", "default_max_tokens": 0}, "providers.p.default_max_tokens"),
        ({"kind": "anthropic", "base_url": "https://x", "thinking_budgets": {"low": "many"}}, "providers.p.thinking_budgets"),
        ({"kind": "nope", "base_url": "https://x"}, "providers.p.kind: invalid enum value 'nope' (known: anthropic, gemini, mock, ollama, openai)"),
    ],
)
def test_kind_option_errors_name_the_path(entry: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"providers": {"p": entry}}, env={})
    assert message in str(info.value)


def test_a_kind_without_base_url_is_only_the_local_mock() -> None:
    parse_config({"providers": {"m": {"kind": "mock"}}}, env={})
    for kind in ("openai", "anthropic", "gemini", "ollama"):
        with pytest.raises(ConfigError, match=r"providers\.p\.base_url: must be an http\(s\) URL"):
            parse_config({"providers": {"p": {"kind": kind}}}, env={})
