"""Per-feature support by provider kind: what the model catalog and GET /v1/models show.

``capabilities(kind)`` is the one place the catalog asks. The features are the ``edge probe``
checklist (edge.probe.FEATURES: chat, streaming, tools, json_schema, ...) plus ``embeddings``.
Today the answers are what the conformance suite found (tests/adapters/test_conformance.py, which
generates the table in docs/compatibility.md; tests/edge/http/test_ui_catalog.py fails when this
table and that one disagree) and, for embeddings, what each adapter's ``embeddings_request``
does (Anthropic has no embeddings endpoint; the native Ollama adapter refuses them). When the
adapters declare per-field support themselves (the honest-translation issue), this function
reads those declarations instead and nothing else changes.

A value is ``yes`` (the check passes), ``no`` (the gateway answers 400 for it), or, for a model
whose routes differ, ``partial`` (some of its routes can, so the answer depends on the route).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal

from .probe import FEATURES as PROBED

__all__ = ["FEATURES", "Support", "capabilities", "combine"]

Support = Literal["yes", "no", "partial"]

FEATURES: tuple[str, ...] = (*PROBED, "embeddings")

# docs/compatibility.md, conformance table: every probed feature passes on every adapter.
_PROBED_BY_KIND: Mapping[str, Mapping[str, Support]] = {
    kind: dict.fromkeys(PROBED, "yes") for kind in ("openai", "anthropic", "gemini", "ollama")
}
_EMBEDDINGS: Mapping[str, Support] = {"openai": "yes", "gemini": "yes", "anthropic": "no", "ollama": "no"}
# The mock provider speaks the OpenAI dialect through the OpenAI adapter (adapters/__init__.py).
_SAME_AS = {"mock": "openai"}


def capabilities(kind: str) -> dict[str, Support]:
    """Feature -> support for a provider kind; an unknown kind supports nothing."""
    kind = _SAME_AS.get(kind, kind)
    probed = _PROBED_BY_KIND.get(kind)
    if probed is None:
        return dict.fromkeys(FEATURES, "no")
    return {**probed, "embeddings": _EMBEDDINGS.get(kind, "no")}


def combine(kinds: Iterable[str]) -> dict[str, Support]:
    """What a model whose routes have these kinds supports: any route may answer a request."""
    tables = [capabilities(kind) for kind in kinds]
    if not tables:
        return dict.fromkeys(FEATURES, "no")
    out: dict[str, Support] = {}
    for feature in FEATURES:
        values = {table[feature] for table in tables}
        out[feature] = values.pop() if len(values) == 1 else "partial"
    return out
