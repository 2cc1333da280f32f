"""``python -m bench.batch_throughput`` end to end, briefly: the report's shape, never timings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(120)
def test_batch_bench_writes_its_figures(tmp_path: Path) -> None:
    out = tmp_path / "batch.json"
    argv = [sys.executable, "-m", "bench.batch_throughput", "--rows", "150", "--live-s", "1", "--live-rps", "10", "--json", str(out)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=110, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    doc = json.loads(out.read_text())
    for phase in ("batch_alone", "batch_with_live"):
        assert doc[phase]["rows"] == 150 and doc[phase]["rows_per_s"] > 0 and doc[phase]["cpu_ms_per_row"] > 0
    assert doc["live_alone"]["requests"] > 0 and doc["live_alone"]["errors"] == 0
    assert doc["live_during_batch"]["requests"] > 0 and doc["live_during_batch"]["errors"] == 0
    assert "| batch + live |" in done.stdout
