"""``edge probe``: run the compatibility checklist against any OpenAI-compatible endpoint.

One check per feature (normal chat, streaming, tool call and a tool-result turn, JSON-schema
output, long context, provider error, vision, stop sequences, usage accounting), each driven by
the official ``openai`` SDK, which is imported lazily so the server never needs it. A check
passes, fails with the reason, or is ``unsupported`` when the endpoint answers 400 with code
``unsupported_operation`` or ``unsupported_parameter`` (this gateway's answers for what a provider
cannot do, or a request field it cannot honour). The conformance
suite (tests/adapters/test_conformance.py) runs these same checks through the gateway against
every adapter, and docs/compatibility.md is generated from its results.

``--json`` output (documented in docs/compatibility.md):
``{"endpoint", "models": [{"model", "results": [{"feature", "status", "reason", "latency_ms"}],
"passed", "failed", "unsupported"}]}``; the exit status is 1 when any check failed.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from edge.fastpath import jsonio

__all__ = ["CHECKS", "FEATURES", "CheckFailed", "Result", "main", "run_checks"]

# A 1x1 red PNG: small enough for every vision model, real enough for every decoder.
RED_PIXEL = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
ANSWER_SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"], "additionalProperties": False}


class CheckFailed(AssertionError):
    """A check's expectation did not hold; the message is the reason shown in the matrix."""


class Unsupported(Exception):
    """The endpoint said it cannot do this (400 unsupported_operation or unsupported_parameter)."""


@dataclass
class Result:
    feature: str
    status: str  # pass | fail | unsupported
    reason: str
    latency_ms: float


@dataclass
class Target:
    """What a check talks to: an SDK client, the model, and the model for tool rows."""

    client: Any
    model: str
    tool_model: str


def _expect(condition: bool, reason: str) -> None:
    if not condition:
        raise CheckFailed(reason)


def _create(t: Target, model: str | None = None, **kwargs: Any) -> Any:
    import openai

    try:
        return t.client.chat.completions.create(model=model or t.model, **kwargs)
    except openai.BadRequestError as exc:
        # unsupported_parameter: a request field the provider cannot honour (OpenAI's own code).
        if getattr(exc, "code", None) in ("unsupported_operation", "unsupported_parameter"):
            raise Unsupported(str(getattr(exc, "message", exc))) from None
        raise


def _text(completion: Any) -> str:
    return completion.choices[0].message.content or ""


def check_chat(t: Target) -> str:
    c = _create(t, messages=[{"role": "system", "content": "Answer in one short sentence."}, {"role": "user", "content": "Say hello to the probe."}], max_tokens=64)
    _expect(c.object == "chat.completion", f"object is {c.object!r}")
    _expect(bool(_text(c).strip()), "empty content")
    _expect(c.choices[0].finish_reason in ("stop", "length"), f"finish_reason {c.choices[0].finish_reason!r}")
    return f"{len(_text(c))} chars"


def check_streaming(t: Target) -> str:
    chunks = list(_create(t, stream=True, stream_options={"include_usage": True}, messages=[{"role": "user", "content": "Count: one two three four"}], max_tokens=64))
    _expect(bool(chunks), "no chunks")
    with_choices = [c for c in chunks if c.choices]
    _expect(bool(with_choices) and with_choices[0].choices[0].delta.role == "assistant", "first chunk has no role 'assistant'")
    text = "".join(c.choices[0].delta.content or "" for c in with_choices)
    _expect(bool(text.strip()), "no content streamed")
    finishes = [c.choices[0].finish_reason for c in with_choices if c.choices[0].finish_reason]
    _expect(len(finishes) == 1 and finishes[0] in ("stop", "length"), f"finish reasons {finishes!r}")
    last = chunks[-1]
    _expect(last.choices == [] and last.usage is not None, "no usage chunk with choices [] at the end")
    return f"{len(chunks)} chunks"


def check_tools(t: Target) -> str:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "What is the weather in Paris? Use the get_weather tool."}]
    choice, note = "required", ""
    try:
        c = _create(t, t.tool_model, messages=messages, tools=[WEATHER_TOOL], tool_choice=choice, max_tokens=256)
    except Unsupported as exc:
        if "tool_choice" not in str(exc):
            raise
        # A provider that cannot force a call (Ollama) refuses "required": tools still work with
        # "auto", which is what the row checks; the refusal is the field table's to show.
        choice, note = "auto", "; tool_choice required refused, auto used"
        c = _create(t, t.tool_model, messages=messages, tools=[WEATHER_TOOL], tool_choice=choice, max_tokens=256)
    calls = c.choices[0].message.tool_calls or []
    _expect(bool(calls), "no tool call")
    _expect(c.choices[0].finish_reason == "tool_calls", f"finish_reason {c.choices[0].finish_reason!r}, want tool_calls")
    call = calls[0]
    _expect(call.function.name == "get_weather" and bool(call.id), "tool call without name or id")
    _expect(isinstance(jsonio.loads(call.function.arguments or "null"), dict), f"arguments not a JSON object: {call.function.arguments!r}")
    streamed = list(_create(t, t.tool_model, stream=True, messages=messages, tools=[WEATHER_TOOL], tool_choice=choice, max_tokens=256))
    args: dict[int, str] = {}
    for chunk in streamed:
        for delta in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            args[delta.index] = args.get(delta.index, "") + (delta.function.arguments or "" if delta.function else "")
    _expect(bool(args) and all(isinstance(jsonio.loads(a or "null"), dict) for a in args.values()), f"streamed arguments do not assemble: {args!r}")
    turn = messages + [c.choices[0].message.model_dump(exclude_none=True), {"role": "tool", "tool_call_id": call.id, "content": '{"city": "Paris", "temp_c": 19}'}]
    answer = _create(t, messages=turn, tools=[WEATHER_TOOL], max_tokens=128)
    _expect(bool(_text(answer).strip()), "no answer after the tool result")
    return f"{len(calls)} call(s), result turn answered{note}"


