"""Provider adapters: one module per wire dialect, and the registry that maps kinds to them.

The registry is an explicit table (style.md section 5): the router never branches on a
provider's name, and OpenAI-compatible vendors are config rows for the ``openai`` kind.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .anthropic import AnthropicAdapter
from .gemini import GeminiAdapter
from .ollama import OllamaAdapter
from .openai_compat import OpenAIAdapter
from .types import Adapter

__all__ = ["ADAPTERS", "Adapter", "build_adapter", "supported_kinds"]

AdapterFactory = Callable[[str, "str | None", "Mapping[str, str] | None"], Adapter]

# kind -> factory(base_url, api_key, extra headers). The mock speaks the OpenAI dialect.
ADAPTERS: Mapping[str, AdapterFactory] = {
    "openai": OpenAIAdapter,
    "mock": OpenAIAdapter,
    "anthropic": AnthropicAdapter,
    "gemini": GeminiAdapter,
    "ollama": OllamaAdapter,
}


def supported_kinds() -> tuple[str, ...]:
    return tuple(ADAPTERS)


def build_adapter(kind: str, base_url: str, api_key: str | None, headers: Mapping[str, str] | None = None, **options: Any) -> Adapter | None:
    """The adapter for a provider kind, or None when this build has no adapter for it.

    ``options`` are the kind's own settings (e.g. default_max_tokens for anthropic); unset
    ones (None) are left to the adapter's defaults.
    """
    factory = ADAPTERS.get(kind)
    if factory is None:
        return None
    return factory(base_url, api_key, headers, **{k: v for k, v in options.items() if v is not None})  # type: ignore[call-arg]
