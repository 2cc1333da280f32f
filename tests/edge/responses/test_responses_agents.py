"""The OpenAI Agents SDK (openai-agents, which speaks the Responses API by default) running one
agent with one function tool through a real gateway in front of the embedded mock: the model
calls the tool, the SDK runs it and sends its output back, the model answers in text."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.support import Server, write_config

agents = pytest.importorskip("agents", reason="openai-agents is in the test extra: pip install -e '.[test]'")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home: Path = tmp_path_factory.mktemp("agents")
    config = f'server: {{host: 127.0.0.1, port: 0}}\nstate: {{ledger: "sqlite:///{home}/edge.db"}}\nproviders:\n  mock: {{kind: mock}}\n'
    proc = Server(["serve", "--config", str(write_config(home / "edge.yaml", config))], cwd=str(home))
    yield proc
    proc.stop()


async def test_agent_with_one_function_tool(gateway: Server) -> None:
    calls: list[str] = []

    @agents.function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        calls.append(city)
        return f"Sunny, 19 C in {city}"

    agents.set_tracing_disabled(True)
    async with openai.AsyncOpenAI(base_url=gateway.url + "/v1", api_key="k", max_retries=0) as client:
        model = agents.OpenAIResponsesModel(model="mock/tool", openai_client=client)
        agent = agents.Agent(name="weather", instructions="Answer with the weather.", tools=[get_weather], model=model)
        result = await agents.Runner.run(agent, "What is the weather in Paris?", max_turns=4)
    assert calls == ["Paris"]  # the mock filled the tool's schema; the SDK ran the tool once
    assert result.final_output == "What is the weather in Paris?"
    kinds = [item.type for item in result.new_items]
    assert kinds == ["tool_call_item", "tool_call_output_item", "message_output_item"]
    assert len(result.raw_responses) == 2 and all(r.response_id and r.response_id.startswith("resp_") for r in result.raw_responses)
