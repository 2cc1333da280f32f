"""Chat messages, content parts and tools as the Gemini API's ``contents`` and ``tools``.

The request side of adapters/gemini.py (its docstring says what each becomes; wire format:
shared/reference/wire-formats.md section 3): a message -> a role and its parts (tool results as
``functionResponse`` named after the call they answer, tool calls as ``functionCall`` with the
``thoughtSignature`` their id carries), a part -> ``text`` / ``inlineData`` / ``fileData``, a
function tool -> a declaration, ``tool_choice`` -> ``functionCallingConfig``.
"""

from __future__ import annotations

import mimetypes
from typing import Any

from edge.fastpath import jsonio

from ._common import message_text, parse_arguments, split_data_url
from ._gemini_stream import SIGNATURE_SEP
from .schema import ContentPart, Message
from .types import Unsupported

__all__ = ["FOREIGN_SIGNATURE", "declaration", "message_parts", "split_id", "tool_config"]

# What Gemini accepts as the signature of a function call it did not make (Gemini API docs,
# "Thought signatures": conversations transferred from another model).
FOREIGN_SIGNATURE = "skip_thought_signature_validator"


def split_id(call_id: str) -> tuple[str, str | None]:
    base, sep, signature = call_id.partition(SIGNATURE_SEP)
    return base, (signature or None) if sep else None


def message_parts(message: Message, names: dict[str, str]) -> tuple[str, list[dict[str, Any]]]:
    if message.role == "tool":
        call_id = message.tool_call_id or ""
        name = names.get(call_id)
        if name is None:
            raise Unsupported(f"tool message {call_id!r} answers no tool call of an earlier assistant message.")
        text = message_text(message.content)
        try:
            value = jsonio.loads(text) if text.strip().startswith("{") else None
        except jsonio.JSONDecodeError:
            value = None
        response: dict[str, Any] = {"name": name, "response": value if isinstance(value, dict) else {"result": text}}
        base, _ = split_id(call_id)
        if base and not base.startswith("call_"):
            response["id"] = base  # Gemini's own id: send it back
        return "user", [{"functionResponse": response}]
    if message.role == "assistant":
        parts: list[dict[str, Any]] = []
        text = message_text(message.content)
        if text:
            parts.append({"text": text})
        for call in message.tool_calls or ():
            names[call.id] = call.function.name
            base, signature = split_id(call.id)
            fc: dict[str, Any] = {"name": call.function.name, "args": parse_arguments(call.function.arguments)}
            if base and not base.startswith("call_"):
                fc["id"] = base
            part: dict[str, Any] = {"functionCall": fc}
            if signature:
                part["thoughtSignature"] = signature
            elif not any("functionCall" in p for p in parts):
                # A call made by another provider has no signature, and Gemini 3 refuses a turn
                # whose first call lacks one; Google's documented placeholder for histories moved
                # from elsewhere lets it through.
                part["thoughtSignature"] = FOREIGN_SIGNATURE
            parts.append(part)
        return "model", parts
    if message.role == "function":
        raise Unsupported("the deprecated 'function' role is not supported; use tools.")
    content = message.content
    if isinstance(content, str):
        return "user", [{"text": content}] if content else []
    return "user", [_part(p) for p in content or ()]


def _part(part: ContentPart) -> dict[str, Any]:
    if part.type == "text":
        return {"text": part.text or ""}
    if part.type == "image_url" and part.image_url is not None:
        url = part.image_url.url
        inline = split_data_url(url)
        if inline is not None:
            return {"inlineData": {"mimeType": inline[0], "data": inline[1]}}
        mime = mimetypes.guess_type(url.split("?")[0])[0] or "image/jpeg"
        return {"fileData": {"mimeType": mime, "fileUri": url}}
    if part.type == "input_audio" and part.input_audio:
        fmt = str(part.input_audio.get("format") or "wav")
        return {"inlineData": {"mimeType": "audio/" + fmt, "data": str(part.input_audio.get("data") or "")}}
    if part.type == "file" and part.file and isinstance(part.file.get("file_data"), str):
        inline = split_data_url(part.file["file_data"])
        if inline is not None:
            return {"inlineData": {"mimeType": inline[0], "data": inline[1]}}
    raise Unsupported(f"content part of type {part.type!r} is not supported by Gemini.")


def declaration(tool: Any) -> dict[str, Any]:
    fn = tool.function
    out: dict[str, Any] = {"name": fn.name}
    if fn.description:
        out["description"] = fn.description
    if fn.parameters:
        out["parametersJsonSchema"] = fn.parameters
    return out


def tool_config(choice: Any) -> dict[str, Any] | None:
    if choice is None or choice == "auto":
        return None if choice is None else {"mode": "AUTO"}
    if choice == "required":
        return {"mode": "ANY"}
    if choice == "none":
        return {"mode": "NONE"}
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict) and choice["function"].get("name"):
        return {"mode": "ANY", "allowedFunctionNames": [choice["function"]["name"]]}
    raise Unsupported(f"tool_choice {choice!r} is not supported by Gemini.")
