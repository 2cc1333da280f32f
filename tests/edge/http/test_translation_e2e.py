"""Translating adapters end to end: a real gateway in front of the real mock speaking the Anthropic,
Gemini and Ollama dialects, driven by the openai SDK (sync and async). The checklist itself is
tests/adapters/test_conformance.py; this module covers streams that fail, overload, reasoning and
cached-token accounting."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.support import Mock, Server, write_config

DIALECTS = ("anthropic", "gemini", "ollama")


@pytest.fixture(scope="module")
def dialect_gateway(mock: Mock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home: Path = tmp_path_factory.mktemp("dialects")
    providers = "\n".join(f'  {d}: {{kind: {d}, base_url: "{mock.url}", api_key: sk-secret-0123456789, timeout_s: 10, models: [echo, tool]}}' for d in DIALECTS)
    config = f'server: {{host: 127.0.0.1, port: 0}}\nstate: {{ledger: "sqlite:///{home}/edge.db"}}\nrouting: {{retries: 0}}\nproviders:\n{providers}\n'
    proc = Server(["serve", "--config", str(write_config(home / "edge.yaml", config))], cwd=str(home))
    yield proc
    proc.stop()


@pytest.fixture()
def client(dialect_gateway: Server) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=dialect_gateway.url + "/v1", api_key="k", max_retries=0) as c:
        yield c


@pytest.mark.parametrize("dialect", DIALECTS)
def test_error_inside_a_200_stream_reaches_the_sdk(client: openai.OpenAI, dialect: str) -> None:
    stream = client.chat.completions.create(model=f"{dialect}/echo", stream=True, messages=[{"role": "user", "content": "alpha beta"}], extra_body={"mock": {"error_mid_stream": True}})
    text = ""
    with pytest.raises(openai.APIError) as info:
        for chunk in stream:
            text += chunk.choices[0].delta.content or "" if chunk.choices else ""
    assert text == "alpha beta"
    assert info.value.message


@pytest.mark.parametrize(("dialect", "status", "want"), [("anthropic", 529, 503), ("anthropic", 429, 429), ("gemini", 429, 429), ("gemini", 503, 503), ("ollama", 429, 429)])
def test_upstream_errors_keep_status_and_retry_after(client: openai.OpenAI, dialect: str, status: int, want: int) -> None:
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model=f"{dialect}/echo", messages=[{"role": "user", "content": "x"}], extra_body={"mock": {"status": status, "retry_after": 2}})
    assert info.value.status_code == want
    assert info.value.response.headers["retry-after"] == "2"
    assert "sk-secret" not in info.value.response.text


@pytest.mark.parametrize("dialect", DIALECTS)
def test_upstream_cut_mid_stream_ends_with_an_error_event(client: openai.OpenAI, dialect: str) -> None:
    with pytest.raises(openai.APIError):
        list(client.chat.completions.create(model=f"{dialect}/echo", stream=True, messages=[{"role": "user", "content": "a b c d e"}], extra_body={"mock": {"fail_after": 3}}))


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_reasoning_and_cached_tokens_async(dialect_gateway: Server, dialect: str) -> None:
    async with openai.AsyncOpenAI(base_url=dialect_gateway.url + "/v1", api_key="k", max_retries=0) as aclient:
        stream = await aclient.chat.completions.create(
            model=f"{dialect}/echo", stream=True, stream_options={"include_usage": True}, reasoning_effort="low",
            messages=[{"role": "user", "content": "why is the sky blue"}], extra_body={"mock": {"cached_tokens": 7}},
        )
        chunks = [c async for c in stream]
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    reasoning = "".join(getattr(d, "reasoning_content", None) or "" for d in deltas)
    assert reasoning == "Thinking about the question."
    assert "".join(d.content or "" for d in deltas) == "why is the sky blue"
    usage = chunks[-1].usage
    assert usage is not None and usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    if dialect != "ollama":  # Ollama reports no cache reads; its prompt count just shrinks
        assert usage.prompt_tokens_details.cached_tokens == 7
    if dialect == "gemini":
        assert usage.completion_tokens_details.reasoning_tokens == 4


def test_unsupported_input_is_a_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="ollama/echo", messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}])
    assert info.value.code == "unsupported_operation"
