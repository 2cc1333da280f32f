"""Metric families as plain numbers, written out in the Prometheus text format (version 0.0.4).

Format: https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format. A family
maps a tuple of label values (in the order of its label names) to a series: a list of floats the
caller changes in place, a counter's or gauge's ``[value]`` and a histogram's ``[count in each
bucket ..., count above the last bound (+Inf), sum]``. Bucket counts are kept per bucket and made
cumulative only when written out, so an observation is one bisect and two additions. There is no
lock: a worker changes its numbers on its event loop thread only.

The text is what prometheus_client's ``generate_latest`` wrote for the same numbers (label names
sorted, ``le`` among them; numbers as Go prints them; ``_total`` on counters; ``_bucket``,
``_count``, ``_sum`` on histograms), without the ``_created`` samples: those were a second series
per counter and histogram in a single worker, never written with several workers (multiprocess
mode has none), and read by no dashboard.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable
from typing import Literal

__all__ = ["Family", "observe", "render"]

Kind = Literal["counter", "gauge", "histogram"]
# How the gauges of several workers add up (prometheus_client's multiprocess_mode names): over
# the workers alive now, summed or the lowest. Counters and histograms are summed over every
# worker that ever ran.
Mode = Literal["", "livesum", "livemin"]


class Family:
    __slots__ = ("bounds", "documentation", "kind", "labelnames", "mode", "name", "series", "_les")

    def __init__(self, kind: Kind, name: str, documentation: str, labelnames: Iterable[str] = (), bounds: Iterable[float] = (), mode: Mode = "") -> None:
        self.kind, self.name, self.documentation, self.mode = kind, name, documentation, mode
        self.labelnames = tuple(labelnames)
        self.bounds = tuple(float(b) for b in bounds)  # histograms: upper bounds, +Inf implied
        self._les = (*(_number(b) for b in self.bounds), "+Inf")
        self.series: dict[tuple[str, ...], list[float]] = {}
        if not self.labelnames:  # the one series exists from the start (as in prometheus_client)
            self.series[()] = self.new()

    def new(self) -> list[float]:
        return [0.0] * (len(self.bounds) + 2) if self.kind == "histogram" else [0.0]

    def labels(self, *values: str) -> list[float]:
        series = self.series.get(values)
        if series is None:
            series = self.series[values] = self.new()
        return series

    def copy(self) -> Family:
        twin = Family(self.kind, self.name, self.documentation, self.labelnames, self.bounds, self.mode)
        twin.series = {labels: list(series) for labels, series in self.series.items()}
        return twin

    def absorb(self, labels: tuple[str, ...], other: list[float]) -> None:
        """Add another worker's series to this one: summed, or the lowest for a livemin gauge."""
        mine = self.series.get(labels)
        if mine is None:
            self.series[labels] = list(other)
        elif self.mode == "livemin":
            mine[0] = min(mine[0], other[0])
        else:
            for i, value in enumerate(other):
                mine[i] += value

    def text(self, out: list[str]) -> None:
        name = self.name + "_total" if self.kind == "counter" else self.name
        documentation = self.documentation.replace("\\", r"\\").replace("\n", r"\n")
        out.append(f"# HELP {name} {documentation}\n# TYPE {name} {self.kind}\n")
        for labels, series in self.series.items():
            pairs = sorted(zip(self.labelnames, labels))
            if self.kind != "histogram":
                out.append(f"{name}{_braced(pairs)} {_number(series[0])}\n")
                continue
            head = "".join(f'{k}="{_escape(v)}",' for k, v in pairs if k < "le")
            tail = "".join(f',{k}="{_escape(v)}"' for k, v in pairs if k > "le")
            total = 0.0
            for le, count in zip(self._les, series):
                total += count
                out.append(f'{name}_bucket{{{head}le="{le}"{tail}}} {_number(total)}\n')
            braced = _braced(pairs)
            out.append(f"{name}_count{braced} {_number(total)}\n{name}_sum{braced} {_number(series[-1])}\n")


def observe(family: Family, series: list[float], value: float) -> None:
    """One observation into a histogram's series (the bucket is the first bound >= value)."""
    series[bisect_left(family.bounds, value)] += 1
    series[-1] += value


def render(families: Iterable[Family]) -> bytes:
    out: list[str] = []
    for family in families:
        family.text(out)
    return "".join(out).encode()


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _braced(pairs: list[tuple[str, str]]) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs) + "}" if pairs else ""


def _number(value: float) -> str:
    """A float as Go's strconv prints it, as Prometheus's own clients write samples."""
    value = float(value)
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    text = repr(value)
    dot = text.find(".")
    if value > 0 and dot > 6:  # Go switches to an exponent sooner than Python
        mantissa = f"{text[0]}.{text[1:dot]}{text[dot + 1:]}".rstrip("0.")
        return f"{mantissa}e+{dot - 1:02d}"
    return text
