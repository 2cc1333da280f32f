"""The CLI prints ledger values escaped (issue 16, item 8).

A tag is whatever a request's ``metadata`` said: ``edge usage --group-by tag:customer`` printed it
raw, so a newline and a ``|`` forged a row of the table, and escape sequences reached the
operator's terminal. Both output formats of ``edge usage``, and ``edge keys list`` (key names come
through the admin API), now escape every character a terminal would act on. Real gateway, real
mock, the real CLI as a subprocess reading the same ledger.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import Mock, Server, gateway_config, request, write_config

ADMIN = "sk-admin-escaping-0123456789ab"
FORGED = "acme\n| forged | 999 | 0 | 0 | 0 | 0 | 0 | 9.000000 |\n\x1b[2J\x1b]0;owned\x07\u009b31m\u202eevil\x7f\\"
TERMINAL_ACTORS = ("\x1b", "\x07", "\u009b", "\u202e", "\x7f")


def _cli(*args: str, cwd: Path) -> bytes:
    done = subprocess.run([sys.executable, "-m", "edge.cli", *args], capture_output=True, cwd=cwd, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


@pytest.fixture(scope="module")
def ledger(mock: Mock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("usage-escaping")
    config = write_config(home / "edge.yaml", gateway_config(mock.base_url, home, extra=f"keys:\n  admin: {ADMIN}\n"))
    server = Server(["serve", "--config", str(config)], cwd=str(home))
    headers = {"content-type": "application/json", "authorization": f"Bearer {ADMIN}"}
    for customer in (FORGED, "plain"):
        body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}], "metadata": {"customer": customer}}
        assert request("POST", server.url + "/v1/chat/completions", json.dumps(body).encode(), headers)[0] == 200
    name = {"name": "ops\x1b]0;pwned\x07\nforged-key-line"}
    assert request("POST", server.url + "/v1/keys", json.dumps(name).encode(), headers)[0] == 201
    assert server.stop() == 0  # a graceful stop writes every row
    yield config


def test_the_usage_table_shows_a_forged_tag_escaped_on_one_row(ledger: Path) -> None:
    out = _cli("usage", "--config", str(ledger), "--group-by", "tag:customer", cwd=ledger.parent).decode()
    assert not any(ch in out for ch in TERMINAL_ACTORS), repr(out)
    lines = out.splitlines()
    assert len(lines) == 4 + 2 + 1, lines  # title, blank, heading, rule; two groups; total
    rows = [line for line in lines if line.startswith("| acme")]
    assert len(rows) == 1 and rows[0].count(" | ") == 11, lines  # the group is one cell (12 columns)
    assert rows[0].startswith("| acme\\n\\| forged \\| 999 \\| 0 ")
    assert "\\x1b[2J\\x1b]0;owned\\x07\\x9b31m\\u202eevil\\x7f\\\\ |" in rows[0]


def test_the_usage_json_escapes_them_and_still_decodes_to_the_tag(ledger: Path) -> None:
    raw = _cli("usage", "--config", str(ledger), "--group-by", "tag:customer", "--json", cwd=ledger.parent)
    text = raw.decode()
    assert not any(ch in text for ch in TERMINAL_ACTORS) and text.count("\n") == 1, repr(text)
    groups = {row["group"]: row for row in json.loads(text)["rows"]}
    assert set(groups) == {FORGED, "plain"} and groups[FORGED]["requests"] == 1


def test_keys_list_escapes_key_names(ledger: Path) -> None:
    plain = _cli("keys", "--config", str(ledger), "list", cwd=ledger.parent).decode()
    assert not any(ch in plain for ch in TERMINAL_ACTORS), repr(plain)
    assert len(plain.splitlines()) == 1 and "ops\\x1b]0;pwned\\x07\\nforged-key-line" in plain
    listed = _cli("keys", "--config", str(ledger), "list", "--json", cwd=ledger.parent).decode()
    assert not any(ch in listed for ch in TERMINAL_ACTORS)
    assert json.loads(listed)[0]["name"] == "ops\x1b]0;pwned\x07\nforged-key-line"
