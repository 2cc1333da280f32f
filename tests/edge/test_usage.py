"""Usage reports: ``edge usage`` and GET /v1/usage against what the upstream really reported.

A gateway with an admin key serves a scripted workload (tests/store/workload.py); the CLI, run
as a subprocess on the same config, and the HTTP report must both equal the sums of the usage
the mock sent, and its cost from the config's prices to the cent. Units cover --since parsing,
the table, and grouping by tag on rows written straight into a store.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.accounting import UsageRecord
from edge.store import open_store
from edge.usage import build_report, parse_since, render_table
from tests.edge.store.workload import expected_cost, run_workload
from tests.support import Mock, Server, gateway_config, request, write_config

ADMIN = "sk-admin-usage-test-0123456789"
AUTH = {"authorization": f"Bearer {ADMIN}"}


def edge_usage(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge.cli", "usage", *args], capture_output=True, text=True, cwd=cwd, timeout=60)


# -- units ---------------------------------------------------------------------------------


def test_parse_since_spans_and_dates() -> None:
    now = 1_700_000_000.0
    assert parse_since("30m", now) == now - 1800
    assert parse_since("24h", now) == now - 86400
    assert parse_since("7d", now) == now - 7 * 86400
    assert parse_since("2w", now) == now - 14 * 86400
    assert parse_since("90s", now) == now - 90
    assert parse_since("2023-11-14", now) == 1699920000.0  # midnight UTC
    assert parse_since("2023-11-14T12:00", now) == 1699963200.0
    assert parse_since("2023-11-14T12:00+02:00", now) == 1699956000.0
    for bad in ("", "7", "7y", "-1d", "yesterday", "2023-13-01"):
        with pytest.raises(ValueError, match="cannot read since"):
            parse_since(bad, now)


async def test_report_by_tag_to_the_cent(tmp_path: Path) -> None:
    """Rows with tags written straight into the store; the report sums them per customer."""
    store = open_store("sqlite:///ledger.db", tmp_path)
    await store.start()
    try:
        records = [
            UsageRecord(request_id=f"r{i}", ts=1_700_000_000.0 + i, public_model="chat", status=200 if i % 4 else 500,
                        prompt_tokens=1000 + i, completion_tokens=2000 * i, cost_usd=((1000 + i) * 1.0 + 2000 * i * 2.0) / 1e6,
                        tags={"customer": ("acme", "globex")[i % 2]} if i % 5 else None)
            for i in range(1, 40)
        ]
        await store.insert_requests(records)
        report = await build_report(store, 1_699_999_000.0, "tag:customer")
    finally:
        await store.close()
    by_group = {row["group"]: row for row in report["rows"]}
    assert list(by_group) == ["-", "acme", "globex"]
    for name in by_group:
        mine = [r for r in records if ((r.tags or {}).get("customer") or "-") == name]
        assert by_group[name]["requests"] == len(mine)
        assert by_group[name]["errors"] == sum(r.status >= 400 for r in mine)
        assert by_group[name]["prompt_tokens"] == sum(r.prompt_tokens for r in mine)
        assert round(by_group[name]["cost_usd"], 2) == round(sum(r.cost_usd or 0 for r in mine), 2)
    assert report["total"]["requests"] == 39 and report["group_by"] == "tag:customer"
    table = render_table(report)
    assert "| tag:customer |" in table and "| total " in table and f"{report['total']['cost_usd']:.6f}" in table
    widths = {len(line) for line in table.splitlines() if line.startswith("|")}
    assert len(widths) == 1, table  # aligned


# -- a real gateway ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workload(mock: Mock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path, dict[str, dict[str, Any]]]]:
    home = tmp_path_factory.mktemp("usage-home")
    config = write_config(home / "edge.yaml", gateway_config(mock.base_url, home, extra=f"keys:\n  admin: {ADMIN}\n"))
    gateway = Server(["serve", "--config", str(config)], cwd=str(home))
    try:
        seen = run_workload(gateway.url, AUTH)
        yield gateway, config, seen
    finally:
        assert gateway.stop() == 0
    assert ADMIN not in gateway.output


def _sums(seen: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "requests": len(seen),
        "errors": 0,
        "prompt_tokens": sum(u["prompt_tokens"] for u in seen.values()),
        "completion_tokens": sum(u["completion_tokens"] for u in seen.values()),
        "cached_tokens": sum(u["prompt_tokens_details"]["cached_tokens"] for u in seen.values()),
        "reasoning_tokens": sum(u["completion_tokens_details"]["reasoning_tokens"] for u in seen.values()),
    }


def _http_report(gateway: Server, query: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    status, _, body = request("GET", f"{gateway.url}/v1/usage{query}", headers=headers)
    return status, json.loads(body)


def test_http_report_equals_the_upstream_usage(workload: tuple[Server, Path, dict[str, dict[str, Any]]]) -> None:
    gateway, _, seen = workload
    status, report = _http_report(gateway, "?since=1h&group_by=model", AUTH)
    assert status == 200, report
    assert [row["group"] for row in report["rows"]] == ["chat"]
    row = report["rows"][0]
    assert {k: row[k] for k in _sums(seen)} == _sums(seen)
    assert {k: report["total"][k] for k in _sums(seen)} == _sums(seen)
    assert report["group_by"] == "model" and isinstance(report["since"], float)


def test_cli_report_equals_the_http_report(workload: tuple[Server, Path, dict[str, dict[str, Any]]]) -> None:
    gateway, config, seen = workload
    _, over_http = _http_report(gateway, "?group_by=model", AUTH)  # also flushes the gateway's ledger
    done = edge_usage("--config", str(config), "--group-by", "model", "--json", cwd=config.parent)
    assert done.returncode == 0, done.stderr
    from_cli = json.loads(done.stdout)
    assert from_cli["rows"] == over_http["rows"] and from_cli["total"] == over_http["total"]
    assert {k: from_cli["total"][k] for k in _sums(seen)} == _sums(seen)
    by_day = json.loads(edge_usage("--config", str(config), "--group-by", "day", "--json", cwd=config.parent).stdout)
    by_key = json.loads(edge_usage("--config", str(config), "--group-by", "key", "--since", "2020-01-01", "--json", cwd=config.parent).stdout)
    assert by_day["total"] == by_key["total"] == from_cli["total"]
    assert [row["group"] for row in by_key["rows"]] == ["admin"]
    table = edge_usage("--config", str(config), cwd=config.parent)
    assert table.returncode == 0 and "| model " in table.stdout and "| chat " in table.stdout and "| total " in table.stdout


def test_reports_the_cost_of_a_scripted_workload_to_the_cent(workload: tuple[Server, Path, dict[str, dict[str, Any]]]) -> None:
    gateway, config, seen = workload
    expected = sum(expected_cost(u) for u in seen.values())
    assert expected > 0.05  # big enough for cents to mean something
    _, report = _http_report(gateway, "?group_by=model", AUTH)
    assert round(report["total"]["cost_usd"], 2) == round(expected, 2)
    assert report["total"]["cost_usd"] == pytest.approx(expected, rel=1e-9)
    # The same per customer, once request metadata becomes tags (issue 6, tags).
    _, by_customer = _http_report(gateway, "?group_by=tag:customer", AUTH)
    groups = {row["group"]: row["cost_usd"] for row in by_customer["rows"]}
    if list(groups) == ["-"]:
        pytest.skip("request metadata does not become tags yet; per-customer cost checked once it does")
    for customer in {u["customer"] for u in seen.values()}:
        mine = sum(expected_cost(u) for u in seen.values() if u["customer"] == customer)
        assert round(groups[customer], 2) == round(mine, 2)


def test_http_report_needs_the_admin_key(workload: tuple[Server, Path, dict[str, dict[str, Any]]]) -> None:
    gateway = workload[0]
    status, body = _http_report(gateway, "")
    assert status == 401 and body["error"]["code"] == "invalid_api_key"
    status, body = _http_report(gateway, "", {"authorization": "Bearer sk-not-a-key"})
    assert status == 401
    status, _, created = request("POST", gateway.url + "/v1/keys", json.dumps({"name": "usage-reader"}).encode(), {"content-type": "application/json", **AUTH})
    assert status == 201, created
    app_key = json.loads(created)["key"]
    status, body = _http_report(gateway, "", {"authorization": f"Bearer {app_key}"})
    assert status == 403 and body["error"]["type"] == "permission_error" and body["error"]["code"] == "admin_required"


def test_http_report_rejects_bad_parameters(workload: tuple[Server, Path, dict[str, dict[str, Any]]]) -> None:
    gateway = workload[0]
    status, body = _http_report(gateway, "?since=forever", AUTH)
    assert status == 400 and body["error"]["param"] == "since" and body["error"]["type"] == "invalid_request_error"
    status, body = _http_report(gateway, "?group_by=team", AUTH)
    assert status == 400 and body["error"]["param"] == "group_by"


def test_no_admin_key_configured_means_no_report(gateway: Server) -> None:
    """The shared gateway has no keys.admin: anonymous callers get 403, never the ledger."""
    status, body = _http_report(gateway, "")
    assert status == 403 and body["error"]["type"] == "permission_error" and body["error"]["code"] == "admin_disabled"
    assert "keys.admin" in body["error"]["message"]


# -- CLI errors: one line, exit 2, no traceback --------------------------------------------


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--since", "soon"], "cannot read since='soon'"),
        (["--group-by", "team"], "cannot group by 'team'"),
        (["--group-by", "tag:"], "cannot group by 'tag:'"),
    ],
)
def test_cli_rejects_bad_arguments(tmp_path: Path, args: list[str], says: str) -> None:
    done = edge_usage(*args, cwd=tmp_path)
    assert done.returncode == 2 and says in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""


def test_cli_unreachable_postgres_is_one_line_without_the_password(tmp_path: Path) -> None:
    config = write_config(tmp_path / "edge.yaml", "state:\n  ledger: postgresql://edge:pg-secret-pw@127.0.0.1:9/ledger\n")
    done = edge_usage("--config", str(config), cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "cannot read the ledger at postgresql://edge:***@127.0.0.1:9/ledger" in done.stderr
    assert "pg-secret-pw" not in done.stderr + done.stdout


def test_cli_without_a_ledger_says_so_and_creates_none(tmp_path: Path) -> None:
    done = edge_usage(cwd=tmp_path)  # the embedded default: ./edge.db, which does not exist
    assert done.returncode == 2 and "no ledger at" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "edge.db").exists()
