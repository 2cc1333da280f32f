"""What metrics cost one request, in one process, without the noise of a load test.

Calls the Metrics methods one request calls, in the order it calls them: the middleware's
in-flight gauge up, the settled record (edge.accounting -> Metrics.add), the gauge down; for a
stream the record carries a time to first token. Each mode runs in a fresh subprocess: alone (one
worker, ``edge serve``) and with the supervisor's shared metrics folder (``--workers N``). Then
what is paid off the request path: one publish of the worker's numbers (when the worker has a
timer for it) and one scrape. Prints CPU microseconds per request.

    python -m bench.metrics_micro [--requests 200000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

MODES = ("alone", "shared")


def _measure(mode: str, n: int) -> None:
    folder = tempfile.mkdtemp(prefix="edge-metrics-bench-") if mode == "shared" else None
    if folder is not None:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder  # before: prometheus_client reads it at import
    from edge.accounting import UsageRecord
    from edge.metrics import Metrics

    try:
        metrics = Metrics(("echo",), shared_dir=folder)  # type: ignore[call-arg]
    except TypeError:  # before: the folder came from the environment only
        metrics = Metrics(("echo",))
    for stream in (False, True):
        record = UsageRecord(request_id="req_bench", ts=0.0, public_model="echo", status=200, provider="mock", upstream_model="echo", attempts=1, prompt_tokens=48, completion_tokens=20, cost_usd=0.00005, latency_ms=3.2, ttft_ms=1.1 if stream else None, stream=stream)
        inflight, add = metrics.inflight, metrics.add
        started = time.process_time()
        if isinstance(inflight, list):  # the gauge's series, as the middleware changes it
            for _ in range(n):
                inflight[0] += 1
                add(record)
                inflight[0] -= 1
        else:  # before: a prometheus_client Gauge
            for _ in range(n):
                inflight.inc()
                add(record)
                inflight.dec()
        spent = (time.process_time() - started) / n * 1e6
        print(f"{mode:6} {'stream' if stream else 'chat':6} per request: {spent:.2f} us")
    publish = getattr(metrics, "publish", None)
    if publish is not None and folder is not None:
        started = time.process_time()
        for _ in range(200):
            metrics.inflight[0] += 1  # a change, so every publish writes
            publish()
        print(f"{mode:6} publish (timer, off the request path): {(time.process_time() - started) / 200 * 1e6:.0f} us")
    started = time.process_time()
    for _ in range(200):
        body = metrics.render()
    print(f"{mode:6} scrape: {(time.process_time() - started) / 200 * 1e6:.0f} us, {len(body)} bytes")
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        _measure(args.mode, args.requests)
        return
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    for mode in MODES:
        subprocess.run([sys.executable, "-m", "bench.metrics_micro", "--mode", mode, "--requests", str(args.requests)], env=env, check=True)


if __name__ == "__main__":
    main()
