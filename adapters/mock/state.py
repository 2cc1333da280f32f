"""The mock's state and knobs, and the aiohttp app keys its handlers find them under."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field, fields
from typing import Any

from aiohttp import web

__all__ = ["KNOBS", "MOCK_MODELS", "STATE", "MockKnobs", "MockState"]

MOCK_MODELS = ("echo", "tool", "json", "error", "embed")


@dataclass(frozen=True)
class MockKnobs:
    latency_ms: float = 0.0
    tokens: int | None = None
    chunk_delay_ms: float = 0.0
    api_key: str | None = None


@dataclass
class MockState:
    """What the mock has seen; one per app, read through GET /mock/stats."""

    requests: int = 0
    chat_requests: int = 0
    streams_started: int = 0
    streams_completed: int = 0
    streams_aborted: int = 0
    open_streams: int = 0
    last_request: Any = None
    last_headers: dict[str, str] = field(default_factory=dict)
    # The native dialects' last requests as they arrived (path, headers, body text), newest last:
    # a test can assert that the upstream got the client's very bytes.
    recent: list[dict[str, Any]] = field(default_factory=list)
    ids: Any = field(default_factory=itertools.count)
    counters: dict[str, int] = field(default_factory=dict)  # fail_first, per scenario and model
    rng: random.Random = field(default_factory=random.Random)

    def reset(self) -> None:
        """Back to a fresh state, in place: the app holds this very object (POST /mock/reset)."""
        fresh = MockState()
        for f in fields(self):
            setattr(self, f.name, getattr(fresh, f.name))


STATE = web.AppKey("mock_state", MockState)
KNOBS = web.AppKey("mock_knobs", MockKnobs)
