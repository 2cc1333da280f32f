"""A PostgreSQL ledger stopped, restarted, frozen and thawed under load (issue 16, item 5).

A gateway of two workers writes its ledger to a PostgreSQL server of this test's own. Four
clients keep sending chat requests for a customer whose daily budget both workers have read
already; meanwhile the server is stopped (and one worker restarted while it is down), started
again, frozen with SIGSTOP and thawed. During each outage:

- requests for the cached budget keep getting 200;
- the first request for a budgeted tag nobody has read yet, and POST /v1/keys, get 503 with
  Retry-After in the OpenAI envelope within ``state.store_timeout_s`` plus a margin;
- /readyz answers 200 ``degraded`` with the reason, /metrics shows the store down and rows
  spooled;

and afterwards every answered request has exactly one row (0 lost, 0 doubled), the spool is
empty, and the log holds a few warnings per worker and outage and no traceback.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import time
from pathlib import Path

import pytest

from tests.edge.store.outage_load import ADMIN_KEY, Answer, Load, create_key, metric, probe, wait_until, warning_lines
from tests.edge.store.pg_instance import PgInstance
from tests.edge.store.pg_server import fetch
from tests.support import Mock, Server, gateway_config, request, write_config

STORE_TIMEOUT_S = 1.0
BOUND_S = STORE_TIMEOUT_S + 1.0  # the wait any request may see during an outage
OUTAGE_S = 5.0
COLD = [f"cold-{i}" for i in range(24)]
WORKER = re.compile(r"serving on http://[\d.]+:\d+ \(pid (\d+)")


def _config(mock: Mock, home: Path, pg: PgInstance) -> str:
    budgets = "\n".join(f"  - {{tag: customer={name}, usd: 1000000, period: day}}" for name in ["warm", *COLD])
    extra = f"keys:\n  admin: {ADMIN_KEY}\nbudgets:\n{budgets}\n"
    text = gateway_config(mock.base_url, home, extra)
    return text.replace(
        f"ledger: sqlite:///{home}/edge.db",
        f"ledger: {pg.url}\n  store_timeout_s: {STORE_TIMEOUT_S}\n  spool_dir: {home}/spool",
    )


def _workers(gateway: Server) -> set[int]:
    return {int(m.group(1)) for m in WORKER.finditer(gateway.output)}


def _check_refusal(answer: Answer | tuple[int, dict[str, str], bytes, float], what: str) -> None:
    if isinstance(answer, Answer):
        status, retry_after, code, seconds = answer.status, answer.retry_after, answer.code, answer.seconds
    else:
        status, headers, body, seconds = answer
        retry_after = headers.get("retry-after")
        error = json.loads(body)["error"]
        assert set(error) == {"message", "type", "param", "code"}, body
        code = error["code"]
    assert status == 503 and code == "store_unavailable", f"{what}: {status} {code}"
    assert retry_after is not None and int(retry_after) >= 1, f"{what}: Retry-After {retry_after!r}"
    assert seconds <= BOUND_S, f"{what}: answered after {seconds:.2f} s, bound {BOUND_S} s"


def _readyz_degraded(base_url: str) -> dict[str, object] | None:
    """/readyz of whichever worker answers: 200 either way, the document when degraded."""
    status, _, body = request("GET", base_url + "/readyz")
    doc = json.loads(body)
    assert status == 200, doc
    return doc if doc["status"] == "degraded" else None


def _outage(gateway: Server, cold: list[str], label: str) -> tuple[float, float, list[float], list[str]]:
    """Probe an outage for OUTAGE_S: cold budgets and POST /v1/keys refused in time,
    /readyz degraded, /metrics down and spooling. Returns its window, the refusals' times and
    the request ids of the refused chat requests (each has its ledger row)."""
    start = time.monotonic()
    seconds: list[float] = []
    refused: list[str] = []
    for i, customer in enumerate(cold):
        answer = probe(gateway.url, f"{label}-cold-{i}", customer)
        _check_refusal(answer, f"{label}: first request for customer={customer}")
        seconds.append(answer.seconds)
        refused.append(answer.request_id)
        if i % 3 == 0:
            created = create_key(gateway.url, f"{label}-{i}")
            _check_refusal(created, f"{label}: POST /v1/keys")
            seconds.append(created[3])
        if time.monotonic() - start >= OUTAGE_S:
            break
    ready = wait_until(lambda: _readyz_degraded(gateway.url), 10, f"{label}: /readyz degraded")
    assert "store reads failing" in ready["reason"], ready
    # The store was asked again with backoff (0.25 s doubling), not once per request.
    reads = ready["store"]["reads"]
    assert reads["failed_probes"] <= 8 and reads["refused_calls"] >= 1, reads
    wait_until(lambda: metric(gateway.url, "edge_store_up", 'side="reads"') == 0, 10, f"{label}: edge_store_up reads 0")
    wait_until(lambda: (metric(gateway.url, "edge_ledger_spooled_rows", 'where="spool"') or 0) > 0, 10, f"{label}: rows spooled")
    return start, time.monotonic(), seconds, refused


def _recovered(gateway: Server, label: str) -> None:
    def back() -> bool:
        return (
            metric(gateway.url, "edge_ledger_spooled_rows", 'where="spool"') == 0
            and metric(gateway.url, "edge_ledger_spooled_rows", 'where="memory"') == 0
            and metric(gateway.url, "edge_store_up", 'side="reads"') == 1
            and metric(gateway.url, "edge_store_up", 'side="writes"') == 1
        )

    wait_until(back, 40, f"{label}: the spool replayed and the store up again")

    def ready() -> bool:
        status, _, body = request("GET", gateway.url + "/readyz")
        return (status, json.loads(body)) == (200, {"status": "ok"})

    # /metrics shows another worker's gauges up to one publish tick late (edge/metrics/_shared.py),
    # and a worker whose pooled connections died with the server finds out on its next read:
    # every worker must say ready within a few ticks, on new connections (either worker).
    wait_until(lambda: all(ready() for _ in range(6)), 10, f"{label}: /readyz ok on every worker")


@pytest.mark.timeout(300)
def test_postgres_outages_under_load_lose_and_double_nothing(mock: Mock, tmp_path: Path) -> None:
    pg = PgInstance()
    try:
        pg.start()
        path = write_config(tmp_path / "edge.yaml", _config(mock, tmp_path, pg))
        gateway = Server(["serve", "--config", str(path), "--workers", "2"], cwd=str(tmp_path), timeout=60)
        try:
            wait_until(lambda: len(_workers(gateway)) == 2, 30, "two workers serving")
            # Every worker reads the warm budget: new connections land on either worker.
            for i in range(40):
                assert probe(gateway.url, f"warmup-{i}", "warm").status == 200
            load = Load(gateway.url, "load").start()
            wait_until(lambda: len(load.answers) >= 100, 30, "load running")

            pg.stop("fast")
            stopped = _outage(gateway, COLD[:12], "stopped")
            # A worker restarted while the store is down: it must start, and its spool
            # (written on its way out) must be replayed by whoever adopts it.
            victim = sorted(_workers(gateway))[0]
            before = len(_workers(gateway))
            os.kill(victim, signal.SIGTERM)
            wait_until(lambda: len(_workers(gateway)) > before, 60, "the restarted worker serving")
            pg.start()
            _recovered(gateway, "after the stop")

            pg.freeze()
            frozen = _outage(gateway, COLD[12:], "frozen")
            pg.thaw()
            _recovered(gateway, "after the freeze")
            answers = load.stop()
        finally:
            code = gateway.stop()
        assert code == 0, gateway.output[-3000:]
        rows = asyncio.run(fetch(pg.url, "SELECT request_id, count(*) AS n FROM requests GROUP BY request_id"))
    finally:
        pg.destroy()

    counts = {r["request_id"]: r["n"] for r in rows}
    answered = [a.request_id for a in answers if a.status] + [f"warmup-{i}" for i in range(40)] + stopped[3] + frozen[3]
    lost = [rid for rid in answered if counts.get(rid, 0) == 0]
    doubled = {rid: n for rid, n in counts.items() if n > 1}
    assert not doubled, f"{len(doubled)} request ids have more than one row: {list(doubled.items())[:5]}"
    assert not lost, f"{len(lost)} of {len(answered)} answered requests have no row: {lost[:5]}"

    # Budgets already read kept working through both outages (the restarted worker read its
    # own during the stop, so that window counts until the restart).
    for label, (start, end, _, _) in (("stopped", stopped), ("frozen", frozen)):
        during = load.between(start, end)
        bad = [a for a in during if a.status != 200]
        assert during and not bad, f"{label}: {len(bad)} of {len(during)} cached-budget requests failed: {bad[:3]}"

    output = gateway.output
    assert "Traceback" not in output, output[output.index("Traceback") - 2000 :][:5000]
    warnings = warning_lines(output)
    # Per worker and outage: store reads and writes failing and back, the ledger spooling and
    # replayed, budgets and keys failing and back. Two workers, two outages, one restart.
    assert len(warnings) <= 10 * (2 * 2 + 1), "\n".join(warnings)
    print(f"\nrows {len(counts)}, answered {len(answered)}, lost {len(lost)}, doubled {len(doubled)}, warnings {len(warnings)}")
    print(f"refusal times: stopped max {max(stopped[2]):.3f} s, frozen max {max(frozen[2]):.3f} s")
