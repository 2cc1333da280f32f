"""``encoding_format: base64`` is honoured for every provider: Gemini answers floats only, and the
gateway encodes them as OpenAI does (little-endian float32, base64), so the openai SDK, which asks
for base64 by default, reads the same vectors either way."""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.support import Mock, Server, request, write_config


@pytest.fixture(scope="module")
def edge(mock: Mock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("embed64")
    config = f"""
server: {{host: 127.0.0.1, port: 0}}
state: {{ledger: "sqlite:///{home}/edge.db"}}
providers:
  gemini: {{kind: gemini, base_url: "{mock.url}"}}
  openai: {{kind: openai, base_url: "{mock.base_url}"}}
"""
    server = Server(["serve", "--config", str(write_config(home / "edge.yaml", config))], cwd=str(home))
    yield server
    server.stop()


def _embed(server: Server, model: str, **extra: object) -> dict[str, object]:
    status, _, data = request("POST", server.url + "/v1/embeddings", json.dumps({"model": model, "input": ["first text", "second"], **extra}).encode(), {"content-type": "application/json"})
    assert status == 200, data
    return json.loads(data)


@pytest.mark.parametrize("model", ["gemini/embed", "openai/embed"])
def test_base64_is_the_float_vector_encoded(edge: Server, mock: Mock, model: str) -> None:
    floats = _embed(edge, model, dimensions=6)
    encoded = _embed(edge, model, dimensions=6, encoding_format="base64")
    if model.startswith("gemini"):
        assert "encoding_format" not in json.dumps(mock.stats()["last_request"])  # Gemini has no such field
    for plain, packed in zip(floats["data"], encoded["data"]):  # type: ignore[call-overload]
        assert isinstance(packed["embedding"], str)
        decoded = struct.unpack("<6f", base64.b64decode(packed["embedding"]))
        assert decoded == pytest.approx(plain["embedding"], abs=1e-6)


def test_the_openai_sdk_reads_gemini_vectors(edge: Server) -> None:
    with openai.OpenAI(base_url=edge.url + "/v1", api_key="k", max_retries=0) as client:
        sdk = client.embeddings.create(model="gemini/embed", input=["first text"], dimensions=6)  # base64 on the wire
    plain = _embed(edge, "gemini/embed", dimensions=6)["data"][0]["embedding"]  # type: ignore[index]
    assert sdk.data[0].embedding == pytest.approx(plain, abs=1e-6)
