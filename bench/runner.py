"""``edge bench``: start the mock, each system in turn, and the load; measure; report.

For each worker count and each system (started fresh), every scenario gets one probe request
(checks the answer and counts a stream's SSE events), a short warm-up, then one load phase per
concurrency level (1 for added latency, then --connections). Around each phase the runner reads
the CPU time of the system's process tree and of the mock from /proc; after it, the RSS of each
worker. Results go to stdout as a markdown table, and to --json / --plot when asked.
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from . import report
from .common import Phase, Scenario
from .loadgen import LoadResult, builtin_load, probe, wrk_available, wrk_load
from .loadgen_grpc import run_child as grpc_child
from .procs import paused, rss_bytes, tree_cpu_seconds, tree_pids
from .scenarios import select
from .peers import find_litellm, find_portkey
from .systems import DEFAULT_SCENARIOS, FLOORS, GRPC_SYSTEMS, PEERS, SYSTEMS, Running, start_mock, start_system

__all__ = ["build_parser", "main"]

HERE = Path(__file__).resolve().parent


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    p = parser or argparse.ArgumentParser(prog="edge bench", description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, nargs="+", default=[1], help="worker processes per system; several values run the suite once per value (default 1)")
    p.add_argument("--duration", type=float, default=5.0, help="seconds per load phase (default 5)")
    p.add_argument("--connections", type=int, default=32, help="connections of the loaded phase (default 32; a phase at 1 always runs first)")
    p.add_argument("--levels", type=int, nargs="+", default=None, help="concurrency levels to run (default: 1 and --connections); more points make a better plot")
    p.add_argument("--scenarios", nargs="+", default=None, help="scenario names (default: chat stream20 stream20_unpaced stream200 stream200_unpaced embeddings chaos fallback_429 grpc_unary grpc_stream grpc_stream_unpaced cache_hit cache_hit_stream20 responses responses_stream20 responses_native responses_native_stream20)")
    p.add_argument("--systems", nargs="+", default=None, help=f"of {', '.join(SYSTEMS)} (default: all; litellm when found)")
    p.add_argument("--litellm", default=None, help="path to the litellm executable in its own venv (or env EDGE_BENCH_LITELLM)")
    p.add_argument("--builtin-client", action="store_true", help="use the built-in asyncio client even when wrk is installed")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds of load before each scenario's measured phases (default 1)")
    p.add_argument("--json", dest="json_path", default=None, help="write every measurement to this JSON file")
    p.add_argument("--markdown", default=None, help="write the markdown report to this file too")
    p.add_argument("--plot", default=None, help="write a PNG of latency against load (needs matplotlib)")
    p.add_argument("--soak", action="store_true", help="run the soak instead of the scenarios: --soak-requests on one scenario, RSS sampled")
    p.add_argument("--soak-requests", type=int, default=300_000, help="requests per soaked system (default 300000)")
    p.add_argument("--profile", default=None, metavar="DIR", help="profile instead of measuring: py-spy on one worker of floor, edge, grpc_floor and edge_grpc under load (chat, stream20, grpc_unary, grpc_stream, the responses scenarios); write to DIR")
    p.add_argument("--no-micro", action="store_true", help="skip bench/fastpath_micro.py even when present")
    return p


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "commit": commit,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def _load(tool: str, system: Running, scenario: Scenario, key: str, connections: int, duration: float) -> LoadResult:
    if scenario.protocol == "grpc":
        assert system.grpc_target is not None
        doc = grpc_child(system.grpc_target, scenario.path, scenario.body, key, connections=connections, duration=duration, stream=scenario.stream)
        result = LoadResult(int(doc["requests"]), int(doc["errors"]), float(doc["duration_s"]), float(doc["p50"]), float(doc["p90"]), float(doc["p99"]), "grpc.aio")
        calls = result.requests - result.errors
        if scenario.stream and calls > 0:
            result.messages_per_stream = float(doc["messages"]) / calls
        return result
    run = wrk_load if tool == "wrk" else builtin_load
    return run(system.url + scenario.path, scenario.body, key, connections, duration, headers=system.headers)


def mock_requests(mock: Running) -> int | None:
    """Requests the mock upstream has served so far (GET /mock/stats), None when it cannot say."""
    try:
        with urllib.request.urlopen(mock.url + "/mock/stats", timeout=5) as response:
            return int(orjson.loads(response.read())["requests"])
    except (OSError, ValueError, KeyError):
        return None


def applicable(system: Running, scenario: Scenario, explicit: bool) -> tuple[bool, str | None]:
    """Whether ``system`` runs ``scenario``, and the reason to print when a peer cannot."""
    if scenario.protocol != system.protocol:
        return False, None
    # The lean floor and nginx stand in for the aiohttp floor wherever it runs.
    name = "floor" if system.name in FLOORS else system.name
    if scenario.systems is not None and name not in scenario.systems:
        return False, scenario.not_applicable if system.name in PEERS else None
    only = DEFAULT_SCENARIOS.get(system.name)
    if only is not None and not explicit and scenario.name not in only:
        return False, None
    return True, None


def ledger_view(path: Path, model: str, since: float, until: float, timeout: float = 4.0) -> tuple[int, float, float, int] | None:
    """Rows the gateway wrote for ``model`` between two wall times: (rows, mean attempts, share
    answered by a fallback, error rows). Waits for the ledger's batched writes to settle."""
    import sqlite3

    query = (
        "SELECT COUNT(*), SUM(attempts), SUM(fallback_reason IS NOT NULL AND fallback_reason != ''), SUM(status >= 400) "
        "FROM requests WHERE public_model = ? AND ts >= ? AND ts <= ?"
    )
    deadline, last = time.monotonic() + timeout, None
    while True:
        time.sleep(0.6)  # the ledger flushes every 0.5 s
        try:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
                row = db.execute(query, (model, since, until)).fetchone()
        except sqlite3.Error:
            return None
        if row == last or time.monotonic() > deadline:
            break
        last = row
    count, attempts, fallbacks, errors = row
    if not count:
        return None
    return int(count), (attempts or 0) / count, (fallbacks or 0) / count, int(errors or 0)


