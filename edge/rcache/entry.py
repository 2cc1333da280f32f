"""One response-cache entry: the answer's bytes as the client got them, and what it cost.

``body`` is the whole JSON answer, or for a stream every byte of the SSE stream from the first
event to ``data: [DONE]``, so a hit replays the same chunks. ``usage`` and ``upstream_model``
price what a hit saved (edge.prices, at today's prices). Entries travel as msgpack (the same
bytes in memory and in Redis), typed on the way back in, so a foreign value under our prefix
is a miss, not a crash.
"""

from __future__ import annotations

import msgspec
from msgspec import Struct

from edge.adapters.types import Usage

__all__ = ["Entry", "decode_entry", "encode_entry"]


class Entry(Struct, array_like=True):
    body: bytes
    stream: bool
    upstream_model: str
    usage: Usage | None = None
    stored_at: float = 0.0


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Entry)


def encode_entry(entry: Entry) -> bytes:
    return _encoder.encode(entry)


def decode_entry(data: bytes) -> Entry | None:
    """The entry, or None for bytes that are not one (another program's value, an old format)."""
    try:
        return _decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
