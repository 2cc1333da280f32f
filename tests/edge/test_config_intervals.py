"""The timers a deployment (or a test) may shorten: their defaults, and that they must be positive."""

from __future__ import annotations

import pytest

from edge.config import ConfigError, parse_config


def test_defaults_are_the_documented_intervals() -> None:
    config = parse_config({}, env={})
    assert config.state.ledger_flush_s == 0.5
    assert config.keys.refresh_s == 0.5
    assert config.limits.budget_refresh_s == 1.0


def test_they_can_be_set() -> None:
    config = parse_config({"state": {"ledger_flush_s": 0.05}, "keys": {"refresh_s": "0.1"}, "limits": {"budget_refresh_s": 2}}, env={})
    assert (config.state.ledger_flush_s, config.keys.refresh_s, config.limits.budget_refresh_s) == (0.05, 0.1, 2.0)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"state": {"ledger_flush_s": 0}}, "state.ledger_flush_s: must be positive (got 0"),
        ({"keys": {"refresh_s": -1}}, "keys.refresh_s: must be positive (got -1"),
        ({"limits": {"budget_refresh_s": 0}}, "limits.budget_refresh_s: must be positive (got 0"),
        ({"keys": {"refresh_s": "soon"}}, "keys.refresh_s: expected float, got 'soon'"),
    ],
)
def test_a_bad_interval_names_its_path_and_value(doc: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(doc, env={}, source="edge.yaml")
    assert message in str(info.value)