def measure(system: Running, mock: Running, scenario: Scenario, events: float, tool: str, key: str, connections: int, duration: float) -> Phase:
    wall0 = time.time()
    cpu0, mock0, calls0 = tree_cpu_seconds(system.root_pid), tree_cpu_seconds(mock.root_pid), mock_requests(mock)
    result = _load(tool, system, scenario, key, connections, duration)
    cpu1, mock1, calls1 = tree_cpu_seconds(system.root_pid), tree_cpu_seconds(mock.root_pid), mock_requests(mock)
    wall1 = time.time()
    phase = Phase(system.name, scenario.name, connections, loadgen=result.tool, workers=system.workers)
    phase.duration_s = result.duration_s
    phase.requests, phase.errors = result.requests, result.errors
    served = max(0, result.requests - result.errors)
    phase.rps = served / result.duration_s if result.duration_s else 0.0
    phase.p50_us, phase.p90_us, phase.p99_us = result.p50_us, result.p90_us, result.p99_us
    phase.cpu_s = cpu1 - cpu0
    if served:
        phase.cpu_us_per_request = phase.cpu_s / served * 1e6
        phase.upstream_cpu_us_per_request = (mock1 - mock0) / served * 1e6
        if calls0 is not None and calls1 is not None and system.name not in ("direct", "grpc_floor"):
            # the stats GET itself is not counted by the mock (only API requests are)
            phase.upstream_calls_per_request = (calls1 - calls0) / served
        if result.messages_per_stream:  # gRPC: counted over the whole phase, not on one probe
            events = result.messages_per_stream
        if scenario.stream and events:
            phase.events_per_stream = events
            phase.cpu_us_per_chunk = phase.cpu_us_per_request / events
    if system.name == "grpc_floor":
        phase.upstream_cpu_us_per_request = None  # no upstream
    if scenario.ledger and system.ledger is not None:
        view = ledger_view(system.ledger, orjson.loads(scenario.body)["model"], wall0, wall1)
        if view is not None:
            phase.ledger_rows, phase.ledger_attempts_per_request, phase.fallback_share, phase.ledger_errors = view
    pids = system.child.workers() if system.child is not None else [system.root_pid]
    sizes = [rss_bytes(p) for p in pids]
    phase.rss_worker_mb = max(sizes, default=0) / 2**20
    phase.rss_total_mb = sum(rss_bytes(p) for p in tree_pids(system.root_pid)) / 2**20
    return phase


