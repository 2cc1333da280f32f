"""Schema-driven fuzzing of the HTTP surface: schemathesis against GET /openapi.json.

    python -m tools.fuzz.http_api [--max-examples 50 | --max-time 300] [--report DIR]

Starts the mock upstream and a gateway in front of it (admin key, one gateway key, the mock as an
OpenAI-format provider), then runs every operation in positive and negative modes (phases
examples, coverage, fuzzing). Checks: no_gateway_5xx (no 5xx: the mock is healthy, so any
5xx is the gateway's own; tools/fuzz/st_hooks.py says the one exception), status_code / content_type / response_headers / response_schema
conformance, negative_data_rejection, unsupported_method, and no_upstream_call_when_rejected
(tools/fuzz/st_hooks.py). Exit status: schemathesis's (0 when every check held).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from support import Mock, Server, gateway_config, write_config  # noqa: E402

ADMIN = "sk-admin-fuzz-0123456789abcdef"
CHECKS = "no_gateway_5xx,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,negative_data_rejection,unsupported_method,no_upstream_call_when_rejected"


def run(max_examples: int | None, max_time: int | None, report: str | None, seed: int | None = None) -> tuple[int, str, str]:
    """Returns (exit status, schemathesis output, the gateway's log)."""
    home = Path(tempfile.mkdtemp(prefix="edge-st-"))
    mock = Mock()
    text = gateway_config(mock.base_url, home, extra=f"keys:\n  admin: {ADMIN}\n")
    gateway = Server(["serve", "--config", str(write_config(home / "edge.yaml", text))], cwd=str(home))
    try:
        cmd = [
            sys.executable, "-m", "schemathesis.cli", "run", gateway.url + "/openapi.json",
            "--checks", CHECKS, "--mode", "all", "--workers", "1", "--no-color",
            "--phases", "examples,coverage,fuzzing", "-H", f"Authorization: Bearer {ADMIN}",
            "--request-timeout", "20", "--suppress-health-check", "all", "--generation-database", "none",
        ]
        if max_examples:
            cmd += ["--max-examples", str(max_examples)]
        if max_time:
            cmd += ["--max-time", str(max_time)]
        if seed is not None:
            cmd += ["--seed", str(seed)]
        if report:
            cmd += ["--report", "junit,ndjson", "--report-dir", report]
        env = dict(os.environ, SCHEMATHESIS_HOOKS="tools.fuzz.st_hooks", EDGE_FUZZ_MOCK_URL=mock.url, PYTHONPATH=str(ROOT))
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        return proc.returncode, proc.stdout + proc.stderr, gateway.output
    finally:
        gateway.stop()
        mock.stop()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.fuzz.http_api")
    parser.add_argument("--max-examples", type=int, default=None)
    parser.add_argument("--max-time", type=int, default=None, help="seconds for the whole run")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--report", help="a folder for the JUnit and NDJSON reports")
    args = parser.parse_args()
    status, output, log = run(args.max_examples, args.max_time, args.report, args.seed)
    print(output)
    if "Traceback" in log:
        print("the gateway logged a traceback:\n" + log[-3000:])
        return 1
    return status


if __name__ == "__main__":
    sys.exit(main())
