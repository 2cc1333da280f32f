"""Build llm-edge, compiling the fastpath kernels with Cython when possible.

Each kernel's pure-Python source ``fastpath/X_py.py`` is compiled, typed by
``fastpath/X_c.pxd``, into the extension ``edge.fastpath.X_c`` (aiohttp's reader_py ->
reader_c pattern). Without Cython or a C compiler the install still succeeds and the
pure-Python twins are used.

Environment switches:
  EDGE_NO_EXTENSIONS=1     skip the extensions (pure-Python build)
  EDGE_CYTHON_ANNOTATE=1   write Cython's HTML annotation next to the generated C
  EDGE_CYTHON_DEBUG=1      build with linetrace/profiling and without -O2 (coverage, perf)
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
KERNELS = ("sse", "_chunkscan", "reencode", "tokens", "msgscan")
# Generated sources live outside the package folder, so no *.c can reach a wheel.
GEN_DIR = Path("build") / "cython" / "edge" / "fastpath"


def _flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


def _extensions() -> list[Extension]:
    if _flag("EDGE_NO_EXTENSIONS") or sys.implementation.name != "cpython":
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        print("llm-edge: Cython is not installed", file=sys.stderr)
        return []
    debug = _flag("EDGE_CYTHON_DEBUG")
    gen = HERE / GEN_DIR
    gen.mkdir(parents=True, exist_ok=True)
    # Cython finds a module's .pxd by its dotted name, so the copy sits in a package tree.
    for pkg in (gen.parent, gen):
        (pkg / "__init__.py").touch()
    exts = []
    for name in KERNELS:
        # Copy X_py.py to X_c.py beside X_c.pxd: Cython pairs a module with the .pxd of
        # the same name, and the module must be named X_c (aiohttp copies the same way).
        shutil.copyfile(HERE / "fastpath" / f"{name}_py.py", gen / f"{name}_c.py")
        shutil.copyfile(HERE / "fastpath" / f"{name}_c.pxd", gen / f"{name}_c.pxd")
        macros = [("CYTHON_TRACE", "1"), ("CYTHON_TRACE_NOGIL", "1")] if debug else []
        exts.append(
            Extension(
                f"edge.fastpath.{name}_c",
                [str(GEN_DIR / f"{name}_c.py")],
                define_macros=macros,
                extra_compile_args=["-O0", "-g"] if debug else ["-O2"],
            )
        )
    directives = {"language_level": "3", "embedsignature": True}
    if debug:
        directives.update(linetrace=True, profile=True)
    try:
        return cythonize(
            exts,
            compiler_directives=directives,
            annotate=_flag("EDGE_CYTHON_ANNOTATE"),
            include_path=[str(HERE / GEN_DIR.parent.parent)],
            quiet=True,
        )
    except Exception as exc:  # a Cython error must not make the package uninstallable
        print(f"llm-edge: cythonize failed: {exc}", file=sys.stderr)
        return []


class OptionalBuildExt(build_ext):
    """Build the extensions; on any compiler failure fall back to the pure-Python twins."""

    def run(self) -> None:
        if not self.extensions:
            return
        try:
            super().run()
        except Exception as exc:  # no compiler, missing headers, ...: still installable
            print(f"llm-edge: compiling fastpath failed: {exc}", file=sys.stderr)
            for ext in self.extensions:  # never ship a stale .so from an earlier build
                Path(self.get_ext_fullpath(ext.name)).unlink(missing_ok=True)
            print("llm-edge: pure-Python build")
        else:
            print("llm-edge: accelerated build")


ext_modules = _extensions()
if not ext_modules:
    print("llm-edge: pure-Python build")
setup(ext_modules=ext_modules, cmdclass={"build_ext": OptionalBuildExt})
