"""Context windows (tokens) of common models, for context-length fallbacks.

A model's configured ``context_window`` wins; otherwise its upstream model is looked up here,
exact first, then by the longest known prefix (dated snapshots share their family's window).
Figures are the vendors' published input limits.
"""

from __future__ import annotations

__all__ = ["known_window"]

KNOWN_WINDOWS: dict[str, int] = {
    "gpt-5": 400_000,
    "gpt-4.1": 1_047_576,
    "gpt-4o": 128_000,
    "gpt-4-turbo": 128_000,
    "gpt-4": 8_192,
    "gpt-3.5-turbo": 16_385,
    "o1": 200_000,
    "o3": 200_000,
    "o4-mini": 200_000,
    "claude-": 200_000,
    "gemini-2.5": 1_048_576,
    "gemini-2.0": 1_048_576,
    "gemini-1.5-pro": 2_097_152,
    "gemini-1.5-flash": 1_048_576,
    "deepseek-chat": 128_000,
    "deepseek-reasoner": 128_000,
}
_BY_PREFIX = sorted(KNOWN_WINDOWS, key=len, reverse=True)


def known_window(upstream_model: str) -> int | None:
    if upstream_model in KNOWN_WINDOWS:
        return KNOWN_WINDOWS[upstream_model]
    return next((KNOWN_WINDOWS[p] for p in _BY_PREFIX if upstream_model.startswith(p)), None)
