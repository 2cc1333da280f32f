"""The response cache over gRPC ChatComplete (issue 17): the same entries as HTTP's plain answers.

A real gateway with HTTP and gRPC ports in front of the real mock; the official grpcio client.
A second identical call is answered from the cache (no upstream call, trailing metadata
``x-edge-cache: hit``, a ledger row with cost 0 and the saved cost), and an answer made over HTTP
answers the same request over gRPC, since both surfaces decode to the same request.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator

import grpc
import pytest

from tests.edge.cache.test_response_cache import ADMIN, calls, config, post
from tests.edge.grpc.grpc_helpers import GrpcGateway, chat
from tests.support import Mock, Server, write_config

AUTH = (("authorization", f"Bearer {ADMIN}"),)


@pytest.fixture(scope="module")
def upstream() -> Iterator[Mock]:
    proc = Mock()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def gateway(upstream: Mock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GrpcGateway]:
    home = tmp_path_factory.mktemp("rcache-grpc")
    server = Server(["serve", "--config", str(write_config(home / "edge.yaml", config(upstream.base_url, home))), "--grpc-port", "0"], cwd=str(home))
    gw = GrpcGateway(server, home)
    yield gw
    gw.close()
    assert server.stop() == 0


def _complete(gw: GrpcGateway, text: str, extra: tuple[tuple[str, str], ...] = ()) -> tuple[object, dict[str, str]]:
    response, call = gw.stub.ChatComplete.with_call(chat(text, model="cached"), metadata=AUTH + extra, timeout=20)
    return response, dict(call.trailing_metadata())


def test_a_second_call_is_a_hit(gateway: GrpcGateway, upstream: Mock) -> None:
    text = f"grpc cache {secrets.token_hex(6)}"
    before = calls(upstream)
    first, trailers = _complete(gateway, text)
    assert trailers["x-edge-cache"] == "miss" and calls(upstream) == before + 1
    again, trailers = _complete(gateway, text)
    assert trailers["x-edge-cache"] == "hit" and calls(upstream) == before + 1
    assert again.choices[0].message.content == first.choices[0].message.content == text  # type: ignore[attr-defined]
    assert again.usage.completion_tokens == first.usage.completion_tokens > 0  # type: ignore[attr-defined]
    row = gateway.ledger(trailers["x-request-id"])
    assert (row["surface"], row["cache_hit"], row["cost_usd"]) == ("grpc", 1, 0.0) and row["saved_usd"] > 0
    _, trailers = _complete(gateway, text, (("x-edge-cache", "off"),))
    assert "x-edge-cache" not in trailers and calls(upstream) == before + 2


def test_an_http_answer_serves_grpc(gateway: GrpcGateway, upstream: Mock) -> None:
    text = f"http then grpc {secrets.token_hex(6)}"
    status, headers, data = post(gateway.server, {"model": "cached", "messages": [{"role": "user", "content": text}]})
    assert status == 200 and headers["x-edge-cache"] == "miss"
    before = calls(upstream)
    response, trailers = _complete(gateway, text)
    assert trailers["x-edge-cache"] == "hit" and calls(upstream) == before
    assert response.choices[0].message.content == json.loads(data)["choices"][0]["message"]["content"]  # type: ignore[attr-defined]


def test_a_bad_cache_header_is_invalid_argument(gateway: GrpcGateway, upstream: Mock) -> None:
    before = calls(upstream)
    with pytest.raises(grpc.RpcError) as caught:
        _complete(gateway, "bad header", (("x-edge-cache", "forever"),))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "x-edge-cache" in (caught.value.details() or "")
    assert calls(upstream) == before

