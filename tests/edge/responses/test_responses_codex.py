"""Codex CLI (``npm install @openai/codex``) running ``codex exec`` through a real gateway in front
of the embedded mock, with the gateway as a custom provider (``wire_api = "responses"``, the only
wire API Codex accepts for one). Codex streams POST /v1/responses with its whole tool set
(function, namespace and built-in tools) and reads the answer from ``response.output_item.done``
and ``response.completed`` (codex-rs/codex-api/src/sse/responses.rs).

The CLI is installed once into ``<repo parent>/cache/npm/codex`` (or ``$EDGE_NPM_CACHE/codex``),
which CI keeps between runs; without npm the test skips and says so.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.support import Server, write_config

ROOT = Path(__file__).resolve().parents[3]
VERSION = "^0.171.0"


def _codex() -> Path:
    base = Path(os.environ.get("EDGE_NPM_CACHE") or ROOT.parent / "cache" / "npm") / "codex"
    binary = base / "node_modules" / ".bin" / "codex"
    if binary.exists():
        return binary
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: the Codex CLI test needs it (npm install @openai/codex)")
    base.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([npm, "install", "--prefix", str(base), "--cache", str(base / ".npm-cache"), "--no-audit", "--no-fund", f"@openai/codex@{VERSION}"], capture_output=True, text=True, timeout=600)
    if done.returncode != 0 or not binary.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"npm install @openai/codex failed:\n{done.stderr[-2000:]}")
        pytest.skip(f"npm install @openai/codex failed here: {done.stderr.strip()[-300:]}")
    return binary


def test_codex_exec_through_the_gateway(tmp_path: Path) -> None:
    codex = _codex()
    config = f'server: {{host: 127.0.0.1, port: 0, access_log: true}}\nstate: {{ledger: "sqlite:///{tmp_path}/edge.db", ledger_flush_s: 0.05}}\nproviders:\n  mock: {{kind: mock}}\n'
    gateway = Server(["serve", "--config", str(write_config(tmp_path / "edge.yaml", config))], cwd=str(tmp_path))
    home, work = tmp_path / "codex-home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    (home / "config.toml").write_text(
        'model = "mock/echo"\nmodel_provider = "edge"\n\n[model_providers.edge]\nname = "llm-edge"\n'
        f'base_url = "{gateway.url}/v1"\nenv_key = "EDGE_API_KEY"\nwire_api = "responses"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CODEX_"))}
    env.update(CODEX_HOME=str(home), EDGE_API_KEY="k", NO_COLOR="1")
    try:
        done = subprocess.run([str(codex), "exec", "--skip-git-repo-check", "say the magic words"], cwd=work, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    finally:
        gateway.stop()
    assert done.returncode == 0, done.stderr[-3000:]
    # The mock echoes the last user text; Codex prints the agent's final message on stdout.
    assert done.stdout.strip().splitlines()[-1] == "say the magic words", done.stdout
    assert "POST /v1/responses" in gateway.output
    rows = sqlite3.connect(tmp_path / "edge.db").execute("SELECT endpoint, stream, status, provider, upstream_model FROM requests").fetchall()
    assert rows and set(rows) == {("responses", 1, 200, "mock", "echo")}
