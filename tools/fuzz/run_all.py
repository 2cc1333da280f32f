"""Run every fuzz target for a bounded time and print (or write) a summary.

    python -m tools.fuzz.run_all --seconds 60 [--json out.json] [--jobs 2]

Each target runs as its own process (atheris drives one target per process); a finding
leaves its input in --findings and makes the exit status 1.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARGETS = ["sse", "reencode", "anthropic_stream", "gemini_stream", "ollama_stream", "config", "tags", "client", "server"]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.fuzz.run_all")
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--jobs", type=int, default=2, help="targets at once")
    parser.add_argument("--findings", default=str(Path(tempfile.gettempdir()) / "edge-fuzz-findings"))
    parser.add_argument("--json", help="write the summary here")
    parser.add_argument("targets", nargs="*", default=TARGETS)
    args = parser.parse_args()
    summary: dict[str, dict[str, object]] = {}
    pending = list(args.targets)
    running: dict[str, subprocess.Popen[str]] = {}
    while pending or running:
        while pending and len(running) < args.jobs:
            name = pending.pop(0)
            cmd = [sys.executable, "-m", f"tools.fuzz.fuzz_{name}", "--seconds", str(args.seconds), "--findings", args.findings]
            running[name] = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        name = next(iter(running))
        log, _ = running.pop(name).communicate()
        runs = re.search(r"Done (\d+) runs in (\d+) second", log)
        cov = re.findall(r"cov: (\d+) ft: (\d+)", log)
        corpus = re.findall(r"corp: (\d+)/", log)
        finding = re.search(r"Uncaught Python exception: ===\n(.*)", log)
        summary[name] = {
            "cases": int(runs.group(1)) if runs else None,
            "seconds": int(runs.group(2)) if runs else None,
            "coverage_edges": int(cov[-1][0]) if cov else None,
            "corpus": int(corpus[-1]) if corpus else None,
            "finding": finding.group(1) if finding else None,
        }
        print(f"{name:18} {summary[name]}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
    return 1 if any(s["finding"] for s in summary.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
