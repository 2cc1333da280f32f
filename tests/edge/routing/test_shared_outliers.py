"""Outlier detection shared through Redis (edge.routing.shared), with a redis-server of the
test's own: a failure rate no single instance sees enough of ejects the route everywhere, and
the ejection cap holds across instances (a model never has every route out at once).

Two real gateways (one worker each) in front of the mock; routes are named per run so that no
state from an earlier run can matter.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_sync

from tests.edge.limits.redis_server import OwnRedis
from tests.support import Mock, Server, gateway_config, request, write_config


@pytest.fixture()
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    yield server
    server.stop()


def _instances(mock: Mock, home: Path, redis_url: str, models: str, cooldown: str) -> list[Server]:
    text = gateway_config(mock.base_url, home, routing=f"routing:\n  retries: 0\n  cooldown: {cooldown}\n")
    head, _, rest = text.partition("models:\n")
    text = head + "models:\n" + models + rest
    text = text.replace("state:\n", f"state:\n  redis: {redis_url}\n")
    path = write_config(home / "edge.yaml", text)
    return [Server(["serve", "--config", str(path)], cwd=str(home)) for _ in range(2)]


def _ask(server: Server, model: str, knobs: dict | None = None) -> tuple[int, str | None]:
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "x"}], "mock": knobs or {}}).encode()
    status, _, data = request("POST", server.url + "/v1/chat/completions", body, {"content-type": "application/json"})
    code = json.loads(data).get("error", {}).get("code") if status != 200 else None
    return status, code


def _stop(servers: list[Server]) -> None:
    codes = [server.stop() for server in servers]  # every one stopped before any assert
    assert codes == [0] * len(servers), codes
    for server in servers:
        assert "Traceback" not in server.output, server.output[-3000:]


def test_a_failure_rate_spread_over_instances_ejects_the_route_everywhere(mock: Mock, tmp_path: Path, own_redis: OwnRedis) -> None:
    route = f"up/rate-{uuid.uuid4().hex[:10]}"
    # A model that answers 503 while its route is out (panic: false; by default the route that
    # cooled first would still be tried: tests/edge/routing/test_panic.py).
    model = "rate"
    models = f"  rate: {{route: [{{provider: up, model: {route[3:]}}}], panic: false}}\n"
    # Locally each instance sees 10 requests: under min_requests, so only the shared count can eject.
    first, second = servers = _instances(mock, tmp_path, own_redis.url, models, "{consecutive_failures: 0, failure_percent: 50, min_requests: 20, base_ejection_s: 30}")
    try:
        for server in servers:
            for i in range(10):
                status, _ = _ask(server, model, {"status": 503} if i % 5 else None)  # 8 of 10 fail
                assert status in (200, 503)
        deadline = time.monotonic() + 5
        codes: list[str | None] = []
        while time.monotonic() < deadline:
            before = mock.stats()["chat_requests"]
            codes = [_ask(server, model)[1] for server in servers]
            if codes == ["cooling_down", "cooling_down"]:
                assert mock.stats()["chat_requests"] == before  # neither instance called the upstream
                break
            time.sleep(0.1)
        assert codes == ["cooling_down", "cooling_down"], codes
        with redis_sync.Redis.from_url(own_redis.url) as client:
            mark = client.pttl(f"edge:cd:open:{route}")
        assert 20_000 < mark <= 30_000
    finally:
        _stop(servers)


def test_the_ejection_cap_holds_across_instances(mock: Mock, tmp_path: Path, own_redis: OwnRedis) -> None:
    tag = uuid.uuid4().hex[:10]
    routes = [f"up/pair-a-{tag}", f"up/pair-b-{tag}"]
    models = f"  pair:\n    route:\n      - {{provider: up, model: pair-a-{tag}}}\n      - {{provider: up, model: pair-b-{tag}}}\n"
    servers = _instances(mock, tmp_path, own_redis.url, models, "{consecutive_failures: 2, failure_percent: 0, max_ejection_percent: 50, base_ejection_s: 30}")
    client = redis_sync.Redis.from_url(own_redis.url)
    try:
        codes = []
        for i in range(30):  # every call of either route fails, through both instances in turn
            status, code = _ask(servers[i % 2], "pair", {"status": 503})
            codes.append(code)
            marks = [client.exists(f"edge:cd:open:{route}") for route in routes]
            assert sum(marks) <= 1, f"both routes of the model marked out after request {i}"
        assert sum(client.exists(f"edge:cd:open:{route}") for route in routes) == 1  # one was ejected
        # With one route always in service, no request is refused for cooling down.
        assert "cooling_down" not in codes, codes
    finally:
        client.close()
        _stop(servers)
