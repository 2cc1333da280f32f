"""Child processes for the bench, and their CPU time and memory read from /proc.

A system under test is a process tree (a supervisor and its workers, or one worker). Its CPU cost
is the user+sys time of every live process in the tree plus what the root already reaped from
dead children (cutime/cstime), read before and after a load phase: the difference over the
requests served is the CPU per request, a figure that holds on a shared, noisy machine where wall
times do not.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["Child", "paused", "rss_bytes", "tree_cpu_seconds", "tree_pids"]

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def tree_pids(root: int) -> list[int]:
    """``root`` and all its descendants, by walking /proc once (ppid links)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


@contextmanager
def paused(roots: Iterable[int]) -> Iterator[None]:
    """Every process of these trees stopped (SIGSTOP) for the block, continued after.

    The systems of a run all live for the whole run; one that idles beside the system being
    measured still runs its timers (an edge worker wakes about 50 times a second: the loop-lag
    probe, key reloads, ledger flushes), and on 2 cores those wake-ups showed in the measured
    system's p99 at concurrency 1 (bench/README.md, "The c=1 p99").
    """
    stopped: list[int] = []
    try:
        for pid in [pid for root in roots for pid in tree_pids(root)]:
            try:
                os.kill(pid, signal.SIGSTOP)
            except ProcessLookupError:
                continue
            stopped.append(pid)
        yield
    finally:
        for pid in stopped:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass


def tree_cpu_seconds(root: int) -> float:
    """user+sys seconds of the whole tree, including children the root has already reaped."""
    total = 0.0
    for pid in tree_pids(root):
        fields = _stat_fields(pid)
        if fields is None:
            continue
        # After the ')' split: index 11 utime, 12 stime, 13 cutime, 14 cstime (stat fields 14-17).
        ticks = int(fields[11]) + int(fields[12])
        if pid == root:
            ticks += int(fields[13]) + int(fields[14])
        total += ticks / _TICKS
    return total


def rss_bytes(pid: int) -> int:
    """Resident set size of one process (0 when it is gone)."""
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0
    return pages * _PAGE


class Child:
    """A process started for the bench, its output kept in memory (last lines) for error reports.

    ``wait_for`` blocks until a line matching a pattern appears, which is how the runner learns
    the port a system picked.
    """

    def __init__(self, name: str, argv: list[str], env: dict[str, str] | None = None, cwd: str | None = None) -> None:
        self.name = name
        self.argv = argv
        # A new session: stopping the system signals its whole group (supervisor and workers).
        self.popen = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True)
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._drain, daemon=True, name=f"drain-{name}")
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def _drain(self) -> None:
        assert self.popen.stdout is not None
        for raw in self.popen.stdout:
            with self._cond:
                self.lines.append(raw.decode("utf-8", "replace"))
                del self.lines[:-400]  # bounded: only the tail matters for a failure report
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_for(self, pattern: re.Pattern[str], timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines:
                    found = pattern.search(line)
                    if found:
                        return found
                if self.popen.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.popen.returncode}:\n{self.tail()}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self.name}: no line matching {pattern.pattern!r} in {timeout:g} s:\n{self.tail()}")
                self._cond.wait(min(left, 0.2))

    def tail(self, n: int = 30) -> str:
        return "".join(self.lines[-n:])

    def workers(self) -> list[int]:
        """Processes that serve requests: the leaves of the tree (the root when it has none),
        not counting llm-edge's ledger writer children (edge.store.sqlite_writer)."""
        pids = [p for p in tree_pids(self.pid) if not _is_ledger_writer(p)]
        parents = {int(f[1]) for p in pids if (f := _stat_fields(p)) is not None}
        leaves = [p for p in pids if p not in parents]
        return leaves or [self.pid]

    def stop(self, timeout: float = 15.0) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        try:  # stragglers of the group (a worker still draining) must not outlive the run
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._reader.join(5)


def _is_ledger_writer(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"edge.store.sqlite_writer" in f.read()
    except OSError:
        return False
