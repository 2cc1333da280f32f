"""The response cache: an answer given once is given again, without an upstream call.

Off by default. A model turns it on in the config (``models.<name>.cache.response.ttl_s``), a
request with the header ``x-edge-cache: <seconds>`` (and off with ``x-edge-cache: off``).
Entries are exact matches on the normalized request (edge.rcache.key), partitioned per gateway
key unless the model's config shares them (``shared: true``). A request that sends a temperature
above 0 asks for a sampled answer: it is cached only where the model's config says so
(``temperature: true``). Where entries live is ``cache.backend``: ``memory`` (each worker its
own, bounded by ``cache.max_mb``, least recently used out first; edge.rcache.memory) or
``redis`` (one cache for every instance; edge.rcache.redis). An answer is stored only when it
came whole (status 200, the stream ended well) and is at most ``cache.max_entry_kb``.

A hit is answered from the entry (the same JSON, or the same SSE chunks for a stream) with
``x-edge-cache: hit``; every other request the cache was on for gets ``x-edge-cache: miss``.
Writes run in the background: a slow Redis never holds an answer back.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, NamedTuple, Protocol

from edge.adapters.types import Usage

from ..config import Config, ResponseCacheModel
from ..errors import InvalidRequest
from .entry import Entry, decode_entry, encode_entry
from .key import request_key

__all__ = ["HEADER", "Lookup", "Recorder", "ResponseCache"]

HEADER = "x-edge-cache"
MAX_TTL_S = 30 * 86400


class Backend(Protocol):
    async def get(self, key: str) -> bytes | None: ...

    async def put(self, key: str, data: bytes, ttl_s: float) -> None: ...

    async def close(self) -> None: ...


class Lookup(NamedTuple):
    """The cache is on for this request: where its answer is (``key``, empty when the request
    may not be cached: a sampled answer) and for how long it is kept."""

    key: str
    ttl_s: float


class Recorder:
    """The bytes a stream wrote to its client, up to a bound (then nothing is kept)."""

    __slots__ = ("parts", "size", "limit")

    def __init__(self, limit: int) -> None:
        self.parts: list[bytes] | None = []
        self.size = 0
        self.limit = limit

    def add(self, data: bytes) -> None:
        parts = self.parts
        if parts is None:
            return
        self.size += len(data)
        if self.size > self.limit:
            self.parts = None
            return
        parts.append(bytes(data))

    def body(self) -> bytes | None:
        return b"".join(self.parts) if self.parts is not None else None


def parse_header(value: str | None) -> float | str | None:
    """``x-edge-cache``: None (absent), "off", or a TTL in seconds; a 400 for anything else."""
    if value is None:
        return None
    text = value.strip().lower()
    if text == "off":
        return "off"
    try:
        ttl = int(text)
    except ValueError:
        ttl = 0
    if not 1 <= ttl <= MAX_TTL_S:
        raise InvalidRequest(f"Header {HEADER} must be a time to live in seconds (1 to {MAX_TTL_S}) or 'off', got '{value[:40]}'.", param=HEADER)
    return float(ttl)


class ResponseCache:
    def __init__(self, config: Config) -> None:
        self._config = config
        cache = config.cache
        self.max_entry = int(cache.max_entry_kb * 1024)
        self._backend: Backend
        if cache.backend == "redis":
            from .redis import RedisStore

            self._backend = RedisStore(cache.redis or config.state.redis, cache.prefix, cache.redis_timeout_s, cache.redis_retry_s)
        else:
            from .memory import MemoryStore

            self._backend = MemoryStore(int(cache.max_mb * 1024 * 1024))
        self._writes: set[asyncio.Task[None]] = set()

    def _model(self, public_model: str) -> ResponseCacheModel | None:
        model = self._config.models.get(public_model)
        return model.cache.response if model is not None and model.cache is not None else None

    def lookup(self, public_model: str, key_id: str | None, body: dict[str, Any], header: str | None, drop_params: bool) -> Lookup | None:
        """Whether the cache is on for this request, and its key; raises InvalidRequest for a
        header that is neither a TTL nor off."""
        asked = parse_header(header)
        if asked == "off":
            return None
        rules = self._model(public_model)
        ttl = asked if isinstance(asked, float) else (rules.ttl_s if rules is not None else 0.0)
        if not ttl:
            return None
        temperature = body.get("temperature")
        if isinstance(temperature, (int, float)) and temperature > 0 and not (rules is not None and rules.temperature):
            return Lookup("", ttl)
        partition = "*" if rules is not None and rules.shared else f"key:{key_id or '-'}"
        return Lookup(request_key(partition, body, drop_params), ttl)

    async def get(self, lookup: Lookup, stream: bool) -> Entry | None:
        if not lookup.key:
            return None
        data = await self._backend.get(lookup.key)
        entry = decode_entry(data) if data is not None else None
        return entry if entry is not None and entry.stream == stream else None

    def put(self, lookup: Lookup, body: bytes, stream: bool, upstream_model: str, usage: Usage | None) -> bool:
        """Keep an answer (in the background); False when it may not be kept."""
        if not lookup.key or len(body) > self.max_entry:
            return False
        data = encode_entry(Entry(body, stream, upstream_model, usage, time.time()))
        task = asyncio.get_running_loop().create_task(self._backend.put(lookup.key, data, lookup.ttl_s))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)
        return True

    def recorder(self) -> Recorder:
        return Recorder(self.max_entry)

    async def close(self) -> None:
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)
        await self._backend.close()
