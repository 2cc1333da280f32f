"""A Responses API request as a chat completions request: the bridge's request side.

Chat is the canonical form every adapter already translates (adapters/schema.py), so a provider
that does not speak the Responses API gets a Responses request through its chat translation.
Follows the OpenAI API reference for ``POST /v1/responses`` (``CreateResponse``, ``InputItem``)
and the request bodies recorded in shared/fixtures/responses/:

- ``instructions`` -> a leading system message; a string ``input`` -> one user message;
- ``message`` items: ``input_text`` / ``output_text`` -> text, ``input_image`` (a URL or data
  URL) -> ``image_url``, ``input_file`` (``file_data``) -> a chat ``file`` part, ``refusal`` ->
  the assistant's refusal; ``system`` / ``developer`` / ``user`` / ``assistant`` roles as they are;
- ``function_call`` items join the assistant turn before them as ``tool_calls`` (``call_id`` is
  the tool-call id); ``function_call_output`` -> a ``tool`` message with that ``tool_call_id``;
- ``reasoning`` items -> the next assistant turn's ``reasoning_content`` (the summary text) and
  ``reasoning_signature`` (``encrypted_content``), for adapters that send reasoning back;
- ``tools``: function tools -> chat function tools, custom tools -> chat custom tools; built-in
  tools (web search, file search, code interpreter, computer use, MCP, ...) run only on OpenAI's
  side and are refused (``BridgeError``) before anything is sent, never dropped;
- ``tool_choice``, ``text.format`` (-> ``response_format``), ``text.verbosity``,
  ``reasoning.effort`` (-> ``reasoning_effort``), ``max_output_tokens`` (-> ``max_tokens``),
  ``temperature``, ``top_p``, ``parallel_tool_calls``, ``metadata``, ``user`` and the other
  chat-named fields keep their meaning; what the gateway itself handles (``store``,
  ``previous_response_id``, ``include``, ``stream``, ``truncation``) is not sent.

The chat body then goes through the provider kind's field table (adapters/fields.py) like any
chat request, so a field the provider cannot honour is refused or named, as for chat clients.
A top-level field outside this list (a vendor field) is carried into the chat body as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .types import Unsupported

__all__ = [
    "BUILTIN_TOOLS",
    "BridgeError",
    "GATEWAY_FIELDS",
    "HOSTED_ITEMS",
    "RESPONSES_TO_CHAT",
    "builtin_tool",
    "input_items",
    "to_chat",
]

# Tool types that only OpenAI's servers run (their results come back as hosted output items).
BUILTIN_TOOLS = frozenset((
    "web_search", "web_search_preview", "web_search_2025_08_26", "web_search_preview_2025_03_11",
    "file_search", "code_interpreter", "computer_use_preview", "computer_use", "computer", "mcp",
    "image_generation", "local_shell", "shell", "apply_patch",
))
# The input items those tools leave in a conversation.
HOSTED_ITEMS = frozenset((
    "web_search_call", "file_search_call", "code_interpreter_call", "computer_call", "computer_call_output",
    "mcp_call", "mcp_list_tools", "mcp_approval_request", "mcp_approval_response", "image_generation_call",
    "local_shell_call", "local_shell_call_output", "shell_call", "shell_call_output", "apply_patch_call",
    "apply_patch_call_output",
))

# Responses fields with a chat field of their own (the name there).
RESPONSES_TO_CHAT: Mapping[str, str] = {
    "instructions": "messages",
    "input": "messages",
    "tools": "tools",
    "tool_choice": "tool_choice",
    "text": "response_format",
    "reasoning": "reasoning_effort",
    "max_output_tokens": "max_tokens",
    "temperature": "temperature",
    "top_p": "top_p",
    "top_logprobs": "top_logprobs",
    "parallel_tool_calls": "parallel_tool_calls",
    "metadata": "metadata",
    "user": "user",
    "safety_identifier": "safety_identifier",
    "prompt_cache_key": "prompt_cache_key",
    "prompt_cache_retention": "prompt_cache_retention",
    "service_tier": "service_tier",
}
# What the gateway does itself, for every provider: never sent as such.
GATEWAY_FIELDS = frozenset(("model", "store", "previous_response_id", "include", "stream", "stream_options", "truncation", "background", "conversation"))
# Responses fields a chat provider has no way to honour: refused when they ask for something.
_NOT_BRIDGED = {"prompt": "reusable prompt templates live on OpenAI's side", "max_tool_calls": "chat has no limit on tool calls", "conversation": "use previous_response_id"}


class BridgeError(Unsupported):
    """The request cannot be carried to a chat provider; ``param`` says where."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


