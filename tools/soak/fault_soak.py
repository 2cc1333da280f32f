"""Fault soak (issue 16, "Done when"): load against ``edge serve --workers 2`` while each of the
nine faults of issue 16 is injected in turn; then check the books, the bytes and the loop.

    python -m tools.soak.fault_soak [--variant sqlite|postgres] [--seconds 15] [--clients 4]
                                    [--phases a,b,...] [--json out.json]

The processes are tools/soak/fault_rig.py's: the mock, a keep-alive dropper, a hostile socket
upstream, an echoing upstream, a redis-server and (``postgres``) a PostgreSQL of the soak's own,
all on loopback; the SQLite ledger sits on a 128 MB tmpfs when one can be mounted. All along,
``--clients`` threads send chat requests (half streamed) with a key whose limit lives in Redis,
and a probe streams a fast route. The phases, in order (each ``--seconds`` long):

    baseline      nothing injected
    keepalive     (1) an upstream drops 2% of keep-alive connections after answering; a
                  two-route model whose second route answers 503 to everything
    hostile       (2) a header line that never ends, a 300 MB body (with a length, chunked),
                  a gzip bomb (1 MB -> 1 GiB), plain and streamed
    secrets       (3) an upstream that echoes its key, a custom auth header and its address in
                  every field of errors, cut plain-text bodies, answers and streams
    names         (4) path-injecting model names (Gemini ``../``, dot segments, over-long)
    pg_stop       (5) postgres variant: the ledger's PostgreSQL stopped, then started again
    pg_freeze     (5) postgres variant: PostgreSQL frozen with SIGSTOP, then thawed
    disk_full     (5) sqlite variant: the ledger's disk full, then freed
    redis_kill    (6) Redis killed under an rpm 60 key, restarted empty
    redis_freeze  (6) Redis frozen with SIGSTOP under an rpm 60 key, then thawed
    labels        (7) requests to random passthrough models ``up/<hex>``
    tags          (8) a tag value with a newline, escape sequences and bidi controls; then
                  ``edge usage --group-by tag:customer`` is run and read
    fresh_open    (9) sqlite variant: gateways of two workers started on fresh ledgers

Afterwards the gateway is stopped (a graceful stop writes every row) and the report says, for
the run and per phase: lost ledger rows (an answered request without its row, matched by
x-request-id; refusals before routing, 400 ``invalid_model``, have no row by design and are
not counted), leaked secrets (any configured secret, or its first 10 characters, in any byte a
client got, in any log line of any gateway, or in the CLI's output), and worker stalls: the
gateway's own ``edge_event_loop_lag_seconds{kind="held"}`` (edge/looplag.py) observations over
100 ms, i.e. a worker's loop held on CPU while every other request on it waited. The wall-clock
lag and the probe's longest gap between chunks are reported beside it; on a shared machine
they also hold the time the gateway waited for a core. Exit status 0 when every check holds.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import random
import re
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tools.soak.fault_rig import ADMIN_KEY, HOSTILE_MODELS, Answer, Client, Probe, Rig, leaked
from tests.support import request, write_config

PHASES = ("baseline", "keepalive", "hostile", "secrets", "names", "pg_stop", "pg_freeze", "disk_full", "redis_kill", "redis_freeze", "labels", "tags", "fresh_open")
ONLY = {"pg_stop": "postgres", "pg_freeze": "postgres", "disk_full": "sqlite", "fresh_open": "sqlite"}
FORGED = "acme\n| forged | 999 | 0 | 0 | 0 | 0 | 0 | 9.000000 |\n\x1b[2J\x1b]0;owned\x07\u009b31m\u202eevil\x7f\\"
TERMINAL_ACTORS = ("\x1b", "\x07", "\u009b", "\u202e", "\x7f")
INJECTED = (
    "gem/gemini-2.5-flash/../../../v1beta/models/gemini-ultra",
    "gem/models/../gemini-ultra",
    "inj/a/../b",
    "inj/./gpt-4o",
    "inj/" + "x" * 257,
    "inj/a//b",
)
ECHO_SCRIPTS = (("error_fields", False, 400), ("plain_cut", False, 502), ("answer", False, 200), ("stream_error", True, 400), ("stream_answer", True, 400), ("error_fields", False, 503))
RPM = 60
RATE_SLACK = 6  # requests in flight when Redis went (4 clients) and the thaw's queue
NO_ROW_CODES = {"invalid_model"}  # refused before a request exists: no ledger row by design


def _chat(model: str, stream: bool = False, **extra: Any) -> dict[str, Any]:
    return {"model": model, "stream": stream, "messages": [{"role": "user", "content": "soak " * 4}], **extra}


class Soak:
    def __init__(self, rig: Rig, seconds: float, clients: int) -> None:
        self.rig, self.seconds = rig, seconds
        self.phase = "start"
        self.clients: list[Client] = []
        self.finished: list[Answer] = []
        self.extra_logs: list[str] = []
        current = lambda: self.phase  # noqa: E731
        for n in range(clients):
            self.clients.append(Client(f"load{n}", rig, lambda i: ("load", "/v1/chat/completions", _chat("chat", i % 2 == 0, mock={"tokens": 12, "chunk_delay_ms": 2})), current, rig.load_key))
        self.probe = Probe(rig, current, rig.load_key)

    def start(self) -> None:
        for c in self.clients:
            c.start()
        self.probe.start()

    def stop(self) -> None:
        self.probe.stop()
        for c in self.clients:
            self.finished += c.stop()

    def traffic(self, name: str, make: Callable[[int], tuple[str, str, dict[str, Any]]], key: str | None = None, threads: int = 1, pause_s: float = 0.0) -> list[Client]:
        started = [Client(f"{self.phase}-{name}{i}", self.rig, make, lambda: self.phase, key or self.rig.load_key, pause_s) for i in range(threads)]
        for c in started:
            c.start()
        return started

    def collect(self, clients: list[Client]) -> list[Answer]:
        answers = [a for c in clients for a in c.stop()]
        self.finished += answers
        return answers


def _outcomes(answers: list[Answer]) -> dict[str, int]:
    return dict(sorted(Counter(f"{a.status} {a.code}" if a.code else str(a.status) for a in answers).items()))


# -- the phases: each injects its fault for about soak.seconds and returns its figures ----------


def baseline(soak: Soak) -> dict[str, Any]:
    time.sleep(soak.seconds)
    return {}


def keepalive(soak: Soak) -> dict[str, Any]:
    dropped = soak.rig.dropper.dropped
    one = soak.traffic("flaky", lambda i: ("flaky", "/v1/chat/completions", _chat("flaky")), threads=2)
    two = soak.traffic("flaky-two", lambda i: ("flaky-two", "/v1/chat/completions", _chat("flaky-two")), threads=2)
    time.sleep(soak.seconds)
    a, b = soak.collect(one), soak.collect(two)
    # The fault was cooldowns opened by failures that retries had recovered: none may answer
    # cooling_down, and the one-route model's every drop is recovered by its retry. With two
    # routes, before the always-503 route is ejected (min_requests), a request can meet the
    # 503 route, a dropped connection on the good one, then the 503 route again: about one in
    # a hundred of the first requests fails honestly with a 502 when its last retry is gone.
    failed_two = [x for x in b if x.status != 200]
    return {
        "one_route": _outcomes(a), "two_routes": _outcomes(b),
        "connections_dropped": soak.rig.dropper.dropped - dropped,
        "down_route_calls": soak.rig.dropper.count("down-m2"),
        "ok": bool(a) and bool(b) and all(x.status == 200 for x in a) and not any(x.code == "cooling_down" for x in a + b)
        and all(x.status == 502 for x in failed_two) and len(failed_two) <= max(1, len(b) // 100),
    }


def hostile(soak: Soak) -> dict[str, Any]:
    cases = [(m, s) for m in HOSTILE_MODELS for s in (False, True)]
    clients = soak.traffic("bad", lambda i: (f"{cases[i % len(cases)][0]}{'-stream' if cases[i % len(cases)][1] else ''}", "/v1/chat/completions", _chat(*cases[i % len(cases)])))
    time.sleep(soak.seconds)
    answers = soak.collect(clients)
    by_case: dict[str, dict[str, int]] = {}
    for a in answers:
        by_case.setdefault(a.kind, {})
        key = f"{a.status} {a.code}"
        by_case[a.kind][key] = by_case[a.kind].get(key, 0) + 1
    # Every hostile answer fails honestly: a 502 before the first byte, or a stream's error event.
    honest = all(a.status == 502 or (a.status == 200 and a.code not in (None, "cut")) for a in answers)
    return {"answers": by_case, "ok": honest and bool(answers)}


def secrets(soak: Soak) -> dict[str, Any]:
    def make(i: int) -> tuple[str, str, dict[str, Any]]:
        script, stream, status = ECHO_SCRIPTS[i % len(ECHO_SCRIPTS)]
        return f"echo-{script}", "/v1/chat/completions", _chat("echoed", stream, script=script, status=status)

    clients = soak.traffic("echo", make, threads=2)
    time.sleep(soak.seconds)
    answers = soak.collect(clients)
    return {"answers": _outcomes(answers), "leaking_answers": sum(1 for a in answers if a.leaks), "ok": bool(answers) and not any(a.leaks for a in answers)}


def names(soak: Soak) -> dict[str, Any]:
    before = soak.rig.untouched.stats()["requests"]
    clients = soak.traffic("inject", lambda i: ("inject", "/v1/chat/completions", _chat(INJECTED[i % len(INJECTED)], i % 2 == 1)), pause_s=0.01)
    time.sleep(soak.seconds)
    answers = soak.collect(clients)
    reached = soak.rig.untouched.stats()["requests"] - before
    return {"answers": _outcomes(answers), "upstream_calls": reached, "ok": reached == 0 and all(a.status == 400 and a.code == "invalid_model" for a in answers) and bool(answers)}


def _gauges(text: str) -> dict[str, float]:
    """edge_store_up and edge_ledger_spooled_rows, by label."""
    out = {}
    for line in text.splitlines():
        if line.startswith(("edge_store_up{", "edge_ledger_spooled_rows{")):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def _outage(soak: Soak, down: Callable[[], None], up: Callable[[], None]) -> dict[str, Any]:
    started = time.monotonic()
    # At least 3 s: a frozen store is found out by a call that times out (state.store_timeout_s
    # is 1 s here), and a key reload or budget read comes every 0.5 s.
    length = max(soak.seconds, 3.0)
    down()
    time.sleep(length * 0.75)
    during = _gauges(soak.rig.metrics())  # the store is down: /metrics says so
    status, _, body = request("GET", soak.rig.gateway.url + "/readyz", timeout=30)
    readyz = json.loads(body).get("status") if status == 200 else status
    time.sleep(length * 0.25)
    up()
    outage = time.monotonic() - started
    time.sleep(max(2.0, soak.seconds / 2))  # recovery under load: spooled rows replay
    answers = [a for c in soak.clients for a in c.answers if started <= a.started <= started + outage]
    return {"outage_s": round(outage, 2), "load_during": _outcomes(answers), "slowest_s": round(max((a.seconds for a in answers), default=0.0), 3), "metrics_during": during, "readyz_during": readyz, "metrics_after": _gauges(soak.rig.metrics())}


def pg_stop(soak: Soak) -> dict[str, Any]:
    pg = soak.rig.pg
    return _outage(soak, lambda: pg.stop("fast"), pg.start)


def pg_freeze(soak: Soak) -> dict[str, Any]:
    pg = soak.rig.pg
    return _outage(soak, pg.freeze, pg.thaw)


def disk_full(soak: Soak) -> dict[str, Any]:
    disk = soak.rig.disk
    if disk is None:
        return {"skipped": "no tmpfs could be mounted"}
    filler = disk / "filler"
    written = 0

    def fill() -> None:
        nonlocal written
        with open(filler, "wb", buffering=0) as f:
            for size in (1 << 20, 1 << 12, 1 << 9):
                block = b"\0" * size
                while True:
                    try:
                        written += f.write(block)
                    except OSError as exc:
                        if exc.errno != errno.ENOSPC:
                            raise
                        break

    figures = _outage(soak, fill, filler.unlink)
    figures["filled_mb"] = round(written / 1e6, 1)
    return figures


def _limited(soak: Soak, fault: Callable[[], None], restore: Callable[[], None]) -> dict[str, Any]:
    key = soak.rig.make_key(f"soak-{soak.phase}", rpm=RPM)
    clients = soak.traffic("limited", lambda i: ("limited", "/v1/chat/completions", _chat("chat")), key=key, threads=4)
    deadline = time.monotonic() + 30
    while sum(1 for c in clients for a in list(c.answers) if a.status == 200) < RPM and time.monotonic() < deadline:
        time.sleep(0.02)
    fault()
    time.sleep(min(soak.seconds, 3.0))
    restore()
    time.sleep(min(soak.seconds, 2.0))
    answers = soak.collect(clients)
    admitted = [a for a in answers if a.status == 200]
    span = (max(a.started + a.seconds for a in admitted) - min(a.started for a in admitted)) if admitted else 0.0
    allowed = RPM + span * RPM / 60.0
    return {
        "admitted": len(admitted), "allowed": round(allowed, 1), "slack": RATE_SLACK, "span_s": round(span, 2),
        "answers": _outcomes(answers),
        "ok": bool(admitted) and len(admitted) <= allowed + RATE_SLACK and {a.status for a in answers} <= {200, 429},
    }


def redis_kill(soak: Soak) -> dict[str, Any]:
    redis = soak.rig.redis
    return _limited(soak, redis.kill, redis.start)


def redis_freeze(soak: Soak) -> dict[str, Any]:
    redis = soak.rig.redis
    started = time.monotonic()
    figures = _limited(soak, redis.freeze, redis.thaw)
    load = [a for c in soak.clients for a in c.answers if a.started >= started and a.kind == "load"]
    figures["load_slowest_s"] = round(max((a.seconds for a in load), default=0.0), 3)
    return figures


def _series(text: str) -> int:
    return sum(1 for line in text.splitlines() if line and not line.startswith("#"))


def labels(soak: Soak) -> dict[str, Any]:
    before = _series(soak.rig.metrics())
    invented: list[str] = []

    def make(i: int) -> tuple[str, str, dict[str, Any]]:
        name = f"up/soak-{random.getrandbits(64):016x}"
        invented.append(name)
        return "labels", "/v1/chat/completions", _chat(name)

    clients = soak.traffic("labels", make, threads=2)
    time.sleep(soak.seconds)
    answers = soak.collect(clients)
    text = soak.rig.metrics()
    named = sum(1 for name in invented if name.split("/", 1)[1] in text)
    return {"models_invented": len(invented), "answers": _outcomes(answers), "series_before": before, "series_after": _series(text), "invented_names_in_metrics": named, "ok": named == 0 and bool(answers)}


def _cli(rig: Rig, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "edge.cli", *args], capture_output=True, cwd=str(rig.config.parent), timeout=120)


def tags(soak: Soak) -> dict[str, Any]:
    clients = soak.traffic("tags", lambda i: ("tags", "/v1/chat/completions", _chat("chat", i % 2 == 0, metadata={"customer": FORGED if i % 2 else f"plain-{i % 3}"})), threads=2)
    time.sleep(soak.seconds)
    answers = soak.collect(clients)
    time.sleep(1.0)  # the ledger writes every 0.2 s
    done = _cli(soak.rig, "usage", "--config", str(soak.rig.config), "--group-by", "tag:customer")
    out = done.stdout.decode("utf-8", "replace")
    soak.extra_logs.append(out + done.stderr.decode("utf-8", "replace"))
    actors = sum(out.count(ch) for ch in TERMINAL_ACTORS)
    rows = [line for line in out.splitlines() if line.startswith("| acme")]
    forged = [line for line in out.splitlines() if line.startswith("| forged")]
    return {
        "answers": _outcomes(answers), "cli_exit": done.returncode, "acme_rows": len(rows), "forged_rows": len(forged),
        "terminal_control_characters": actors, "ok": done.returncode == 0 and len(rows) == 1 and not forged and actors == 0,
    }


def fresh_open(soak: Soak) -> dict[str, Any]:
    rig = soak.rig
    rounds = max(1, int(soak.seconds // 3))
    deaths = locked = fresh = missing = 0
    text = rig.config.read_text()
    ledger = re.search(r'ledger: "([^"]+)"', text)
    assert ledger is not None
    for n in range(rounds):
        home = rig.home / f"fresh-{n}"
        home.mkdir()
        config = write_config(home / "edge.yaml", text.replace(ledger.group(1), f"sqlite:///{home}/edge.db"))
        server = rig.serve(config)
        ids = []
        for i in range(4):
            rid = f"soak-fresh-{n}-{i}"
            status, _, body = request("POST", server.url + "/v1/chat/completions", json.dumps(_chat("chat")).encode(), {"content-type": "application/json", "authorization": f"Bearer {ADMIN_KEY}", "x-request-id": rid})
            if status == 200:
                ids.append(rid)
            if leaked(body):
                soak.extra_logs.append(body.decode("utf-8", "replace"))
        server.stop(timeout=60)
        log = server.output
        soak.extra_logs.append(log)
        deaths += len(re.findall(r"exited with .*restarting", log))
        locked += log.count("database is locked")
        with sqlite3.connect(home / "edge.db") as db:
            have = {r for (r,) in db.execute("SELECT request_id FROM requests")}
        fresh += len(ids)
        missing += sum(1 for rid in ids if rid not in have)
    return {"gateways": rounds, "worker_deaths": deaths, "database_is_locked": locked, "fresh_answered": fresh, "fresh_rows_missing": missing, "ok": deaths == 0 and locked == 0 and missing == 0 and fresh == 4 * rounds}


FAULTS: dict[str, Callable[[Soak], dict[str, Any]]] = {f.__name__: f for f in (baseline, keepalive, hostile, secrets, names, pg_stop, pg_freeze, disk_full, redis_kill, redis_freeze, labels, tags, fresh_open)}


# -- the books ----------------------------------------------------------------------------------


def _lag_delta(before: dict[str, dict[str, float]], after: dict[str, dict[str, float]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind in ("held", "wall"):
        b, a = before.get(kind, {}), after.get(kind, {})
        count = a.get("count", 0.0) - b.get("count", 0.0)

        def over(bound: str) -> int:
            return int(count - (a.get(bound, 0.0) - b.get(bound, 0.0)))

        bounds = sorted((k for k in a if k not in ("count", "+Inf")), key=float)
        worst = next((k for k in bounds if over(k) == 0), "+Inf")
        out[kind] = {"samples": int(count), "over_50ms": over("0.05"), "over_100ms": over("0.1"), "over_250ms": over("0.25"), "max_bucket_s": worst}
    return out


def run(variant: str, seconds: float, clients: int, phases: list[str] | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    chosen = [p for p in (phases or PHASES) if ONLY.get(p, variant) == variant]
    rig = Rig(variant)
    try:
        soak = Soak(rig, seconds, clients)
        soak.start()
        time.sleep(1.0)
        per_phase: dict[str, Any] = {}
        for name in chosen:
            soak.phase = name
            log(f"[fault-soak {variant}] {name}")
            lag_before, started = rig.lag(), time.monotonic()
            figures = FAULTS[name](soak)
            figures["seconds"] = round(time.monotonic() - started, 1)
            figures["loop_lag"] = _lag_delta(lag_before, rig.lag())
            figures["probe_max_gap_s"] = round(soak.probe.gaps.get(name, 0.0), 3)
            figures["probe_streams"] = soak.probe.streams.get(name, 0)
            per_phase[name] = figures
        soak.phase = "end"
        soak.stop()
        exit_code = rig.stop_gateway()
        rows = rig.ledger_rows()
        report = _books(rig, soak, per_phase, rows, exit_code, variant, seconds, clients)
        report["doubled_rows"] = rig.doubled_rows()
        return report
    finally:
        rig.close()


def _books(rig: Rig, soak: Soak, per_phase: dict[str, Any], rows: dict[str, int], exit_code: int, variant: str, seconds: float, clients: int) -> dict[str, Any]:
    answers = soak.finished
    acknowledged = [a for a in answers if a.status and a.complete and a.code not in NO_ROW_CODES]
    lost = [a for a in acknowledged if a.rid not in rows]
    full = [a for a in acknowledged if a.status == 200 and a.code is None]
    wrong = [a for a in full if rows.get(a.rid, 200) != 200]
    log_lines = [line for line in (rig.gateway_log + "".join(soak.extra_logs)).splitlines() if leaked(line)]
    for name, figures in per_phase.items():
        mine = [a for a in acknowledged if a.phase == name]
        figures["answered"] = len(mine)
        figures["lost_rows"] = sum(1 for a in lost if a.phase == name)
        figures["leaked"] = sum(1 for a in answers if a.phase == name and a.leaks)
        figures["stalls_over_100ms"] = figures["loop_lag"]["held"]["over_100ms"]
    report = {
        "variant": variant, "seconds_per_phase": seconds, "clients": clients, "notes": rig.notes,
        "requests": len(answers), "acknowledged": len(acknowledged), "ledger_rows": len(rows), "no_answer": sum(1 for a in answers if not a.status),
        "lost_rows": len(lost), "lost_examples": [f"{a.rid} {a.status} {a.code}" for a in lost[:10]],
        "full_answers_whose_row_is_not_200": len(wrong),
        "leaked_secrets": sum(1 for a in answers if a.leaks) + rig.probe_leaks + len(log_lines),
        "leak_examples": [line[:200] for line in log_lines[:5]] + [f"{a.rid}: {a.leaks}" for a in answers if a.leaks][:5],
        "stalls_over_100ms": sum(f["stalls_over_100ms"] for f in per_phase.values()),
        "tracebacks_in_log": rig.gateway_log.count("Traceback"),
        "gateway_exit": exit_code,
        "phases": per_phase,
    }
    report["ok"] = (
        report["lost_rows"] == 0 and report["leaked_secrets"] == 0 and report["stalls_over_100ms"] == 0 and not wrong
        and all(f.get("ok", True) for f in per_phase.values())
    )
    return report


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.soak.fault_soak")
    parser.add_argument("--variant", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--seconds", type=float, default=15.0, help="per phase")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--phases", help="a comma-separated subset, in the order above")
    parser.add_argument("--json", help="write the report here")
    args = parser.parse_args()
    phases = args.phases.split(",") if args.phases else None
    if phases:
        unknown = set(phases) - set(PHASES)
        if unknown:
            parser.error(f"unknown phases: {sorted(unknown)}")
    report = run(args.variant, args.seconds, args.clients, phases, log=lambda s: print(s, file=sys.stderr, flush=True))
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
