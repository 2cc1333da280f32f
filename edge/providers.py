"""Upstream providers at run time: an adapter and a pooled HTTP client per provider.

Clients keep connections alive to each upstream (edge.client pools); a provider of kind
``mock`` starts the built-in mock server on a loopback port inside this worker's loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

from aiohttp import web

from edge.adapters import build_adapter
from edge.adapters.mock import start_mock_server
from edge.adapters.types import Adapter

from .client import Client, ClientError
from .config import Config, ProviderConfig

__all__ = ["Provider", "Providers"]

log = logging.getLogger("edge.providers")

_DISCOVERY_TIMEOUT_S = 3.0


class Provider:
    """One configured upstream. ``adapter`` is None for a kind this build cannot speak yet."""

    def __init__(self, name: str, config: ProviderConfig) -> None:
        self.name = name
        self.config = config
        self.adapter: Adapter | None = None
        # Plain calls are bounded as a whole (timeout_s); streams by their first byte and then
        # each idle gap, since a long answer may legitimately stream for minutes.
        self.client: Client | None = None
        self._models: list[str] = []
        self._models_until = 0.0

    @property
    def kind(self) -> str:
        return self.config.kind

    async def upstream_models(self) -> list[str]:
        """The models the upstream itself lists, for GET /v1/models; cached, never raises.

        Only for OpenAI-format upstreams without a configured ``models`` list; a failure is
        remembered briefly, so a dead upstream cannot slow every listing down.
        """
        now = time.monotonic()
        if now < self._models_until:
            return self._models
        request = getattr(self.adapter, "models_request", None)
        if self.config.models or request is None or self.client is None:
            return list(self.config.models)
        try:
            upstream = request()
            response = await self.client.request(upstream.method, upstream.url, upstream.headers, upstream.body, timeout=_DISCOVERY_TIMEOUT_S)
            if response.status != 200:
                raise ValueError(f"HTTP {response.status}")
            self._models = self.adapter.parse_models(response.body)  # type: ignore[union-attr]
            self._models_until = now + 60.0
        except (ClientError, TimeoutError, ValueError, TypeError) as exc:
            log.info("provider %r: cannot list its models (%s)", self.name, type(exc).__name__)
            self._models, self._models_until = [], now + 10.0
        return self._models


class Providers(Mapping[str, Provider]):
    def __init__(self, config: Config) -> None:
        self._providers = {name: Provider(name, cfg) for name, cfg in config.providers.items()}
        self._mock_runners: list[web.AppRunner] = []

    def __getitem__(self, name: str) -> Provider:
        return self._providers[name]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._providers)

    def __len__(self) -> int:
        return len(self._providers)

    async def start(self) -> None:
        for provider in self._providers.values():
            cfg = provider.config
            base_url = cfg.base_url
            if cfg.kind == "mock":
                runner, port = await start_mock_server("127.0.0.1", 0)
                self._mock_runners.append(runner)
                base_url = f"http://127.0.0.1:{port}/v1"
            provider.adapter = build_adapter(cfg.kind, base_url, cfg.api_key, cfg.headers, default_max_tokens=cfg.default_max_tokens, thinking_budgets=cfg.thinking_budgets)
            provider.client = Client(limit=cfg.max_connections, connect_timeout=cfg.connect_timeout_s, keepalive_s=60.0)
            if provider.adapter is None:
                log.warning("provider %r: kind %r has no adapter in this version; requests to it get a clear error", provider.name, cfg.kind)

    async def close(self) -> None:
        for provider in self._providers.values():
            if provider.client is not None:
                await provider.client.close()
        for runner in self._mock_runners:
            await runner.cleanup()