def input_items(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The request's ``input`` as a list of items (a string is one user message)."""
    raw = body.get("input")
    if raw is None:
        return []
    if isinstance(raw, str):
        return [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": raw}]}]
    if not isinstance(raw, list):
        raise BridgeError("'input' must be a string or an array of input items.", "input")
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise BridgeError(f"'input[{i}]' must be an object.", f"input[{i}]")
    return list(raw)


def builtin_tool(body: Mapping[str, Any], items: list[dict[str, Any]]) -> tuple[str, str] | None:
    """The first built-in tool (or hosted tool item) the request needs: (its type, where)."""
    tools = body.get("tools")
    if isinstance(tools, list):
        for i, tool in enumerate(tools):
            kind = tool.get("type") if isinstance(tool, dict) else None
            if kind in BUILTIN_TOOLS:
                return str(kind), f"tools[{i}]"
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") in BUILTIN_TOOLS:
        return str(choice["type"]), "tool_choice"
    for i, item in enumerate(items):
        if item.get("type") in HOSTED_ITEMS:
            return str(item["type"]), f"input[{i}]"
    return None


def to_chat(body: Mapping[str, Any], items: list[dict[str, Any]]) -> dict[str, Any]:
    """The chat completions body for a Responses request whose whole input is ``items``."""
    names = body.keys()
    if not names.isdisjoint(_NOT_BRIDGED):
        for name, why in _NOT_BRIDGED.items():
            if body.get(name) is not None:
                raise BridgeError(f"'{name}' cannot be bridged to a chat provider ({why}).", name)
    found = builtin_tool(body, items)
    if found is not None:
        raise BridgeError(f"the built-in tool '{found[0]}' runs only on OpenAI's side.", found[1])
    # Fields chat names the same, and vendor fields (or the mock's knobs) as they are: the kind's
    # table decides. One pass over what the body has, not a lookup per field it could have.
    out: dict[str, Any] = {name: value for name, value in body.items() if value is not None and (name in _SAME_NAME or name not in _READ)}
    out["model"] = body.get("model")
    messages: list[dict[str, Any]] = []
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        messages.append({"role": "system", "content": instructions})
    messages.extend(_messages(items))
    if not messages:
        raise BridgeError("'input' is empty: send at least one input item.", "input")
    out["messages"] = messages
    if body.get("top_logprobs"):
        out["logprobs"], out["top_logprobs"] = True, body["top_logprobs"]
    if body.get("max_output_tokens") is not None:
        out["max_tokens"] = body["max_output_tokens"]
    reasoning = body.get("reasoning")
    if isinstance(reasoning, dict) and reasoning.get("effort") is not None:
        out["reasoning_effort"] = reasoning["effort"]
    _text(body.get("text"), out)
    tools = body.get("tools")
    if isinstance(tools, list) and tools:
        out["tools"] = [_tool(tool, i) for i, tool in enumerate(tools)]
    if body.get("tool_choice") is not None:
        out["tool_choice"] = _tool_choice(body["tool_choice"])
    return out


# Responses fields that keep their name and meaning in chat.
_SAME_NAME = frozenset(("temperature", "top_p", "parallel_tool_calls", "metadata", "user", "safety_identifier", "prompt_cache_key", "prompt_cache_retention", "service_tier"))
# Every field to_chat reads itself (the rest are vendor fields, carried as they are).
_READ = GATEWAY_FIELDS | RESPONSES_TO_CHAT.keys() | _NOT_BRIDGED.keys()


def _text(text: Any, out: dict[str, Any]) -> None:
    if not isinstance(text, dict):
        return
    fmt = text.get("format")
    if isinstance(fmt, dict):
        kind = fmt.get("type")
        if kind == "json_schema":
            schema = {k: fmt[k] for k in ("name", "schema", "description", "strict") if fmt.get(k) is not None}
            schema.setdefault("name", "output")
            out["response_format"] = {"type": "json_schema", "json_schema": schema}
        elif kind == "json_object":
            out["response_format"] = {"type": "json_object"}
        elif kind not in (None, "text"):
            raise BridgeError(f"text.format type '{kind}' is not one of text, json_object, json_schema.", "text.format.type")
    if text.get("verbosity") is not None:
        out["verbosity"] = text["verbosity"]


def _tool(tool: Any, i: int) -> dict[str, Any]:
    if not isinstance(tool, dict):
        raise BridgeError(f"'tools[{i}]' must be an object.", f"tools[{i}]")
    kind = tool.get("type")
    if kind == "function":
        if not isinstance(tool.get("name"), str) or not tool["name"]:
            raise BridgeError(f"'tools[{i}].name' is required for a function tool.", f"tools[{i}].name")
        fn = {k: tool[k] for k in ("name", "description", "parameters", "strict") if tool.get(k) is not None}
        return {"type": "function", "function": fn}
    if kind == "custom":
        return {"type": "custom", "custom": {k: v for k, v in tool.items() if k != "type"}}
    raise BridgeError(f"tool type '{kind}' cannot be bridged to a chat provider.", f"tools[{i}].type")


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, str):
        return choice
    if not isinstance(choice, dict):
        raise BridgeError("'tool_choice' must be a string or an object.", "tool_choice")
    kind = choice.get("type")
    if kind == "function":
        return {"type": "function", "function": {"name": choice.get("name")}}
    if kind == "custom":
        return {"type": "custom", "custom": {"name": choice.get("name")}}
    if kind == "allowed_tools":
        tools = [_tool_choice(t) for t in choice.get("tools") or [] if isinstance(t, dict)]
        return {"type": "allowed_tools", "allowed_tools": {"mode": choice.get("mode", "auto"), "tools": tools}}
    raise BridgeError(f"tool_choice type '{kind}' cannot be bridged to a chat provider.", "tool_choice.type")


def _messages(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    reasoning: list[str] = []
    signature: str | None = None
    open_assistant: dict[str, Any] | None = None  # the assistant turn function calls join

    def assistant(message: dict[str, Any]) -> dict[str, Any]:
        nonlocal signature
        if reasoning:
            message["reasoning_content"] = "\n\n".join(reasoning)
            reasoning.clear()
        if signature:
            message["reasoning_signature"] = signature
            signature = None
        out.append(message)
        return message

    for i, item in enumerate(items):
        kind = item.get("type") or ("message" if "role" in item else None)
        if kind == "message":
            role = item.get("role")
            content = item.get("content")
            if role in ("user", "system", "developer"):  # the common cases: nothing to check
                if isinstance(content, str):
                    out.append({"role": role, "content": content})
                    open_assistant = None
                    continue
                if type(content) is list and len(content) == 1 and type(part := content[0]) is dict and part.get("type") in _TEXT_PARTS:
                    out.append({"role": role, "content": _part_text(part)})  # a string input is one
                    open_assistant = None
                    continue
        where = f"input[{i}]"
        if kind == "message":
            if role not in ("user", "system", "developer", "assistant"):
                raise BridgeError(f"'{where}.role' must be user, system, developer or assistant.", f"{where}.role")
            if role == "assistant":
                text, refusal = _assistant_content(content, where)
                message: dict[str, Any] = {"role": "assistant", "content": text}
                if refusal:
                    message["refusal"] = refusal
                open_assistant = assistant(message)
            else:
                out.append({"role": role, "content": _content(content, where)})
                open_assistant = None
        elif kind == "function_call":
            call_id, name = str(item.get("call_id") or item.get("id") or ""), str(item.get("name") or "")
            call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": str(item.get("arguments") or "")}}
            if not call_id or not name:
                raise BridgeError(f"'{where}' needs a call_id and a name.", where)
            if open_assistant is None:
                open_assistant = assistant({"role": "assistant", "content": None})
            open_assistant.setdefault("tool_calls", []).append(call)
        elif kind == "function_call_output":
            if not item.get("call_id"):
                raise BridgeError(f"'{where}.call_id' is required.", f"{where}.call_id")
            out.append({"role": "tool", "tool_call_id": str(item["call_id"]), "content": _output_text(item.get("output"))})
            open_assistant = None
        elif kind == "reasoning":
            for part in item.get("summary") or []:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    reasoning.append(part["text"])
            if isinstance(item.get("encrypted_content"), str):
                signature = item["encrypted_content"]
        elif kind == "item_reference":
            raise BridgeError(f"'{where}': item references need the response store of the server that made them; send the item itself.", where)
        else:
            raise BridgeError(f"'{where}': input items of type '{kind}' cannot be bridged to a chat provider.", f"{where}.type")
    return out


def _content(content: Any, where: str) -> Any:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise BridgeError(f"'{where}.content' must be a string or an array of content parts.", f"{where}.content")
    if len(content) == 1 and isinstance(content[0], dict) and content[0].get("type") in _TEXT_PARTS:
        return _part_text(content[0])  # the usual message (a string input is one): no parts list
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in _TEXT_PARTS:
            parts.append({"type": "text", "text": _part_text(part)})
            continue
        at = f"{where}.content[{j}]"
        if kind == "input_image":
            url = part.get("image_url")
            if not isinstance(url, str) or not url:
                raise BridgeError(f"'{at}': only images given by image_url (a URL or a data URL) can be bridged; file_id needs OpenAI's file store.", f"{at}.image_url")
            image: dict[str, Any] = {"url": url}
            if part.get("detail"):
                image["detail"] = part["detail"]
            parts.append({"type": "image_url", "image_url": image})
        elif kind == "input_file":
            if not isinstance(part.get("file_data"), str):
                raise BridgeError(f"'{at}': only files given inline (file_data) can be bridged; file_id and file_url need OpenAI's servers.", f"{at}.file_data")
            parts.append({"type": "file", "file": {k: part[k] for k in ("file_data", "filename") if part.get(k) is not None}})
        elif kind == "input_audio":
            parts.append({"type": "input_audio", "input_audio": part.get("input_audio")})
        else:
            raise BridgeError(f"'{at}': content parts of type '{kind}' cannot be bridged.", f"{at}.type")
    if all(p["type"] == "text" for p in parts):  # plain text: the form every chat server takes
        return "".join(p["text"] for p in parts)
    return parts


_TEXT_PARTS = ("input_text", "output_text", "text")


def _part_text(part: dict[str, Any]) -> str:
    text = part.get("text")
    return text if isinstance(text, str) else str(text or "")


def _assistant_content(content: Any, where: str) -> tuple[str | None, str | None]:
    if isinstance(content, str):
        return content, None
    texts: list[str] = []
    refusals: list[str] = []
    for j, part in enumerate(content if isinstance(content, list) else []):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("output_text", "input_text", "text"):
            texts.append(str(part.get("text") or ""))
        elif kind == "refusal":
            refusals.append(str(part.get("refusal") or ""))
        else:
            raise BridgeError(f"'{where}.content[{j}]': assistant parts of type '{kind}' cannot be bridged.", f"{where}.content[{j}].type")
    return ("".join(texts) if texts else None), ("".join(refusals) if refusals else None)


def _output_text(output: Any) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, list):  # input_text / input_image parts: the text of them
        return "".join(str(p.get("text") or "") for p in output if isinstance(p, dict))
    return "" if output is None else str(output)
