"""grpc.health.v1 follows /readyz; server reflection lets tools call edge.v1 without the .proto."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import grpc.aio
import pytest
from google.protobuf import descriptor_pool, json_format, message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from edge.config import parse_config
from edge.gateway import Gateway
from edge.grpc.server import start_grpc_server
from tests.edge.grpc.grpc_helpers import GrpcGateway

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def test_health_check_serving(grpc_gateway: GrpcGateway) -> None:
    stub = health_pb2_grpc.HealthStub(grpc_gateway.channel)
    for service in ("", "edge.v1.Gateway"):
        assert stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status == SERVING
    with pytest.raises(grpc.RpcError) as caught:
        stub.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=5)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_health_follows_readiness_and_drain(tmp_path: Path) -> None:
    """In process: NOT_SERVING until the gateway is ready, SERVING while it is, NOT_SERVING on drain."""
    config = parse_config({"state": {"ledger": f"sqlite:///{tmp_path}/edge.db"}})
    gateway = Gateway(config)
    server = await start_grpc_server(gateway, "127.0.0.1", 0)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            check = health_pb2.HealthCheckRequest(service="edge.v1.Gateway")
            assert (await stub.Check(check, timeout=5)).status == NOT_SERVING
            watch = stub.Watch(health_pb2.HealthCheckRequest(service=""), timeout=10)
            assert (await watch.read()).status == NOT_SERVING
            gateway.ready = True
            assert (await stub.Check(check, timeout=5)).status == SERVING
            assert (await asyncio.wait_for(watch.read(), 2.0)).status == SERVING
            gateway.ready = False  # what serve.py does on SIGTERM, before stopping the listener
            assert (await stub.Check(check, timeout=5)).status == NOT_SERVING
            gateway.ready = True
            await server.health.drain()
            assert (await stub.Check(check, timeout=5)).status == NOT_SERVING
            assert (await asyncio.wait_for(watch.read(), 2.0)).status == NOT_SERVING
            watch.cancel()
    finally:
        await server.stop(1.0)
        await gateway.close()


def test_reflection_lists_the_services_and_describes_them(grpc_gateway: GrpcGateway) -> None:
    database = ProtoReflectionDescriptorDatabase(grpc_gateway.channel)
    services = set(database.get_services())
    assert {"edge.v1.Gateway", "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= services
    pool = descriptor_pool.DescriptorPool(database)
    service = pool.FindServiceByName("edge.v1.Gateway")
    assert [m.name for m in service.methods] == ["ChatComplete", "ChatStream", "Embed", "ListModels"]
    assert service.file.name == "edge/v1/gateway.proto"

    # What grpcurl does: build the request from JSON with reflected descriptors only.
    method = service.methods_by_name["ChatComplete"]
    request_class = message_factory.GetMessageClass(method.input_type)
    response_class = message_factory.GetMessageClass(method.output_type)
    request = json_format.ParseDict({"model": "chat", "messages": [{"role": "ROLE_USER", "content": "via reflection"}]}, request_class())
    call = grpc_gateway.channel.unary_unary("/edge.v1.Gateway/ChatComplete", request_serializer=request_class.SerializeToString, response_deserializer=response_class.FromString)
    answer = json_format.MessageToDict(call(request, timeout=10))
    assert answer["choices"][0]["message"]["content"] == "via reflection"
    assert answer["choices"][0]["finishReason"] == "FINISH_REASON_STOP"
