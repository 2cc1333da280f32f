"""Gateway keys: when a key is configured, requests without it get 401 and never go upstream."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.support import Mock, Server, gateway_config, request, write_config

ADMIN = "edge-admin-key-for-tests-0001"


@pytest.fixture(scope="module")
def keyed(mock: Mock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("keyed")
    path = write_config(home / "edge.yaml", gateway_config(mock.base_url, home, extra=f"keys:\n  admin: {ADMIN}\n"))
    server = Server(["serve", "--config", str(path)], cwd=str(home))
    yield server
    server.stop()
    assert ADMIN not in server.output


def test_missing_and_wrong_keys_are_401(keyed: Server, mock: Mock) -> None:
    before = mock.stats()["requests"]
    status, headers, body = request("POST", keyed.url + "/v1/chat/completions", b'{"model": "chat", "messages": [{"role": "user", "content": "x"}]}', {"content-type": "application/json"})
    assert status == 401 and b"Missing gateway key" in body and headers["x-request-id"]
    for key in ("wrong-key", "Bearer-less"):
        with openai.OpenAI(base_url=keyed.url + "/v1", api_key=key, max_retries=0) as client:
            with pytest.raises(openai.AuthenticationError) as info:
                client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "x"}])
            assert info.value.code == "invalid_api_key"
            assert info.value.response.headers["x-request-id"]
    assert mock.stats()["requests"] == before


def test_right_key_passes(keyed: Server) -> None:
    with openai.OpenAI(base_url=keyed.url + "/v1", api_key=ADMIN, max_retries=0) as client:
        assert client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "ok"}]).choices[0].message.content == "ok"
        assert [m.id for m in client.models.list()]
