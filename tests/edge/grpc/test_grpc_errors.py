"""Every error mapping with its google.rpc details: ErrorInfo always, RetryInfo for 429/503."""

from __future__ import annotations

import grpc
import pytest

from edge.v1 import chat_pb2, embeddings_pb2, models_pb2
from tests.edge.grpc.grpc_helpers import GrpcGateway, chat, details, metadata, struct


def _fails(call, request, code: grpc.StatusCode, **kwargs):  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as caught:
        result = call(request, timeout=10, **kwargs)
        if not hasattr(result, "choices") and not hasattr(result, "data") and not hasattr(result, "models"):
            list(result)  # a stream: the error comes while reading
    err = caught.value
    assert err.code() == code, (err.code(), err.details())
    info, retry = details(err)
    assert info is not None and info.domain == "llm-edge"
    assert metadata(err, "x-request-id")
    return err, info, retry


@pytest.mark.parametrize("method", ["ChatComplete", "ChatStream"])
def test_unset_role_is_invalid_argument_with_the_field(grpc_gateway: GrpcGateway, method: str) -> None:
    request = chat_pb2.ChatRequest(model="chat", messages=[chat_pb2.Message(content="no role")])
    err, info, retry = _fails(getattr(grpc_gateway.stub, method), request, grpc.StatusCode.INVALID_ARGUMENT)
    assert info.reason == "invalid_request_error"
    assert dict(info.metadata) == {"type": "invalid_request_error", "code": "", "param": "messages[0].role", "status": "400"}
    assert retry is None


def test_schema_errors_name_the_path(grpc_gateway: GrpcGateway) -> None:
    err, info, _ = _fails(grpc_gateway.stub.ChatComplete, chat_pb2.ChatRequest(model="chat"), grpc.StatusCode.INVALID_ARGUMENT)
    assert info.metadata["param"] == "messages" and "messages" in err.details()
    err, info, _ = _fails(grpc_gateway.stub.ChatComplete, chat_pb2.ChatRequest(messages=chat().messages), grpc.StatusCode.INVALID_ARGUMENT)
    assert info.metadata["param"] == "model"
    both = chat_pb2.Message(role=chat_pb2.ROLE_USER, content="x", parts=[chat_pb2.ContentPart(text="y")])
    _, info, _ = _fails(grpc_gateway.stub.ChatComplete, chat_pb2.ChatRequest(model="chat", messages=[both]), grpc.StatusCode.INVALID_ARGUMENT)
    assert info.metadata["param"] == "messages[0].content"
    request = chat()
    request.extra_body.CopyFrom(struct({"model": "other"}))
    _, info, _ = _fails(grpc_gateway.stub.ChatComplete, request, grpc.StatusCode.INVALID_ARGUMENT)
    assert info.metadata["param"] == "extra_body.model"
    _, info, _ = _fails(grpc_gateway.stub.Embed, embeddings_pb2.EmbedRequest(model="embed"), grpc.StatusCode.INVALID_ARGUMENT)
    assert info.metadata["param"] == "input"


def test_bytes_that_are_not_a_message_get_invalid_argument(grpc_gateway: GrpcGateway) -> None:
    raw = grpc_gateway.channel.unary_unary("/edge.v1.Gateway/ChatComplete", request_serializer=None, response_deserializer=None)
    with pytest.raises(grpc.RpcError) as caught:
        raw(b"\x0a\xff\xff\xff\xff\x0f garbage", timeout=5)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    info, _ = details(caught.value)
    assert info is not None and info.reason == "invalid_message"
    # ... and the server is still fine
    assert grpc_gateway.stub.ChatComplete(chat("still here"), timeout=5).choices[0].message.content == "still here"


def test_a_message_over_the_size_limit_is_refused(grpc_gateway: GrpcGateway) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        grpc_gateway.stub.ChatComplete(chat("x" * (17 * 1024 * 1024)), timeout=10)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


@pytest.mark.parametrize("method", ["ChatComplete", "ChatStream"])
def test_unknown_model_is_not_found(grpc_gateway: GrpcGateway, method: str) -> None:
    err, info, _ = _fails(getattr(grpc_gateway.stub, method), chat(model="no-such-model"), grpc.StatusCode.NOT_FOUND)
    assert info.reason == "model_not_found"
    assert dict(info.metadata) == {"type": "invalid_request_error", "code": "model_not_found", "param": "model", "status": "404"}
    assert "no-such-model" in err.details()


def test_gateway_key_from_metadata(keyed_gateway: GrpcGateway) -> None:
    stub = keyed_gateway.stub
    for sent in ((), (("authorization", "Bearer sk-wrong"),), (("authorization", "Basic abc"),)):
        for call, request in ((stub.ChatComplete, chat()), (stub.ListModels, models_pb2.ListModelsRequest()), (stub.Embed, embeddings_pb2.EmbedRequest(model="embed", inputs=["x"]))):
            _, info, _ = _fails(call, request, grpc.StatusCode.UNAUTHENTICATED, metadata=sent)
            assert info.reason == "invalid_api_key" and info.metadata["status"] == "401"
    good = (("authorization", "Bearer sk-edge-admin-0123456789"),)
    assert stub.ChatComplete(chat("with key"), metadata=good, timeout=10).choices[0].message.content == "with key"
    assert "".join(c.content for c in stub.ChatStream(chat("with key"), metadata=good, timeout=10)) == "with key"


