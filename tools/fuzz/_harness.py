"""Shared bits of the fuzz targets: atheris setup, seed corpora, splitting input into feeds.

Each target module defines ``one_input(data: bytes)``, which raises AssertionError (or any
exception other than the ones its parser documents) on a finding, and ``seeds()``. Run one
target for a bounded time with ``python -m tools.fuzz.fuzz_<name> --seconds 60`` (or
``--runs N``); ``python -m tools.fuzz.run_all`` runs every target and writes a summary.
Instrumentation covers the pure-Python builds and adapters/ and edge/ code; the compiled
fastpath builds run uninstrumented and are checked differentially against their twins.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "streams"


def splits(data: bytes) -> tuple[bytes, list[bytes]]:
    """The first byte picks piece sizes; returns (body, body cut into feeds)."""
    if not data:
        return b"", []
    mode, body = data[0], data[1:]
    if mode % 4 == 0 or not body:
        return body, [body] if body else []
    size = 1 + (mode >> 2) % 17  # 1..17-byte pieces, the splits a slow upstream makes
    return body, [body[i : i + size] for i in range(0, len(body), size)]


def fixture_seeds(*dialects: str) -> list[bytes]:
    out = []
    for dialect in dialects:
        for path in sorted((FIXTURES / dialect).glob("*")):
            if path.suffix in (".sse", ".ndjson", ".txt"):
                out.append(b"\x00" + path.read_bytes())
                out.append(b"\x05" + path.read_bytes())
    return out


def main(name: str, one_input: Callable[[bytes], None], seeds: Iterable[bytes]) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m tools.fuzz.fuzz_{name}")
    parser.add_argument("--seconds", type=int, default=60, help="stop after this long (default 60)")
    parser.add_argument("--runs", type=int, default=-1, help="stop after this many inputs")
    parser.add_argument("--findings", default=str(Path(tempfile.gettempdir()) / "edge-fuzz-findings"), help="where crashing inputs are written")
    parser.add_argument("--corpus", help="a corpus folder to keep (default: a temporary copy of the seeds)")
    args, rest = parser.parse_known_args()
    import atheris

    corpus = Path(args.corpus) if args.corpus else Path(tempfile.mkdtemp(prefix=f"fuzz-{name}-"))
    corpus.mkdir(parents=True, exist_ok=True)
    for i, seed in enumerate(seeds):
        (corpus / f"seed-{i:03d}").write_bytes(seed)
    findings = Path(args.findings)
    findings.mkdir(parents=True, exist_ok=True)
    argv = [sys.argv[0], f"-artifact_prefix={findings}/{name}-", f"-max_total_time={args.seconds}", f"-runs={args.runs}", "-rss_limit_mb=2048", "-max_len=65536", "-timeout=10", "-print_final_stats=1", *rest, str(corpus)]
    atheris.Setup(argv, one_input)
    try:
        atheris.Fuzz()
    finally:
        if not args.corpus:
            shutil.rmtree(corpus, ignore_errors=True)
