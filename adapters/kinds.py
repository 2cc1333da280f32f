"""What a provider module declares about its kind: options, factory, capabilities.

Each adapter module (openai_compat, anthropic, gemini, ollama, mock) ends with one ``KIND`` and is
the only place that kind is defined; adapters/__init__ collects them into the registry, so the
list of kinds, the config check of each kind's own options and the construction of its adapter
all come from here and the server never branches on a kind's name.

Its ``fields`` are what it does with each field of an OpenAI chat request (adapters/fields.py):
translated, passed, refused or ignored, read by the gateway's check, the tests and the docs.

A kind's options are a frozen msgspec struct: the keys a provider entry of that kind may carry
beside the common ones (base_url, api_key, timeouts, headers, ...). The config loader decodes
them with it, so an option of another kind, or a wrong value, is an error that names its path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from msgspec import Struct

from .fields import FieldTable
from .types import Adapter

__all__ = ["Capability", "LocalUpstream", "NoOptions", "ProviderKind"]

# What a kind can be asked to do (the catalog and GET /v1/models show these).
Capability = str


class NoOptions(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A kind with no options of its own."""


class LocalUpstream(Protocol):
    """An upstream the worker runs itself (the mock): where it listens, and how to stop it."""

    base_url: str

    async def close(self) -> None: ...


class AdapterFactory(Protocol):
    def __call__(self, base_url: str, api_key: str | None, headers: Mapping[str, str], options: Any) -> Adapter: ...


@dataclass(frozen=True)
class ProviderKind:
    """One provider kind: its name in config, its options, how to build its adapter."""

    name: str
    build: AdapterFactory
    options: type[Struct] = NoOptions
    capabilities: frozenset[Capability] = field(default_factory=frozenset)
    # False for a kind whose upstream the worker starts itself (``start_local``).
    needs_base_url: bool = True
    # Starts the kind's in-process upstream (the mock) on a loopback port, inside the worker's loop.
    start_local: Callable[[], Awaitable[LocalUpstream]] | None = None
    # One line for docs and errors.
    summary: str = ""
    # Each chat request field: translated, passed, refused or ignored (adapters/fields.py). Every
    # registered kind declares all of them (tests/adapters/test_fields.py); None is a kind made
    # outside the registry (a test's), whose requests are not checked.
    fields: FieldTable | None = None
    # A provider whose options change what it does with some fields (the openai kind's
    # ``cache_control: pass``) gets its table from here, given its decoded options.
    fields_for: Callable[[Any], FieldTable] | None = None
