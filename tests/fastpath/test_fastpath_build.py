"""The build itself: selectors, the compiled twins' presence, and fastpath's house rules."""

from __future__ import annotations

import ast
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.fastpath.fastpath_builds import compiler_available, extensions_disabled

ROOT = Path(__file__).resolve().parents[2]
FASTPATH = ROOT / "fastpath"
KERNELS = ("sse", "reencode", "tokens", "msgscan")
TWINS = ("sse", "_chunkscan", "reencode", "tokens", "msgscan")


@pytest.mark.parametrize("kernel", TWINS)
def test_compiled_twin_is_built_when_a_compiler_exists(kernel: str) -> None:
    if not compiler_available() or extensions_disabled():
        pytest.skip("no C compiler, or EDGE_NO_EXTENSIONS set: a pure build is expected")
    mod = importlib.import_module(f"edge.fastpath.{kernel}_c")
    assert not mod.__file__.endswith(".py"), mod.__file__


@pytest.mark.parametrize("kernel", KERNELS)
def test_selector_honours_edge_no_extensions(kernel: str) -> None:
    code = f"from edge.fastpath import {kernel}; print({kernel}.IMPLEMENTATION)"
    env = dict(os.environ, EDGE_NO_EXTENSIONS="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "py"
    env["EDGE_NO_EXTENSIONS"] = "0"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    expected = "c" if compiler_available() and not extensions_disabled() else out.stdout.strip()
    assert out.stdout.strip() == expected


@pytest.mark.parametrize("kernel", KERNELS)
def test_selector_exports_the_twin(kernel: str) -> None:
    sel = importlib.import_module(f"edge.fastpath.{kernel}")
    twin = importlib.import_module(f"edge.fastpath.{kernel}_{sel.IMPLEMENTATION}")
    for name in sel.__all__:
        if name not in ("IMPLEMENTATION", "SSEError"):
            assert getattr(sel, name) is getattr(twin, name), name


def _modules() -> list[Path]:
    return sorted(p for p in FASTPATH.glob("*.py") if p.name not in ("jsonio.py",))


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.name)
def test_house_rules(path: Path) -> None:
    text = path.read_text()
    assert len(text.splitlines()) <= 400, f"{path.name}: keep fastpath modules under 400 lines"
    tree = ast.parse(text)
    assert ast.get_docstring(tree), f"{path.name} must open with a docstring"
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0:
            assert not (node.module or "").startswith(("edge", "adapters")), path.name
        if isinstance(node, ast.Import):
            for alias in node.names:
                assert not alias.name.startswith(("edge", "adapters")), path.name
    if path.name.endswith("_py.py"):
        assert text.startswith("# cython: language_level=3"), f"{path.name}: directives on line 1"
        assert (FASTPATH / path.name.replace("_py.py", "_c.pxd")).is_file()
        assert (FASTPATH / path.name.replace("_py.py", "_c.pyi")).is_file()


def test_no_module_level_mutable_state() -> None:
    for path in _modules():
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                assert not isinstance(node.value, (ast.List, ast.Dict, ast.Set, ast.ListComp,
                                                   ast.DictComp, ast.SetComp)) or (
                    isinstance(node, ast.Assign) and node.targets[0].id == "__all__"), path.name
