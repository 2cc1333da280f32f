"""Every worker's numbers through the supervisor's shared folder, merged when one is scraped.

With ``--workers N`` each worker counts in its own memory (edge.metrics._families) and, on a
timer off the request path (PUBLISH_S), writes what it has to two files of its own, each whole
and atomically (a temporary file renamed over the last one), and only when it changed:

- ``counts-<pid>-<token>.json``: counters and histograms. They stay when the worker is gone, so
  a dead worker's requests stay counted, as prometheus_client's multiprocess mode kept them.
- ``live-<pid>-<token>.json``: gauges (in flight, store up, spooled rows), which count only while
  the worker lives: a worker that stops removes its file itself (``SharedFolder.retire``), and
  the supervisor removes a killed one's (``mark_dead``).
- ``retired.json``: the counts of every worker that is gone, folded into one file by the
  supervisor (``mark_dead``), so the folder and each scrape's reads stay the size of the live
  workers however often workers are restarted. It names the files it absorbed; a scrape reads it
  last and skips those, so a scrape during a fold counts each worker once.

A scrape merges the serving worker's numbers as they are now with every other file, so another
worker's requests show up at most one tick late. What a worker counted after its last tick is
lost if it is killed (SIGKILL, the OOM killer); one that stops on SIGTERM writes on its way out.
The token keeps a new worker that gets a dead one's pid from writing over its counts.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from edge.fastpath import jsonio

from ._families import Family

__all__ = ["PUBLISH_S", "SharedFolder", "mark_dead"]

log = logging.getLogger("edge.metrics")

PUBLISH_S = 0.5
_COUNTS, _LIVE, _SUFFIX, _RETIRED = "counts-", "live-", ".json", "retired.json"
# Names of absorbed files retired.json keeps: the last few are enough, as a file it names is
# deleted right after the fold, and no scrape spans that many worker deaths.
_ABSORBED_KEPT = 256


def mark_dead(folder: str | Path, pid: int) -> None:
    """A worker that is gone: its gauges leave the aggregate, its counts stay, folded into
    retired.json (the supervisor calls this for every worker that exits, as it called
    prometheus_client's mark_process_dead before)."""
    folder = Path(folder)
    dead = []
    for entry in os.scandir(folder):
        name = entry.name
        if name.startswith((f"{_LIVE}{pid}-", f".{_LIVE}{pid}-", f".{_COUNTS}{pid}-")):
            _unlink(entry.path)
        elif name.startswith(f"{_COUNTS}{pid}-") and name.endswith(_SUFFIX):
            dead.append(Path(entry.path))
    if dead:
        _fold(folder, dead)


def _fold(folder: Path, dead: list[Path]) -> None:
    archive = folder / _RETIRED
    try:
        kept = jsonio.loads(archive.read_bytes())
    except FileNotFoundError:
        kept = {"absorbed": [], "counts": {}}
    totals: dict[tuple[str, tuple[str, ...]], list[float]] = {}
    for payload in (kept["counts"], *(_read(path) for path in dead)):
        for name, rows in (payload or {}).items():
            for labels, series in rows:
                if None in series:
                    continue  # NaN or Inf, which JSON cannot hold
                mine = totals.setdefault((name, tuple(labels)), [0.0] * len(series))
                if len(mine) == len(series):
                    for i, value in enumerate(series):
                        mine[i] += value
    counts: dict[str, list[Any]] = {}
    for (name, labels), series in totals.items():
        counts.setdefault(name, []).append([labels, series])
    absorbed = [*kept["absorbed"], *(path.name for path in dead)][-_ABSORBED_KEPT:]
    temporary = folder / ("." + _RETIRED)
    temporary.write_bytes(jsonio.dumps({"absorbed": absorbed, "counts": counts}))
    os.replace(temporary, archive)
    for path in dead:
        _unlink(path)


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return jsonio.loads(path.read_bytes())
    except FileNotFoundError:
        return None  # a live file removed since the listing: its worker is gone
    except (OSError, jsonio.JSONDecodeError) as err:
        log.warning("metrics: skipped %s (%s)", path.name, err)
        return None


def _unlink(path: str | Path) -> None:
    try:
        os.unlink(path)
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
                    # JSON has no NaN or Inf (orjson writes null): such a series is left out.
                    if len(labels) == len(family.labelnames) and len(series) == width and None not in series:
                        family.absorb(tuple(labels), series)
        return out

    def _others(self) -> list[dict[str, Any]]:
        mine = {self._counts.name, self._live.name}
        try:
            entries = list(os.scandir(self.folder))
        except OSError:
            return []
        found = []
        for entry in entries:
            name = entry.name
            if name not in mine and name.endswith(_SUFFIX) and name.startswith((_COUNTS, _LIVE)):
                payload = _read(Path(entry.path))
                if payload is not None:
                    found.append((name, payload))
        # Last: a file folded in since it was read above is named here, and skipped.
        retired = _read(self.folder / _RETIRED)
        if retired is None:
            return [payload for _, payload in found]
        absorbed = set(retired["absorbed"])
        return [*(payload for name, payload in found if name not in absorbed), retired["counts"]]

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
