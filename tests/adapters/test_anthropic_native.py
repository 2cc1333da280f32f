"""adapters/_anthropic_native.py: the model replaced in a Messages body, every other byte kept."""

from __future__ import annotations

import json

import pytest

from edge.adapters._anthropic_native import model_replaced, replace_model


@pytest.mark.parametrize(
    "raw",
    [
        b'{"model":"claude-a","max_tokens":8,"messages":[{"role":"user","content":"say \\"model\\""}]}',  # compact, the SDKs' way
        b'{"model" : "claude-a", "max_tokens": 8}',  # spaced: the regex path
    ],
)
def test_one_model_member_is_replaced_in_place(raw: bytes) -> None:
    out = model_replaced(raw, "claude-a", "upstream-b")
    assert out is not None and json.loads(out) == {**json.loads(raw), "model": "upstream-b"}
    assert out.replace(b"upstream-b", b"claude-a").replace(b'"model":', b"") == raw.replace(b'"model" : ', b"").replace(b'"model":', b"")


def test_the_same_member_twice_is_left_to_a_re_encode() -> None:
    raw = b'{"model":"claude-a","tools":[{"name":"t","input_schema":{"properties":{"x":{"model":"claude-a"}}}}]}'
    assert model_replaced(raw, "claude-a", "b") is None
    doc = json.loads(replace_model(raw, "claude-a", "b"))
    assert doc["model"] == "b" and doc["tools"][0]["input_schema"]["properties"]["x"]["model"] == "claude-a"
