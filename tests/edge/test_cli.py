"""The ``edge`` command accepts its global options (--config, --log-level) wherever a user puts
them: ``edge keys create --name a --config x.yaml`` once failed with "unrecognized arguments"."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def _edge(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.fixture()
def config(tmp_path: Path) -> Path:
    path = tmp_path / "x.yaml"
    path.write_text(f'state: {{ledger: "sqlite:///{tmp_path}/keys.db"}}\nproviders:\n  m: {{kind: mock}}\n')
    return path


@pytest.mark.parametrize(
    "line",
    [
        ["keys", "create", "--name", "{name}", "--config", "{config}"],
        ["keys", "--config", "{config}", "create", "--name", "{name}"],
        ["--config", "{config}", "keys", "create", "--name", "{name}"],
        ["keys", "create", "--config", "{config}", "--log-level", "WARNING", "--name", "{name}"],
    ],
    ids=["after-the-subcommand", "after-the-command", "before-the-command", "with-log-level"],
)
def test_config_is_accepted_wherever_it_is_put(config: Path, tmp_path: Path, line: list[str]) -> None:
    name = "key-" + "-".join(line[:2])
    done = _edge(*[part.format(name=name, config=config) for part in line], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"({name})" in done.stdout
    # It went into the config's ledger, not the embedded default's ./edge.db.
    assert not (tmp_path / "edge.db").exists()
    listed = _edge("keys", "list", "--json", "--config", str(config), cwd=tmp_path)
    assert name in [k["name"] for k in json.loads(listed.stdout)]


def test_other_commands_take_the_global_options_after_them(config: Path, tmp_path: Path) -> None:
    done = _edge("config", "--log-level", "ERROR", "--config", str(config), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["providers"]["m"]["kind"] == "mock"
    done = _edge("--config", str(config), "usage", "--json", cwd=tmp_path)
    assert "keys.db" in done.stderr  # it looked for the config's ledger (which no gateway made yet)
    bad = _edge("keys", "create", "--name", "x", "--config", str(tmp_path / "missing.yaml"), cwd=tmp_path)
    assert bad.returncode == 2 and "missing.yaml" in bad.stderr
