"""The tag header (edge.tags.request_tags): any header and metadata give tags that keep the
rules (at most 16, safe names, bounded values, the key's own tags win) or InvalidRequest."""

from __future__ import annotations

import re

import atheris

with atheris.instrument_imports(include=["edge"]):
    from edge.errors import InvalidRequest
    from edge.tags import MAX_TAGS, request_tags

from tools.fuzz._harness import main

NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
KEY_TAGS = {"customer": "acme"}


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    header = fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 2048))
    metadata: object = {fdp.ConsumeUnicodeNoSurrogates(8): fdp.ConsumeUnicodeNoSurrogates(16) for _ in range(fdp.ConsumeIntInRange(0, 20))}
    if fdp.ConsumeBool():
        metadata = fdp.ConsumeUnicodeNoSurrogates(8)  # not a dict: must be ignored
    key_tags = KEY_TAGS if fdp.ConsumeBool() else None
    try:
        tags = request_tags(header or None, metadata, key_tags)
    except InvalidRequest as exc:
        assert exc.status == 400 and exc.param == "x-edge-tags"
        return
    if tags is None:
        return
    assert len(tags) <= MAX_TAGS
    for name, value in tags.items():
        assert isinstance(name, str) and isinstance(value, str)
        assert NAME.match(name), name
        assert len(value) <= 512 or (key_tags and name in key_tags)  # metadata may hold ""
    if key_tags:
        assert all(tags[k] == v for k, v in key_tags.items())


def seeds() -> list[bytes]:
    return [b"\x20feature=search,customer=evil,a.b-c_d=1", b"\x10,,, =x,a=", b"\x00" * 8]


if __name__ == "__main__":
    main("tags", one_input, seeds())
