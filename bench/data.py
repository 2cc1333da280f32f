"""Deterministic request bodies: the same seed gives the same bytes on every run and machine.

Prompts are drawn from a fixed vocabulary with a seeded RNG (no dependency on a corpus), shaped
like a small chat: a system message and a user turn. The mock is told how many words to answer
with (its ``mock`` body field), so the reply size does not depend on the prompt.
"""

from __future__ import annotations

import random
from typing import Any

import orjson

__all__ = ["MODEL", "EMBED_MODEL", "chat_body", "embeddings_body", "grpc_chat_body", "prompt", "responses_body"]

# The public model name every system is configured to serve: the same body goes to all of them.
MODEL = "echo"
EMBED_MODEL = "embed"
SEED = 20240611

_VOCAB = (
    "the a of to and in is for on that with as by at from it this be are or an was which model "
    "request stream token latency gateway provider answer question summary detail account order "
    "invoice shipment customer support refund status please explain briefly list three reasons why"
).split()


def prompt(words: int, seed: int = SEED) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(_VOCAB) for _ in range(words))


def chat_body(*, reply_tokens: int, stream: bool, chunk_delay_ms: float = 0.0, prompt_words: int = 40, model: str = MODEL, mock: dict[str, Any] | None = None) -> bytes:
    body: dict[str, Any] = {
        "model": model,
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": prompt(prompt_words)},
        ],
        "max_tokens": 1024,
        "temperature": 0.2,
        "mock": {"tokens": reply_tokens, "chunk_delay_ms": chunk_delay_ms, **(mock or {})},
    }
    if stream:
        body["stream"] = True
    return orjson.dumps(body)


def responses_body(*, model: str, reply_tokens: int, stream: bool, chunk_delay_ms: float = 0.0, prompt_words: int = 40) -> bytes:
    """The chat body's request as the Responses API has it (bench/scenarios/responses.py)."""
    body: dict[str, Any] = {
        "model": model,
        "instructions": "You are a helpful assistant.",
        "input": prompt(prompt_words),
        "max_output_tokens": 1024,
        "temperature": 0.2,
        "mock": {"tokens": reply_tokens, "chunk_delay_ms": chunk_delay_ms},
    }
    if stream:
        body["stream"] = True
    return orjson.dumps(body)


def messages_body(*, reply_tokens: int, stream: bool, chunk_delay_ms: float = 0.0, prompt_words: int = 40, model: str = MODEL) -> bytes:
    """The same request as ``chat_body`` in the Anthropic Messages API's shape (POST /v1/messages)."""
    body: dict[str, Any] = {
        "model": model,
        "system": "You are a helpful assistant.",
        "messages": [{"role": "user", "content": prompt(prompt_words)}],
        "max_tokens": 1024,
        "temperature": 0.2,
        "mock": {"tokens": reply_tokens, "chunk_delay_ms": chunk_delay_ms},
    }
    if stream:
        body["stream"] = True
    return orjson.dumps(body)


def embeddings_body(inputs: int = 4, words: int = 16) -> bytes:
    texts = [prompt(words, SEED + i) for i in range(inputs)]
    return orjson.dumps({"model": EMBED_MODEL, "input": texts, "dimensions": 256})


def grpc_chat_body(*, reply_tokens: int, chunk_delay_ms: float = 0.0, prompt_words: int = 40) -> bytes:
    """The same chat request as ``chat_body`` as a serialized edge.v1 ChatRequest (mock knobs in extra_body)."""
    from google.protobuf import struct_pb2

    from edge.v1 import chat_pb2

    extra = struct_pb2.Struct()
    extra.update({"mock": {"tokens": reply_tokens, "chunk_delay_ms": chunk_delay_ms}})
    request = chat_pb2.ChatRequest(
        model=MODEL,
        messages=[
            chat_pb2.Message(role=chat_pb2.ROLE_SYSTEM, content="You are a helpful assistant."),
            chat_pb2.Message(role=chat_pb2.ROLE_USER, content=prompt(prompt_words)),
        ],
        max_tokens=1024,
        temperature=0.2,
        extra_body=extra,
    )
    return request.SerializeToString(deterministic=True)