@pytest.mark.parametrize("method", ["ChatComplete", "ChatStream"])
def test_upstream_429_is_resource_exhausted_with_retry_info(grpc_gateway: GrpcGateway, method: str) -> None:
    err, info, retry = _fails(getattr(grpc_gateway.stub, method), chat(mock={"status": 429, "retry_after": 2}), grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert info.reason == "rate_limit_exceeded"
    assert dict(info.metadata) == {"type": "rate_limit_error", "code": "rate_limit_exceeded", "param": "", "status": "429"}
    assert retry is not None and retry.retry_delay.seconds == 2 and retry.retry_delay.nanos == 0
    assert "mock upstream error 429" in err.details()


def test_upstream_503_is_unavailable(grpc_gateway: GrpcGateway) -> None:
    _, info, retry = _fails(grpc_gateway.stub.ChatComplete, chat(mock={"status": 503, "retry_after": 1.5}), grpc.StatusCode.UNAVAILABLE)
    assert info.metadata["status"] == "503" and info.metadata["type"] == "server_error"
    assert retry is not None and (retry.retry_delay.seconds, retry.retry_delay.nanos) == (1, 500_000_000)
    _, info, retry = _fails(grpc_gateway.stub.ChatComplete, chat(mock={"status": 503}), grpc.StatusCode.UNAVAILABLE)
    assert retry is None, "no RetryInfo when nobody said how long"


def test_unreachable_upstream_is_unavailable(grpc_gateway: GrpcGateway) -> None:
    _, info, _ = _fails(grpc_gateway.stub.ChatComplete, chat(model="down/echo"), grpc.StatusCode.UNAVAILABLE)
    assert (info.reason, info.metadata["status"]) == ("upstream_unreachable", "502")


def test_upstream_500_is_internal(grpc_gateway: GrpcGateway) -> None:
    _, info, _ = _fails(grpc_gateway.stub.ChatComplete, chat(mock={"status": 500}), grpc.StatusCode.INTERNAL)
    assert info.metadata["status"] == "500"


def test_stream_broken_after_it_began_ends_with_unavailable(grpc_gateway: GrpcGateway) -> None:
    stream = grpc_gateway.stub.ChatStream(chat(mock={"tokens": 20, "fail_after": 4, "chunk_delay_ms": 20}), timeout=10)
    received = []
    with pytest.raises(grpc.RpcError) as caught:
        for chunk in stream:
            received.append(chunk)
    assert received and received[0].route.provider == "up", "the first messages arrived before the failure"
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    info, _ = details(caught.value)
    assert info is not None and info.reason == "upstream_stream_error"
    row = grpc_gateway.ledger(received[0].request_id, "status, error_type, estimated, completion_tokens")
    assert (row["status"], row["estimated"]) == (502, 1) and row["completion_tokens"] > 0


def test_key_rate_limit_applies_over_grpc(keyed_gateway: GrpcGateway) -> None:
    """Admission is the same step on both surfaces: a key's RPM holds over gRPC too."""
    import json

    from tests.support import request

    status, _, body = request(
        "POST", keyed_gateway.server.url + "/v1/keys",
        json.dumps({"name": "grpc-limited", "rpm": 2, "tags": {"customer": "grpc"}}).encode(),
        {"authorization": "Bearer sk-edge-admin-0123456789", "content-type": "application/json"},
    )
    assert status == 201, body  # one worker, which reloaded its keys before answering
    limited = (("authorization", "Bearer " + json.loads(body)["key"]),)
    for _ in range(2):
        keyed_gateway.stub.ChatComplete(chat("within the limit"), metadata=limited, timeout=10)
    err, info, retry = _fails(keyed_gateway.stub.ChatComplete, chat("over the limit"), grpc.StatusCode.RESOURCE_EXHAUSTED, metadata=limited)
    assert info.reason == "rate_limit_exceeded" and info.metadata["status"] == "429"
    assert retry is not None and retry.retry_delay.seconds >= 1
    assert "2 requests per minute" in err.details()


@pytest.mark.parametrize("method", ["ChatComplete", "ChatStream"])
def test_a_prompt_over_a_keys_token_limit_is_refused_over_grpc(keyed_gateway: GrpcGateway, method: str) -> None:
    """The token estimate reads the message's size on gRPC too (ByteSize, for a key with a
    token limit): a 400 KB prompt against 50,000 tokens per minute is refused for good."""
    import json

    from tests.support import request

    status, _, body = request(
        "POST", keyed_gateway.server.url + "/v1/keys",
        json.dumps({"name": f"grpc-tpm-{method}", "tpm": 50_000}).encode(),
        {"authorization": "Bearer sk-edge-admin-0123456789", "content-type": "application/json"},
    )
    assert status == 201, body
    limited = (("authorization", "Bearer " + json.loads(body)["key"]),)
    err, info, _ = _fails(getattr(keyed_gateway.stub, method), chat("word " * 80_000), grpc.StatusCode.RESOURCE_EXHAUSTED, metadata=limited)
    assert info.reason == "tokens_exceed_limit" and "50000 tokens per minute" in err.details()
    answer = getattr(keyed_gateway.stub, method)(chat("within the limit"), metadata=limited, timeout=10)
    assert answer.choices if method == "ChatComplete" else list(answer)  # the refusal took nothing
