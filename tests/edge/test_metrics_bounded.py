"""/metrics stays bounded whatever model names clients invent (issue 16, item 7).

Before, 2,000 random ``up/<name>`` passthrough models took /metrics from 1,183 to 97,185 series
(7.9 MB): every name got its own children in six metric families. Now a name the config does not
list is counted as ``model="<other>"``; configured public models and the models a provider lists
keep their names. Real gateway, real mock, 2,000 real requests.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support import Mock, Server, gateway_config, request, write_config


def _series(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


@pytest.fixture(scope="module")
def gateway(mock: Mock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home: Path = tmp_path_factory.mktemp("metrics-bounded")
    server = Server(["serve", "--config", str(write_config(home / "edge.yaml", gateway_config(mock.base_url, home)))], cwd=str(home))
    yield server
    assert server.stop() == 0


def _chat(server: Server, model: str) -> int:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    return request("POST", server.url + "/v1/chat/completions", json.dumps(body).encode(), {"content-type": "application/json"})[0]


def test_two_thousand_invented_models_add_one_label_value(gateway: Server) -> None:
    assert _chat(gateway, "chat") == 200 and _chat(gateway, "up/echo") == 200  # configured, listed
    before = _series(request("GET", gateway.url + "/metrics")[2].decode())
    names = [f"up/{secrets.token_hex(8)}" for _ in range(2000)]
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda name: _chat(gateway, name), names))
    assert statuses.count(200) == len(names)
    text = request("GET", gateway.url + "/metrics")[2].decode()
    after = _series(text)
    # One new set of children (model="<other>", provider up, status 200): about 50 series.
    assert len(after) - len(before) <= 60, (len(before), len(after))
    assert not any(name in text for name in names)
    assert 'edge_requests_total{model="<other>",provider="up",status="200"} 2000.0' in after
    assert any(line.startswith('edge_requests_total{model="chat"') for line in after)
    assert any(line.startswith('edge_requests_total{model="up/echo"') for line in after)  # listed in providers.up.models
