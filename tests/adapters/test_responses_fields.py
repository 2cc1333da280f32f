"""The Responses field table (adapters/responses_fields.py): every CreateResponse field has a
cell for every route kind, the bridged cells follow each kind's chat declaration, and the
generated table in README.md and docs/compatibility.md is current
(``EDGE_UPDATE_DOCS=1 pytest tests/adapters/test_responses_fields.py`` rewrites it)."""

from __future__ import annotations

import os
from pathlib import Path

from edge.adapters import KINDS
from edge.adapters.responses_fields import RESPONSES_FIELDS, responses_cell, responses_markdown

ROOT = Path(__file__).resolve().parents[2]
MARKERS = ("<!-- responses-fields:begin -->", "<!-- responses-fields:end -->")


def tables() -> tuple[dict[str, object], frozenset[str]]:
    chat = {name: kind.fields for name, kind in KINDS.items() if kind.fields is not None}
    columns = {
        "openai, responses: native": chat["openai"],
        "openai, responses: bridge": chat["openai"],
        "anthropic": chat["anthropic"],
        "gemini": chat["gemini"],
        "ollama": chat["ollama"],
        "mock": chat["mock"],
    }
    return columns, frozenset(("openai, responses: native", "mock"))  # type: ignore[return-value]


def test_bridged_cells_follow_the_chat_declarations() -> None:
    anthropic, ollama = KINDS["anthropic"].fields, KINDS["ollama"].fields
    assert responses_cell("max_output_tokens", anthropic).startswith("translated -> `max_tokens`")
    assert responses_cell("metadata", anthropic).startswith("ignored")
    assert "required, a named function: refused" in responses_cell("tool_choice", ollama)
    assert responses_cell("prompt", anthropic).startswith("refused")
    assert responses_cell("store", anthropic).startswith("gateway")


def test_the_docs_carry_the_generated_table() -> None:
    columns, native = tables()
    table = responses_markdown(columns, native)  # type: ignore[arg-type]
    assert table.count("\n") == len(RESPONSES_FIELDS) + 11 + 2
    for doc in (ROOT / "README.md", ROOT / "docs" / "compatibility.md"):
        text = doc.read_text()
        assert MARKERS[0] in text and MARKERS[1] in text, f"{doc.name} has no {MARKERS[0]}"
        head, _, rest = text.partition(MARKERS[0])
        current, _, tail = rest.partition(MARKERS[1])
        if os.environ.get("EDGE_UPDATE_DOCS") == "1":
            doc.write_text(f"{head}{MARKERS[0]}\n{table}\n{MARKERS[1]}{tail}")
            continue
        assert current.strip() == table, f"{doc.name} is stale: EDGE_UPDATE_DOCS=1 pytest tests/adapters/test_responses_fields.py"
