"""Linters written as tests: module size, import direction, no environment in adapters, one JSON door."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CODE = [p for d in ("edge", "adapters", "fastpath", "bench") for p in (ROOT / d).rglob("*.py")]


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


@pytest.mark.parametrize("path", CODE, ids=lambda p: str(p.relative_to(ROOT)))
def test_module_size_cap(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= 800, f"{path.relative_to(ROOT)} has {lines} lines; split it (cap 800, aim for 400)"


def test_import_direction() -> None:
    for path in (ROOT / "fastpath").rglob("*.py"):
        bad = [n for n in _imports(path) if n.startswith(("edge", "adapters"))]
        assert not bad, f"fastpath/ must import nothing from edge/ or adapters/: {path.name} imports {bad}"
    for path in (ROOT / "adapters").rglob("*.py"):
        bad = [n for n in _imports(path) if n.startswith("edge") and not n.startswith(("edge.fastpath", "edge.adapters"))]
        assert not bad, f"adapters/ may import only edge.fastpath: {path.name} imports {bad}"
    for path in CODE:
        bad = [n for n in _imports(path) if n.split(".")[0] in ("adapters", "fastpath", "proto")]
        assert not bad, f"{path.relative_to(ROOT)} imports a top-level {bad}; use edge.adapters / edge.fastpath"


def test_adapters_do_not_read_the_environment() -> None:
    for path in (ROOT / "adapters").rglob("*.py"):
        text = path.read_text()
        assert "os.environ" not in text and "getenv" not in text, f"{path.name} reads the environment"


def test_one_json_door() -> None:
    door = ROOT / "fastpath" / "jsonio.py"
    for path in CODE:
        if path == door or path.parent.name == "bench":
            continue
        bad = [n for n in _imports(path) if n in ("json", "orjson", "msgspec.json")]
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}; JSON goes through edge.fastpath.jsonio"


def test_public_surface() -> None:
    import edge

    assert edge.__all__ == ["__version__"]
    assert isinstance(edge.__version__, str)


def test_every_package_is_packaged() -> None:
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    mapping = {"edge": ROOT / "edge", "edge.adapters": ROOT / "adapters", "edge.fastpath": ROOT / "fastpath"}
    found = set()
    for name, folder in mapping.items():
        for init in folder.rglob("__init__.py"):
            rel = init.parent.relative_to(folder).parts
            found.add(".".join((name, *rel)))
    assert found == listed, f"pyproject packages differ from the folders: missing {found - listed}, extra {listed - found}"
