"""The edge.v1 contracts: stubs reproducible from proto/, every field documented, one service per file."""

from __future__ import annotations

import re
from pathlib import Path

from edge.grpc.codegen import ROOT, generate

PROTO = ROOT / "proto" / "edge" / "v1"
STUBS = ROOT / "edge" / "v1"


def test_regenerating_changes_nothing(tmp_path: Path) -> None:
    generate(tmp_path)
    fresh = {p.name: p.read_bytes() for p in (tmp_path / "edge" / "v1").iterdir() if p.is_file()}
    committed = {p.name: p.read_bytes() for p in STUBS.iterdir() if p.is_file()}
    assert sorted(fresh) == sorted(committed), "stub files differ: run `python -m edge.grpc.codegen`"
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"{stale} differ from proto/: run `python -m edge.grpc.codegen` (same grpcio-tools version as pyproject's lock)"
    assert {p.stem + ".pyi" for p in STUBS.glob("*_pb2.py")} <= set(committed), "every _pb2 module has a .pyi"


_DECLARATION = re.compile(
    r"^\s*(?:"
    r"(?:optional |repeated )?(?:map<[^>]+>|[\w.]+) \w+ = \d+;"  # a field
    r"|[A-Z][A-Z0-9_]* = \d+;"  # an enum value
    r"|(?:message|enum|service|rpc|oneof) \w+"  # a declaration
    r")"
)


def test_protos_are_versioned_documented_and_one_service_per_file() -> None:
    files = sorted(PROTO.glob("*.proto"))
    assert files
    for path in files:
        lines = path.read_text().splitlines()
        assert "package edge.v1;" in lines, f"{path.name}: package edge.v1"
        assert sum(1 for line in lines if line.startswith("service ")) <= 1, f"{path.name}: one service per file"
        for number, line in enumerate(lines):
            if _DECLARATION.match(line):
                above = lines[number - 1].strip()
                assert above.startswith("//"), f"{path.name}:{number + 1}: document '{line.strip()}' with a comment above it"
