"""Provider adapters: one module per wire dialect, and the registry of provider kinds.

Each module declares its kind once (``KIND``: options, factory, capabilities; adapters/kinds.py);
this registry is the explicit table of them (style.md section 5), from which the config loader
takes the list of kinds and each kind's options, and the server builds adapters. Nothing outside
a kind's own module branches on its name; OpenAI-compatible vendors are config rows for the
``openai`` kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import anthropic, gemini, mock, ollama, openai_compat
from .kinds import ProviderKind
from .types import Adapter

__all__ = ["KINDS", "Adapter", "ProviderKind", "build_adapter", "supported_kinds"]

KINDS: Mapping[str, ProviderKind] = {kind.name: kind for kind in (openai_compat.KIND, anthropic.KIND, gemini.KIND, ollama.KIND, mock.KIND)}


def supported_kinds() -> tuple[str, ...]:
    return tuple(KINDS)


def build_adapter(kind: str, base_url: str, api_key: str | None, headers: Mapping[str, str] | None = None, options: Any = None) -> Adapter:
    """The adapter for a provider of ``kind``; ``options`` is that kind's options struct (its
    defaults when None). Raises KeyError for a kind that is not registered (config rejects it)."""
    spec = KINDS[kind]
    return spec.build(base_url, api_key, headers or {}, options if options is not None else spec.options())
