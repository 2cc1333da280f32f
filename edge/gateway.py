"""Everything a request needs, built once per worker from one frozen Config.

Both surfaces (HTTP now, gRPC later) hold one Gateway and go through the same pieces: auth,
router, providers, prices, accounting (metrics + ledger).
"""

from __future__ import annotations

from pathlib import Path

from .accounting import Accounting
from .admission import Admission
from .auth import Authenticator
from .config import Config
from .ids import RequestIds
from .ledger import Ledger
from .metrics import Metrics
from .prices import PriceTable
from .providers import Providers
from .router import Router
from .store import open_store
from .routing.retry import RetryBudget
from .routing.state import RouteStates

__all__ = ["Gateway"]


class Gateway:
    def __init__(self, config: Config, shared_dir: Path | None = None) -> None:
        self.config = config
        self.providers = Providers(config)
        self.router = Router(config, self.providers)
        self.routes = RouteStates(config.routing.cooldown)
        self.retry_budget = RetryBudget(config.routing.retry_budget, 10, config.routing.retry_budget_min)
        self.retry_on: frozenset[int | str] = frozenset(config.routing.retry_on)
        self.prices = PriceTable(config.prices)
        self.metrics = Metrics()
        base = Path(config.source).parent if config.source and not config.source.startswith("<") else Path.cwd()
        self.store = open_store(config.state.ledger, base, server=True)
        self.ledger = Ledger(self.store, config.state.ledger_flush_s)
        self.auth = Authenticator(config, self.store, config.keys.refresh_s)
        # shared_dir: the supervisor's folder that every worker of this host maps (rate limits).
        self.admission = Admission(config, self.store, shared_dir)
        self.admission.on_limited = self.metrics.limited
        self.accounting = Accounting([self.metrics, self.ledger])
        self.max_body_bytes = int(config.server.max_body_mb * 1024 * 1024)
        self.request_ids = RequestIds()
        self.ready = False

    async def start(self) -> None:
        await self.providers.start()
        await self.store.start()
        await self.auth.start()
        await self.admission.start()
        if self.admission.redis_client is not None:
            from .routing.shared import SharedCooldowns

            self.routes.shared = SharedCooldowns(self.admission.redis_client, self.config.routing.cooldown)
            self.routes.shared.routes = self.routes
            self.routes.shared.start()
        await self.ledger.start()
        self.ready = True

    async def close(self) -> None:
        self.ready = False
        await self.providers.close()
        await self.auth.close()
        if self.routes.shared is not None:
            await self.routes.shared.close()
        await self.admission.close()
        await self.ledger.close()
        await self.store.close()
