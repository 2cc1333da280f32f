"""Exceptions shared by every fastpath kernel and by both builds of each.

Kept in a tiny pure-Python module (never compiled) so that the compiled kernels and
their pure-Python twins raise the very same class: ``except SSEError`` in edge/ catches
an oversize event whichever build produced it.
"""

from __future__ import annotations

__all__ = ["SSEError"]


class SSEError(ValueError):
    """A server-sent-events stream that cannot be framed safely (an oversize line or event)."""
