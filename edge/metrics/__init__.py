"""Prometheus metrics (``edge_*``): the Metrics a gateway owns, and the shared-folder helper
the supervisor calls for a worker that died (edge.metrics._shared.mark_dead)."""

from ._metrics import CONTENT_TYPE, OTHER_MODEL, Metrics, status_label
from ._shared import mark_dead

__all__ = ["CONTENT_TYPE", "OTHER_MODEL", "Metrics", "mark_dead", "status_label"]
