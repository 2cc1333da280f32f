"""Loading one build (pure-Python twin or compiled) of a fastpath kernel, for tests.

A plain module rather than conftest.py, since several test folders have a conftest and
``import conftest`` would pick whichever loaded first.
"""

from __future__ import annotations

import importlib
import os
import shutil
from types import ModuleType

import pytest


def compiler_available() -> bool:
    return bool(shutil.which("cc") or shutil.which("gcc"))


def extensions_disabled() -> bool:
    return os.environ.get("EDGE_NO_EXTENSIONS", "") not in ("", "0")


def load_build(kernel: str, build: str) -> ModuleType:
    if build == "py":
        return importlib.import_module(f"edge.fastpath.{kernel}_py")
    try:
        return importlib.import_module(f"edge.fastpath.{kernel}_c")
    except ImportError as exc:
        if compiler_available() and not extensions_disabled():
            pytest.fail(f"edge.fastpath.{kernel}_c is not built although a C compiler is "
                        f"available (run `pip install -e .`): {exc}")
        pytest.skip(f"edge.fastpath.{kernel}_c not built (no C compiler or extensions off)")
