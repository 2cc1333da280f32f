"""Upstream providers at run time: an adapter and a pooled HTTP client per provider.

Clients keep connections alive to each upstream (edge.client pools). A kind whose upstream runs
in the worker (the mock: ``ProviderKind.start_local``) is started on a loopback port inside this
worker's loop, and its adapter pointed there.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping

from edge.adapters import KINDS
from edge.adapters.fields import FieldTable
from edge.adapters.kinds import LocalUpstream
from edge.adapters.types import Adapter

from .client import Client, ClientError
from .config import Config, ProviderConfig

__all__ = ["Provider", "Providers"]

log = logging.getLogger("edge.providers")

_DISCOVERY_TIMEOUT_S = 3.0


class Provider:
    """One configured upstream: its adapter and its pooled client."""

    def __init__(self, name: str, config: ProviderConfig, adapter: Adapter, client: Client) -> None:
        self.name = name
        self.config = config
        self.adapter = adapter
        # What it does with each request field (edge.params): its kind's table, or the one its
        # options choose (adapters/kinds.py fields_for).
        kind = KINDS[config.kind]
        self.fields: FieldTable | None = kind.fields_for(config.options) if kind.fields_for is not None and config.options is not None else kind.fields
        # Plain calls are bounded as a whole (timeout_s); streams by their first byte and then
        # each idle gap, since a long answer may legitimately stream for minutes.
        self.client = client
        self._models: list[str] = []
        self._models_until = 0.0

    @property
    def kind(self) -> str:
        return self.config.kind

    async def upstream_models(self) -> list[str]:
        """The models the upstream itself lists, for GET /v1/models; cached, never raises.

        Only for upstreams that can list them (``Adapter.models_request``) and have no configured
        ``models`` list; a failure is remembered briefly, so a dead upstream cannot slow every
        listing down.
        """
        now = time.monotonic()
        if now < self._models_until:
            return self._models
        upstream = None if self.config.models else self.adapter.models_request()
        if upstream is None:
            return list(self.config.models)
        try:
            response = await self.client.request(upstream.method, upstream.url, upstream.headers, upstream.body, timeout=_DISCOVERY_TIMEOUT_S)
            if response.status != 200:
                raise ValueError(f"HTTP {response.status}")
            self._models = self.adapter.parse_models(response.body)
            self._models_until = now + 60.0
        except (ClientError, TimeoutError, ValueError, TypeError) as exc:
            log.info("provider %r: cannot list its models (%s)", self.name, type(exc).__name__)
            self._models, self._models_until = [], now + 10.0
        return self._models


class Providers(Mapping[str, Provider]):
    """Every configured provider; ``start()`` (inside the worker's loop) starts local upstreams."""

    def __init__(self, config: Config) -> None:
        self._providers: dict[str, Provider] = {}
        for name, cfg in config.providers.items():
            client = Client(limit=cfg.max_connections, connect_timeout=cfg.connect_timeout_s, keepalive_s=60.0, max_body_bytes=int(cfg.max_response_mb * 1024 * 1024), max_stream_bytes=int(cfg.max_stream_mb * 1024 * 1024))
            self._providers[name] = Provider(name, cfg, _adapter(cfg, cfg.base_url), client)
        self._local: list[LocalUpstream] = []

    def __getitem__(self, name: str) -> Provider:
        return self._providers[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._providers)

    def __len__(self) -> int:
        return len(self._providers)

    async def start(self) -> None:
        for provider in self._providers.values():
            start_local = KINDS[provider.kind].start_local
            if start_local is not None:
                local = await start_local()
                self._local.append(local)
                provider.adapter = _adapter(provider.config, local.base_url)

    async def close(self) -> None:
        for provider in self._providers.values():
            await provider.client.close()
        for local in self._local:
            await local.close()


def _adapter(cfg: ProviderConfig, base_url: str) -> Adapter:
    kind = KINDS[cfg.kind]
    return kind.build(base_url, cfg.api_key, cfg.headers, cfg.options if cfg.options is not None else kind.options())
