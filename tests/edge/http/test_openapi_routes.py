"""GET /openapi.json describes every route the app registers, with its methods.

The routes are read from the app the factory builds (edge.http.app.create_app) for the same
config the gateway process serves; the document is what that process answers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.config import load_config
from edge.http.app import create_app
from tests.support import Mock, Server, gateway_config, request, write_config

# aiohttp's "{model:.+}" is OpenAPI's "{model}".
_PATTERN = re.compile(r"\{(\w+):[^}]+\}")


@pytest.fixture(scope="module")
def served(mock: Mock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    home = tmp_path_factory.mktemp("openapi")
    path = write_config(home / "edge.yaml", gateway_config(mock.base_url, home, extra="keys: {admin: sk-admin-openapi-0123456789}\nui: {enabled: true, catalog: true}\n"))
    server = Server(["serve", "--config", str(path)], cwd=str(home))
    yield server, path
    assert server.stop() == 0


def _registered(config_path: Path) -> set[tuple[str, str]]:
    app = create_app(load_config(config_path))
    out = set()
    for route in app.router.routes():
        if route.method in ("HEAD", "*"):  # aiohttp adds HEAD beside every GET
            continue
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        assert path, route
        out.add((_PATTERN.sub(r"{\1}", path), route.method.lower()))
    return out


def test_every_registered_route_is_in_the_document(served: tuple[Server, Path]) -> None:
    server, path = served
    status, _, raw = request("GET", server.url + "/openapi.json")
    assert status == 200
    doc = json.loads(raw)
    described = {(p, m) for p, ops in doc["paths"].items() for m in ops}
    registered = _registered(path)
    assert registered - described == set(), "routes missing from /openapi.json"
    assert described - registered == set(), "/openapi.json describes routes the app does not have"
    for wanted in ("/v1/responses", "/v1/messages", "/v1/messages/count_tokens", "/v1/files", "/v1/batches", "/v1/batches/{batch_id}/retry"):
        assert wanted in doc["paths"], wanted
    for path_, ops in doc["paths"].items():
        for method, op in ops.items():
            answers = op["responses"]
            assert op.get("summary") and ("default" in answers or not path_.startswith("/v1/")), (path_, method)  # every API answer has an error envelope
            assert any(code.startswith("2") for code in answers) or (path_, method) == ("/v1/responses", "get"), (path_, method)  # that one only refuses (426)
    # /v1/messages answers errors in Anthropic's shape, the rest in OpenAI's envelope.
    messages = doc["paths"]["/v1/messages"]["post"]["responses"]
    assert messages["529"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/AnthropicError"}
    assert doc["paths"]["/v1/batches"]["post"]["responses"]["404"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorEnvelope"}
    assert doc["components"]["schemas"]["MessagesRequest"]["required"] == ["max_tokens", "messages", "model"]
