"""Every field of the chat request, for every provider kind, through a real gateway to the mock.

The expected action is read from the kind's own declaration (``KIND.fields``, adapters/fields.py),
so these tests hold the code to what the table in docs/compatibility.md says:

- translated: 200, and the upstream body (what the mock saw) holds the field where the
  declaration says (``upstream``; "URL" for Gemini's model and stream), and nothing is named as
  dropped;
- passed: 200, and the upstream body holds the field exactly as sent;
- refused: 400 ``unsupported_parameter`` with ``param`` naming the field, and the mock saw no
  request; then, with ``x-edge-drop-params: true``, the request goes out without it and the
  field is named as for an ignored one;
- ignored (and refused-then-dropped): 200, and the ``x-edge-dropped-params`` header, the
  ledger row (``dropped_params``) and ``edge_dropped_params_total{provider,field}`` name it.

The ``mock`` kind's upstream runs inside the gateway worker, out of the test's reach; it is the
OpenAI adapter with the OpenAI table (the same object), whose bodies the ``openai`` rows check.
"""

from __future__ import annotations

import http.client
import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from edge.adapters import KINDS
from edge.adapters.fields import CACHE_BREAKPOINT, CACHE_CONTROL, CHAT_FIELDS, DECLARED, MESSAGE_NAME, TOOL_CACHE_CONTROL, Action, FieldRule, ValueRule
from edge.params import DROP_HEADER, DROPPED_HEADER
from tests.support import Mock, Server, request, write_config

ADMIN = "sk-admin-fields-0123456789"
KINDS_TESTED = tuple(KINDS)  # openai, anthropic, gemini, ollama, mock
USER = {"role": "user", "content": "hello there"}
TOOL = {"type": "function", "function": {"name": "lookup_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}
CUSTOM = {"type": "custom", "custom": {"name": "freeform"}}
SCHEMA = {"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object", "properties": {"answer": {"type": "string"}}}}}


class Case(NamedTuple):
    id: str
    field: str
    extra: dict[str, Any]  # merged into {"model", "messages"}


# One ordinary value per field of the spec (and the two inside messages).
SAMPLES: dict[str, dict[str, Any]] = {
    "metadata": {"metadata": {"tenant": "acme"}},
    "top_logprobs": {"top_logprobs": 2},
    "temperature": {"temperature": 0.5},
    "top_p": {"top_p": 0.9},
    "user": {"user": "user-42"},
    "safety_identifier": {"safety_identifier": "sid-42"},
    "prompt_cache_key": {"prompt_cache_key": "conversation-7"},
    "prompt_cache_retention": {"prompt_cache_retention": "24h"},
    "prompt_cache_options": {"prompt_cache_options": {"ttl": "30m"}},
    "messages": {"messages": [{"role": "system", "content": "be brief"}, USER]},
    "model": {},
    "service_tier": {"service_tier": "flex"},
    "modalities": {"modalities": ["text", "audio"]},
    "verbosity": {"verbosity": "low"},
    "reasoning_effort": {"reasoning_effort": "low"},
    "max_completion_tokens": {"max_completion_tokens": 50},
    "frequency_penalty": {"frequency_penalty": 0.5},
    "presence_penalty": {"presence_penalty": 0.5},
    "web_search_options": {"web_search_options": {"search_context_size": "low"}},
    "response_format": {"response_format": SCHEMA},
    "audio": {"audio": {"voice": "alloy", "format": "wav"}},
    "store": {"store": True},
    "moderation": {"moderation": {"model": "omni-moderation-latest"}},
    "stream": {"stream": True},
    "stop": {"stop": ["###"]},
    "logit_bias": {"logit_bias": {"50256": -100}},
    "logprobs": {"logprobs": True},
    "max_tokens": {"max_tokens": 50},
    "n": {"n": 2},
    "prediction": {"prediction": {"type": "content", "content": "hello there"}},
    "seed": {"seed": 7},
    "stream_options": {"stream": True, "stream_options": {"include_usage": True}},
    "tools": {"tools": [TOOL]},
    "tool_choice": {"tools": [TOOL], "tool_choice": "auto"},
    "parallel_tool_calls": {"tools": [TOOL], "parallel_tool_calls": False},
    "function_call": {"function_call": "auto"},
    "functions": {"functions": [TOOL["function"]]},
    MESSAGE_NAME: {"messages": [dict(USER, name="alice")]},
    CACHE_BREAKPOINT: {"messages": [{"role": "user", "content": [{"type": "text", "text": "a long shared prefix", "prompt_cache_breakpoint": {"mode": "explicit"}}, {"type": "text", "text": "hello"}]}]},
    CACHE_CONTROL: {"messages": [{"role": "user", "content": [{"type": "text", "text": "a long shared prefix", "cache_control": {"type": "ephemeral", "ttl": "5m"}}, {"type": "text", "text": "hello"}]}]},
    TOOL_CACHE_CONTROL: {"tools": [dict(TOOL, cache_control={"type": "ephemeral"})]},
}

