"""Prices in USD per 1M tokens: a built-in table for common models, overridden by config.

Looked up by the upstream model name: an exact entry first, then the longest entry that prefixes
the name, so dated snapshots (gpt-4o-2024-08-06) price as their family. Figures are the vendors'
published list prices for standard (non-batch) use; config `prices` overrides any of them.

Prompt caching: cache reads cost ``cached_input``; cache writes cost ``cache_write`` (five-minute
TTL) or ``cache_write_1h`` (one hour), which Anthropic prices at 1.25 and 2 times the input rate
("Prompt caching", pricing); OpenAI and Gemini charge writes as ordinary input. ``saved`` is
what the same usage would have cost with every prompt token at the input rate, minus its cost:
positive for reads, negative for a request that only wrote (the write premium).
"""

from __future__ import annotations

from collections.abc import Mapping

from edge.adapters.types import Usage
from edge.config import PriceConfig

__all__ = ["BUILTIN_PRICES", "PriceTable"]

# (input, output, cached_input)
BUILTIN_PRICES: Mapping[str, tuple[float, float, float | None]] = {
    "gpt-5.2": (1.75, 14.00, 0.175),
    "gpt-5.1": (1.25, 10.00, 0.125),
    "gpt-5": (1.25, 10.00, 0.125),
    "gpt-5-mini": (0.25, 2.00, 0.025),
    "gpt-5-nano": (0.05, 0.40, 0.005),
    "gpt-4.1": (2.00, 8.00, 0.50),
    "gpt-4.1-mini": (0.40, 1.60, 0.10),
    "gpt-4.1-nano": (0.10, 0.40, 0.025),
    "gpt-4o": (2.50, 10.00, 1.25),
    "gpt-4o-mini": (0.15, 0.60, 0.075),
    "o3": (2.00, 8.00, 0.50),
    "o4-mini": (1.10, 4.40, 0.275),
    "text-embedding-3-small": (0.02, 0.0, None),
    "text-embedding-3-large": (0.13, 0.0, None),
    "claude-opus-4-5": (5.00, 25.00, 0.50),
    "claude-opus-4-1": (15.00, 75.00, 1.50),
    "claude-sonnet-4-5": (3.00, 15.00, 0.30),
    "claude-sonnet-4": (3.00, 15.00, 0.30),
    "claude-haiku-4-5": (1.00, 5.00, 0.10),
    "gemini-2.5-pro": (1.25, 10.00, 0.125),
    "gemini-2.5-flash": (0.30, 2.50, 0.03),
    "gemini-2.5-flash-lite": (0.10, 0.40, 0.01),
    "gemini-2.0-flash": (0.10, 0.40, 0.025),
    "deepseek-chat": (0.28, 0.42, 0.028),
}


# Anthropic's cache-write multipliers of the input rate, five minutes and one hour.
_ANTHROPIC_WRITES = (1.25, 2.0)


def _builtin(name: str, prices: tuple[float, float, float | None]) -> PriceConfig:
    i, o, c = prices
    if name.startswith("claude-"):
        return PriceConfig(input=i, output=o, cached_input=c, cache_write=i * _ANTHROPIC_WRITES[0], cache_write_1h=i * _ANTHROPIC_WRITES[1])
    return PriceConfig(input=i, output=o, cached_input=c)


class PriceTable:
    """Resolves a model to its price once and caches the answer (the table is small and fixed)."""

    def __init__(self, overrides: Mapping[str, PriceConfig]) -> None:
        self._table: dict[str, PriceConfig] = {name: _builtin(name, prices) for name, prices in BUILTIN_PRICES.items()}
        self._table.update(overrides)
        self._by_prefix = sorted(self._table, key=len, reverse=True)
        self._cache: dict[str, PriceConfig | None] = {}

    def lookup(self, model: str) -> PriceConfig | None:
        try:
            return self._cache[model]
        except KeyError:
            pass
        price = self._table.get(model)
        if price is None:
            price = next((self._table[p] for p in self._by_prefix if model.startswith(p)), None)
        if len(self._cache) < 4096:  # bounded: model names come from clients via passthrough
            self._cache[model] = price
        return price

    def cost(self, model: str, usage: Usage | None) -> float | None:
        """USD for this usage, or None when the model has no known price."""
        if usage is None:
            return 0.0
        price = self.lookup(model)
        if price is None:
            return None
        return _cost(price, usage, cached=True) / 1_000_000

    def saved(self, model: str, usage: Usage | None) -> float | None:
        """USD prompt caching saved on this usage against uncached prices (negative when the
        writes' premium outweighed the reads), or None when the model has no known price."""
        if usage is None or not (usage.cached_tokens or usage.cache_write_tokens):
            return 0.0
        price = self.lookup(model)
        if price is None:
            return None
        return (_cost(price, usage, cached=False) - _cost(price, usage, cached=True)) / 1_000_000


def _cost(price: PriceConfig, usage: Usage, cached: bool) -> float:
    """USD x 1M for the usage; ``cached=False``: every prompt token at the input rate."""
    reasoning = min(usage.reasoning_tokens, usage.completion_tokens)
    reasoning_rate = price.output if price.reasoning is None else price.reasoning
    total = (usage.completion_tokens - reasoning) * price.output + reasoning * reasoning_rate
    if not cached:
        return total + usage.prompt_tokens * price.input
    read = min(usage.cached_tokens, usage.prompt_tokens)
    written = min(usage.cache_write_tokens, usage.prompt_tokens - read)
    hour = min(usage.cache_write_1h_tokens, written)
    read_rate = price.input if price.cached_input is None else price.cached_input
    write_rate = price.input if price.cache_write is None else price.cache_write
    hour_rate = write_rate if price.cache_write_1h is None else price.cache_write_1h
    return total + (usage.prompt_tokens - read - written) * price.input + read * read_rate + (written - hour) * write_rate + hour * hour_rate
