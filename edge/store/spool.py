"""The ledger's spool: batches the store could not take, on local disk until it can.

One file per worker process, ``ledger-<ns>-<pid>-<rand>.spool`` in the spool folder, created
when the worker first needs it and locked by it (flock(2), so the lock goes when the process
does, kill -9 included). It starts with ``EDGESPOOL1\\n``; then frames, each a 4-byte big-endian
length, a 4-byte CRC-32 and a msgpack ``[batch id, [UsageRecord, ...]]``. Frames are only ever
appended, one write and one fsync per batch (the ledger writes a batch every 0.5 s at most, so
this is a few fsyncs a second), and an append that fails half-way is cut off again, so a file
is always whole frames, apart from a last frame torn by a crash, which a reader drops.

Replay reads frames in the order they were written; the batch ids (edge.store.batches) make a
frame sent twice, after a crash between its commit and the file's removal, land once. A file
that is fully replayed is deleted. A file whose owner is gone (its lock is free) is an orphan:
any worker of the host adopts it, oldest first, and replays it when the store takes rows.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import struct
import time
import zlib
from collections.abc import Collection
from pathlib import Path

import msgspec

from ..accounting import UsageRecord

__all__ = ["Frame", "OrphanSpool", "SpoolFile", "decode_frame", "encode_frame", "find_orphans", "read_spool"]

MAGIC = b"EDGESPOOL1\n"
_HEAD = struct.Struct(">III")  # payload length, CRC-32 of the payload, rows in the batch
_MAX_FRAME = 256 * 1024 * 1024  # a length above this is a torn or foreign file, not a frame


class _Batch(msgspec.Struct, array_like=True):
    batch_id: str
    records: list[UsageRecord]


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(_Batch)


class Frame(msgspec.Struct, frozen=True):
    """One batch as it sits in a spool: its id, its row count and its bytes on disk."""

    batch_id: str
    rows: int
    data: bytes


def encode_frame(batch_id: str, records: list[UsageRecord]) -> Frame:
    payload = _encoder.encode(_Batch(batch_id, records))
    return Frame(batch_id, len(records), _HEAD.pack(len(payload), zlib.crc32(payload), len(records)) + payload)


def decode_frame(frame: Frame) -> list[UsageRecord]:
    return _decoder.decode(memoryview(frame.data)[_HEAD.size :]).records


def _read_frames(fd: int, offset: int, end: int, limit: int) -> list[tuple[Frame, int]]:
    """Up to ``limit`` whole frames from ``offset`` (before ``end``), each with the offset after
    it; stops at a torn or damaged frame, which only a crash mid-append leaves (at the end)."""
    found: list[tuple[Frame, int]] = []
    while len(found) < limit and offset + _HEAD.size <= end:
        head = os.pread(fd, _HEAD.size, offset)
        if len(head) < _HEAD.size:
            break
        length, crc, _ = _HEAD.unpack(head)
        after = offset + _HEAD.size + length
        if length > _MAX_FRAME or after > end:
            break
        payload = os.pread(fd, length, offset + _HEAD.size)
        if len(payload) < length or zlib.crc32(payload) != crc:
            break
        try:
            batch = _decoder.decode(payload)
        except msgspec.DecodeError:
            break
        found.append((Frame(batch.batch_id, len(batch.records), head + payload), after))
        offset = after
    return found


def _count_rows(fd: int, offset: int, end: int) -> int:
    """Rows in the frames from ``offset``, from their heads alone (a quick look, not a check)."""
    rows = 0
    while offset + _HEAD.size <= end:
        head = os.pread(fd, _HEAD.size, offset)
        length, _, count = _HEAD.unpack(head)
        if length > _MAX_FRAME or offset + _HEAD.size + length > end:
            break
        rows += count
        offset += _HEAD.size + length
    return rows


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SpoolFile:
    """This worker's own spool file. Blocking calls: run them off the event loop."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path: Path | None = None
        self._fd = -1
        self._end = 0  # bytes of whole frames written
        self._read = 0  # bytes replayed
        self.rows = 0  # rows written and not yet replayed

    @property
    def pending(self) -> bool:
        return self._fd >= 0 and self._read < self._end

    def _create(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"ledger-{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(3)}.spool"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.write(fd, MAGIC) != len(MAGIC):
                raise OSError("short write of the spool header")
            os.fsync(fd)
            _fsync_dir(self.folder)  # the file's name must survive a crash too
        except BaseException:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise
        self.path, self._fd, self._end, self._read = path, fd, len(MAGIC), len(MAGIC)

    def append(self, frames: list[Frame]) -> None:
        """Write frames and fsync them; on an error (a full disk) nothing of them stays."""
        if self._fd < 0:
            self._create()
        data = b"".join(f.data for f in frames)
        try:
            written = 0
            while written < len(data):
                written += os.pwrite(self._fd, data[written:], self._end + written)
            os.fsync(self._fd)
        except BaseException:
            try:
                os.ftruncate(self._fd, self._end)  # frees blocks: works on a full disk too
            except OSError:
                pass  # a torn tail is dropped by any reader
            raise
        self._end += len(data)
        self.rows += sum(f.rows for f in frames)

    def unreplayed(self, limit: int) -> list[tuple[Frame, int]]:
        """Up to ``limit`` frames not replayed yet, each with the offset after it."""
        return _read_frames(self._fd, self._read, self._end, limit) if self.pending else []

    def replayed(self, frame: Frame, offset: int) -> None:
        self._read = offset
        self.rows -= frame.rows

    def discard(self) -> None:
        """Everything was replayed: remove the file (the next spool starts a new one)."""
        if self._fd < 0:
            return
        assert self.path is not None
        self.path.unlink(missing_ok=True)
        os.close(self._fd)
        self.path, self._fd, self._end, self._read, self.rows = None, -1, 0, 0, 0

    def set_aside(self) -> None:
        """The rest cannot be read back: keep the file as ``.spool-damaged`` (never adopted,
        never deleted) and start a new one when needed."""
        if self._fd < 0:
            return
        assert self.path is not None
        self.path.rename(self.path.with_suffix(".spool-damaged"))
        os.close(self._fd)
        self.path, self._fd, self._end, self._read, self.rows = None, -1, 0, 0, 0

    def close(self) -> None:
        """Stop writing; a file with rows left stays for the next worker to adopt."""
        if self._fd >= 0 and not self.pending:
            self.discard()
        elif self._fd >= 0:
            os.close(self._fd)
            self.path, self._fd = None, -1


class OrphanSpool:
    """A spool file left by a worker that is gone, locked by us while we replay it."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd = fd
        self._end = os.fstat(fd).st_size
        self.foreign = os.pread(fd, len(MAGIC), 0) != MAGIC  # not a spool of ours: set aside, never read
        self._read = self._end if self.foreign else len(MAGIC)
        self.rows = _count_rows(fd, self._read, self._end)
        self.writer_pid = _writer_pid(path)

    def unreplayed(self, limit: int) -> list[tuple[Frame, int]]:
        return _read_frames(self._fd, self._read, self._end, limit)

    def replayed(self, frame: Frame, offset: int) -> None:
        self._read = offset
        self.rows -= frame.rows

    @property
    def torn_bytes(self) -> int:
        """Bytes after the last whole frame (once every frame was replayed)."""
        return self._end - self._read

    def discard(self) -> None:
        if self.foreign:
            self.path.rename(self.path.with_suffix(".spool-foreign"))
        else:
            self.path.unlink(missing_ok=True)
        self.release()

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _writer_pid(path: Path) -> int | None:
    parts = path.stem.split("-")
    return int(parts[2]) if len(parts) == 4 and parts[2].isdigit() else None


def find_orphans(folder: Path, own: Collection[Path] = ()) -> list[OrphanSpool]:
    """Spool files in ``folder`` whose writer is gone (not in ``own``), oldest first, each locked for us."""
    try:
        names = sorted(p for p in folder.glob("ledger-*.spool") if p not in own)
    except OSError:
        return []
    found = []
    for path in names:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except OSError:  # replayed and removed by another worker since the listing
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # its writer (or another adopter) holds it
            os.close(fd)
            continue
        if os.fstat(fd).st_nlink == 0:  # removed while we waited for it: already replayed
            os.close(fd)
            continue
        found.append(OrphanSpool(path, fd))
    return found


def read_spool(path: Path) -> list[Frame]:
    """The whole frames of a spool file, without locking it (for inspection and tests)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if os.pread(fd, len(MAGIC), 0) != MAGIC:
            return []
        return [frame for frame, _ in _read_frames(fd, len(MAGIC), os.fstat(fd).st_size, 1 << 30)]
    finally:
        os.close(fd)
