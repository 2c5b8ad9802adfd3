"""The state store's write-ahead log is checkpointed by a thread of its own, never inside a
commit on the event loop (controller/store.py, ``_WalCheckpointer``), and the agent-wide row
the checkpointer writes is exactly ``export_meta`` whatever the random generator did."""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

import controller.store as store_mod
from controller.store import Change, StateStore
from dysco_proto.checkpoint import export_meta
from tests.controller.test_state_store import _config, _daemon, _syn
from tests.controller_support import until

ROW = "x" * 8000  # three pages: 400 commits are past SQLite's automatic checkpoint (1,000 pages)


def _commit_rows(store: StateStore, first: int, n: int) -> None:
    for i in range(first, first + n):
        store.commit(Change(hops_put=[(i, json.dumps({"row": i, "pad": ROW}))]))


def _rows_in_main_file(path: Path, tmp: Path) -> int:
    """Rows the database file holds by itself (what was checkpointed out of the log)."""
    copy = tmp / "main-only.sqlite"
    shutil.copyfile(path, copy)  # without its -wal: only checkpointed pages
    db = sqlite3.connect(str(copy))
    try:
        if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'hops'").fetchone() is None:
            return 0  # even the schema is still in the log only
        return int(db.execute("SELECT count(*) FROM hops").fetchone()[0])
    finally:
        db.close()


def _log_frames(path: Path) -> int:
    db = sqlite3.connect(str(path), isolation_level=None)
    try:
        return int(db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()[0][1])
    finally:
        db.close()


def test_commits_never_checkpoint_the_log_the_thread_does(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.state.sqlite")
    store.open()
    try:
        ck = store._checkpointer
        assert ck is not None
        ck.paused = True  # this test runs its steps itself
        pages = store.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
        assert pages == store_mod.COMMIT_CHECKPOINT_PAGES > 1200
        _commit_rows(store, 0, 400)
        # past 1,000 log pages and still nothing copied into the database file by a commit
        assert _rows_in_main_file(store.path, tmp_path) == 0
        ck.step()
        assert ck.checkpoints == 1
        assert _rows_in_main_file(store.path, tmp_path) == 400
    finally:
        store.close()


def test_a_log_the_thread_never_catches_up_with_is_checkpointed_by_a_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bound: a commit past ``COMMIT_CHECKPOINT_PAGES`` log pages checkpoints what is left
    itself and the log starts over (here the thread never runs)."""
    monkeypatch.setattr(store_mod, "COMMIT_CHECKPOINT_PAGES", 64)
    store = StateStore(tmp_path / "s.state.sqlite")
    store.open()
    try:
        ck = store._checkpointer
        assert ck is not None
        ck.paused = True
        _commit_rows(store, 0, 100)  # ~300 pages: past the bound several times
        assert ck.checkpoints == 0
        assert _log_frames(store.path) < 64  # started over
        assert _rows_in_main_file(store.path, tmp_path) > 0
    finally:
        store.close()
    # nothing lost by the checkpoints
    again = StateStore(tmp_path / "s.state.sqlite")
    again.open()
    try:
        assert again.db.execute("SELECT count(*) FROM hops").fetchone()[0] == 100
    finally:
        again.close()


def test_the_thread_checkpoints_after_commits_and_stops_with_the_store(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.state.sqlite")
    store.open()
    ck = store._checkpointer
    assert ck is not None
    _commit_rows(store, 0, 5)

    async def checkpointed() -> None:
        await until(lambda: ck.checkpoints >= 1, timeout=30)

    asyncio.run(checkpointed())
    assert _rows_in_main_file(store.path, tmp_path) == 5
    store.close()
    assert not ck._thread.is_alive()
    assert store._checkpointer is None


def test_the_stored_agent_row_is_export_meta_whether_or_not_the_rng_moved(
    tmp_path: Path,
) -> None:
    """The random generator's part of the row is re-encoded only when it moved; the row must
    still be exactly the agent's export after every commit."""
    cfg_path = _config(tmp_path)

    async def main() -> None:
        d = _daemon(cfg_path)
        try:
            for i in range(6):
                d.dispatch(_syn(10000 + i))
                if i % 2:
                    d.agent._rng.getrandbits(32)  # as a box host's pending tag does
                d.flush_store()
                row = d.store.db.execute("SELECT v FROM meta WHERE k = 'agent'").fetchone()[0]
                assert json.loads(row) == export_meta(d.agent)
        finally:
            d.store.close()

    asyncio.run(main())
