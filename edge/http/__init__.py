"""The OpenAI-compatible HTTP surface (aiohttp on uvloop)."""

from .app import create_app

__all__ = ["create_app"]