def check_json_schema(t: Target) -> str:
    c = _create(
        t,
        messages=[{"role": "user", "content": "What is the capital of France? Answer in JSON."}],
        response_format={"type": "json_schema", "json_schema": {"name": "answer", "schema": ANSWER_SCHEMA, "strict": True}},
        max_tokens=128,
    )
    try:
        value = jsonio.loads(_text(c))
    except jsonio.JSONDecodeError:
        raise CheckFailed(f"content is not JSON: {_text(c)[:60]!r}") from None
    _expect(isinstance(value, dict) and isinstance(value.get("answer"), str), f"does not match the schema: {value!r}")
    return "valid"


def check_long_context(t: Target) -> str:
    filler = "The quick brown fox jumps over the lazy dog. " * 4000  # about 36k tokens
    c = _create(t, messages=[{"role": "user", "content": filler + "\nHow many foxes were mentioned? Answer briefly."}], max_tokens=32)
    _expect(c.usage is not None and c.usage.prompt_tokens >= 20000, f"prompt_tokens {getattr(c.usage, 'prompt_tokens', None)} for a ~36k-token prompt")
    return f"{c.usage.prompt_tokens} prompt tokens"


def check_provider_error(t: Target) -> str:
    import openai

    try:
        # temperature -1 is out of range everywhere; the mocks also obey the status knob.
        _create(t, messages=[{"role": "user", "content": "x"}], temperature=-1, max_tokens=8, extra_body={"mock": {"status": 429, "retry_after": 1}})
    except openai.APIStatusError as exc:
        body = exc.body if isinstance(exc.body, dict) else {}
        _expect(bool(body.get("message")) and "type" in body, f"HTTP {exc.status_code} without an OpenAI error envelope")
        retry = exc.response.headers.get("retry-after")
        return f"HTTP {exc.status_code} {body.get('type')}" + (f", retry-after {retry}" if retry else "")
    raise CheckFailed("the request succeeded; want an error in the OpenAI envelope")


def check_vision(t: Target) -> str:
    c = _create(t, messages=[{"role": "user", "content": [{"type": "text", "text": "What color is this image?"}, {"type": "image_url", "image_url": {"url": RED_PIXEL}}]}], max_tokens=64)
    _expect(bool(_text(c).strip()), "empty answer")
    return "image accepted"


def check_stop(t: Target) -> str:
    c = _create(t, messages=[{"role": "user", "content": "Repeat exactly: alpha beta STOP gamma"}], stop=["STOP"], max_tokens=64)
    text = _text(c)
    _expect("STOP" not in text and "gamma" not in text, f"stop sequence ignored: {text[:60]!r}")
    _expect(c.choices[0].finish_reason == "stop", f"finish_reason {c.choices[0].finish_reason!r}")
    return "stopped"


def check_usage(t: Target) -> str:
    messages = [{"role": "user", "content": "one two three four five"}]
    plain = _create(t, messages=messages, max_tokens=32).usage
    chunks = list(_create(t, stream=True, stream_options={"include_usage": True}, messages=messages, max_tokens=32))
    streamed = chunks[-1].usage if chunks else None
    for name, u in (("plain", plain), ("stream", streamed)):
        if u is None:
            raise CheckFailed(f"{name}: no usage")
        _expect(u.prompt_tokens > 0 and u.completion_tokens > 0, f"{name}: zero counts {u}")
        _expect(u.total_tokens == u.prompt_tokens + u.completion_tokens, f"{name}: total {u.total_tokens} != prompt + completion")
        cached = u.prompt_tokens_details.cached_tokens if u.prompt_tokens_details else 0
        reasoning = u.completion_tokens_details.reasoning_tokens if u.completion_tokens_details else 0
        _expect((cached or 0) <= u.prompt_tokens and (reasoning or 0) <= u.completion_tokens, f"{name}: cached/reasoning exceed their totals")
    assert streamed is not None  # the loop raised CheckFailed otherwise
    _expect(plain.prompt_tokens == streamed.prompt_tokens, f"prompt tokens differ: plain {plain.prompt_tokens}, stream {streamed.prompt_tokens}")
    return f"{plain.prompt_tokens}+{plain.completion_tokens}"


