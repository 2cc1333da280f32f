"""Config documents as text: environment references, and errors a person can act on.

``${VAR}`` and ``${VAR:-default}`` are replaced in string values (a missing variable without a
default is an error naming it). msgspec's validation errors become "path: what is wrong, got
<value>", with values under secret-looking keys masked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import msgspec

__all__ = ["ConfigError", "describe", "redact_url", "substitute"]


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the path and the value at fault."""


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_SECRET_KEYS = ("api_key", "admin", "password", "secret", "token", "authorization")


def substitute(node: Any, env: Mapping[str, str], path: str, used: set[str]) -> Any:
    if isinstance(node, dict):
        return {k: substitute(v, env, f"{path}.{k}" if path else str(k), used) for k, v in node.items()}
    if isinstance(node, list):
        return [substitute(v, env, f"{path}[{i}]", used) for i, v in enumerate(node)]
    if isinstance(node, str) and "${" in node:

        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            value = env.get(name)
            if value is None or (value == "" and default is not None):
                if default is None:
                    raise ConfigError(f"{path}: environment variable {name} is not set (write ${{{name}:-default}} for a fallback)")
                return default
            used.add(value)
            return value

        return _VAR.sub(replace, node)
    return node


def describe(exc: msgspec.ValidationError, raw: Any, prefix: str = "") -> str:
    """Turn msgspec's 'Expected `int`, got `str` - at `$.a.b`' into "a.b: expected int, got 'x'"."""
    text = str(exc)
    message, _, where = text.rpartition(" - at `")
    if not message:
        message, where = text, "$"
    path = where.rstrip("`").removeprefix("$").lstrip(".")
    if prefix:
        path = prefix + ("." + path if path and not path.startswith("[") else path)
    if message.startswith("Object contains unknown field"):
        field_name = message.split("`")[1]
        return f"{path + '.' if path else ''}{field_name}: unknown key"
    if message.startswith("Object missing required field"):
        field_name = message.split("`")[1]
        return f"{path + '.' if path else ''}{field_name}: required key is missing"
    value = _lookup(raw, path)
    message = message.replace("`", "")
    if value is not _MISSING:
        head, sep, _ = message.partition(", got ")
        if sep:
            message = f"{head}, got {_show(path, value)}"
        elif "enum value" not in message:
            message = f"{message} (got {_show(path, value)})"
    return f"{path or '<top>'}: {message[0].lower() + message[1:]}"


_MISSING = object()


def _lookup(node: Any, path: str) -> Any:
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        try:
            node = node[int(part[1:-1])] if part.startswith("[") else node[part]
        except (KeyError, IndexError, TypeError, ValueError):
            return _MISSING
    return node


def _show(path: str, value: Any) -> str:
    if any(word in path.lower() for word in _SECRET_KEYS):
        return "<redacted>"
    shown = repr(value)
    return shown if len(shown) <= 80 else shown[:77] + "..."


def redact_url(url: str) -> str:
    """postgresql://user:secret@host/db -> postgresql://user:***@host/db."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)
