"""Starting the gRPC listener of one worker: edge.v1.Gateway, health and reflection on grpc.aio.

Runs in the worker's own event loop (uvloop), beside the HTTP app and on its Gateway. Every
worker binds the same port with SO_REUSEPORT (``grpc.so_reuseport``) and the kernel spreads
connections across them. Limits: messages up to ``server.max_body_mb`` in (the HTTP body limit;
larger ones get RESOURCE_EXHAUSTED from grpc), 64 MiB out; at most ``MAX_CONCURRENT_STREAMS``
calls at once on one connection (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS). Bytes that are not a
valid message reach the handler as None and get INVALID_ARGUMENT instead of grpc's INTERNAL.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError, Message
from grpc_health.v1 import health, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from edge.gateway import Gateway
from edge.v1 import chat_pb2, embeddings_pb2, gateway_pb2, models_pb2

from .health import GatewayHealth
from .servicer import SERVICE, GatewayServicer

__all__ = ["MAX_CONCURRENT_STREAMS", "MAX_SEND_BYTES", "GrpcServer", "start_grpc_server"]

log = logging.getLogger("edge.grpc")

MAX_CONCURRENT_STREAMS = 256
MAX_SEND_BYTES = 64 * 1024 * 1024


class GrpcServer:
    """The handle serve.py keeps: the bound ``port`` and ``stop(grace)``."""

    def __init__(self, server: grpc.aio.Server, port: int, health_servicer: GatewayHealth) -> None:
        self.server = server
        self.port = port
        self.health = health_servicer

    async def stop(self, grace: float | None) -> None:
        """Health turns NOT_SERVING, new calls are refused, running ones get ``grace`` seconds."""
        await self.health.drain()
        await self.server.stop(grace)


def _lenient(parse: Callable[[bytes], Message]) -> Callable[[bytes], Message | None]:
    def deserialize(data: bytes) -> Message | None:
        try:
            return parse(data)
        except (DecodeError, ValueError, RuntimeError):
            return None

    return deserialize


def _handlers(servicer: GatewayServicer) -> grpc.GenericRpcHandler:
    def serialize(message: Message) -> bytes:
        return message.SerializeToString()

    methods: dict[str, Any] = {
        "ChatComplete": grpc.unary_unary_rpc_method_handler(servicer.ChatComplete, _lenient(chat_pb2.ChatRequest.FromString), serialize),
        "ChatStream": grpc.unary_stream_rpc_method_handler(servicer.ChatStream, _lenient(chat_pb2.ChatRequest.FromString), serialize),
        "Embed": grpc.unary_unary_rpc_method_handler(servicer.Embed, _lenient(embeddings_pb2.EmbedRequest.FromString), serialize),
        "ListModels": grpc.unary_unary_rpc_method_handler(servicer.ListModels, _lenient(models_pb2.ListModelsRequest.FromString), serialize),
    }
    # Importing gateway_pb2 also puts the service into the default descriptor pool, which is
    # where server reflection looks it up.
    declared = gateway_pb2.DESCRIPTOR.services_by_name["Gateway"]
    assert declared.full_name == SERVICE and set(declared.methods_by_name) == set(methods)
    return grpc.method_handlers_generic_handler(SERVICE, methods)


def server_options(gateway: Gateway) -> list[tuple[str, Any]]:
    return [
        ("grpc.so_reuseport", 1),
        ("grpc.max_receive_message_length", gateway.max_body_bytes),
        ("grpc.max_send_message_length", MAX_SEND_BYTES),
        ("grpc.max_concurrent_streams", MAX_CONCURRENT_STREAMS),
        # Let clients keep idle connections alive with pings (every 10 s at most).
        ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ("grpc.keepalive_permit_without_calls", 1),
    ]


async def start_grpc_server(gateway: Gateway, host: str, port: int) -> GrpcServer:
    """Bind ``host:port`` (0: any free port) and start serving on the running loop."""
    server = grpc.aio.server(options=server_options(gateway))
    server.add_generic_rpc_handlers((_handlers(GatewayServicer(gateway)),))
    health_servicer = GatewayHealth(gateway, (SERVICE,))
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection((SERVICE, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    address = f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError as exc:  # grpc raises RuntimeError("Failed to bind ...")
        raise OSError(f"gRPC cannot listen on {address}: {exc}") from None
    if not bound:
        raise OSError(f"gRPC cannot listen on {address}")
    await server.start()
    await health_servicer.start()
    return GrpcServer(server, bound, health_servicer)
