"""Stored conversations shared by instances: two gateway processes on one PostgreSQL database.

A response made on instance A is continued (``previous_response_id``) and retrieved on instance
B at once, and the history B replays reaches the upstream whole; a deletion on B is seen on A;
every request is one ledger row with endpoint ``responses``. On SQLite (one host), a follow-up
prefers the route that answered the turn before, and when that route is down the next one gets
the stored history."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.edge.store.pg_server import drop_schema, fetch, new_schema, require_postgres_sync, schema_url
from tests.support import Mock, Server, wait_for, write_config

WEATHER = {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


def _config(mock: Mock, ledger: str, extra: str = "") -> str:
    return f"""
server: {{host: 127.0.0.1, port: 0}}
state: {{ledger: "{ledger}", ledger_flush_s: 0.05}}
routing: {{retries: 0, cooldown: {{consecutive_failures: 0, failure_percent: 0}}}}
providers:
  chat: {{kind: openai, base_url: "{mock.base_url}", responses: bridge, timeout_s: 10}}
  native: {{kind: openai, base_url: "{mock.base_url}", responses: native, timeout_s: 10}}
{extra}
"""


@pytest.fixture()
def two_instances(mock: Mock, tmp_path: Path) -> Iterator[tuple[Server, Server, str]]:
    require_postgres_sync()
    schema = new_schema()
    url = schema_url(schema)
    procs = []
    try:
        for name in ("a", "b"):
            home = tmp_path / name
            home.mkdir()
            procs.append(Server(["serve", "--config", str(write_config(home / "edge.yaml", _config(mock, url)))], cwd=str(home)))
        yield procs[0], procs[1], url
    finally:
        for proc in procs:
            proc.stop()
        asyncio.run(drop_schema(schema))


@pytest.mark.parametrize("kind", ("chat", "native"))
def test_previous_response_id_across_instances_on_postgres(two_instances: tuple[Server, Server, str], mock: Mock, kind: str) -> None:
    a, b, url = two_instances
    with openai.OpenAI(base_url=a.url + "/v1", api_key="k", max_retries=0) as on_a, openai.OpenAI(base_url=b.url + "/v1", api_key="k", max_retries=0) as on_b:
        first = on_a.responses.create(model=f"{kind}/tool", input="What is the weather in Paris?", tools=[WEATHER])
        [call] = [item for item in first.output if item.type == "function_call"]
        assert on_b.responses.retrieve(first.id).output[0].type == "function_call"  # at once, elsewhere
        second = on_b.responses.create(
            model=f"{kind}/echo",
            previous_response_id=first.id,
            input=[{"type": "function_call_output", "call_id": call.call_id, "output": "19 C"}],
        )
        seen = mock.stats()["last_request"]
        if kind == "chat":  # the chat upstream got the whole conversation, in chat form
            roles = [m["role"] for m in seen["messages"]]
            assert roles == ["user", "assistant", "tool"]
            assert seen["messages"][1]["tool_calls"][0]["id"] == call.call_id
            assert seen["messages"][2] == {"role": "tool", "tool_call_id": call.call_id, "content": "19 C"}
        else:  # the native upstream got the stored items, no id it could not know
            assert "previous_response_id" not in seen
            assert [i["type"] for i in seen["input"]] == ["message", "function_call", "function_call_output"]
        assert second.output_text == "What is the weather in Paris?"
        listed = on_a.responses.input_items.list(second.id, order="asc")
        assert [i.type for i in listed.data] == ["message", "function_call", "function_call_output"]
        on_b.responses.delete(first.id)
        with pytest.raises(openai.NotFoundError):
            on_a.responses.retrieve(first.id)
    rows = wait_for(lambda: _rows(url, 2), timeout=15, what="two ledger rows")
    assert {r["endpoint"] for r in rows} == {"responses"} and {r["status"] for r in rows} == {200}


def _rows(url: str, n: int) -> list[dict[str, object]] | None:
    rows = asyncio.run(fetch(url, "SELECT endpoint, status, prompt_tokens FROM requests"))
    return [dict(r) for r in rows] if len(rows) >= n else None


def test_follow_up_prefers_the_route_that_answered_and_survives_its_loss(mock: Mock, tmp_path: Path) -> None:
    extra = """models:
  pair:
    route:
      - {provider: chat, model: echo, weight: 1}
      - {provider: native, model: echo, weight: 1}
  duo:
    route:
      - {provider: chat, model: echo-a, weight: 1}
      - {provider: chat, model: echo-b, weight: 0}
"""
    gateway = Server(["serve", "--config", str(write_config(tmp_path / "edge.yaml", _config(mock, f"sqlite:///{tmp_path}/edge.db", extra)))], cwd=str(tmp_path))
    try:
        with openai.OpenAI(base_url=gateway.url + "/v1", api_key="k", max_retries=0) as client:
            first = client.responses.with_raw_response.create(model="pair", input="remember me")
            route = first.headers["x-edge-route"]
            previous = first.parse().id
            for _ in range(6):  # weighted 1:1, yet every follow-up goes where the first went
                follow = client.responses.with_raw_response.create(model="pair", input="and again", previous_response_id=previous)
                assert follow.headers["x-edge-route"] == route
                previous = follow.parse().id
            # The route of the conversation fails: the next route gets the stored history.
            start = client.responses.with_raw_response.create(model="duo", input="the first words")
            assert start.headers["x-edge-route"] == "chat/echo-a"
            down = {"by_model": {"echo-a": {"status": 503}}}
            moved = client.responses.with_raw_response.create(model="duo", input="next words", previous_response_id=start.parse().id, extra_body={"mock": down})
            assert moved.headers["x-edge-route"] == "chat/echo-b"
            messages = mock.stats()["last_request"]["messages"]
            assert [(m["role"], m["content"]) for m in messages] == [("user", "the first words"), ("assistant", "the first words"), ("user", "next words")]
    finally:
        gateway.stop()


def test_retention_is_configurable(mock: Mock, tmp_path: Path) -> None:
    extra = "responses: {retention_days: 0}\n"  # kept for no time at all: nothing to read back
    gateway = Server(["serve", "--config", str(write_config(tmp_path / "edge.yaml", _config(mock, f"sqlite:///{tmp_path}/edge.db", extra)))], cwd=str(tmp_path))
    try:
        with openai.OpenAI(base_url=gateway.url + "/v1", api_key="k", max_retries=0) as client:
            made = client.responses.create(model="chat/echo", input="short lived")
            with pytest.raises(openai.NotFoundError):
                client.responses.retrieve(made.id)
            with pytest.raises(openai.BadRequestError):
                client.responses.create(model="chat/echo", input="again", previous_response_id=made.id)
    finally:
        gateway.stop()


def test_a_store_that_is_down_at_start_does_not_stop_the_gateway(mock: Mock, tmp_path: Path) -> None:
    """PostgreSQL not answering at start: the worker serves (as the ledger lets it) and answers
    503 while the stores are down, instead of dying at start."""
    gateway = Server(["serve", "--config", str(write_config(tmp_path / "edge.yaml", _config(mock, "postgresql://postgres@127.0.0.1:9/test")))], cwd=str(tmp_path))
    try:
        with openai.OpenAI(base_url=gateway.url + "/v1", api_key="k", max_retries=0) as client:
            with pytest.raises(openai.InternalServerError) as info:
                client.responses.retrieve("resp_nothing")
            assert info.value.status_code == 503
    finally:
        gateway.stop()
    assert "stored responses wait for it" in gateway.output
