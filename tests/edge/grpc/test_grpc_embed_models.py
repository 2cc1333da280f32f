"""Embed and ListModels over gRPC."""

from __future__ import annotations

import json

from edge.v1 import embeddings_pb2, models_pb2
from tests.edge.grpc.grpc_helpers import GrpcGateway, metadata
from tests.support import Mock, request


def test_embed_texts(grpc_gateway: GrpcGateway, mock: Mock) -> None:
    response, call = grpc_gateway.stub.Embed.with_call(embeddings_pb2.EmbedRequest(model="embed", inputs=["a b", "c"], dimensions=4, tags={"job": "index"}), timeout=10)
    assert [d.index for d in response.data] == [0, 1]
    assert all(len(d.values) == 4 for d in response.data)
    assert response.data[0].values != response.data[1].values
    assert response.usage.prompt_tokens == 3 and response.usage.completion_tokens == 0
    assert (response.route.provider, response.route.model) == ("up", "embed")
    assert not response.HasField("cost_usd"), "the embed model has no price in the test config"
    assert metadata(call, "x-request-id") == response.request_id
    seen = mock.stats()["last_request"]
    assert (seen["model"], seen["input"], seen["dimensions"]) == ("embed", ["a b", "c"], 4)
    row = grpc_gateway.ledger(response.request_id, "surface, endpoint, status, prompt_tokens, tags")
    assert tuple(row)[:4] == ("grpc", "embeddings", 200, 3) and json.loads(row["tags"]) == {"job": "index"}


def test_embed_token_ids(grpc_gateway: GrpcGateway, mock: Mock) -> None:
    request = embeddings_pb2.EmbedRequest(model="embed", token_inputs=[embeddings_pb2.TokenIds(ids=[1, 2, 3])])
    response = grpc_gateway.stub.Embed(request, timeout=10)
    assert len(response.data) == 1 and len(response.data[0].values) == 8
    assert mock.stats()["last_request"]["input"] == [[1, 2, 3]]


def test_embed_base64_from_upstream_is_decoded(grpc_gateway: GrpcGateway) -> None:
    plain = grpc_gateway.stub.Embed(embeddings_pb2.EmbedRequest(model="embed", inputs=["same text"]), timeout=10)
    request = embeddings_pb2.EmbedRequest(model="embed", inputs=["same text"])
    request.extra_body.update({"encoding_format": "base64"})
    packed = grpc_gateway.stub.Embed(request, timeout=10)
    assert list(packed.data[0].values) == list(plain.data[0].values)


def test_list_models(grpc_gateway: GrpcGateway) -> None:
    response = grpc_gateway.stub.ListModels(models_pb2.ListModelsRequest(), timeout=10)
    rows = {(m.id, m.owned_by) for m in response.models}
    assert {("chat", "llm-edge"), ("failover", "llm-edge"), ("embed", "llm-edge"), ("up/echo", "up"), ("up/tool", "up")} <= rows
    assert all(m.created > 0 for m in response.models)
    # the same catalogue, in the same order, as GET /v1/models
    status, _, data = request("GET", grpc_gateway.server.url + "/v1/models")
    assert status == 200
    assert [(m.id, m.owned_by, m.created) for m in response.models] == [(m["id"], m["owned_by"], m["created"]) for m in json.loads(data)["data"]]
