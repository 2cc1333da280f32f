"""A SQLite ledger whose disk fills up for some seconds under load (issue 16, item 5).

The ledger lives on a tmpfs this test mounts; a filler file takes every free byte for
FULL_S seconds while four clients keep sending requests to a gateway of two workers, then is
removed. Before the fix a writer process dropped a batch after five failed tries (512-653 of
4,000 answered requests had no row). Now every answered request has exactly one row
afterwards, and during the outage /readyz says ``degraded`` with the reason, /metrics shows
rows waiting, and POST /v1/keys answers 503 with Retry-After.

Two placements of the spool: on the same full disk (the default, beside the ledger file) with
no fallback folder (rows wait in memory), and on another disk (rows wait in the spool file).
Then the default placement with a fallback spool folder on another filesystem, and both
workers killed with SIGKILL while the disk is full: every row that reached the fallback spool
is in the ledger afterwards, once, replayed by the workers that replaced them. Mounting needs root
(CAP_SYS_ADMIN); where the machine cannot, the test skips and says why.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.store.spool import decode_frame, read_spool
from tests.edge.store.outage_load import ADMIN_KEY, Load, create_key, metric, probe, wait_until, warning_lines
from tests.support import Mock, Server, gateway_config, request, write_config

FULL_S = 8.0
STORE_TIMEOUT_S = 1.0


@pytest.fixture()
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    # Big enough for everything a fast run writes once the disk has room again (a run of ~100,000
    # requests: the ledger, its WAL and the spooled copies of held rows), or the replay fills
    # it for real: at 16 MB it did. The filler takes whatever is free, whatever the size.
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs for the full-disk case (needs root / CAP_SYS_ADMIN): {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        if subprocess.run(["umount", str(mount)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _fill(path: Path) -> int:
    """Write ``path`` until the disk is full; the bytes written."""
    written = 0
    with open(path, "wb", buffering=0) as f:
        for size in (1 << 20, 1 << 12, 1 << 9):
            block = b"\0" * size
            while True:
                try:
                    written += f.write(block)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
    return written


def _readyz_degraded(base_url: str) -> dict[str, object] | None:
    status, _, body = request("GET", base_url + "/readyz")
    doc = json.loads(body)
    assert status == 200, doc  # degraded is still ready
    return doc if doc["status"] == "degraded" else None


@pytest.mark.timeout(240)
@pytest.mark.parametrize("spool", ["same-disk", "other-disk"])
def test_a_full_disk_loses_no_answered_row(mock: Mock, tmp_path: Path, small_disk: Path, spool: str) -> None:
    db = small_disk / "edge.db"
    spool_dir = small_disk / "edge.db.spool" if spool == "same-disk" else tmp_path / "spool"
    text = gateway_config(mock.base_url, tmp_path, f"keys:\n  admin: {ADMIN_KEY}\n").replace(
        f"ledger: sqlite:///{tmp_path}/edge.db",
        f"ledger: sqlite:///{db}\n  store_timeout_s: {STORE_TIMEOUT_S}" + (f"\n  spool_dir: {spool_dir}" if spool == "other-disk" else "\n  spool_fallback_dir: \"off\""),
    )
    gateway = Server(["serve", "--config", str(write_config(tmp_path / "edge.yaml", text)), "--workers", "2"], cwd=str(tmp_path), timeout=60)
    where = "memory" if spool == "same-disk" else "spool"
    filler = small_disk / "filler"
    try:
        load = Load(gateway.url, "load").start()
        wait_until(lambda: len(load.answers) >= 200, 30, "load running")
        filled = _fill(filler)
        full_from = time.monotonic()
        wait_until(lambda: (metric(gateway.url, "edge_ledger_spooled_rows", f'where="{where}"') or 0) > 0, 20, f"rows waiting ({where})")
        # /readyz is per worker (either may answer): poll until one that saw the disk full does.
        ready = wait_until(lambda: _readyz_degraded(gateway.url), 10, "/readyz degraded")
        assert "store writes failing" in ready["reason"] and ready["ledger"]["spooling"], ready
        refused = create_key(gateway.url, "during-full-disk")
        assert refused[0] == 503 and int(refused[1]["retry-after"]) >= 1, refused[:3]
        assert json.loads(refused[2])["error"]["code"] == "store_unavailable"
        assert refused[3] <= STORE_TIMEOUT_S + 1.0
        # Reads still work on a full disk: a budget-free request is answered as before.
        assert probe(gateway.url, "during-full-disk-probe", "anyone").status == 200
        while time.monotonic() - full_from < FULL_S:  # the fault lasts FULL_S; load keeps going
            time.sleep(0.2)
        filler.unlink()

        def drained() -> bool:
            return all(metric(gateway.url, "edge_ledger_spooled_rows", f'where="{w}"') == 0 for w in ("spool", "fallback_spool", "memory"))

        wait_until(drained, 40, "every waiting row written once the disk has room")
        wait_until(lambda: request("GET", gateway.url + "/readyz")[2] == b'{"status":"ok"}', 20, "/readyz ok again")
        answers = load.stop()
    finally:
        code = gateway.stop()
        filler.unlink(missing_ok=True)
    assert code == 0, gateway.output[-3000:]
    counts = _rows_by_id(db)
    answered = [a.request_id for a in answers if a.status] + ["during-full-disk-probe"]
    during = [a for a in answers if a.status and full_from <= a.started < full_from + FULL_S]
    lost = [rid for rid in answered if counts.get(rid, 0) == 0]
    doubled = {rid: n for rid, n in counts.items() if n > 1}
    assert not doubled, f"{len(doubled)} request ids have more than one row: {list(doubled.items())[:5]}"
    # What a loss needs to be understood (seen once in a full run at load 8-10, never since):
    # the gateway's own account of it and what is left in the spool folder.
    left = sorted(p.name for p in spool_dir.iterdir()) if spool_dir.exists() else []
    assert not lost, f"{len(lost)} of {len(answered)} answered requests have no row: {lost[:5]}; spool folder: {left}; gateway log:\n" + "\n".join(warning_lines(gateway.output)[-40:])
    assert during and all(a.status == 200 for a in during), "requests during the full disk must be answered as usual"
    assert not list(spool_dir.glob("*.spool")), "the spool is removed once replayed"
    output = gateway.output
    assert "Traceback" not in output, output[output.index("Traceback") - 1000 :][:4000]
    warnings = warning_lines(output)
    assert len(warnings) <= 10 * 2, "\n".join(warnings)
    print(f"\n{spool}: filled {filled >> 10} KiB; answered {len(answered)} ({len(during)} while full), rows {len(counts)}, lost {len(lost)}, doubled {len(doubled)}, warnings {len(warnings)}")


def _rows_by_id(db: Path) -> dict[str, int]:
    """The ledger's rows per request id, once the gateway has stopped."""
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT request_id, count(*) FROM requests GROUP BY request_id").fetchall())


