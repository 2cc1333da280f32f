"""The dashboard's JSON endpoints, page headers and switches, and the assets the package ships.

Real gateway processes in front of the mock: the endpoints refuse anyone but the admin key and
name the bad parameter; the spend series adds up to the usage report; the pages carry their
security headers; ``ui.enabled`` / ``ui.catalog`` turn the pages off; the vendored uPlot is the
file its digest says and a built wheel carries every asset.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.config import ConfigError, parse_config
from edge.http.ui import ASSETS
from tests.support import Mock, Server, gateway_config, request, write_config

ROOT = Path(__file__).resolve().parents[3]
STATIC = ROOT / "edge" / "http" / "static"
ADMIN = "sk-admin-pages-0123456789abcdef"
ENDPOINTS = ("/v1/usage/series", "/v1/usage/routes", "/v1/routes", "/v1/budgets")


def _start(mock: Mock, home: Path, extra: str = "") -> Server:
    text = gateway_config(mock.base_url, home, extra=f"keys:\n  admin: {ADMIN}\n{extra}")
    return Server(["serve", "--config", str(write_config(home / "edge.yaml", text))], cwd=str(home))


@pytest.fixture(scope="module")
def admin_gateway(mock: Mock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = _start(mock, tmp_path_factory.mktemp("ui-pages"))
    yield server
    server.stop()
    assert ADMIN not in server.output


def _get(server: Server, path: str, key: str | None = ADMIN, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
    sent = {**({"authorization": f"Bearer {key}"} if key else {}), **(headers or {})}
    status, got, body = request("GET", server.url + path, headers=sent)
    return status, got, json.loads(body) if got.get("content-type", "").startswith("application/json") else body


def _chat(server: Server, key: str, tokens: int, customer: str) -> None:
    body = {"model": "chat", "messages": [{"role": "user", "content": "x " * 50}], "mock": {"tokens": tokens}, "metadata": {"customer": customer}}
    status, _, data = request("POST", server.url + "/v1/chat/completions", json.dumps(body).encode(), {"authorization": f"Bearer {key}", "content-type": "application/json"})
    assert status == 200, data


def test_dashboard_endpoints_are_for_the_admin_key_only(admin_gateway: Server) -> None:
    status, _, made = request("POST", admin_gateway.url + "/v1/keys", json.dumps({"name": "plain"}).encode(), {"authorization": f"Bearer {ADMIN}", "content-type": "application/json"})
    assert status == 201
    for path in ENDPOINTS:
        status, _, body = _get(admin_gateway, path, key=None)
        assert status == 401 and body["error"]["code"] == "invalid_api_key", (path, body)
        status, _, body = _get(admin_gateway, path, key=json.loads(made)["key"])
        assert status == 403 and body["error"]["code"] == "admin_required", (path, body)
        assert _get(admin_gateway, path)[0] == 200


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("since=yesterday", "since"), ("since=2999-01-01", "since"), ("bucket=5s", "bucket"), ("bucket=fast", "bucket"),
        ("since=30d&bucket=1m", "bucket"), ("group_by=day", "group_by"), ("group_by=colour", "group_by"), ("group_by=tag:", "group_by"),
    ],
)
def test_bad_parameters_are_400_naming_them(admin_gateway: Server, query: str, param: str) -> None:
    status, _, body = _get(admin_gateway, "/v1/usage/series?" + query)
    assert status == 400 and body["error"]["param"] == param and body["error"]["type"] == "invalid_request_error", body


def test_series_adds_up_to_the_usage_report(admin_gateway: Server) -> None:
    for tokens, customer in ((300, "acme"), (1200, "globex"), (50, "acme")):
        _chat(admin_gateway, ADMIN, tokens, customer)
    for group_by in ("model", "key", "provider", "tag:customer"):
        _, _, series = _get(admin_gateway, f"/v1/usage/series?since=2h&group_by={group_by}")
        _, _, report = _get(admin_gateway, f"/v1/usage?since=2h&group_by={group_by}")
        assert series["bucket_s"] == 300 and len(series["buckets"]) in (25, 26)
        assert all(b - a == 300 for a, b in zip(series["buckets"], series["buckets"][1:]))
        assert series["buckets"][0] <= series["since"] < series["buckets"][0] + 300 <= series["until"] + 300
        by_group = {row["group"]: row for row in report["rows"]}
        assert {s["group"] for s in series["series"]} == set(by_group)
        for s in series["series"]:
            row = by_group[s["group"]]
            for name in ("requests", "errors", "prompt_tokens", "completion_tokens", "cached_tokens", "reasoning_tokens"):
                assert sum(s[name]) == row[name], (group_by, name)
            assert sum(s["cost_usd"]) == pytest.approx(row["cost_usd"], rel=1e-12)
        assert series["total"]["cost_usd"] == pytest.approx(report["total"]["cost_usd"], rel=1e-12) and report["total"]["cost_usd"] > 0
    _, _, series = _get(admin_gateway, "/v1/usage/series?since=3h&bucket=1h&group_by=tag:customer")
    assert series["bucket_s"] == 3600 and {s["group"] for s in series["series"]} >= {"acme", "globex"}


def test_routes_and_budgets_documents(admin_gateway: Server) -> None:
    _, _, routes = _get(admin_gateway, "/v1/routes")
    assert routes["scope"] == "this worker" and routes["cooldown"] == {
        "consecutive_failures": 0, "failure_percent": 0.0, "min_requests": 20, "window_s": 30.0,
        "base_ejection_s": 30.0, "max_ejection_s": 300.0, "max_ejection_percent": 50.0,
    }
    by_route = {r["route"]: r for r in routes["data"]}
    assert by_route["up/echo"]["public_models"] == ["chat", "failover"] and by_route["up/echo"]["state"] == "closed"
    assert by_route["down/echo"]["kind"] == "openai" and not by_route["down/echo"]["cooling_down"]
    _, _, budgets = _get(admin_gateway, "/v1/budgets")
    assert budgets["object"] == "list" and budgets["data"] == []


def test_pages_carry_security_headers_and_etags(admin_gateway: Server) -> None:
    status, headers, body = _get(admin_gateway, "/ui", key=None)
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert headers["x-frame-options"] == "DENY" and headers["referrer-policy"] == "no-referrer"
    assert b'type="password"' in body and re.search(rb'<script src="/ui/assets/[^"]+"></script>', body)
    assert b"<script>" not in body  # no inline script: the policy would refuse it
    status, headers, body = _get(admin_gateway, "/ui/assets/uPlot-1.6.32.iife.min.js", key=None)
    assert status == 200 and headers["content-type"].startswith("text/javascript") and body.startswith(b"/*! https://github.com/leeoniya/uPlot (v1.6.32) */")
    status, again, body = _get(admin_gateway, "/ui/assets/uPlot-1.6.32.iife.min.js", key=None, headers={"if-none-match": headers["etag"]})
    assert status == 304 and body == b"" and again["etag"] == headers["etag"]
    for missing in ("/ui/assets/nothing.js", "/ui/assets/dashboard.html", "/ui/assets/..%2Fui.py"):
        status, _, body = _get(admin_gateway, missing, key=None)
        assert status == 404 and body["error"]["type"] == "invalid_request_error", missing


def test_the_switches_turn_the_pages_off(mock: Mock, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    server = _start(mock, tmp_path / "a", "ui: {enabled: false}\n")
    try:
        assert [_get(server, p, key=None)[0] for p in ("/ui", "/ui/assets/dashboard.js", "/ui/assets/edge.css", "/models")] == [404, 404, 200, 200]
        assert all(_get(server, p)[0] == 200 for p in ENDPOINTS)  # scripts keep their endpoints
    finally:
        server.stop()
    (tmp_path / "b").mkdir()
    server = _start(mock, tmp_path / "b", "ui: {enabled: false, catalog: false}\n")
    try:
        assert [_get(server, p, key=None)[0] for p in ("/ui", "/ui/assets/edge.css", "/models")] == [404, 404, 404]
    finally:
        server.stop()


def test_config_switch_errors_name_the_path() -> None:
    assert parse_config({}).ui.enabled and parse_config({}).ui.catalog
    assert not parse_config({"ui": {"enabled": False}}).ui.enabled
    with pytest.raises(ConfigError, match=r"ui.*enabeld"):
        parse_config({"ui": {"enabeld": True}})
    with pytest.raises(ConfigError, match=r"ui\.catalog"):
        parse_config({"ui": {"catalog": "sometimes"}})


def test_vendored_files_are_what_their_digests_say() -> None:
    table = (STATIC / "VENDORED.md").read_text()
    rows = re.findall(r"^\| `([^`]+)` \|[^|]+\| ([\d.]+) \|[^|]+\| ([0-9a-f]{64}) \|$", table, re.M)
    assert {name for name, _, _ in rows} == {"uPlot-1.6.32.iife.min.js", "uPlot-1.6.32.min.css"}
    for name, version, digest in rows:
        assert version in name and hashlib.sha256((STATIC / name).read_bytes()).hexdigest() == digest, name
    assert "MIT License" in (STATIC / "uPlot-LICENSE.txt").read_text()
    assert set(ASSETS) <= {p.name for p in STATIC.iterdir()}


def test_a_built_wheel_carries_every_asset(tmp_path: Path) -> None:
    source = tmp_path / "src"
    keep = shutil.ignore_patterns("__pycache__", "*.so", "*.c", "*.db*", "build", "*.egg-info", "artifacts")
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for folder in ("edge", "adapters", "fastpath"):
        shutil.copytree(ROOT / folder, source / folder, ignore=keep)
    env = {**os.environ, "EDGE_NO_EXTENSIONS": "1"}
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path / "dist"), str(source)],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    [wheel] = (tmp_path / "dist").glob("llm_edge-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for asset in (*ASSETS, "VENDORED.md"):
        assert f"edge/http/static/{asset}" in names, asset
    assert not [n for n in names if n.endswith(".c")]
