"""grpc.health.v1.Health whose serving state follows /readyz (``Gateway.ready``).

Check reads the flag live for the overall service ("") and edge.v1.Gateway; Watch streams get
changes from a light poll (every 0.5 s). On drain the server enters graceful shutdown, which
pins every service to NOT_SERVING. Protocol: https://github.com/grpc/grpc/blob/master/doc/health-checking.md
"""

from __future__ import annotations

import asyncio
import contextlib

import grpc
from grpc_health.v1 import health, health_pb2

from edge.gateway import Gateway

__all__ = ["GatewayHealth"]

_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class GatewayHealth(health.aio.HealthServicer):
    def __init__(self, gateway: Gateway, services: tuple[str, ...]) -> None:
        super().__init__()
        self._gw = gateway
        self._services = ("", *services)
        self._poll: asyncio.Task[None] | None = None
        self._draining = False
        # The status last set per service: the base class keeps its own map, but as a private
        # attribute, so this one says when a change must be set (and Watch streams told).
        self._set_status: dict[str, int] = {}

    def _status(self) -> int:
        return _SERVING if self._gw.ready and not self._draining else _NOT_SERVING

    async def Check(self, request: health_pb2.HealthCheckRequest, context: grpc.aio.ServicerContext) -> health_pb2.HealthCheckResponse:
        if request.service in self._services:
            return health_pb2.HealthCheckResponse(status=self._status())
        return await super().Check(request, context)

    async def start(self, interval_s: float = 0.5) -> None:
        await self._sync()
        self._poll = asyncio.get_running_loop().create_task(self._follow(interval_s))

    async def _follow(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            await self._sync()

    async def _sync(self) -> None:
        status = self._status()
        for service in self._services:
            if self._set_status.get(service) != status:
                await self.set(service, status)
                self._set_status[service] = status

    async def drain(self) -> None:
        """NOT_SERVING from now on, for Check and every Watch."""
        self._draining = True
        if self._poll is not None:
            self._poll.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poll
            self._poll = None
        await self.enter_graceful_shutdown()
