"""``--workers N``: N worker processes share the port (SO_REUSEPORT); a dead one is restarted.

The supervisor does no request work. It starts each worker as ``python -m edge.cli worker``,
restarts one that dies (with a short backoff so a crash loop cannot spin), and on SIGTERM or
SIGINT passes the signal on, waits for every worker to drain, and exits 0 (1, with an error
line, when a worker did not stop within drain_timeout_s + 5 s and had to be killed). Metrics
from every worker are aggregated through the shared folder (edge.metrics._shared).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from . import stopsignals
from .metrics import mark_dead

__all__ = ["supervise"]

log = logging.getLogger("edge.supervisor")


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def supervise(config_path: str | None, host: str, port: int, workers: int, drain_timeout_s: float, grpc_port: int | None = None) -> int:
    if port == 0:
        port = _free_port(host)  # every worker must bind the same port
    if grpc_port == 0:
        grpc_port = _free_port(host)
    metrics_dir = tempfile.mkdtemp(prefix="edge-metrics-")
    # One folder every worker maps: each worker's metrics (edge.metrics._shared) and the host's
    # rate-limit table (exact across workers without Redis).
    command = [sys.executable, "-m", "edge.cli", "worker", "--host", host, "--port", str(port), "--shared-dir", metrics_dir]
    if config_path:
        command += ["--config", config_path]
    if grpc_port is not None:
        command += ["--grpc-port", str(grpc_port)]
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # `edge serve` held them blocked (edge.stopsignals): one sent meanwhile stops us now, and
    # the workers started below must not inherit the mask.
    stopsignals.release()
    children: list[subprocess.Popen[bytes] | None] = [None] * workers
    restarts = [0.0] * workers  # when each slot may next be (re)started
    started = [0.0] * workers
    failures = [0] * workers  # consecutive early deaths, for the backoff
    log.info("supervisor pid %d starting %d workers on %s:%d", os.getpid(), workers, host, port)
    try:
        while not stopping:
            now = time.monotonic()
            for i, child in enumerate(children):
                if child is not None and child.poll() is not None:
                    log.warning("worker %d (pid %d) exited with %s; restarting", i, child.pid, child.returncode)
                    # A killed worker could not take its live gauges (in flight, store up,
                    # spooled rows) out of the aggregate itself (edge.metrics.Metrics.close).
                    mark_dead(metrics_dir, child.pid)
                    if child.returncode < 0:
                        # Killed by a signal from outside (kill -9, the OOM killer): not a crash
                        # loop, so no backoff; the port must be served again at once.
                        failures[i] = 0
                    else:
                        failures[i] = failures[i] + 1 if now - started[i] < 10.0 else 1
                    restarts[i] = now + (min(5.0, 0.05 * 2 ** min(failures[i] - 1, 7)) if failures[i] else 0.0)
                    children[i] = None
                if children[i] is None and now >= restarts[i]:
                    children[i] = subprocess.Popen(command)
                    started[i] = now
            time.sleep(0.05)
    finally:
        for child in children:
            if child is not None and child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + drain_timeout_s + 5.0
        killed = 0
        for child in children:
            if child is None:
                continue
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                # Said, and in the exit status: a killed worker did not close its ledger (rows
                # it held in memory are gone, its writer process is left to finish alone).
                log.error("worker pid %d did not stop within %g s of SIGTERM; killed it", child.pid, drain_timeout_s + 5.0)
                child.kill()
                child.wait()
                killed += 1
        shutil.rmtree(metrics_dir, ignore_errors=True)
    log.info("supervisor stopped")
    return 1 if killed else 0