def prepare(system: Running, scenario: Scenario, key: str, notes: list[str]) -> int | None:
    """One probe request: None when the system cannot serve the scenario, else the SSE events
    (gRPC streams: the messages)."""
    where = f"{system.name} w={system.workers} {scenario.name}"
    if scenario.protocol == "grpc":
        return _prepare_grpc(system, scenario, key, notes, where)
    try:
        first = probe(system.url + scenario.path, scenario.body, key, extra=system.headers)
    except Exception as exc:  # a peer that cannot serve a scenario is a result, not a crash
        notes.append(f"{where}: probe failed: {type(exc).__name__}: {exc}")
        return None
    if first.status != 200:
        notes.append(f"{where}: probe answered HTTP {first.status}: {first.body[:300]!r}")
        return None
    if scenario.stream and first.events < scenario.chunks:
        notes.append(f"{where}: probe stream had {first.events} events, expected at least {scenario.chunks}")
    if scenario.paced and first.seconds < scenario.chunks * 0.001:
        notes.append(f"{where}: stream took {first.seconds * 1000:.1f} ms, not paced (the mock knob did not reach the upstream?)")
    return first.events


def _prepare_grpc(system: Running, scenario: Scenario, key: str, notes: list[str], where: str) -> int | None:
    assert system.grpc_target is not None
    try:
        first = grpc_child(system.grpc_target, scenario.path, scenario.body, key, stream=scenario.stream, probe=True)
    except Exception as exc:
        notes.append(f"{where}: probe failed: {type(exc).__name__}: {exc}")
        return None
    if first["status"] != "OK":
        notes.append(f"{where}: probe answered {first['status']}: {first.get('details')}")
        return None
    messages = int(first["messages"])
    words = first.get("words")
    # Messages merge when upstream reads do (a loaded machine reads two paced chunks at once), so
    # the check is on the answer: every reply word arrived (the floor's relay sends placeholder
    # words, one per read, and is checked on its count of messages only when it carries none).
    if scenario.stream and system.name.startswith("edge") and isinstance(words, int) and words < scenario.chunks:
        notes.append(f"{where}: probe stream carried {words} answer words in {messages} messages, expected {scenario.chunks}")
    elif scenario.paced and messages < 2:
        notes.append(f"{where}: probe stream had {messages} messages: not streamed")
    if scenario.paced and float(first["seconds"]) < scenario.chunks * 0.001:
        notes.append(f"{where}: stream took {float(first['seconds']) * 1000:.1f} ms, not paced")
    return messages if scenario.stream else 0


SETTLE_S = 0.25


def run_scenario(systems: list[Running], mock: Running, scenario: Scenario, args: argparse.Namespace, tool: str, key: str, notes: list[str], skipped: list[dict[str, Any]] | None = None) -> list[Phase]:
    """Every system back to back on one scenario, so noise from the machine hits them alike."""
    phases: list[Phase] = []
    levels = args.levels or sorted({1, args.connections})
    for system in systems:
        runs, reason = applicable(system, scenario, explicit=args.scenarios is not None)
        if not runs:
            if reason and skipped is not None:
                skipped.append({"system": system.name, "scenario": scenario.name, "workers": system.workers, "reason": reason})
            continue
        # The other systems sleep meanwhile (never the mock, which "direct" is).
        others = [s.root_pid for s in systems if s is not system and s.child is not None and s.root_pid != mock.root_pid]
        with paused(others):
            # This system was just continued: let it run what waited (its timers, the upstream
            # connections the mock closed meanwhile) before the probe.
            time.sleep(SETTLE_S)
            events = prepare(system, scenario, key, notes)
            if events is None:
                continue
            if args.warmup > 0:
                _load(tool, system, scenario, key, max(levels), args.warmup)
            for level in levels:
                phase = measure(system, mock, scenario, events, tool, key, level, args.duration)
                phases.append(phase)
                print(report.progress_line(phase), file=sys.stderr, flush=True)
    return phases


def run_suite(mock: Running, names: list[str], scenarios: list[Scenario], workers: int, args: argparse.Namespace, tool: str, key: str, tmp: Path, litellm: str | None, doc: dict[str, Any]) -> None:
    """Start every system fresh (all at once: an idle one costs next to nothing), run, stop."""
    notes = doc["notes"]
    running: list[Running] = []
    try:
        for name in names:
            home = tmp / f"{name}-{workers}"
            home.mkdir()
            try:
                system = start_system(name, mock, workers, key, home, litellm)
            except Exception as exc:
                notes.append(f"{name} w={workers}: did not start: {type(exc).__name__}: {str(exc)[-800:]}")
                continue
            doc["systems"][name] = system.version
            running.append(system)
        for scenario in scenarios:
            doc["phases"].extend(p.to_dict() for p in run_scenario(running, mock, scenario, args, tool, key, notes, doc["not_applicable"]))
        for system in running:
            stats = system.sink_stats()
            if stats is not None:
                # The spans still queued (under one batch interval) are not counted here.
                doc.setdefault("tracing", {})[str(workers)] = stats
                notes.append(f"{system.name} w={workers}: the OTLP sink received {stats['spans']:,} spans in {stats['exports']:,} exports ({stats['bytes'] / 1e6:.1f} MB)")
    finally:
        for system in running:
            system.stop()


