"""/metrics text against prometheus_client's, and workers' numbers merged through a folder.

edge.metrics keeps plain numbers and writes the text format itself. The same operations on
prometheus_client's objects (the reference the gateway used before) must give the same text,
but for ``_created``, which the gateway no longer writes: label names sorted with ``le`` among
them, escaping, numbers as Go prints them, families without a series. Then two Metrics sharing
a folder, as two workers do: counters and histograms summed, gauges by their mode over the
workers alive, a dead worker's counts kept (folded into retired.json) and its gauges dropped.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import metrics as prometheus_metrics
from prometheus_client.parser import text_string_to_metric_families

from edge.accounting import UsageRecord
from edge.metrics import Metrics, mark_dead
from edge.metrics._families import Family, observe, render
from edge.metrics._shared import SharedFolder

WEIRD = ['plain', 'q"uote', "back\\slash", "new\nline", "ünï", ""]


@pytest.fixture()
def no_created() -> Iterator[None]:
    prometheus_metrics.disable_created_metrics()
    try:
        yield
    finally:
        prometheus_metrics.enable_created_metrics()


def test_the_text_is_prometheus_clients_without_created(no_created: None) -> None:
    rng = random.Random(7)
    registry = CollectorRegistry()
    bounds = (0.005, 0.1, 1, 2.5, 120)
    declared = [
        (Family("counter", "t_requests", "Requests \\ by\nmodel.", ["status", "model"]), Counter("t_requests", "Requests \\ by\nmodel.", ["status", "model"], registry=registry)),
        (Family("counter", "t_lost", "Lost rows."), Counter("t_lost", "Lost rows.", registry=registry)),
        (Family("counter", "t_never", "Never counted.", ["kind"]), Counter("t_never", "Never counted.", ["kind"], registry=registry)),
        (Family("histogram", "t_latency", "Latency.", ["model"], bounds), Histogram("t_latency", "Latency.", ["model"], buckets=bounds, registry=registry)),
        (Family("histogram", "t_lag", "Lag.", ["kind", "zone"], bounds), Histogram("t_lag", "Lag.", ["kind", "zone"], buckets=bounds, registry=registry)),
        (Family("gauge", "t_up", "Up.", ["side"], mode="livemin"), Gauge("t_up", "Up.", ["side"], registry=registry)),
        (Family("gauge", "t_inflight", "In flight.", mode="livesum"), Gauge("t_inflight", "In flight.", registry=registry)),
    ]
    for _ in range(2000):
        ours, theirs = rng.choice(declared)
        labels = tuple(rng.choice(WEIRD) for _ in ours.labelnames)
        reference = theirs.labels(*labels) if labels else theirs
        series = ours.labels(*labels)
        if ours.kind == "counter":
            amount = rng.choice([1, 1, 3, 0.25, 1e-7, 123456789.5, 2.5e17])
            series[0] += amount
            reference.inc(amount)
        elif ours.kind == "histogram":
            value = rng.choice([0.0, 0.005, 0.0051, 0.1, 1, 3, 119.9, 120, 121, 1e9, rng.random()])
            observe(ours, series, value)
            reference.observe(value)
        else:
            value = rng.choice([0, 1, -2, 0.5, 1e12])
            series[0] = value
            reference.set(value)
    text = render(family for family, _ in declared).decode()
    assert text == generate_latest(registry).decode()
    assert {f.name for f in text_string_to_metric_families(text)} >= {"t_requests", "t_latency", "t_up"}


def _record(model: str, **fields: object) -> UsageRecord:
    return UsageRecord(request_id="r", ts=0.0, public_model=model, status=200, provider="up", **fields)  # type: ignore[arg-type]


def _samples(metrics: Metrics) -> dict[str, float]:
    lines = (line.rsplit(" ", 1) for line in metrics.render().decode().splitlines() if not line.startswith("#"))
    return {name: float(value) for name, value in lines}


def test_workers_add_up_through_the_shared_folder(tmp_path: Path) -> None:
    one, two = Metrics(["chat"], tmp_path), Metrics(["chat"], tmp_path)
    for _ in range(3):
        one.add(_record("chat", prompt_tokens=5, latency_ms=20.0, cost_usd=0.5))
    two.add(_record("chat", prompt_tokens=7, latency_ms=2000.0, cost_usd=0.25))
    two.add(_record("invented", latency_ms=1.0))
    one.inflight[0] += 2
    two.inflight[0] += 1
    two.store_state("reads", False)
    one.ledger_rows(4, 0, 1)
    two.ledger_rows(1, 2, 0)
    assert _samples(two)['edge_requests_total{model="chat",provider="up",status="200"}'] == 1  # one has not published yet
    one.publish()
    two.publish()
    for metrics in (one, two):  # the same sums, whichever worker is scraped
        samples = _samples(metrics)
        assert samples['edge_requests_total{model="chat",provider="up",status="200"}'] == 4
        assert samples['edge_requests_total{model="<other>",provider="up",status="200"}'] == 1
        assert samples['edge_tokens_total{model="chat",type="prompt"}'] == 22
        assert samples['edge_cost_usd_total{model="chat"}'] == 1.75
        assert samples['edge_request_duration_seconds_bucket{le="0.025",model="chat"}'] == 3
        assert samples['edge_request_duration_seconds_bucket{le="2.5",model="chat"}'] == 4
        assert samples['edge_request_duration_seconds_count{model="chat"}'] == 4
        assert samples["edge_inflight_requests"] == 3  # livesum
        assert samples['edge_store_up{side="reads"}'] == 0  # livemin
        assert samples['edge_store_up{side="writes"}'] == 1
        assert samples['edge_ledger_spooled_rows{where="spool"}'] == 5
        assert samples['edge_ledger_spooled_rows{where="fallback_spool"}'] == 2
    # A third worker (another pid) publishes, then is killed: its counts stay, its gauges go.
    gone = Metrics(["chat"])
    gone.add(_record("chat", prompt_tokens=1, latency_ms=1.0))
    gone.inflight[0] += 4
    gone.store_state("writes", False)
    SharedFolder(tmp_path, 4242).publish(gone.families)
    samples = _samples(one)
    assert (samples['edge_requests_total{model="chat",provider="up",status="200"}'], samples["edge_inflight_requests"], samples['edge_store_up{side="writes"}']) == (5, 7, 0)
    mark_dead(tmp_path, 4242)
    for metrics in (one, two):
        samples = _samples(metrics)
        assert samples['edge_requests_total{model="chat",provider="up",status="200"}'] == 5
        assert samples['edge_tokens_total{model="chat",type="prompt"}'] == 23
        assert samples["edge_inflight_requests"] == 3
        assert samples['edge_store_up{side="writes"}'] == 1


def test_a_worker_that_stops_writes_its_counts_and_takes_its_gauges_along(tmp_path: Path) -> None:
    one, two = Metrics(["chat"], tmp_path), Metrics(["chat"], tmp_path)
    one.publish()
    two.add(_record("chat"))
    two.inflight[0] += 5
    two.store_state("writes", False)
    two.publish()
    two.add(_record("chat"))  # after its last tick: close() writes it
    two.close()
    two.add(_record("chat"))  # after close: never written
    two.publish()
    samples = _samples(one)
    assert samples['edge_requests_total{model="chat",provider="up",status="200"}'] == 2
    assert samples["edge_inflight_requests"] == 0
    assert samples['edge_store_up{side="writes"}'] == 1
    assert [p.name.split("-")[0] for p in sorted(tmp_path.iterdir())] == ["counts", "counts", "live"]


def test_dead_workers_counts_fold_into_one_file_and_count_once(tmp_path: Path) -> None:
    requests = 'edge_requests_total{model="chat",provider="up",status="200"}'
    prompt = 'edge_tokens_total{model="chat",type="prompt"}'
    scraper = Metrics(["chat"], tmp_path)
    for pid in (1001, 1002, 1003):  # three other workers, as their files say
        worker = Metrics(["chat"])
        worker.add(_record("chat", prompt_tokens=pid - 1000, latency_ms=30.0))
        worker.inflight[0] += 1
        SharedFolder(tmp_path, pid).publish(worker.families)
    samples = _samples(scraper)
    assert (samples[requests], samples[prompt], samples["edge_inflight_requests"]) == (3, 6, 3)
    first = next(tmp_path.glob("counts-1001-*.json"))
    before_fold = first.read_bytes()
    mark_dead(tmp_path, 1001)
    mark_dead(tmp_path, 1002)
    assert sorted(p.name.split("-")[0] for p in tmp_path.iterdir()) == ["counts", "live", "retired.json"]
    samples = _samples(scraper)
    assert (samples[requests], samples[prompt], samples["edge_inflight_requests"]) == (3, 6, 1)
    assert samples['edge_request_duration_seconds_bucket{le="0.05",model="chat"}'] == 3
    # A scrape that listed a file before its fold and reads retired.json after it: counted once.
    first.write_bytes(before_fold)
    assert _samples(scraper)[prompt] == 6