# Values whose action differs from the field's ordinary one for some kind (the value rules).
VALUE_CASES = [
    Case("n=1", "n", {"n": 1}),
    Case("logprobs=false", "logprobs", {"logprobs": False}),
    Case("top_logprobs=0", "top_logprobs", {"top_logprobs": 0}),
    Case("logit_bias={}", "logit_bias", {"logit_bias": {}}),
    Case("store=false", "store", {"store": False}),
    Case("modalities=text", "modalities", {"modalities": ["text"]}),
    Case("frequency_penalty=0", "frequency_penalty", {"frequency_penalty": 0}),
    Case("response_format=json_object", "response_format", {"response_format": {"type": "json_object"}}),
    Case("response_format=text", "response_format", {"response_format": {"type": "text"}}),
    Case("tool_choice=required", "tool_choice", {"tools": [TOOL], "tool_choice": "required"}),
    Case("tool_choice=none", "tool_choice", {"tools": [TOOL], "tool_choice": "none"}),
    Case("tool_choice=named", "tool_choice", {"tools": [TOOL], "tool_choice": {"type": "function", "function": {"name": "lookup_weather"}}}),
    Case("tool_choice=allowed_tools", "tool_choice", {"tools": [TOOL], "tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": [TOOL]}}}),
    Case("tools+custom", "tools", {"tools": [TOOL, CUSTOM]}),
    Case("parallel_tool_calls=true", "parallel_tool_calls", {"tools": [TOOL], "parallel_tool_calls": True}),
    Case("temperature+reasoning", "temperature", {"temperature": 0.5, "reasoning_effort": "low"}),
]

CASES = [Case(name, name, extra) for name, extra in SAMPLES.items()] + VALUE_CASES
# A vendor field (OpenAI SDK extra_body) that no dialect knows.
VENDOR = Case("vendor-field", "vendor_knob", {"vendor_knob": 3})


def test_every_declared_field_has_a_sample() -> None:
    """The per-field tests below cover every field of the spec: a field added to the spec list
    without a sample here fails."""
    assert set(SAMPLES) == set(DECLARED) and len(CHAT_FIELDS) == 37


@pytest.fixture(scope="module")
def upstream() -> Iterator[Mock]:
    proc = Mock()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fields")


@pytest.fixture(scope="module")
def gateway(upstream: Mock, home: Path) -> Iterator[Server]:
    providers = "\n".join(f'  {k}: {{kind: {k}, base_url: "{upstream.base_url if k == "openai" else upstream.url}", timeout_s: 10}}' for k in ("openai", "anthropic", "gemini", "ollama"))
    config = f"""
server: {{host: 127.0.0.1, port: 0}}
state: {{ledger: "sqlite:///{home}/edge.db"}}
keys: {{admin: {ADMIN}}}
routing: {{retries: 0}}
providers:
{providers}
  mock: {{kind: mock}}
"""
    proc = Server(["serve", "--config", str(write_config(home / "edge.yaml", config))], cwd=str(home))
    yield proc
    proc.stop()


