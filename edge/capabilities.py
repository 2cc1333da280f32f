"""Per-feature support by provider kind: what the model catalog and GET /v1/models show.

``capabilities(kind)`` is the one place the catalog asks. Its source is what each adapter module
declares about its kind (``KIND.capabilities``, adapters/kinds.py, collected in
adapters/__init__.KINDS), so the catalog cannot say more than the adapters claim. The features
are those declarations' names (chat, stream, tools, json_schema, vision, reasoning, embeddings,
and any a kind adds later), less the ones that describe a provider rather than a model
(``models_list``: the upstream can list its models). tests/edge/http/test_ui_catalog.py holds the
declarations to the conformance suite's table in docs/compatibility.md and to what each adapter
does with an embeddings request. When the adapters declare per-field support (the
honest-translation issue), this function reads that instead and nothing else changes.

A value is ``yes`` (declared), ``no``, or, for a model whose routes differ, ``partial`` (some of
its routes can, so the answer depends on the route taken).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from edge.adapters import KINDS

__all__ = ["FEATURES", "Support", "capabilities", "combine"]

Support = Literal["yes", "no", "partial"]

_ORDER = ("chat", "stream", "tools", "json_schema", "vision", "reasoning", "embeddings")
_OF_THE_PROVIDER = frozenset(("models_list",))
_DECLARED = frozenset(name for kind in KINDS.values() for name in kind.capabilities) - _OF_THE_PROVIDER

FEATURES: tuple[str, ...] = (*(f for f in _ORDER if f in _DECLARED), *sorted(_DECLARED - set(_ORDER)))


def capabilities(kind: str) -> dict[str, Support]:
    """Feature -> support for a provider kind; an unknown kind supports nothing."""
    spec = KINDS.get(kind)
    declared = spec.capabilities if spec is not None else frozenset()
    return {feature: "yes" if feature in declared else "no" for feature in FEATURES}


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
