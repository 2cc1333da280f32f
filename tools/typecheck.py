"""Run the type checker (mypy, configured in pyproject.toml) over edge/, adapters/ and fastpath/.

The source folders install as ``edge``, ``edge.adapters`` and ``edge.fastpath`` (setuptools
package-dir), a layout mypy cannot see in the tree and cannot follow through an editable
install's import hook. So this builds the installed layout as links in a temporary folder (every
entry of edge/, plus edge/adapters -> adapters/ and edge/fastpath -> fastpath/) and checks that,
reporting paths as they are in the repository.

    python -m tools.typecheck            # exit status 1 when mypy finds errors
    python -m tools.typecheck --extra F  # also check file F, as the module edge.<F's stem>
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAPPED = {"adapters": ROOT / "adapters", "fastpath": ROOT / "fastpath"}


def link_tree(into: Path) -> Path:
    """``into``/edge laid out as the installed package, made of links into the repository."""
    edge = into / "edge"
    edge.mkdir()
    for entry in (ROOT / "edge").iterdir():
        if entry.name != "__pycache__":
            (edge / entry.name).symlink_to(entry)
    for name, target in MAPPED.items():
        (edge / name).symlink_to(target)
    return edge


def run(extra: list[Path] | None = None) -> subprocess.CompletedProcess[str]:
    """mypy over the linked tree; its output with paths rewritten to the repository's.

    Each ``extra`` file is checked as the module ``edge.<its stem>`` (a test's probe that
    imports edge.adapters like an adapter would) and reported under the path given.
    """
    with tempfile.TemporaryDirectory(prefix="edge-types-") as tmp:
        edge = link_tree(Path(tmp))
        for path in extra or ():
            (edge / path.name).symlink_to(path.resolve())
        argv = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), "--cache-dir", str(ROOT / ".mypy_cache"), "edge"]
        done = subprocess.run(argv, cwd=tmp, capture_output=True, text=True, env={**os.environ, "MYPY_FORCE_COLOR": "0"})
        out = done.stdout.replace("edge/adapters/", "adapters/").replace("edge/fastpath/", "fastpath/")
        for path in extra or ():
            out = out.replace(f"edge/{path.name}:", f"{path}:")
        return subprocess.CompletedProcess(done.args, done.returncode, out, done.stderr)


def errors(output: str) -> list[str]:
    """The ``path:line: error: ...`` lines of mypy's output (notes and the summary left out)."""
    return [line for line in output.splitlines() if ": error: " in line]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extra", type=Path, action="append", default=[])
    args = parser.parse_args()
    done = run(args.extra)
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
