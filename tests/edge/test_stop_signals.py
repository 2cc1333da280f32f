"""SIGTERM at any moment of a gateway's start-up stops it cleanly (edge.stopsignals, edge.serve).

Each test starts a real ``edge serve`` process and sends SIGTERM at a different moment: while
it is still importing and loading its config, while its stores and ledger writer start, just as
it starts to listen, and once it serves. Every one must exit 0 on its own within a generous
bound, and every process it started (the ledger writer shares its stderr pipe) must be gone
too: before the fix a SIGTERM during start-up killed the worker with -SIGTERM.

A signal sent before the CLI's first step (while the interpreter itself starts) still gets the
default action, so the earliest moment tested is the one where the CLI holds SIGTERM blocked.
The moments are read from /proc (signal mask, child processes): Linux only.
"""

from __future__ import annotations

import re
import signal
import sys
from pathlib import Path

import pytest

from tests.support import Mock, Proc, gateway_config, wait_for, write_config

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads signal masks from /proc")

_TERM_BIT = 1 << (signal.SIGTERM - 1)
_INT_BIT = 1 << (signal.SIGINT - 1)
EXIT_BOUND_S = 60.0  # generous: on a loaded host a start-up and a drain only take longer


def _start(tmp_path: Path, mock: Mock) -> Proc:
    path = write_config(tmp_path / "edge.yaml", gateway_config(mock.base_url, tmp_path))
    return Proc(["serve", "--config", str(path)], cwd=str(tmp_path))


def _assert_stops_cleanly(proc: Proc) -> None:
    proc.popen.send_signal(signal.SIGTERM)
    try:
        code = proc.popen.wait(EXIT_BOUND_S)
    finally:
        proc.stop(signal.SIGKILL, 10)  # a no-op for a process that exited
    assert code == 0, proc.output[-3000:]
    # The reader ends when every holder of the output pipe (the ledger writer too) is gone.
    proc._reader.join(EXIT_BOUND_S)
    assert not proc._reader.is_alive(), "a child of the gateway outlived it"
    assert "Traceback" not in proc.output, proc.output[-3000:]


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _held(pid: int) -> bool:
    """The CLI has started and holds SIGTERM and SIGINT, and only those, for the loop.

    Only those: between fork and exec the child blocks every signal for a moment (CPython's
    vfork path), and a SIGTERM sent then is not one the gateway could handle.
    """
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    mask = int(next(line.split(":\t", 1)[1] for line in status.splitlines() if line.startswith("SigBlk:")), 16)
    return mask == _TERM_BIT | _INT_BIT


# Moments of start-up, each told by something outside the process's own handling of signals,
# so that each would have caught the old worker before its handler was in place.
STAGES = {
    "cli started": lambda proc, home: _held(proc.popen.pid),
    "ledger opened": lambda proc, home: (home / "edge.db").exists(),
    "ledger writer started": lambda proc, home: bool(_children(proc.popen.pid)),
}


@pytest.mark.parametrize("stage", list(STAGES))
def test_sigterm_during_start_up_exits_zero(tmp_path: Path, mock: Mock, stage: str) -> None:
    proc = _start(tmp_path, mock)
    reached = STAGES[stage]
    try:
        wait_for(lambda: reached(proc, tmp_path) or proc.popen.poll() is not None, 30, interval=0.001, what=stage)
    except BaseException:
        proc.stop(signal.SIGKILL, 10)
        raise
    _assert_stops_cleanly(proc)
    if "serving on" not in proc.output:  # stopped before it listened: it says so
        assert "stopped before serving" in proc.output, proc.output[-3000:]


def test_sigterm_as_it_starts_to_listen_exits_zero(tmp_path: Path, mock: Mock) -> None:
    proc = _start(tmp_path, mock)
    try:
        proc.wait_for(re.compile(r"serving on http://"), 30)
    except BaseException:
        proc.stop(signal.SIGKILL, 10)
        raise
    _assert_stops_cleanly(proc)
    assert "draining" in proc.output and "stopped (pid" in proc.output, proc.output[-3000:]


def test_sigterm_to_a_starting_supervisor_exits_zero(tmp_path: Path, mock: Mock) -> None:
    path = write_config(tmp_path / "edge.yaml", gateway_config(mock.base_url, tmp_path))
    proc = Proc(["serve", "--config", str(path), "--workers", "2"], cwd=str(tmp_path))
    try:
        # The supervisor is up and has started its workers: they are starting now.
        wait_for(lambda: len(_children(proc.popen.pid)) == 2 or proc.popen.poll() is not None, 30, interval=0.001, what="two workers started")
    except BaseException:
        proc.stop(signal.SIGKILL, 10)
        raise
    _assert_stops_cleanly(proc)
