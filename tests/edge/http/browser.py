"""Headless Chromium for the page tests: Debian's ``chromium`` driven by Playwright for Python.

Playwright's own browser download cannot run here, so it drives the system browser through its
executable path (``EDGE_TEST_CHROMIUM``, default /usr/bin/chromium) with a fresh profile per
test and every background service off (no network but the gateway's). When the browser or
Playwright is missing the tests skip with the reason, except under CI=true, where they fail:
.ci/run installs both, so their absence is a broken run.

Screenshots go to tests/artifacts/ (ignored by git), one folder per test.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("EDGE_TEST_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but the browser tests cannot run: {reason}")
    pytest.skip(reason)


def artifacts_dir(name: str) -> Path:
    folder = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def chromium(profile: Path) -> Iterator[Any]:
    """A Playwright BrowserContext on a fresh profile folder; closed (browser included) after."""
    if not Path(CHROMIUM).is_file():
        _unavailable(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright for Python is not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=ARGS,
            viewport={"width": 1360, "height": 900}, device_scale_factor=1,
        )
        try:
            context.set_default_timeout(15_000)
            yield context
        finally:
            context.close()
