"""A PostgreSQL server of a test's own, to stop, freeze and restart (never the shared one).

``initdb`` into a fresh folder under /tmp and ``postgres`` on a free loopback port, from the
binaries under /usr/lib/postgresql/*/bin. PostgreSQL refuses to run as root, so as root the
folder is given to the ``postgres`` user and every command runs through ``runuser``; as any
other user it runs as that user. Without the binaries the test skips with the reason, except
under CI=true, where it fails (CI has them).

``freeze`` stops the postmaster and every backend of this instance with SIGSTOP (a frozen
server: connections are accepted by the kernel and never answered); ``thaw`` sends SIGCONT.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but a private PostgreSQL cannot be started: {reason}")
    pytest.skip(f"a private PostgreSQL cannot be started here: {reason}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PgInstance:
    def __init__(self) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not found:
            _unavailable("no initdb under /usr/lib/postgresql/*/bin")
        self.bin = Path(found[-1]).parent
        self.root = Path(tempfile.mkdtemp(prefix="edge-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self._as: list[str] = []
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                shutil.rmtree(self.root, ignore_errors=True)
                _unavailable("running as root and there is no 'postgres' user to run the server as")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        self.running = False
        self._log = self.root / "server.log"
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run([*self._as, str(self.bin / tool), *args], capture_output=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr.decode(errors='replace')[-2000:]}")

    def start(self, timeout: float = 30.0) -> None:
        """Start the server and return once it accepts connections.

        pg_ctl detaches the server: ``runuser`` must not stay its parent, since su and runuser
        stop themselves when their child is stopped, and would then never see it exit.
        """
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self._log), "-o", options, "-w", "-t", str(int(timeout)), "start")
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: clients are disconnected; ``immediate``: like a crash)."""
        if not self.running:
            return
        self.thaw()
        self._run("pg_ctl", "-D", str(self.data), "stop", "-m", mode, "-w", "-t", "60")
        self.running = False

    def _pids(self) -> list[int]:
        """The postmaster and every process it started (backends, checkpointer, ...)."""
        master = int((self.data / "postmaster.pid").read_text().split()[0])
        pids = [master]
        for stat in glob.glob("/proc/[0-9]*/stat"):
            try:
                fields = Path(stat).read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == master:
                pids.append(int(stat.split("/")[2]))
        return pids

    def freeze(self) -> None:
        for pid in self._pids():
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        if not self.running or not (self.data / "postmaster.pid").exists():
            return
        for pid in self._pids():
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass

    def destroy(self) -> None:
        """Stop the server however it is (frozen, running, stopped) and remove its folder."""
        try:
            master = self._pids()[0] if self.running else None
        except (OSError, ValueError, IndexError):
            master = None
        try:
            self.stop("immediate")
            stopped = True
        except Exception:
            stopped = False
        if not stopped and master is not None:  # pg_ctl could not: kill what is left, by pid
            try:
                for pid in self._pids() if (self.data / "postmaster.pid").exists() else [master]:
                    os.kill(pid, signal.SIGKILL)
            except (OSError, ValueError):
                pass
        shutil.rmtree(self.root, ignore_errors=True)
