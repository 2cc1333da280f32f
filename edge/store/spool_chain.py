"""The ledger's spool files across two folders, in the order they were written.

The spool folder (``state.spool_dir``) sits by default beside a SQLite ledger, so a full disk
takes the ledger and its spool at once. A second folder on another filesystem
(``state.spool_fallback_dir``, see ``fallback_folder``) takes the batches then: an append the
spool folder refuses (ENOSPC, EIO, EROFS, EACCES: any OSError) goes to a new spool file in the
other folder, and later appends follow it there until that one refuses too. Only when both
refuse do rows wait in memory (edge.ledger).

Each switch starts a new file (edge.store.spool.SpoolFile), never an older one again, so the
files of one worker, oldest first, hold its batches in the order written; replay takes them
file by file. File names start with their creation time, so a worker that adopts the files of
one that is gone sorts the two folders' orphans by name and replays them in the same order.
Each batch is written once to one file; its id makes a replay sent twice land once.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import msgspec

from .spool import Frame, OrphanSpool, SpoolFile, find_orphans

__all__ = ["FALLBACK_OFF", "SpoolChain", "SpoolRows", "fallback_folder"]

FALLBACK_OFF = ("off", "none", "false")
# Tried in order for the automatic fallback: the system temp folder (usually a disk that
# survives a reboot), then /dev/shm (memory: survives a worker's death, not the host's).
_AUTO_CANDIDATES = (tempfile.gettempdir, lambda: "/dev/shm")


class SpoolRows(msgspec.Struct, frozen=True):
    """Rows waiting on disk, by folder (for /readyz and edge_ledger_spooled_rows{where})."""

    spool: int = 0
    fallback_spool: int = 0


def _device(path: Path) -> int | None:
    """The filesystem of ``path`` or of its nearest existing parent (the folder may not exist yet)."""
    for p in (path, *path.parents):
        try:
            return os.stat(p).st_dev
        except OSError:
            continue
    return None


def fallback_folder(setting: str, primary: Path, base: Path) -> Path | None:
    """The fallback spool folder for ``state.spool_fallback_dir``.

    A path (relative to ``base``, the config's folder) is used as given; ``off`` turns the
    fallback off; empty picks the first of the temp folder and /dev/shm that is writable and on
    another filesystem than ``primary``, in a folder named after ``primary`` (two gateways of a
    host never adopt each other's rows), or none when both share the primary's filesystem."""
    if setting.strip().lower() in FALLBACK_OFF:
        return None
    if setting:
        path = Path(setting)
        return path if path.is_absolute() else base / path
    own = _device(primary)
    tag = hashlib.sha256(str(primary.absolute()).encode()).hexdigest()[:12]
    for candidate in _AUTO_CANDIDATES:
        root = Path(candidate())
        try:
            if not os.path.isdir(root) or not os.access(root, os.W_OK | os.X_OK) or os.stat(root).st_dev == own:
                continue
        except OSError:
            continue
        return root / f"edge-spool-{tag}"
    return None


class SpoolChain:
    """This worker's spool files, oldest first, over the spool folder and its fallback.
    Blocking calls: run them off the event loop."""

    def __init__(self, primary: Path, fallback: Path | None = None) -> None:
        self.primary = primary
        self.fallback = fallback if fallback != primary else None
        self.files: list[SpoolFile] = []  # oldest first; appends go to the last

    def where(self, folder: Path) -> str:
        return "fallback_spool" if self.fallback is not None and folder == self.fallback else "spool"

    @property
    def pending(self) -> bool:
        return any(f.pending for f in self.files)

    @property
    def open(self) -> bool:
        return bool(self.files)

    def _folders(self) -> list[Path]:
        """Where to try an append, in order: the folder of the last file first."""
        folders = [self.primary] if self.fallback is None else [self.primary, self.fallback]
        if self.files and self.files[-1].folder != folders[0]:
            folders.reverse()
        return folders

    def append(self, frames: list[Frame]) -> str:
        """Write frames to the last file, else to a new file in the other folder; which folder
        took them ("spool" or "fallback_spool"). Raises OSError (naming both) when none did."""
        errors: list[str] = []
        for folder in self._folders():
            last = self.files[-1] if self.files and self.files[-1].folder == folder else None
            target = last if last is not None else SpoolFile(folder)
            try:
                target.append(frames)
            except OSError as exc:
                errors.append(f"{self.where(folder)}: {os.strerror(exc.errno) if exc.errno else type(exc).__name__}")
                if last is None and target.path is not None:
                    try:
                        target.discard()  # the file made for these frames holds none of them
                    except OSError:
                        pass
                continue
            if last is None:
                self.files.append(target)
            return self.where(folder)
        raise OSError(0, "; ".join(errors))

    def head(self) -> SpoolFile | None:
        """The oldest file with batches not replayed; files fully replayed before it are removed
        (the last one stays open for the next append)."""
        while self.files and not self.files[0].pending and len(self.files) > 1:
            self.files.pop(0).discard()
        return self.files[0] if self.files and self.files[0].pending else None

    def drop_head(self) -> None:
        """The head's rest cannot be read back: it was set aside (edge.store.spool)."""
        self.files.pop(0)

    def discard(self) -> None:
        """Everything was replayed: remove the files."""
        while self.files:
            self.files.pop(0).discard()

    def rows(self) -> SpoolRows:
        spool = sum(f.rows for f in self.files if self.where(f.folder) == "spool")
        return SpoolRows(spool, sum(f.rows for f in self.files) - spool)

    def find_orphans(self) -> list[OrphanSpool]:
        """Files of workers that are gone, in both folders, oldest first."""
        own = {f.path for f in self.files if f.path is not None}
        found = [o for folder in (self.primary, self.fallback) if folder is not None for o in find_orphans(folder, own)]
        return sorted(found, key=lambda o: o.path.name)

    def close(self) -> None:
        """Stop writing; files with rows left stay for the next worker to adopt."""
        for f in self.files:
            f.close()
        self.files.clear()
