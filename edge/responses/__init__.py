"""The OpenAI Responses API surface: stored conversations, the native pass-through and the
bridge's plan (the HTTP handlers are edge/http/responses.py; the wire shapes adapters/)."""

from __future__ import annotations

__all__: list[str] = []
