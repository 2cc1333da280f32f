"""The mock provider: a real HTTP server on loopback that speaks every dialect the gateway calls.

Tests, bench/ and the embedded default talk to it over sockets exactly as they would to a vendor.
The upstream model name picks the kind of answer (``echo``, ``tool``, ``json``, ``error``); knobs
come from the server's defaults (``edge mock --latency-ms ...``) and, per request, from an extra
body field ``mock`` (OpenAI SDK: ``extra_body={"mock": {...}}``), which the gateway passes through
like any unknown field:

    latency_ms       delay before the response starts
    tokens           words in the reply (default: echo the last user text, else 8 words)
    chunk_delay_ms   delay between generated stream chunks (none before the usage chunk and [DONE])
    status           answer with this HTTP error status (429, 500, 503, ...)
    retry_after      Retry-After seconds sent with an error status
    fail_after       streams: drop the connection after this many chunks
    tool_calls       tool replies: how many parallel calls (default 1)
    no_usage         never report usage (a provider that counts nothing)
    reject_stream_options  answer 400 to a request that carries stream_options
    fail_first       fail the first N calls (per ``scenario`` name and model) with fail_status
    fail_rate        fail this fraction of calls at random with fail_status (default 503)
    stall_after      streams: go quiet after this many chunks, for stall_ms
    context_limit    answer 400 context_length_exceeded when the prompt is longer (tokens)
    reply            answer with exactly this text
    refusal          answer with this refusal (content null)
    by_model         {"<upstream model>": {knobs}}: knobs for one upstream model only

Hostile upstreams (streams only; docs/hostile.md), each after the first chunk:

    huge_line_mb     send one SSE line of this many MB (64 KB writes) with no line break
    invalid_json     send a data event whose payload is not JSON, then go on
    truncate         send half of the next chunk's JSON, then close the body cleanly
    endless          never finish: keep sending content chunks (every chunk_delay_ms)
    echo_secrets     with status: the error message repeats the Authorization header and the
                     Host it was called at (as some servers and proxies do)

GET /mock/stats reports what the mock saw (requests, streams started, completed and aborted by
the client, the last request body), so tests can assert what reached the upstream.
Besides OpenAI chat (openai.py) it answers Anthropic Messages, Gemini generateContent and Ollama
/api/chat (anthropic.py, gemini.py, ollama.py, sharing dialects.py), with the same knobs. A
provider of kind ``mock`` starts one inside each gateway worker and speaks OpenAI to it, and
Anthropic Messages to it for a Messages client (the byte pass-through, as to Anthropic).
Wire format: shared/reference/wire-formats.md section 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from msgspec import Struct

from .._anthropic_native import AnthropicNative
from ..kinds import ProviderKind
from ..fields import FieldTable
from ..openai_compat import OpenAIAdapter
from ..types import ANTHROPIC_MESSAGES
from .server import LocalMock, create_mock_app, start_mock_server
from .state import MOCK_MODELS, MockKnobs, MockState

__all__ = ["KIND", "MOCK_MODELS", "PROVIDER", "MockKnobs", "MockState", "create_mock_app", "start_mock_server"]

PROVIDER = "mock"


class MockOptions(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``responses: bridge`` makes the mock a chat-only server (for tests); it speaks the
    Responses API (responses.py) by default."""

    responses: Literal["native", "bridge"] | None = None


def _build(base_url: str, api_key: str | None, headers: Mapping[str, str], options: MockOptions) -> OpenAIAdapter:
    # The worker's own mock speaks OpenAI chat and Responses; base_url is where start_local put it.
    return with_messages(OpenAIAdapter(base_url, api_key, headers, responses=options.responses != "bridge"), base_url)


def with_messages(adapter: OpenAIAdapter, base_url: str) -> OpenAIAdapter:
    """The mock speaks Anthropic Messages too (anthropic.py): a Messages client's bytes pass."""
    adapter.passthrough = adapter.passthrough | {ANTHROPIC_MESSAGES}
    adapter.native_messages = AnthropicNative(base_url.rstrip("/") + "/messages", {"content-type": "application/json", "anthropic-version": "2023-06-01"}, {})
    return adapter


KIND = ProviderKind(
    name=PROVIDER,
    build=_build,
    options=MockOptions,
    fields=FieldTable.passthrough(),  # it speaks OpenAI and reads nothing it does not know: every field is passed as sent
    capabilities=frozenset(("chat", "stream", "embeddings", "tools", "json_schema", "models_list")),
    needs_base_url=False,
    start_local=LocalMock.start,
    summary="the built-in mock upstream, started inside each worker (tests, benchmarks, the embedded default)",
)