def _post(gateway: Server, body: dict[str, Any], request_id: str, drop: bool = False) -> tuple[int, dict[str, str], bytes]:
    headers = {"content-type": "application/json", "authorization": "Bearer " + ADMIN, "x-request-id": request_id}
    if drop:
        headers[DROP_HEADER] = "true"
    conn = http.client.HTTPConnection(gateway.host, gateway.port, timeout=20)
    try:
        conn.request("POST", "/v1/chat/completions", body=json.dumps(body), headers=headers)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def _expected(kind: str, case: Case, body: dict[str, Any]) -> tuple[Action, str | None, str]:
    """(action, upstream path, param) as the kind's declaration says for this request."""
    fields = KINDS[kind].fields
    assert fields is not None
    rule: FieldRule = fields.rules[case.field]
    nested = {MESSAGE_NAME: "messages[0].name", CACHE_BREAKPOINT: "messages[0].content[0].prompt_cache_breakpoint", CACHE_CONTROL: "messages[0].content[0].cache_control", TOOL_CACHE_CONTROL: "tools[0].cache_control"}
    if case.field in nested:
        return rule.action, rule.upstream, nested[case.field]
    action, value_rule = rule.decide(body.get(case.field), body)
    upstream: str | None = value_rule.upstream if isinstance(value_rule, ValueRule) else rule.upstream
    return action, upstream, case.field


def _resolve(doc: Any, path: str) -> list[Any]:
    """Every value at a dotted path; ``name[]`` walks each element of a list."""
    found = [doc]
    for part in path.split("."):
        step = []
        many = part.endswith("[]")
        key = part[:-2] if many else part
        for node in found:
            value = node.get(key) if isinstance(node, dict) else None
            if value is None:
                continue
            step.extend(value if many and isinstance(value, list) else [value])
        found = step
    return found


def _metric(gateway: Server, provider: str, field: str) -> float:
    _, _, text = request("GET", gateway.url + "/metrics")
    pattern = re.compile(r'^edge_dropped_params_total\{field="' + re.escape(field) + r'",provider="' + re.escape(provider) + r'"\} ([0-9.e+]+)$', re.M)
    found = pattern.search(text.decode())
    return float(found.group(1)) if found else 0.0


def _ledger(gateway: Server, home: Path, request_id: str) -> str | None:
    # GET /v1/usage (admin) writes the rows this worker still holds, so one call makes it readable.
    status, _, _ = request("GET", gateway.url + "/v1/usage?since=1h", headers={"authorization": "Bearer " + ADMIN})
    assert status == 200
    with sqlite3.connect(home / "edge.db") as db:
        row = db.execute("SELECT dropped_params FROM requests WHERE request_id = ?", (request_id,)).fetchone()
    assert row is not None, f"no ledger row for {request_id}"
    return row[0]


def _named(gateway: Server, home: Path, kind: str, label: str, request_id: str, headers: dict[str, str], before: float) -> None:
    """The header, the ledger row and the metric all name the field."""
    assert label in [n.strip() for n in headers.get(DROPPED_HEADER, "").split(",")], headers
    assert label in (_ledger(gateway, home, request_id) or "").split(",")
    metric_label = label if label in DECLARED else "unknown"
    assert _metric(gateway, kind, metric_label) == before + 1