CHECKS: Sequence[tuple[str, Callable[[Target], str]]] = (
    ("chat", check_chat),
    ("streaming", check_streaming),
    ("tools", check_tools),
    ("json_schema", check_json_schema),
    ("long_context", check_long_context),
    ("provider_error", check_provider_error),
    ("vision", check_vision),
    ("stop", check_stop),
    ("usage", check_usage),
)
FEATURES = tuple(name for name, _ in CHECKS)


def run_check(name: str, target: Target) -> Result:
    import openai

    fn = dict(CHECKS)[name]
    started = time.perf_counter()
    try:
        status, reason = "pass", fn(target)
    except Unsupported as exc:
        status, reason = "unsupported", str(exc)
    except CheckFailed as exc:
        status, reason = "fail", str(exc)
    except openai.APIStatusError as exc:
        body = exc.body if isinstance(exc.body, dict) else {}
        status, reason = "fail", f"HTTP {exc.status_code}: {str(body.get('message') or exc)[:160]}"
    except openai.APIError as exc:
        status, reason = "fail", f"{type(exc).__name__}: {str(exc)[:160]}"
    return Result(name, status, reason, round((time.perf_counter() - started) * 1000.0, 1))


def run_checks(client: Any, model: str, tool_model: str | None = None, features: Sequence[str] | None = None) -> list[Result]:
    target = Target(client, model, tool_model or model)
    return [run_check(name, target) for name in (features or FEATURES)]


def _summary(model: str, results: list[Result]) -> dict[str, Any]:
    counts = {s: sum(r.status == s for r in results) for s in ("pass", "fail", "unsupported")}
    return {"model": model, "results": [asdict(r) for r in results], "passed": counts["pass"], "failed": counts["fail"], "unsupported": counts["unsupported"]}


def render_table(summary: dict[str, Any]) -> str:
    rows = [f"model {summary['model']}", f"{'feature':<16} {'result':<12} {'latency':>10}  reason"]
    for r in summary["results"]:
        rows.append(f"{r['feature']:<16} {r['status']:<12} {r['latency_ms']:>8.0f}ms  {r['reason']}")
    rows.append(f"{summary['passed']} passed, {summary['failed']} failed, {summary['unsupported']} unsupported")
    return "\n".join(rows)


def _start_gateway(config: str) -> tuple[subprocess.Popen[bytes], str]:
    """``edge serve --config FILE --port 0`` in a child process; returns it and its base URL."""
    proc = subprocess.Popen([sys.executable, "-m", "edge.cli", "serve", "--config", config, "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline().decode("utf-8", "replace")
        if not line and proc.poll() is not None:
            break
        found = re.search(r"serving on (http://[\d.]+:\d+)", line)
        if found:
            return proc, found.group(1)
    proc.kill()
    raise SystemExit(f"edge probe: the gateway did not start with {config}")


def _models_to_probe(client: Any) -> list[tuple[str, str]]:
    """(model, tool_model) per configured model; a mock provider's tool rows use its ``tool`` model."""
    ids = [m.id for m in client.models.list()]
    out = []
    for model in ids:
        provider, _, name = model.rpartition("/")
        if name in ("tool", "json", "error", "embed") or "embed" in name:
            continue
        sibling = f"{provider}/tool" if provider else "tool"
        out.append((model, sibling if name == "echo" and sibling in ids else model))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(argparse.ArgumentParser(prog="edge probe"))
    return run(parser.parse_args(argv))


def build_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--base-url", help="an OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1")
    parser.add_argument("--api-key", default=None, help="the endpoint's API key (default: $OPENAI_API_KEY, else 'none')")
    parser.add_argument("--model", help="the model to probe")
    parser.add_argument("--tool-model", help="model for the tool rows (default: --model)")
    # SUPPRESS: ``edge --config FILE probe`` (the global option, edge/cli.py) is not overwritten.
    parser.add_argument("--config", default=argparse.SUPPRESS, help="start the gateway with this config and probe every configured model")
    parser.add_argument("--feature", action="append", choices=FEATURES, help="run only this check (repeatable)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per request (default 120)")
    parser.add_argument("--json", action="store_true", help="print the matrix as JSON")
    return parser


def run(args: argparse.Namespace) -> int:
    import openai

    config = getattr(args, "config", None)  # SUPPRESSed when not given (build_parser)
    if not config and not (args.base_url and args.model):
        print("edge probe: give --base-url and --model, or --config", file=sys.stderr)
        return 2
    proc = None
    base_url = args.base_url
    if config and not base_url:
        proc, url = _start_gateway(config)
        base_url = url + "/v1"
    key = args.api_key or os.environ.get("OPENAI_API_KEY") or "none"
    try:
        client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=args.timeout)
        pairs = [(args.model, args.tool_model or args.model)] if args.model else _models_to_probe(client)
        summaries = [_summary(model, run_checks(client, model, tool, args.feature)) for model, tool in pairs]
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)
    if args.json:
        sys.stdout.write(jsonio.dumps({"endpoint": base_url, "models": summaries}).decode() + "\n")
    else:
        print("\n\n".join(render_table(s) for s in summaries))
    return 1 if any(s["failed"] for s in summaries) else 0


if __name__ == "__main__":
    sys.exit(main())
