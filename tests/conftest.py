"""Shared fixtures: a real mock upstream and a real gateway process on loopback."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import Mock, Server, gateway_config, write_config

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def mock() -> Iterator[Mock]:
    proc = Mock()
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def gateway_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("edge-home")


@pytest.fixture(scope="session")
def gateway(mock: Mock, gateway_home: Path) -> Iterator[Server]:
    """One gateway for the tests that only read from it, in front of the mock."""
    path = write_config(gateway_home / "edge.yaml", gateway_config(mock.base_url, gateway_home))
    proc = Server(["serve", "--config", str(path)], cwd=str(gateway_home))
    yield proc
    assert proc.stop() == 0
    # The provider key in the config must never reach the log, whatever the tests did.
    assert "sk-upstream-secret" not in proc.output


@pytest.fixture()
def shared_fixtures() -> Path:
    """../shared/fixtures, read in place; skipped with a reason when absent, never under CI."""
    path = SHARED / "fixtures"
    if not path.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but the recorded fixtures are missing at {path}")
        pytest.skip(f"recorded provider fixtures not found at {path} (clone shared/ beside the repo)")
    return path
