"""The batch pieces one worker holds: the store on the ledger's database and the runner."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..gateway import Gateway
from .runner import BatchRunner
from .store import BatchStore, open_batch_store

__all__ = ["BatchService"]


class BatchService:
    def __init__(self, gw: Gateway, live_in_flight: Callable[[], int]) -> None:
        config = gw.config
        base = Path(config.source).parent if config.source and not config.source.startswith("<") else Path.cwd()
        self.config = config.batch
        self.store: BatchStore = open_batch_store(config.state.ledger, base)
        self.runner = BatchRunner(gw, self.store, config.batch, live_in_flight) if config.batch.run else None
        self.max_file_bytes = int(config.batch.max_file_mb * 1024 * 1024)

    async def start(self) -> None:
        await self.store.start()
        if self.runner is not None:
            self.runner.start()

    def wake(self) -> None:
        if self.runner is not None:
            self.runner.wake()

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.close()
        await self.store.close()
