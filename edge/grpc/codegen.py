"""Regenerate the edge.v1 stubs from proto/: ``python -m edge.grpc.codegen [--out DIR]``.

Runs grpcio-tools' bundled protoc with ``-Iproto`` into the repository root, so
``proto/edge/v1/x.proto`` becomes ``edge/v1/x_pb2.py`` (+ ``.pyi``, + ``x_pb2_grpc.py`` for files
with services) importable as ``edge.v1.x_pb2``. The output depends only on the .proto files and
the grpcio-tools version, so regenerating is reproducible; tests/edge/grpc/test_grpc_codegen.py
regenerates into a temporary folder and fails on any difference with the committed files.
"""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path

__all__ = ["INIT", "ROOT", "generate", "main"]

ROOT = Path(__file__).resolve().parents[2]

INIT = '''"""Generated protobuf and gRPC stubs for package edge.v1 (proto/edge/v1/*.proto).

Do not edit: regenerate with ``python -m edge.grpc.codegen``.
"""
'''


def generate(out: Path, proto_root: Path = ROOT / "proto") -> list[Path]:
    """Write the stubs for every proto/edge/v1/*.proto under ``out``; returns the files written."""
    from grpc_tools import protoc  # a build-time tool: imported only when generating

    sources = sorted(str(p.relative_to(proto_root)) for p in (proto_root / "edge" / "v1").glob("*.proto"))
    if not sources:
        raise SystemExit(f"no .proto files under {proto_root / 'edge' / 'v1'}")
    well_known = resources.files("grpc_tools") / "_proto"
    out.mkdir(parents=True, exist_ok=True)
    args = [
        "protoc",
        f"-I{proto_root}",
        f"-I{well_known}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *sources,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    package = out / "edge" / "v1"
    (package / "__init__.py").write_text(INIT)
    # protoc writes a _grpc module for every file; drop the ones without a service (empty shells).
    for path in package.glob("*_pb2_grpc.py"):
        if "class " not in path.read_text():
            path.unlink()
    return sorted(package.iterdir())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edge.grpc.codegen", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT, help="output root (default: the repository root)")
    args = parser.parse_args(argv)
    for path in generate(args.out):
        print(path.relative_to(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
