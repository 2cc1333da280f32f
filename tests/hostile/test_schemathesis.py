"""Schema-driven fuzzing of the HTTP surface (a short, seeded run; tools/fuzz/http_api.py for long ones)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.support import request

pytest.importorskip("schemathesis")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tools.fuzz.http_api import run  # noqa: E402


def test_every_operation_positive_and_negative_holds_every_check() -> None:
    status, output, log = run(max_examples=8, max_time=None, report=None, seed=8)
    assert status == 0, output[-6000:]
    assert "Tested: 36" in output, output[-2000:]  # every operation of /openapi.json
    assert "Traceback" not in log, log[-3000:]


def test_openapi_document_is_valid_and_from_the_structs(gateway: object) -> None:
    from openapi_spec_validator import validate

    from edge.adapters.schema import ChatRequest

    status, headers, body = request("GET", gateway.url + "/openapi.json")  # type: ignore[attr-defined]
    assert status == 200 and headers["content-type"].startswith("application/json")
    doc = json.loads(body)
    validate(doc)
    chat = doc["components"]["schemas"]["ChatRequest"]
    assert set(chat["properties"]) == set(ChatRequest.__struct_fields__)
    assert doc["paths"]["/v1/chat/completions"]["post"]["responses"]["429"]["headers"]["retry-after"]