def run_micro(notes: list[str]) -> dict[str, Any] | None:
    """bench/fastpath_micro.py (owned by fastpath/) when present: its output goes into the report."""
    script = HERE / "fastpath_micro.py"
    if not script.is_file():
        notes.append("bench/fastpath_micro.py not present: no fastpath kernel figures in this run")
        return None
    try:
        done = subprocess.run([sys.executable, str(script), "--json"], capture_output=True, text=True, timeout=600, cwd=HERE.parent)
        if done.returncode != 0:  # an older version without --json: keep its text
            done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600, cwd=HERE.parent)
    except (OSError, subprocess.SubprocessError) as exc:
        notes.append(f"bench/fastpath_micro.py failed: {exc}")
        return None
    out: dict[str, Any] = {"returncode": done.returncode, "stdout": done.stdout[-20000:], "stderr": done.stderr[-4000:]}
    try:
        out["json"] = orjson.loads(done.stdout)
    except orjson.JSONDecodeError:
        pass
    return out


def main(argv: list[str] | None = None, parser: argparse.ArgumentParser | None = None) -> int:
    args = (parser or build_parser()).parse_args(argv)
    return run(args)


def run(args: argparse.Namespace) -> int:
    scenarios = select(args.scenarios)
    notes: list[str] = []
    for s in [s for s in scenarios if s.pending]:
        notes.append(f"scenario {s.name} skipped: {s.pending}")
    scenarios = [s for s in scenarios if not s.pending]
    litellm = find_litellm(args.litellm)
    protocols = {s.protocol for s in scenarios}
    portkey = find_portkey()
    systems = args.systems or [s for s in SYSTEMS if (s != "litellm" or litellm) and (s != "portkey" or portkey) and (("grpc" if s in GRPC_SYSTEMS else "http") in protocols)]
    if "litellm" not in systems and not args.systems and litellm is None:
        notes.append("LiteLLM not found (--litellm PATH or EDGE_BENCH_LITELLM): not in this run")
    if "portkey" not in systems and not args.systems and portkey is None:
        notes.append("Portkey not found (npm @portkey-ai/gateway under ../cache/portkey, or EDGE_BENCH_PORTKEY): not in this run")
    tool = "wrk" if wrk_available() and not args.builtin_client else "builtin"
    if tool == "builtin" and not args.builtin_client:
        notes.append("wrk not installed: the built-in asyncio client generated the load (it costs more CPU than wrk; compare ratios, not absolutes)")
    # One strong key for every system: the edge admin key, LiteLLM's master key.
    key = os.environ.get("LITELLM_MASTER_KEY") or "sk-bench-" + secrets.token_urlsafe(32)
    doc: dict[str, Any] = {"machine": machine(), "loadgen": tool, "duration_s": args.duration, "connections": args.connections, "phases": [], "notes": notes, "systems": {}, "not_applicable": []}
    with tempfile.TemporaryDirectory(prefix="edge-bench-") as tmp:
        mock = start_mock()
        try:
            if args.soak:
                from .soak import run_soak

                doc["soak"] = run_soak(mock, systems, scenarios, args, tool, key, Path(tmp), litellm, notes)
            elif args.profile:
                from .profile import run_profiles

                doc["profile"] = run_profiles(mock, systems, scenarios, args, tool, key, Path(tmp), Path(args.profile), notes)
            else:
                for workers in args.workers:
                    run_suite(mock, systems, scenarios, workers, args, tool, key, Path(tmp), litellm, doc)
        finally:
            mock.stop()
    if not (args.no_micro or args.soak or args.profile):
        doc["micro"] = run_micro(notes)
    text = report.markdown(doc)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text)
    if args.json_path:
        Path(args.json_path).write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    if args.plot:
        message = report.plot(doc, Path(args.plot))
        if message:
            print(message, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
