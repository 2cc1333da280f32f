"""Every fastpath test runs on both builds: the compiled ``*_c`` and the pure ``*_py`` twin.

The compiled variant skips only when it could not have been built (no C compiler, or
EDGE_NO_EXTENSIONS set); with a compiler at hand a missing extension is a failure.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType

import pytest

from tests.fastpath.fastpath_builds import load_build

SHARED_FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"
OWN_STREAMS = Path(__file__).resolve().parents[1] / "fixtures" / "streams" / "openai"


@pytest.fixture(params=["py", "c"])
def sse_mod(request: pytest.FixtureRequest) -> ModuleType:
    return load_build("sse", request.param)


@pytest.fixture(params=["py", "c"])
def reencode_mod(request: pytest.FixtureRequest) -> ModuleType:
    return load_build("reencode", request.param)


@pytest.fixture(params=["py", "c"])
def tokens_mod(request: pytest.FixtureRequest) -> ModuleType:
    return load_build("tokens", request.param)


@pytest.fixture
def own_streams() -> Path:
    """Small streams we wrote from the documented shapes, so a plain clone tests too."""
    return OWN_STREAMS


@pytest.fixture
def shared_fixtures() -> Path:
    """The recorded provider traffic beside the repo; never silently skipped on CI."""
    if not SHARED_FIXTURES.is_dir():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but the shared fixtures are missing at {SHARED_FIXTURES}")
        pytest.skip(f"shared fixtures not found at {SHARED_FIXTURES} (a plain clone)")
    return SHARED_FIXTURES
