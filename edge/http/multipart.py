"""A multipart/form-data body (RFC 7578) already read into memory, split into its fields.

The middleware reads every body before the handler runs (edge.http.middleware, within
server.body_timeout_s), so aiohttp's streaming reader has nothing left to read: this splits
the bytes it kept. Enough of the format for what clients send (the openai SDK's httpx
encoder, curl -F): a boundary from the Content-Type, one Content-Disposition per part.
"""

from __future__ import annotations

from typing import NamedTuple

from edge.errors import InvalidRequest

__all__ = ["Part", "parse_form"]


class Part(NamedTuple):
    name: str
    filename: str | None
    data: bytes


def _boundary(content_type: str) -> bytes:
    mime, _, params = content_type.partition(";")
    if mime.strip().lower() != "multipart/form-data":
        raise InvalidRequest(f"Content-Type must be multipart/form-data, got '{mime.strip()[:100]}'.")
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.lower() == "boundary" and value:
            return value.strip('"').encode("latin-1")
    raise InvalidRequest("The multipart/form-data Content-Type names no boundary.")


def _disposition(head: bytes) -> tuple[str | None, str | None]:
    for line in head.split(b"\r\n"):
        name, _, value = line.decode("utf-8", "replace").partition(":")
        if name.strip().lower() != "content-disposition":
            continue
        found: dict[str, str] = {}
        for param in value.split(";")[1:]:
            key, _, raw = param.strip().partition("=")
            found[key.lower()] = raw.strip().strip('"')
        return found.get("name"), found.get("filename")
    return None, None


def parse_form(content_type: str, body: bytes) -> dict[str, Part]:
    """The fields by name; raises InvalidRequest for a body that is not multipart."""
    delimiter = b"--" + _boundary(content_type)
    pieces = body.split(delimiter)
    if len(pieces) < 3:
        raise InvalidRequest("The multipart/form-data body holds no parts.")
    parts: dict[str, Part] = {}
    for piece in pieces[1:-1]:
        piece = piece.removeprefix(b"\r\n")
        head, sep, data = piece.partition(b"\r\n\r\n")
        if not sep:
            raise InvalidRequest("A part of the multipart/form-data body has no blank line after its headers.")
        name, filename = _disposition(head)
        if name:
            parts[name] = Part(name, filename, data.removesuffix(b"\r\n"))
    return parts
