"""The spool over two folders (edge.store.spool_chain): where the fallback folder is, and how
batches move to it and back in order. A spool folder that cannot be written is made here by a
file standing where its folder should be (every append then fails with an OSError, as on a
full disk; the full-disk case itself is tests/edge/store/test_sqlite_full_disk.py)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from edge.accounting import UsageRecord
from edge.store.spool import Frame, decode_frame, encode_frame, read_spool
from edge.store.spool_chain import SpoolChain, fallback_folder


def _frame(rid: str) -> list[Frame]:
    return [encode_frame(f"b-{rid}", [UsageRecord(request_id=rid, ts=0.0, public_model="m", status=200)])]


def test_fallback_folder_setting(tmp_path: Path) -> None:
    primary = tmp_path / "edge.db.spool"
    assert fallback_folder("off", primary, tmp_path) is None
    assert fallback_folder("OFF", primary, tmp_path) is None
    assert fallback_folder("/srv/spool2", primary, tmp_path) == Path("/srv/spool2")
    assert fallback_folder("spool2", primary, tmp_path) == tmp_path / "spool2"
    auto = fallback_folder("", primary, tmp_path)
    own = os.stat(tmp_path).st_dev
    if auto is not None:  # another filesystem than the spool's, named after the spool folder
        assert os.stat(auto.parent).st_dev != own and auto.name.startswith("edge-spool-")
        assert auto.parent in (Path(tempfile.gettempdir()), Path("/dev/shm"))
        assert fallback_folder("", tmp_path / "other.spool", tmp_path) != auto
    else:  # both candidates share the spool's filesystem: no point, no fallback
        assert os.stat(tempfile.gettempdir()).st_dev == own


def test_batches_move_to_the_fallback_and_back_in_order(tmp_path: Path) -> None:
    blocker = tmp_path / "blocked"
    primary, fallback = blocker / "spool", tmp_path / "fallback"
    chain = SpoolChain(primary, fallback)
    assert chain.append(_frame("1")) == "spool"
    blocker.rename(tmp_path / "moved")  # the spool folder is gone: appends to it fail
    blocker.write_text("not a folder")
    assert chain.append(_frame("2")) == "spool"  # the open file still takes them
    chain.files[0]._fd, saved = os.open(os.devnull, os.O_RDONLY), chain.files[0]._fd  # that file now refuses writes
    assert chain.append(_frame("3")) == "fallback_spool"
    assert chain.append(_frame("4")) == "fallback_spool"  # stays there
    os.close(chain.files[0]._fd)
    chain.files[0]._fd = saved
    assert chain.rows().spool == 2 and chain.rows().fallback_spool == 2
    assert [f.folder for f in chain.files] == [primary, fallback]
    chain.close()  # a worker that stops with rows left: its files are orphans for the next one
    blocker.unlink()
    (tmp_path / "moved").rename(blocker)
    orphans = SpoolChain(primary, fallback).find_orphans()
    assert [o.path.parent for o in orphans] == [primary, fallback]  # the order they were written
    ids = [r.request_id for o in orphans for f in read_spool(o.path) for r in decode_frame(f)]
    assert ids == ["1", "2", "3", "4"]
    for o in orphans:
        o.release()


def test_both_folders_refusing_raises_naming_both(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("")
    (tmp_path / "b").write_text("")
    chain = SpoolChain(tmp_path / "a" / "spool", tmp_path / "b" / "spool")
    try:
        chain.append(_frame("1"))
    except OSError as exc:
        assert "spool:" in str(exc) and "fallback_spool:" in str(exc), exc
    else:
        raise AssertionError("an append no folder took must raise")
    assert not chain.files
