"""Embeddings: four 16-word inputs, 256 dimensions each (about 10 kB of JSON back)."""

from __future__ import annotations

from ..common import Scenario
from ..data import embeddings_body

SCENARIOS = (
    Scenario(
        name="embeddings",
        title="embeddings, 4 x 256 dims",
        path="/v1/embeddings",
        body=embeddings_body(),
    ),
)
