"""Everything a request needs, built once per worker from one frozen Config.

Both surfaces (HTTP and gRPC) hold one Gateway and go through the same pieces: auth, router,
providers, prices, accounting (metrics + ledger), and the scrubber that keeps configured secrets
out of whatever an upstream sends back (edge.scrub).
"""

from __future__ import annotations

from pathlib import Path

from .accounting import Accounting
from .admission import Admission
from .auth import Authenticator
from .config import Config
from .ids import RequestIds
from .ledger import Ledger
from .looplag import LoopLag
from .metrics import Metrics
from .prices import PriceTable
from .rcache import ResponseCache
from .providers import Providers
from .router import Router
from .scrub import Scrubber
from .store import open_server_store, spool_fallback_folder, spool_folder
from .responses.pending import PendingResponses
from .responses.store import open_response_store
from .routing.retry import RetryBudget
from .routing.state import RouteStates
from .tracing import build_tracing

__all__ = ["Gateway"]


class Gateway:
    def __init__(self, config: Config, shared_dir: Path | None = None) -> None:
        self.config = config
        # Every configured secret, removed from upstream text before a client or a log sees it.
        self.scrubber = Scrubber.from_config(config)
        self.providers = Providers(config)
        self.router = Router(config, self.providers)
        self.routes = RouteStates(config.routing.cooldown)
        self.retry_budget = RetryBudget(config.routing.retry_budget, 10, config.routing.retry_budget_min)
        self.retry_on: frozenset[int | str] = frozenset(config.routing.retry_on)
        self.prices = PriceTable(config.prices)
        listed = (f"{name}/{model}" for name, provider in config.providers.items() for model in provider.models)
        # shared_dir: with --workers N, every worker's numbers meet there (edge.metrics._shared).
        self.metrics = Metrics((*config.models, *listed), shared_dir)
        base = Path(config.source).parent if config.source and not config.source.startswith("<") else Path.cwd()
        self.store = open_server_store(config.state, base, self.metrics.store_state, self.metrics.store_unavailable)
        # Stored Responses API conversations, beside the ledger (edge/responses/store.py).
        # Rows wait in the worker and are flushed together (edge/responses/pending.py); on
        # SQLite the ledger's writer process commits them.
        store = open_response_store(config.state.ledger, base, getattr(self.store.inner, "writer", None))
        self.responses = PendingResponses(store, settle_s=min(0.5, config.state.store_timeout_s / 2))
        self.ledger = Ledger(self.store, config.state.ledger_flush_s, spool_dir=spool_folder(config.state, base), metrics=self.metrics, fallback_dir=spool_fallback_folder(config.state, base))
        self.auth = Authenticator(config, self.store, config.keys.refresh_s)
        # shared_dir: the supervisor's folder that every worker of this host maps (rate limits).
        self.admission = Admission(config, self.store, shared_dir)
        self.admission.on_limited = self.metrics.limited
        self.accounting = Accounting([self.metrics, self.ledger])
        self.loop_lag = LoopLag(self.metrics)
        self.response_cache = ResponseCache(config)
        self.max_body_bytes = int(config.server.max_body_mb * 1024 * 1024)
        self.request_ids = RequestIds()
        # None when tracing is off: every hook on the request path is one `is None` test.
        from . import __version__

        self.tracing = build_tracing(config.tracing, __version__)
        self.ready = False

    async def start(self) -> None:
        await self.providers.start()
        await self.store.start()
        await self.responses.start()
        await self.auth.start()
        await self.admission.start()
        if self.admission.redis_client is not None:
            from .routing.shared import SharedCooldowns

            self.routes.shared = SharedCooldowns(self.admission.redis_client, self.config.routing.cooldown)
            self.routes.shared.routes = self.routes
            self.routes.shared.start()
        await self.ledger.start()
        if self.tracing is not None:
            self.tracing.instrument(self.providers)
        self.loop_lag.start()
        self.metrics.start()
        self.ready = True

    async def close(self) -> None:
        self.ready = False
        await self.loop_lag.close()
        await self.providers.close()
        await self.auth.close()
        if self.routes.shared is not None:
            await self.routes.shared.close()
        await self.admission.close()
        await self.response_cache.close()
        await self.responses.close()  # before the store: it may share the ledger's writer
        await self.ledger.close()
        await self.store.close()
        if self.tracing is not None:
            await self.tracing.shutdown()  # exports what is still queued
        self.metrics.close()
