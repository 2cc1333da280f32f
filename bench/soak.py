"""Soak: a fixed number of requests (300k by default) through one system, RSS sampled throughout.

The load runs in segments sized for about 40 samples; after each, the RSS of every worker is
read. Growth compares the mean of the samples in the last 10% of requests with the mean of
those in the first 10%: a leak grows with requests served, warm-up (caches, pools) does not
keep growing. Direct and LiteLLM are not soaked by default (one is the mock, the other would
take most of an hour at its rate).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from .common import Scenario
from .loadgen import builtin_load, wrk_load
from .procs import rss_bytes, tree_cpu_seconds
from .systems import Running, start_system

__all__ = ["run_soak"]

SAMPLES = 40


def _rss_mb(system: Running) -> float:
    assert system.child is not None
    return max((rss_bytes(p) for p in system.child.workers()), default=0) / 2**20


def soak_one(system: Running, scenario: Scenario, total: int, connections: int, tool: str, key: str) -> dict[str, Any]:
    load = wrk_load if tool == "wrk" else builtin_load
    url = system.url + scenario.path
    samples = [{"requests": 0, "seconds": 0.0, "rss_worker_mb": _rss_mb(system)}]
    # A first short segment measures the rate, which sizes the rest (wrk runs by time, not count).
    served, errors, started = 0, 0, time.monotonic()
    cpu0 = tree_cpu_seconds(system.root_pid)
    segment = 1.0
    while served < total:
        result = load(url, scenario.body, key, connections, segment)
        served += result.requests - result.errors
        errors += result.errors
        samples.append({"requests": served, "seconds": time.monotonic() - started, "rss_worker_mb": _rss_mb(system)})
        rate = max(1.0, (result.requests - result.errors) / max(result.duration_s, 1e-3))
        segment = min(30.0, max(1.0, min(total / SAMPLES, total - served) / rate))
        if result.requests == 0:
            break  # the system stopped answering; report what we have
    cpu = tree_cpu_seconds(system.root_pid) - cpu0
    first = [s["rss_worker_mb"] for s in samples[1:] if s["requests"] <= served * 0.10] or [samples[1]["rss_worker_mb"]]
    last = [s["rss_worker_mb"] for s in samples if s["requests"] >= served * 0.90]
    first_mb, last_mb = sum(first) / len(first), sum(last) / len(last)
    return {
        "system": system.name,
        "workers": system.workers,
        "scenario": scenario.name,
        "requests": served,
        "errors": errors,
        "seconds": time.monotonic() - started,
        "cpu_us_per_request": cpu / served * 1e6 if served else None,
        "rss_first_mb": first_mb,
        "rss_last_mb": last_mb,
        "rss_peak_mb": max(s["rss_worker_mb"] for s in samples),
        "growth_pct": (last_mb / first_mb - 1) * 100 if first_mb else None,
        "samples": samples,
    }


def run_soak(mock: Running, systems: list[str], scenarios: list[Scenario], args: argparse.Namespace, tool: str, key: str, tmp: Path, litellm: str | None, notes: list[str]) -> dict[str, Any]:
    scenario = scenarios[0]  # chat unless --scenarios says otherwise
    chosen = [s for s in systems if s not in ("direct", "litellm", "portkey")] if not args.systems else [s for s in systems if s != "direct"]
    runs = []
    for name in chosen:
        for workers in args.workers:
            home = tmp / f"soak-{name}-{workers}"
            home.mkdir()
            system = start_system(name, mock, workers, key, home, litellm)
            try:
                run = soak_one(system, scenario, args.soak_requests, args.connections, tool, key)
            finally:
                system.stop()
            runs.append(run)
            print(f"  soak {name} w={workers}: {run['requests']:,} requests, RSS {run['rss_first_mb']:.1f} -> {run['rss_last_mb']:.1f} MB ({run['growth_pct']:+.2f}%)", file=sys.stderr, flush=True)
    if not runs:
        notes.append("soak: no system to soak (direct is the mock; pass --systems edge)")
    return {"scenario": scenario.name, "runs": runs}
