"""Every worker's numbers through the supervisor's shared folder, merged when one is scraped.

With ``--workers N`` each worker counts in its own memory (edge.metrics._families) and, on a
timer off the request path (PUBLISH_S), writes what it has to two files of its own, each whole
and atomically (a temporary file renamed over the last one), and only when it changed:

- ``counts-<pid>-<token>.json``: counters and histograms. They stay when the worker is gone, so
  a dead worker's requests stay counted, as prometheus_client's multiprocess mode kept them.
- ``live-<pid>-<token>.json``: gauges (in flight, store up, spooled rows), which count only while
  the worker lives: a worker that stops removes its file itself (``SharedFolder.retire``), and
  the supervisor removes a killed one's (``mark_dead``).

A scrape merges the serving worker's numbers as they are now with every other file, so another
worker's requests show up at most one tick late. What a worker counted after its last tick is
lost if it is killed (SIGKILL, the OOM killer); one that stops on SIGTERM writes on its way out.
The token keeps a new worker that gets a dead one's pid from writing over its counts.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from edge.fastpath import jsonio

from ._families import Family

__all__ = ["PUBLISH_S", "SharedFolder", "mark_dead"]

log = logging.getLogger("edge.metrics")

PUBLISH_S = 0.5
_COUNTS, _LIVE, _SUFFIX = "counts-", "live-", ".json"


def mark_dead(folder: str | Path, pid: int) -> None:
    """A worker that is gone: its gauges leave the aggregate, its counts stay (the supervisor
    calls this for every worker that exits; prometheus_client's mark_process_dead did this)."""
    for entry in os.scandir(folder):
        if entry.name.startswith((f"{_LIVE}{pid}-", f".{_LIVE}{pid}-", f".{_COUNTS}{pid}-")):
            try:
                os.unlink(entry.path)
            except FileNotFoundError:
                pass


class SharedFolder:
    """One worker's files in the shared folder, and everybody else's on a scrape."""

    def __init__(self, folder: str | Path, pid: int | None = None) -> None:
        self.folder = Path(folder)
        stem = f"{os.getpid() if pid is None else pid}-{secrets.token_hex(4)}{_SUFFIX}"
        self._counts, self._live = self.folder / (_COUNTS + stem), self.folder / (_LIVE + stem)
        self._written: dict[Path, bytes] = {}
        self._failed = False

    def publish(self, families: Iterable[Family]) -> None:
        counts: dict[str, Any] = {}
        live: dict[str, Any] = {}
        for family in families:
            (live if family.kind == "gauge" else counts)[family.name] = [[labels, series] for labels, series in family.series.items()]
        self._write(self._counts, jsonio.dumps(counts))
        if live:
            self._write(self._live, jsonio.dumps(live))

    def retire(self, families: Iterable[Family]) -> None:
        """The worker stops: its counts written one last time, its gauges gone."""
        self.publish(family for family in families if family.kind != "gauge")
        try:
            self._live.unlink()
        except FileNotFoundError:
            pass

    def merged(self, families: Iterable[Family]) -> list[Family]:
        """This worker's families with every other worker's last numbers added in."""
        out = [family.copy() for family in families]
        by_name = {family.name: family for family in out}
        for payload in self._others():
            for name, rows in payload.items():
                family = by_name.get(name)
                if family is None:
                    continue  # a family this version no longer has
                width = len(family.new())
                for labels, series in rows:
                    if len(labels) == len(family.labelnames) and len(series) == width:
                        family.absorb(tuple(labels), series)
        return out

    def _others(self) -> Iterator[dict[str, Any]]:
        mine = {self._counts.name, self._live.name}
        try:
            entries = list(os.scandir(self.folder))
        except OSError:
            return
        for entry in entries:
            name = entry.name
            if name in mine or not name.endswith(_SUFFIX) or not name.startswith((_COUNTS, _LIVE)):
                continue
            try:
                with open(entry.path, "rb") as file:
                    yield jsonio.loads(file.read())
            except FileNotFoundError:
                continue  # a live file removed since the listing: its worker is gone
            except (OSError, jsonio.JSONDecodeError) as err:
                log.warning("metrics: skipped %s (%s)", name, err)

    def _write(self, path: Path, data: bytes) -> None:
        if self._written.get(path) == data:
            return
        temporary = path.with_name("." + path.name)
        try:
            temporary.write_bytes(data)
            os.replace(temporary, path)
        except OSError as err:
            if not self._failed:  # said once: a full disk must not fill the log too
                log.warning("metrics: could not write %s (%s); other workers' scrapes miss this worker's latest numbers", path, err)
            self._failed = True
            return
        self._failed = False
        self._written[path] = data
