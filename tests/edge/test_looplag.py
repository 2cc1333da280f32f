"""edge.looplag: the worker's loop-lag histogram tells a stall of its own (CPU) from a wait for a core.

The probe runs in the test's own loop with a real Metrics registry; the loop is then held two
ways: by a callback that burns 0.2 s of the thread's CPU (a stall: both kinds see it) and by one
that sleeps 0.3 s off the CPU (what a starved process looks like: wall only). Then the gateway's
/metrics exports the histogram.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from edge.looplag import LoopLag
from edge.metrics import Metrics
from tests.support import Mock, Server, gateway_config, request, write_config


def _over(metrics: Metrics, kind: str, seconds: float) -> float:
    """Observations of ``kind`` above ``seconds`` (a bucket bound)."""
    buckets: dict[str, float] = {}
    count = 0.0
    for family in text_string_to_metric_families(metrics.render().decode()):
        if family.name != "edge_event_loop_lag_seconds":
            continue
        for sample in family.samples:
            if sample.labels.get("kind") != kind:
                continue
            if sample.name.endswith("_bucket"):
                buckets[sample.labels["le"]] = sample.value
            elif sample.name.endswith("_count"):
                count = sample.value
    return count - buckets[str(seconds)]


def _burn(seconds: float) -> None:
    start = time.thread_time()
    while time.thread_time() - start < seconds:
        pass


def test_a_loop_held_on_cpu_counts_as_held_and_a_process_off_cpu_as_wall_only() -> None:
    metrics = Metrics()

    async def run() -> None:
        probe = LoopLag(metrics, interval_s=0.02)
        probe.start()
        await asyncio.sleep(0.1)
        assert _over(metrics, "held", 0.1) == 0
        _burn(0.2)  # the loop is held by this callback, on CPU
        await asyncio.sleep(0.1)
        # (On a loaded machine the burn can take longer than 0.2 s of wall time, and a wake can
        # come late for the machine's sake too: wall is compared as it grows, not to a count.)
        held, wall = _over(metrics, "held", 0.1), _over(metrics, "wall", 0.25)
        assert held == 1 and _over(metrics, "wall", 0.1) >= 1
        time.sleep(0.3)  # held too, but off CPU: as if the kernel ran another process
        await asyncio.sleep(0.1)
        assert _over(metrics, "held", 0.1) == held, "a wait off CPU is not a stall of the worker's own"
        assert _over(metrics, "wall", 0.25) > wall
        await probe.close()

    asyncio.run(run())


def test_the_gateway_exports_its_loop_lag(mock: Mock, tmp_path: Path) -> None:
    server = Server(["serve", "--config", str(write_config(tmp_path / "edge.yaml", gateway_config(mock.base_url, tmp_path)))], cwd=str(tmp_path))
    try:

        def samples() -> dict[str, float]:
            _, _, body = request("GET", server.url + "/metrics")
            return {f"{s.name}{s.labels.get('kind')}": s.value for f in text_string_to_metric_families(body.decode()) if f.name == "edge_event_loop_lag_seconds" for s in f.samples if s.name.endswith("_count")}

        first = samples()
        assert set(first) == {"edge_event_loop_lag_seconds_countwall", "edge_event_loop_lag_seconds_countheld"}, first
        time.sleep(0.5)
        assert samples()["edge_event_loop_lag_seconds_countheld"] > first["edge_event_loop_lag_seconds_countheld"]
    finally:
        assert server.stop() == 0
