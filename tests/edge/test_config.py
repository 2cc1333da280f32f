"""Config: the example file loads, env references resolve, and bad files name what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import ConfigError, load_config, parse_config
from tests.support import Proc

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_ENV = {"OPENAI_API_KEY": "sk-o", "ANTHROPIC_API_KEY": "sk-a", "GEMINI_API_KEY": "g", "EDGE_ADMIN_KEY": "adm-123456"}


def test_example_config_loads() -> None:
    config = load_config(ROOT / "examples" / "edge.yaml", env=EXAMPLE_ENV)
    assert config.server.port == 8080 and config.server.workers == 2
    assert config.state.ledger == "sqlite:///./edge.db" and config.state.redis == ""
    assert config.providers["openai"].base_url == "https://api.openai.com/v1"
    assert config.providers["openai"].api_key == "sk-o"
    assert config.providers["local-vllm"].timeout_s == 120
    assert [r.weight for r in config.models["smart"].route] == [3, 1]
    assert config.models["smart"].fallbacks == ["cheap"]
    assert config.models["support-bot"].escalate is not None and config.models["support-bot"].escalate.to == "smart"
    assert config.prices["claude-sonnet-4-5"].cached_input == 0.30
    assert config.keys.admin == "adm-123456"
    assert config.limits.default.rpm == 600
    assert config.budgets[0].tag == "customer=acme"


def test_env_references_and_defaults() -> None:
    env = dict(EXAMPLE_ENV, OPENAI_BASE_URL="http://127.0.0.1:1234/v1", EDGE_HOME="/var/lib/edge")
    config = load_config(ROOT / "examples" / "edge.yaml", env=env)
    assert config.providers["openai"].base_url == "http://127.0.0.1:1234/v1"
    assert config.state.ledger == "sqlite:////var/lib/edge/edge.db"
    typed = parse_config({"server": {"port": "${PORT:-9000}"}}, env={})
    assert typed.server.port == 9000


def test_missing_variable_is_named() -> None:
    env = {k: v for k, v in EXAMPLE_ENV.items() if k != "ANTHROPIC_API_KEY"}
    with pytest.raises(ConfigError, match=r"providers\.anthropic\.api_key: environment variable ANTHROPIC_API_KEY is not set"):
        load_config(ROOT / "examples" / "edge.yaml", env=env)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (
            {"providers": {"openai": {"kind": "openai", "base_url": "https://x/v1"}}, "models": {"smart": {"route": [{"provider": "opneai", "model": "m"}]}}},
            "models.smart.route[0].provider: unknown provider 'opneai' (known: openai)",
        ),
        ({"server": {"port": "abc"}}, "server.port: expected int, got 'abc'"),
        ({"server": {"prot": 1}}, "server.prot: unknown key"),
        ({"providers": {"p": {"kind": "openia", "base_url": "https://x"}}}, "providers.p.kind: invalid enum value 'openia'"),
        ({"providers": {"p": {"kind": "openai", "base_url": "ftp://x"}}}, "providers.p.base_url: must be an http(s) URL"),
        ({"models": {"a": {"route": [{"model": "m"}]}}}, "models.a.route[0].provider: required key is missing"),
        (
            {"providers": {"p": {"kind": "openai", "base_url": "https://x"}}, "models": {"a": {"route": [{"provider": "p", "model": "m"}], "fallbacks": ["a"]}}},
            "models.a.fallbacks[0]: a model cannot fall back to itself",
        ),
        ({"state": {"ledger": "mysql://db"}}, "state.ledger: must be sqlite:///path or postgresql://"),
        # Configured headers go onto the wire as they are: one line each, or they split requests.
        ({"providers": {"p": {"kind": "openai", "base_url": "https://x", "headers": {"x-a": "1\r\nx-b: 2"}}}}, "providers.p.headers.x-a: the value must be printable ASCII on one line"),
        ({"providers": {"p": {"kind": "openai", "base_url": "https://x", "headers": {"x a": "1"}}}}, "providers.p.headers: 'x a' is not a valid header name"),
        ({"providers": {"p": {"kind": "openai", "base_url": "https://x", "max_connections": 0}}}, "providers.p.max_connections: must be at least 1"),
        ({"batch": {"live_reserve": 1.0}}, "batch.live_reserve: must be at least 0 and less than 1 (got 1.0)"),
        ({"batch": {"concurrency": 0}}, "batch.concurrency: must be at least 1 (got 0)"),
        ({"batch": {"max_file_mb": 0}}, "batch.max_file_mb: must be positive (got 0"),
    ],
)
def test_bad_values_name_path_and_value(doc: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(doc, env={}, source="edge.yaml")
    assert message in str(info.value)


def test_secrets_are_masked_in_errors() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"providers": {"p": {"kind": "openai", "base_url": "https://x", "api_key": ["sk-leak-me-please"]}}}, env={})
    assert "sk-leak-me-please" not in str(info.value)
    assert "providers.p.api_key" in str(info.value)


def test_bad_config_file_exits_nonzero_with_the_fault(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("providers:\n  openai: {kind: openai, base_url: 'https://x/v1', api_key: sk-secret-value-1}\nmodels:\n  smart:\n    route:\n      - {provider: opneai, model: gpt-5.2}\n")
    proc = Proc(["serve", "--config", str(path), "--port", "0"])
    assert proc.popen.wait(15) == 2
    proc.stop()
    assert f"{path}: models.smart.route[0].provider: unknown provider 'opneai'" in proc.output
    assert "sk-secret-value-1" not in proc.output
    missing = Proc(["serve", "--config", str(tmp_path / "absent.yaml")])
    assert missing.popen.wait(15) == 2
    missing.stop()
    assert "cannot read config file" in missing.output