def _run(gateway: Server, upstream: Mock, home: Path, kind: str, case: Case) -> None:
    body: dict[str, Any] = {"model": f"{kind}/echo", "messages": [USER], **case.extra}
    action, path, param = _expected(kind, case, body)
    rid = f"fields-{kind}-{case.id}".replace("[", "").replace("]", "").replace(".", "-").replace("=", "-").replace("+", "-")
    metric_label = case.field
    before_requests = upstream.stats()["requests"]
    before_metric = _metric(gateway, kind, metric_label)
    status, headers, data = _post(gateway, body, rid)
    if action == "refused":
        assert status == 400, data
        error = json.loads(data)["error"]
        assert (error["code"], error["param"], error["type"]) == ("unsupported_parameter", param, "invalid_request_error"), error
        assert f"'{kind}'" in error["message"] and "'echo'" in error["message"]  # names the provider and the model
        assert upstream.stats()["requests"] == before_requests, "a refused request reached the upstream"
        # Asked to drop: it goes out without the field, which is named everywhere.
        status, headers, data = _post(gateway, body, rid + "-drop", drop=True)
        assert status == 200, data
        assert upstream.stats()["requests"] == before_requests + 1
        _named(gateway, home, kind, case.field, rid + "-drop", headers, before_metric)
        if case.id == "tools+custom":  # only the custom tool was dropped
            assert len(upstream.stats()["last_request"]["tools"]) == 1
        return
    assert status == 200, data
    if action == "ignored":
        _named(gateway, home, kind, case.field, rid, headers, before_metric)
        return
    assert case.field not in headers.get(DROPPED_HEADER, ""), headers
    if kind == "mock":
        return  # the worker's own mock: see the module docstring
    seen = upstream.stats()
    if action == "passed":
        sent = seen["last_request"]
        if case.field == "model":
            assert sent["model"] == "echo"
        elif case.field in (MESSAGE_NAME, CACHE_BREAKPOINT, CACHE_CONTROL):
            assert sent["messages"] == body["messages"]
        elif case.field == TOOL_CACHE_CONTROL:
            assert sent["tools"] == body["tools"]
        else:
            assert sent[case.field] == body[case.field], (case.field, sent)
        return
    assert action == "translated"
    if path is None:
        return  # the value is the provider's own behaviour: nothing to send
    if path == "URL":
        assert {"model": "/models/echo:", "stream": ":streamGenerateContent"}[case.field] in seen["last_headers"]["path_qs"]
        return
    assert _resolve(seen["last_request"], path), (path, seen["last_request"])


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
@pytest.mark.parametrize("kind", KINDS_TESTED)
def test_field(gateway: Server, upstream: Mock, home: Path, kind: str, case: Case) -> None:
    _run(gateway, upstream, home, kind, case)


@pytest.mark.parametrize("kind", KINDS_TESTED)
def test_vendor_field(gateway: Server, upstream: Mock, home: Path, kind: str) -> None:
    """A field outside the spec passes to OpenAI-format upstreams only; a translated provider
    refuses it (or drops it, named, when asked), with "unknown" as its metric label."""
    fields = KINDS[kind].fields
    assert fields is not None
    body = {"model": f"{kind}/echo", "messages": [USER], "vendor_knob": 3}
    before_requests, before_metric = upstream.stats()["requests"], _metric(gateway, kind, "unknown")
    status, headers, data = _post(gateway, body, f"fields-{kind}-vendor")
    if fields.unknown == "passed":
        assert status == 200, data
        if kind != "mock":
            assert upstream.stats()["last_request"]["vendor_knob"] == 3
        return
    assert status == 400 and json.loads(data)["error"]["param"] == "vendor_knob", data
    assert upstream.stats()["requests"] == before_requests
    status, headers, data = _post(gateway, body, f"fields-{kind}-vendor-drop", drop=True)
    assert status == 200, data
    assert "vendor_knob" not in upstream.stats()["last_request"]
    assert headers[DROPPED_HEADER] == "vendor_knob"
    assert _ledger(gateway, home, f"fields-{kind}-vendor-drop") == "vendor_knob"
    assert _metric(gateway, kind, "unknown") == before_metric + 1


@pytest.mark.parametrize(("kind", "native"), [("anthropic", "top_k"), ("gemini", "safetySettings"), ("ollama", "keep_alive")])
def test_a_native_field_of_the_dialect_passes(gateway: Server, upstream: Mock, kind: str, native: str) -> None:
    """A provider's own request fields (extra_body) still reach it as sent."""
    value: Any = {"top_k": 5, "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}], "keep_alive": "1m"}[native]
    status, headers, data = _post(gateway, {"model": f"{kind}/echo", "messages": [USER], native: value}, f"fields-{kind}-native")
    assert status == 200, data
    assert DROPPED_HEADER not in headers
    assert upstream.stats()["last_request"][native] == value
