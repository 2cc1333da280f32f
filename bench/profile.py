"""Where a worker's CPU goes under load: py-spy attached to one worker of each profiled system.

For each profiled system and scenario (chat and stream20 over HTTP, grpc_unary and grpc_stream
for the gRPC systems; or those named with --scenarios) the system is started fresh,
warmed up, and loaded at --connections while ``py-spy record`` samples one worker; this pass is
separate from the measured ones because sampling costs the target CPU. Written to DIR:

    <system>-<scenario>.txt   collapsed stacks (py-spy raw, by function)
    <system>-<scenario>.svg   flamegraph (a second pass)
    summary.md                top functions by self and by total time, and time by package
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

from .common import Scenario
from .loadgen import builtin_load, wrk_load
from .loadgen_grpc import run_child as grpc_child
from .systems import GRPC_SYSTEMS, Running, start_system

__all__ = ["parse_collapsed", "run_profiles", "summarize"]

RATE = 200  # samples per second: enough resolution, little added cost
ROOT = str(Path(__file__).resolve().parents[1]) + "/"  # the checkout: edge/, adapters/, fastpath/


def parse_collapsed(text: str) -> list[tuple[list[str], int]]:
    stacks = []
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


def _package(frame: str) -> str:
    path = frame[frame.rfind("(") + 1 :]
    if path.startswith(ROOT):
        return path[len(ROOT) :].split("/")[0]
    for marker, name in (("/aiohttp/", "aiohttp"), ("/multidict/", "aiohttp"), ("/yarl/", "aiohttp"), ("/asyncio/", "asyncio"), ("/prometheus_client/", "prometheus_client"), ("/msgspec/", "msgspec"), ("/logging/", "logging"), ("/sqlite3/", "sqlite3")):
        if marker in path:
            return name
    return "other"


def _short(frame: str) -> str:
    # "func (/abs/path/pkg/mod.py:12)" -> "func (pkg/mod.py:12)"; ours relative to the checkout.
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    if where.startswith(ROOT):
        return f"{name} ({where[len(ROOT):]})"
    parts = where.split("/")
    return f"{name} ({'/'.join(parts[-2:])})" if where else name


def summarize(stacks: list[tuple[list[str], int]], top: int = 15) -> dict[str, Any]:
    total = sum(c for _, c in stacks) or 1
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    by_package: Counter[str] = Counter()
    for frames, count in stacks:
        self_time[_short(frames[-1])] += count
        by_package[_package(frames[-1])] += count
        for frame in set(frames):
            if f"({ROOT}" in frame:
                inclusive[_short(frame)] += count
    ours = inclusive
    return {
        "samples": total,
        "self": [(k, v * 100 / total) for k, v in self_time.most_common(top)],
        "inclusive_ours": [(k, v * 100 / total) for k, v in ours.most_common(top)],
        "by_package": [(k, v * 100 / total) for k, v in by_package.most_common()],
    }


def _table(title: str, rows: list[tuple[str, float]]) -> list[str]:
    return [f"{title}", "", "| function | % of samples |", "| --- | ---: |", *(f"| `{k}` | {v:.1f} |" for k, v in rows), ""]


def _record(pid: int, out: Path, fmt: str, duration: float, load: Any) -> None:
    argv = ["py-spy", "record", "--pid", str(pid), "--rate", str(RATE), "--duration", str(max(1, round(duration))), "--format", fmt, "--nonblocking", "--full-filenames", "-o", str(out)]
    if fmt == "raw":
        argv.append("--function")
    spy = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.3)  # attached before the load starts
    load(duration + 0.5)
    _, err = spy.communicate(timeout=duration + 60)
    if spy.returncode != 0:
        raise RuntimeError(f"py-spy failed: {err.decode(errors='replace')[-500:]}")


def run_profiles(mock: Running, systems: list[str], scenarios: list[Scenario], args: argparse.Namespace, tool: str, key: str, tmp: Path, outdir: Path, notes: list[str]) -> dict[str, Any]:
    if shutil.which("py-spy") is None:
        notes.append("profile: py-spy is not installed (pip install py-spy): no profile")
        return {}
    outdir.mkdir(parents=True, exist_ok=True)
    http_load = wrk_load if tool == "wrk" else builtin_load
    # By default the four that carry the budget; scenarios named on the command line as asked.
    explicit = getattr(args, "scenarios", None) is not None
    wanted = scenarios if explicit else [s for s in scenarios if s.name in ("chat", "stream20", "grpc_unary", "grpc_stream")] or scenarios[:1]
    summary: list[str] = []
    results: dict[str, Any] = {}
    for name in [s for s in ("floor", "edge", "edge_aiohttp", "edge_base", "edge_limits", "edge_tracing", "grpc_floor", "edge_grpc") if s in systems]:
        protocol = "grpc" if name in GRPC_SYSTEMS else "http"
        runs = [s for s in wanted if s.protocol == protocol]
        if not runs:
            continue
        home = tmp / f"profile-{name}"
        home.mkdir(exist_ok=True)
        system = start_system(name, mock, args.workers[0], key, home, None)
        try:
            assert system.child is not None
            pid = system.child.workers()[0]
            for scenario in runs:

                def load(seconds: float, system: Running = system, scenario: Scenario = scenario) -> None:
                    if scenario.protocol == "grpc":
                        assert system.grpc_target is not None
                        grpc_child(system.grpc_target, scenario.path, scenario.body, key, connections=args.connections, duration=seconds, stream=scenario.stream)
                    else:
                        http_load(system.url + scenario.path, scenario.body, key, args.connections, seconds)

                load(1.0)  # warm-up

                raw = outdir / f"{name}-{scenario.name}.txt"
                try:
                    _record(pid, raw, "raw", args.duration, load)
                    _record(pid, outdir / f"{name}-{scenario.name}.svg", "flamegraph", args.duration, load)
                except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                    notes.append(f"profile {name} {scenario.name}: {exc}")
                    continue
                found = summarize(parse_collapsed(raw.read_text()))
                results[f"{name}/{scenario.name}"] = found
                summary += [f"### {name}, {scenario.name} ({found['samples']} samples at {RATE} Hz, one worker)", ""]
                summary += _table("Top functions by self time:", found["self"])
                if name.startswith("edge"):
                    summary += _table("Top llm-edge functions by total time (self + callees):", found["inclusive_ours"])
                summary += ["Self time by package: " + ", ".join(f"{k} {v:.1f}%" for k, v in found["by_package"]), ""]
        finally:
            system.stop()
    text = "\n".join(summary)
    (outdir / "summary.md").write_text(text + "\n")
    return {"summary": text, "results": results, "dir": str(outdir)}
