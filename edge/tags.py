"""Request tags for cost per workflow: ``x-edge-tags: feature=search,customer=acme``, the body's
``metadata`` (as OpenAI clients send it), and the key's own tags, which win on a clash so a
caller cannot bill its usage to another customer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .errors import InvalidRequest

__all__ = ["HEADER", "request_tags"]

HEADER = "x-edge-tags"
MAX_TAGS = 16
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def request_tags(header: str | None, metadata: Any, key_tags: Mapping[str, str] | None) -> dict[str, str] | None:
    tags: dict[str, str] = {}
    if header:
        for part in header.split(","):
            part = part.strip()
            if not part:
                continue
            name, sep, value = part.partition("=")
            name, value = name.strip(), value.strip()
            if not sep or not _NAME.match(name) or not value or len(value) > 256:
                raise InvalidRequest(f"Header {HEADER} must be 'name=value' pairs separated by commas (names: letters, digits, _ . -); got '{part[:80]}'.", param=HEADER)
            tags[name] = value
    if isinstance(metadata, dict):
        for name, value in metadata.items():
            if isinstance(name, str) and isinstance(value, str) and _NAME.match(name) and len(value) <= 512:
                tags.setdefault(name, value)
    if key_tags:
        tags.update(key_tags)
    if len(tags) > MAX_TAGS:
        raise InvalidRequest(f"At most {MAX_TAGS} tags per request (header, metadata and key together); got {len(tags)}.", param=HEADER)
    return tags or None
