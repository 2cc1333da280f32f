"""Shared target for the adapters' stream decoders: provider bytes -> normalized chunks -> OpenAI SSE.

Properties: feed/flush raise nothing but ValueError (SSEError, an oversize line); the chunks do
not depend on how the body was split; every event egress writes is one ``data: <JSON>`` line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from edge.adapters.anthropic import AnthropicAdapter
from edge.adapters.gemini import GeminiAdapter
from edge.adapters.ollama import OllamaAdapter
from edge.egress import OpenAIChunkEncoder
from edge.transcode import DecodedStream
from edge.fastpath import jsonio

from ._harness import splits

ADAPTERS: dict[str, Callable[[], Any]] = {
    "anthropic": lambda: AnthropicAdapter("http://127.0.0.1:9", "sk-ant-secret"),
    "gemini": lambda: GeminiAdapter("http://127.0.0.1:9", "gm-secret"),
    "ollama": lambda: OllamaAdapter("http://127.0.0.1:9"),
}


def _chunks(dialect: str, pieces: list[bytes]) -> tuple[object, ...]:
    decoder = ADAPTERS[dialect]().stream_decoder()
    out: list[object] = []
    try:
        for piece in pieces:
            out.extend(decoder.feed(piece))
        out.extend(decoder.flush())
    except ValueError as exc:
        return ("ValueError", type(exc).__name__)
    return tuple(_MADE_UP_ID.sub(b'"id":"call_', jsonio.encode_struct(c)) for c in out)


# Tool-call ids the adapter makes up (Ollama sends none) are random; compare without them.
_MADE_UP_ID = re.compile(rb'"id":"call_[0-9a-f]{24}')


def make_target(dialect: str) -> Callable[[bytes], None]:
    def one_input(data: bytes) -> None:
        body, pieces = splits(data)
        split = _chunks(dialect, pieces)
        whole = _chunks(dialect, [body] if body else [])
        assert split == whole, f"the split changed the chunks:\n{whole!r}\n{split!r}"
        stream = DecodedStream(ADAPTERS[dialect]().stream_decoder(), OpenAIChunkEncoder("public", True, "req_fuzz", created=1))
        try:
            text = b"".join(stream.feed(p) or b"" for p in pieces) + (stream.flush() or b"") + (stream.tail() or b"")
        except ValueError:
            return
        for event in filter(None, text.split(b"\n\n")):
            assert event.startswith(b"data: "), f"bad event framing: {event!r}"
            payload = event[6:]
            if payload != b"[DONE]":
                doc = jsonio.loads(payload)
                assert isinstance(doc, dict), payload

    return one_input
