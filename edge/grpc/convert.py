"""edge.v1 protobuf <-> the OpenAI-shaped dicts and normalized types the pipeline works on.

Requests become exactly the JSON body an HTTP client would send for the same call (so both
surfaces share validation, routing and accounting); responses are read from the OpenAI JSON the
adapters produce. Structural problems a schema cannot see (an unset role, two kinds of content)
raise InvalidRequest with the field path; the msgspec schema check happens in the servicer.
Field notes for callers are in docs/grpc.md.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Mapping
from typing import Any

from google.protobuf import struct_pb2

from edge.adapters.types import Usage
from edge.errors import InvalidRequest
from edge.v1 import chat_pb2, embeddings_pb2, types_pb2

__all__ = [
    "chat_body",
    "chat_response",
    "embed_body",
    "embed_response",
    "finish_reason",
    "struct_to_dict",
    "usage_proto",
]

_ROLES = {1: "system", 2: "developer", 3: "user", 4: "assistant", 5: "tool"}
_DETAIL = {1: "auto", 2: "low", 3: "high"}
_TOOL_CHOICE = {1: "auto", 2: "none", 3: "required"}
_FORMATS = {1: "text", 2: "json_object", 3: "json_schema"}
_FINISH = {
    "stop": types_pb2.FINISH_REASON_STOP,
    "length": types_pb2.FINISH_REASON_LENGTH,
    "tool_calls": types_pb2.FINISH_REASON_TOOL_CALLS,
    "content_filter": types_pb2.FINISH_REASON_CONTENT_FILTER,
    "function_call": types_pb2.FINISH_REASON_FUNCTION_CALL,
}
# extra_body may add provider fields, never switch the call's shape.
_NOT_EXTRA = frozenset(("stream", "stream_options"))
_MAX_SAFE_INT = 2**53


# -- requests -------------------------------------------------------------------------------


def chat_body(req: chat_pb2.ChatRequest) -> dict[str, Any]:
    """ChatRequest -> the OpenAI chat body (without ``stream``; the RPC decides that)."""
    body: dict[str, Any] = {"model": req.model, "messages": [_message(m, i) for i, m in enumerate(req.messages)]}
    if req.tools:
        body["tools"] = [_tool(t) for t in req.tools]
    if req.HasField("tool_choice"):
        body["tool_choice"] = _tool_choice(req.tool_choice)
    if req.HasField("parallel_tool_calls"):
        body["parallel_tool_calls"] = req.parallel_tool_calls
    if req.HasField("response_format"):
        body["response_format"] = _response_format(req.response_format)
    if req.stop:
        body["stop"] = list(req.stop)
    for name in ("temperature", "top_p", "max_tokens", "max_completion_tokens", "presence_penalty", "frequency_penalty", "seed"):
        if req.HasField(name):
            body[name] = getattr(req, name)
    if req.user:
        body["user"] = req.user
    if req.metadata:
        body["metadata"] = dict(req.metadata)
    if req.reasoning_effort:
        body["reasoning_effort"] = req.reasoning_effort
    if req.HasField("extra_body"):
        _merge_extra(body, req.extra_body)
    return body


def embed_body(req: embeddings_pb2.EmbedRequest) -> dict[str, Any]:
    """EmbedRequest -> the OpenAI embeddings body (always a list input)."""
    if req.inputs and req.token_inputs:
        raise InvalidRequest("Set either 'inputs' or 'token_inputs', not both.", param="input")
    if not req.inputs and not req.token_inputs:
        raise InvalidRequest("Nothing to embed: set 'inputs' or 'token_inputs'.", param="input")
    inputs: list[Any] = list(req.inputs) if req.inputs else [list(t.ids) for t in req.token_inputs]
    body: dict[str, Any] = {"model": req.model, "input": inputs}
    if req.HasField("dimensions"):
        body["dimensions"] = req.dimensions
    if req.user:
        body["user"] = req.user
    if req.HasField("extra_body"):
        _merge_extra(body, req.extra_body)
    return body


def _message(m: chat_pb2.Message, i: int) -> dict[str, Any]:
    role = _ROLES.get(m.role)
    if role is None:
        raise InvalidRequest(f"messages[{i}].role must be set to one of ROLE_SYSTEM, ROLE_DEVELOPER, ROLE_USER, ROLE_ASSISTANT, ROLE_TOOL.", param=f"messages[{i}].role")
    out: dict[str, Any] = {"role": role}
    if m.parts:
        if m.HasField("content"):
            raise InvalidRequest(f"messages[{i}] has both 'content' and 'parts'; set one.", param=f"messages[{i}].content")
        out["content"] = [_part(p, i, j) for j, p in enumerate(m.parts)]
    elif m.HasField("content"):
        out["content"] = m.content
    elif role != "assistant":
        raise InvalidRequest(f"messages[{i}] ({role}) needs 'content' or 'parts'.", param=f"messages[{i}].content")
    if m.name:
        out["name"] = m.name
    if m.tool_calls:
        out["tool_calls"] = [{"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}} for c in m.tool_calls]
    if m.tool_call_id:
        out["tool_call_id"] = m.tool_call_id
    if m.HasField("refusal"):
        out["refusal"] = m.refusal
    if m.HasField("reasoning"):
        out["reasoning_content"] = m.reasoning
    return out


def _part(p: chat_pb2.ContentPart, i: int, j: int) -> dict[str, Any]:
    kind = p.WhichOneof("part")
    if kind == "text":
        return {"type": "text", "text": p.text}
    if kind == "image_url":
        image = {"url": p.image_url.url}
        if p.image_url.detail in _DETAIL:
            image["detail"] = _DETAIL[p.image_url.detail]
        return {"type": "image_url", "image_url": image}
    if kind == "image":
        if not p.image.mime_type:
            raise InvalidRequest(f"messages[{i}].parts[{j}].image needs a mime_type.", param=f"messages[{i}].parts[{j}].image.mime_type")
        url = "data:" + p.image.mime_type + ";base64," + base64.b64encode(p.image.data).decode("ascii")
        image = {"url": url}
        if p.image.detail in _DETAIL:
            image["detail"] = _DETAIL[p.image.detail]
        return {"type": "image_url", "image_url": image}
    raise InvalidRequest(f"messages[{i}].parts[{j}] is empty: set text, image_url or image.", param=f"messages[{i}].parts[{j}]")


def _tool(t: chat_pb2.Tool) -> dict[str, Any]:
    fn: dict[str, Any] = {"name": t.name}
    if t.description:
        fn["description"] = t.description
    if t.HasField("parameters"):
        fn["parameters"] = struct_to_dict(t.parameters)
    if t.HasField("strict"):
        fn["strict"] = t.strict
    return {"type": "function", "function": fn}


def _tool_choice(c: chat_pb2.ToolChoice) -> Any:
    kind = c.WhichOneof("choice")
    if kind == "function_name":
        return {"type": "function", "function": {"name": c.function_name}}
    if kind == "mode" and c.mode in _TOOL_CHOICE:
        return _TOOL_CHOICE[c.mode]
    raise InvalidRequest("tool_choice must set a mode (AUTO, NONE, REQUIRED) or a function_name.", param="tool_choice")


def _response_format(f: chat_pb2.ResponseFormat) -> dict[str, Any]:
    kind = _FORMATS.get(f.type)
    if kind is None:
        raise InvalidRequest("response_format.type must be TEXT, JSON_OBJECT or JSON_SCHEMA.", param="response_format.type")
    out: dict[str, Any] = {"type": kind}
    if f.HasField("json_schema"):
        s = f.json_schema
        schema: dict[str, Any] = {"name": s.name}
        if s.description:
            schema["description"] = s.description
        if s.HasField("schema"):
            schema["schema"] = struct_to_dict(s.schema)
        if s.HasField("strict"):
            schema["strict"] = s.strict
        out["json_schema"] = schema
    elif kind == "json_schema":
        raise InvalidRequest("response_format JSON_SCHEMA needs json_schema.", param="response_format.json_schema")
    return out


def _merge_extra(body: dict[str, Any], extra: struct_pb2.Struct) -> None:
    for key, value in extra.fields.items():
        if key in body or key in _NOT_EXTRA:
            raise InvalidRequest(f"extra_body may not set '{key}': use the typed field, or leave it to the RPC.", param=f"extra_body.{key}")
        body[key] = _value(value)


def struct_to_dict(s: struct_pb2.Struct) -> dict[str, Any]:
    """Struct -> dict. Integral numbers come back as ints: Struct holds only doubles, and
    providers (and JSON Schema keywords like maxItems) expect 40, not 40.0."""
    return {k: _value(v) for k, v in s.fields.items()}


def _value(v: struct_pb2.Value) -> Any:
    kind = v.WhichOneof("kind")
    if kind == "string_value":
        return v.string_value
    if kind == "number_value":
        n = v.number_value
        return int(n) if n.is_integer() and abs(n) <= _MAX_SAFE_INT else n
    if kind == "bool_value":
        return v.bool_value
    if kind == "struct_value":
        return struct_to_dict(v.struct_value)
    if kind == "list_value":
        return [_value(x) for x in v.list_value.values]
    return None


# -- responses ------------------------------------------------------------------------------


def finish_reason(reason: Any) -> types_pb2.FinishReason:
    if reason is None:
        return types_pb2.FINISH_REASON_UNSPECIFIED
    return _FINISH.get(reason, types_pb2.FINISH_REASON_UNKNOWN)


def usage_proto(usage: Usage | None) -> types_pb2.Usage | None:
    if usage is None:
        return None
    return types_pb2.Usage(
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        total_tokens=usage.prompt_tokens + usage.completion_tokens,
        cached_tokens=usage.cached_tokens,
        reasoning_tokens=usage.reasoning_tokens,
        estimated=usage.estimated,
    )


def chat_response(doc: Mapping[str, Any], usage: Usage | None, route: types_pb2.Route, cost: float | None, request_id: str) -> chat_pb2.ChatResponse:
    """An OpenAI ``chat.completion`` document -> ChatResponse."""
    out = chat_pb2.ChatResponse(
        id=_str(doc.get("id")),
        model=_str(doc.get("model")),
        created=_int(doc.get("created")),
        route=route,
        request_id=request_id,
        system_fingerprint=_str(doc.get("system_fingerprint")),
        usage=usage_proto(usage),
    )
    if cost is not None:
        out.cost_usd = cost
    choices = doc.get("choices")
    for position, choice in enumerate(choices if isinstance(choices, list) else ()):
        if not isinstance(choice, dict):
            continue
        item = out.choices.add(index=_uint(choice.get("index", position)), finish_reason=finish_reason(choice.get("finish_reason")))
        message = choice.get("message")
        if isinstance(message, dict):
            _answer(item.message, message)
    return out


def _answer(out: chat_pb2.Message, message: Mapping[str, Any]) -> None:
    out.role = chat_pb2.ROLE_ASSISTANT
    content = message.get("content")
    if isinstance(content, str):
        out.content = content
    refusal = message.get("refusal")
    if isinstance(refusal, str):
        out.refusal = refusal
    reasoning = message.get("reasoning_content", message.get("reasoning"))
    if isinstance(reasoning, str):
        out.reasoning = reasoning
    calls = message.get("tool_calls")
    for call in calls if isinstance(calls, list) else ():
        fn = call.get("function") if isinstance(call, dict) else None
        if isinstance(fn, dict):
            out.tool_calls.add(id=_str(call.get("id")), name=_str(fn.get("name")), arguments=_str(fn.get("arguments")))


def embed_response(doc: Mapping[str, Any], usage: Usage | None, route: types_pb2.Route, cost: float | None, request_id: str) -> embeddings_pb2.EmbedResponse:
    """An OpenAI embeddings ``list`` document -> EmbedResponse (base64 vectors decoded)."""
    out = embeddings_pb2.EmbedResponse(model=_str(doc.get("model")), route=route, request_id=request_id, usage=usage_proto(usage))
    if cost is not None:
        out.cost_usd = cost
    data = doc.get("data")
    for position, row in enumerate(data if isinstance(data, list) else ()):
        if not isinstance(row, dict):
            continue
        vector = row.get("embedding")
        if isinstance(vector, str):  # encoding_format "base64" (asked through extra_body): float32 LE
            raw = base64.b64decode(vector)
            vector = struct.unpack(f"<{len(raw) // 4}f", raw[: len(raw) // 4 * 4])
        out.data.add(index=_uint(row.get("index", position)), values=vector if isinstance(vector, (list, tuple)) else ())
    return out


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _uint(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**32 else 0