def _workers(supervisor: int) -> list[int]:
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    return sorted(int(pid) for pid in children)


def _spooled_ids(folder: Path) -> list[str]:
    """The request ids in the spool files of ``folder`` (read without their lock)."""
    found = []
    for path in sorted(folder.glob("ledger-*.spool")):
        for frame in read_spool(path):
            found += [r.request_id for r in decode_frame(frame)]
    return found


@pytest.mark.timeout(240)
def test_rows_in_the_fallback_spool_survive_a_worker_killed_during_a_full_disk(mock: Mock, tmp_path: Path, small_disk: Path) -> None:
    db = small_disk / "edge.db"
    primary, fallback = small_disk / "edge.db.spool", tmp_path / "fallback"
    text = gateway_config(mock.base_url, tmp_path, f"keys:\n  admin: {ADMIN_KEY}\n").replace(
        f"ledger: sqlite:///{tmp_path}/edge.db",
        f"ledger: sqlite:///{db}\n  store_timeout_s: {STORE_TIMEOUT_S}\n  spool_fallback_dir: {fallback}",
    )
    gateway = Server(["serve", "--config", str(write_config(tmp_path / "edge.yaml", text)), "--workers", "2"], cwd=str(tmp_path), timeout=60)
    filler = small_disk / "filler"
    try:
        load = Load(gateway.url, "load").start()
        wait_until(lambda: len(load.answers) >= 200, 30, "load running")
        workers = wait_until(lambda: _workers(gateway.popen.pid) if len(_workers(gateway.popen.pid)) == 2 else None, 10, "two workers")
        _fill(filler)
        full_from = time.monotonic()
        wait_until(lambda: (metric(gateway.url, "edge_ledger_spooled_rows", 'where="fallback_spool"') or 0) > 0, 20, "rows in the fallback spool")
        ready = wait_until(lambda: _readyz_degraded(gateway.url), 10, "/readyz degraded")
        assert "fallback spool folder" in ready["reason"] and ready["ledger"]["fallback_spooled_rows"] > 0, ready
        wait_until(lambda: (metric(gateway.url, "edge_ledger_spooled_rows", 'where="fallback_spool"') or 0) >= 1000, 30, "a thousand rows in the fallback spool")
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        for pid in workers:  # gone (reaped by the supervisor) before the files are read
            wait_until(lambda: not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2], 10, f"worker {pid} gone")
        # What the killed workers acknowledged to their spools: the fallback files (the full
        # disk's spool has none) hold it. The disk is still full, so nobody replayed them yet.
        in_fallback = _spooled_ids(fallback)
        assert in_fallback and not _spooled_ids(primary), (len(in_fallback), sorted(p.name for p in primary.iterdir()) if primary.exists() else None)
        wait_until(lambda: len(_workers(gateway.popen.pid)) == 2 and set(_workers(gateway.popen.pid)).isdisjoint(workers) or None, 30, "replacement workers")
        while time.monotonic() - full_from < FULL_S:
            time.sleep(0.2)
        filler.unlink()

        def drained() -> bool:
            return not list(fallback.glob("*.spool")) and all(metric(gateway.url, "edge_ledger_spooled_rows", f'where="{w}"') == 0 for w in ("spool", "fallback_spool", "memory"))

        wait_until(drained, 60, "the killed workers' fallback spools replayed and removed")
        answers = load.stop()
    finally:
        code = gateway.stop()
        filler.unlink(missing_ok=True)
    assert code == 0, gateway.output[-3000:]
    counts = _rows_by_id(db)
    lost = [rid for rid in in_fallback if counts.get(rid, 0) == 0]
    doubled = {rid: n for rid, n in counts.items() if n > 1}
    assert not doubled, f"{len(doubled)} request ids have more than one row: {list(doubled.items())[:5]}"
    assert not lost, f"{len(lost)} of {len(in_fallback)} rows of the fallback spool have no row: {lost[:5]}; gateway log:\n" + "\n".join(warning_lines(gateway.output)[-40:])
    assert len(set(in_fallback)) == len(in_fallback), "each batch is spooled once"
    answered = [a.request_id for a in answers if a.status]
    unacked = [rid for rid in answered if counts.get(rid, 0) == 0]  # answered but not yet flushed when killed
    print(f"\nfallback + SIGKILL: answered {len(answered)}, rows {len(counts)}, in the fallback spool at the kill {len(in_fallback)}, of those lost {len(lost)}, doubled {len(doubled)}; answered without a row (the last 0.5 s before the kill) {len(unacked)}")
