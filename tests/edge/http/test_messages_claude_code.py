"""Claude Code (``@anthropic-ai/claude-code``, its real binary) run headless through the gateway.

``claude -p ... --output-format json`` with ANTHROPIC_BASE_URL at the gateway, a gateway key as
ANTHROPIC_API_KEY, and telemetry and all non-essential traffic off: once to an Anthropic
provider (the byte pass-through; the mock's Anthropic dialect answers) and once translated to an
OpenAI-format provider. The package is installed with npm under ../cache/npm/claude-code (beside
the checkout, so CI reuses it between runs); without npm the test is skipped, saying so.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import Mock, Server, wait_for, write_config

ROOT = Path(__file__).resolve().parents[3]
PREFIX = ROOT.parent / "cache" / "npm" / "claude-code"
BIN = PREFIX / "node_modules" / ".bin" / "claude"
KEY = "edge-admin-key-claude-code-0001"
PROMPT = "say hello to the gateway"


def _claude() -> Path:
    if BIN.exists():
        return BIN
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: cannot install @anthropic-ai/claude-code for the Claude Code test")
    PREFIX.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([npm, "install", "--prefix", str(PREFIX), "--no-audit", "--no-fund", "@anthropic-ai/claude-code"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and BIN.exists(), done.stdout + done.stderr
    return BIN


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("claude-code")


@pytest.fixture(scope="module")
def gateway(mock: Mock, home: Path) -> Iterator[Server]:
    text = f"""
server: {{host: 127.0.0.1, port: 0, drain_timeout_s: 10}}
state: {{ledger: "sqlite:///{home}/edge.db", ledger_flush_s: 0.05}}
keys: {{admin: {KEY}}}
providers:
  claude: {{kind: anthropic, base_url: "{mock.url}", api_key: sk-ant-upstream-secret-0123, timeout_s: 30, models: [echo]}}
  oai: {{kind: openai, base_url: "{mock.base_url}", api_key: sk-upstream-secret-0123456789, timeout_s: 30, models: [echo]}}
models:
  claude-sonnet-4-5: {{route: [{{provider: claude, model: echo}}]}}
  claude-haiku-4-5: {{route: [{{provider: claude, model: echo}}]}}
  gpt-behind-claude: {{route: [{{provider: oai, model: echo}}]}}
"""
    server = Server(["serve", "--config", str(write_config(home / "edge.yaml", text))], cwd=str(home))
    yield server
    assert server.stop() == 0
    assert "sk-ant-upstream-secret" not in server.output and KEY not in server.output


def _run(gateway: Server, home: Path, model: str) -> dict[str, object]:
    binary = _claude()
    work = home / f"work-{model}"
    (work / "home").mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(work / "home"),
        "ANTHROPIC_BASE_URL": gateway.url,
        "ANTHROPIC_API_KEY": KEY,
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": "claude-haiku-4-5",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
    }
    done = subprocess.run([str(binary), "-p", PROMPT, "--output-format", "json", "--model", model], cwd=work, env=env, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["type"] == "result" and result["is_error"] is False and PROMPT in str(result["result"]), result
    return result


def _rows(home: Path, model: str) -> list[sqlite3.Row]:
    def rows() -> list[sqlite3.Row]:
        with sqlite3.connect(home / "edge.db") as db:
            db.row_factory = sqlite3.Row
            return db.execute("SELECT * FROM requests WHERE public_model = ?", (model,)).fetchall()

    return wait_for(rows, 10.0, what=f"ledger rows of {model}")


@pytest.mark.timeout(900)
def test_claude_code_through_the_pass_through(gateway: Server, mock: Mock, home: Path) -> None:
    _run(gateway, home, "claude-sonnet-4-5")
    sent = [r for r in mock.stats()["recent"] if r["path_qs"].startswith("/v1/messages")]
    assert sent, "Claude Code's request did not reach the upstream"
    request = sent[-1]
    body = json.loads(request["body"])
    headers = request["headers"]
    # What Claude Code sends, untouched but for the model: one streamed ?beta=true call per turn.
    assert request["path_qs"] == "/v1/messages?beta=true" and body["model"] == "echo" and body["stream"] is True
    assert headers["x-app"] == "cli" and "claude-code-20250219" in headers["anthropic-beta"] and headers["anthropic-dangerous-direct-browser-access"] == "true"
    assert any("cache_control" in block for block in body["system"]) and len(body["tools"]) >= 10
    assert json.loads(body["metadata"]["user_id"])["session_id"]  # a JSON string, passed as it is
    assert body["thinking"]["type"] in ("enabled", "adaptive")
    rows = _rows(home, "claude-sonnet-4-5")
    assert all(r["endpoint"] == "messages" and r["status"] == 200 and r["provider"] == "claude" for r in rows)


@pytest.mark.timeout(900)
def test_claude_code_translated_to_an_openai_format_provider(gateway: Server, mock: Mock, home: Path) -> None:
    _run(gateway, home, "gpt-behind-claude")
    body = mock.stats()["last_request"]
    assert body["model"] == "echo" and body["stream"] is True and "max_completion_tokens" in body
    assert body["messages"][0]["role"] == "system" and any(m["role"] == "user" for m in body["messages"])
    assert len(body["tools"]) >= 10 and all(t["type"] == "function" and "parameters" in t["function"] for t in body["tools"])
    rows = _rows(home, "gpt-behind-claude")
    assert rows and all(r["endpoint"] == "messages" and r["status"] == 200 and r["provider"] == "oai" for r in rows)
    assert "context_management" in (rows[-1]["dropped_params"] or "")  # named, not silently dropped
