"""The daemon's persistent state: an SQLite database in WAL mode, written incrementally.

The sans-IO core decides *what* is durable (:mod:`dysco_proto.checkpoint`: one record per
session, the agent-wide counters, the port cursors); this module only keeps it. After every
event the daemon commits, in one transaction, the sessions the event touched, the entries it
wrote or removed, the counters if they moved and the replay-window state of the peer the
event's control message came from, *before* any of the event's entry writes, packets or
control messages leave the process. So the cost of a commit follows what the event did, not
how many sessions there are, and nothing the device holds or a peer was told is unknown to
a restarted daemon.

Durability bound: with ``synchronous=NORMAL`` a committed transaction survives the process
being killed (``kill -9``, a crash): it is in the write-ahead log in the kernel's page
cache. A power loss or kernel crash may lose the transactions of the last moments before it
(they were not ``fsync``-ed); the database stays consistent (SQLite's guarantee). See
``docs/controller.md`` (Restart and persistence).

The file is created mode 0600 without following symbolic links; a path that is not a
regular file (a FIFO, a device, a symlink), a file that is not an SQLite database, or one
whose rows do not have the expected shape is refused with :class:`StoreError`; the daemon
then moves it aside and starts clean from the device.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["SCHEMA", "Loaded", "StateStore", "StoreError"]

SCHEMA = "dysco-state/1"

log = logging.getLogger(__name__)

CHECKPOINT_INTERVAL = 0.5
"""Seconds between two looks of the checkpoint thread at the write-ahead log."""

COMMIT_CHECKPOINT_PAGES = 16384
"""Log pages (64 MiB) past which a commit checkpoints the log itself, SQLite's own way: only
when the checkpoint thread never catches up (``_WalCheckpointer``)."""

_TABLES = (
    "CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS hops (id INTEGER PRIMARY KEY, data TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS entries (k TEXT PRIMARY KEY, data TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS cursors (local TEXT, peer TEXT, cursor INTEGER NOT NULL,"
    " PRIMARY KEY (local, peer))",
    "CREATE TABLE IF NOT EXISTS replay (sender TEXT PRIMARY KEY, top TEXT NOT NULL,"
    " bits TEXT NOT NULL)",
)


class StoreError(Exception):
    """The state store cannot be used (not a regular file, not a database, bad rows)."""


@dataclass
class Loaded:
    """What a previous instance left: agent meta, sessions, entries, cursors, replay state."""

    device: str | None
    meta: Any
    hops: list[Any] = field(default_factory=list)
    entries: list[Any] = field(default_factory=list)
    cursors: list[tuple[str, str, int]] = field(default_factory=list)
    replay: list[tuple[str, int, int]] = field(default_factory=list)


@dataclass
class Change:
    """One transaction's worth of changes (see :meth:`StateStore.commit`)."""

    meta: str | None = None
    hops_put: list[tuple[int, str]] = field(default_factory=list)
    hops_del: list[int] = field(default_factory=list)
    entries_put: list[tuple[str, str]] = field(default_factory=list)
    entries_del: list[str] = field(default_factory=list)
    cursors: list[tuple[str, str, int]] = field(default_factory=list)
    replay: list[tuple[str, int, int]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(
            self.meta is not None
            or self.hops_put
            or self.hops_del
            or self.entries_put
            or self.entries_del
            or self.cursors
            or self.replay
        )


def _check_regular(path: Path) -> None:
    """Create ``path`` (0600) if absent; refuse anything but a regular file of ours, without
    following a symlink and without blocking on a FIFO."""
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise StoreError(f"{path} is not a regular file")
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as e:
        raise StoreError(f"cannot open {path}: {e.strerror or e}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise StoreError(f"{path} is not a regular file")
        if st.st_uid != os.geteuid():
            raise StoreError(f"{path} is owned by another user")
        if st.st_mode & 0o077:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


class _WalCheckpointer:
    """Checkpoints the write-ahead log from a thread and a connection of its own, so that the
    commits on the event loop do not wait for them.

    SQLite's automatic checkpoint runs inside the commit that takes the log past 1,000 pages,
    on the committing connection: it copies the log into the database and ``fsync``-s both,
    which on a shared disk stalls the daemon's event loop for tens of milliseconds every few
    hundred commits. Here that threshold is :data:`COMMIT_CHECKPOINT_PAGES` and this thread
    runs a ``PASSIVE`` checkpoint (never blocks a commit; SQLite releases the interpreter lock
    while it works) whenever commits happened since the last one. The log starts over at the
    first commit after a checkpoint that copied all of it; under a steady stream of commits
    that may not happen, and then the commit that crosses the threshold checkpoints (what is
    left) itself. No ``RESTART``/``TRUNCATE`` from this thread: those block commits until the
    database file is synced, seconds on a busy disk. Durability is unchanged (a commit is in
    the log either way).
    """

    def __init__(self, path: Path, store: StateStore) -> None:
        self.path = path
        self.store = store
        self.checkpoints = 0
        # opened here, right after the store's own connection (the path was checked then)
        self._db = sqlite3.connect(
            str(path), isolation_level=None, timeout=30, check_same_thread=False
        )
        self._stop = threading.Event()
        self._seen = store.commits
        self.paused = False  # benchmarks: the commits checkpoint themselves meanwhile
        self._thread = threading.Thread(target=self._run, name="dysco-wal", daemon=True)
        self._thread.start()

    def step(self) -> None:
        """One ``PASSIVE`` checkpoint."""
        # fetchall: the statement ends, the connection holds no read lock after it
        self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        self.checkpoints += 1

    def _run(self) -> None:
        failed = False
        while not self._stop.wait(CHECKPOINT_INTERVAL):
            n = self.store.commits
            if n == self._seen or self.paused:
                continue
            self._seen = n
            try:
                self.step()
                failed = False
            except sqlite3.Error as e:
                if not failed:
                    log.warning("checkpoint of the state store %s failed: %s", self.path, e)
                failed = True

    def stop(self) -> None:
        """Stop the thread (waits for a checkpoint in progress)."""
        self._stop.set()
        self._thread.join()
        self._db.close()


class StateStore:
    """The daemon's SQLite state store (one file, plus SQLite's ``-wal`` and ``-shm``).

    The write-ahead log is checkpointed by a thread (:class:`_WalCheckpointer`), never by a
    commit."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._db: sqlite3.Connection | None = None
        self._checkpointer: _WalCheckpointer | None = None
        self.commits = 0

    def open(self) -> None:
        """Open (or create) the store; :class:`StoreError` if it is unusable."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _check_regular(self.path)
        try:
            db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        except sqlite3.Error as e:
            raise StoreError(f"cannot open {self.path}: {e}") from None
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(f"PRAGMA wal_autocheckpoint={COMMIT_CHECKPOINT_PAGES}")  # the thread's job
            for sql in _TABLES:
                db.execute(sql)
            row = db.execute("SELECT v FROM meta WHERE k = 'schema'").fetchone()
            if row is None:
                db.execute("INSERT INTO meta (k, v) VALUES ('schema', ?)", (SCHEMA,))
            elif row[0] != SCHEMA:
                raise StoreError(f"{self.path}: schema {row[0]!r}, expected {SCHEMA!r}")
        except sqlite3.Error as e:
            db.close()
            raise StoreError(f"{self.path} is not a usable state store: {e}") from None
        except StoreError:
            db.close()
            raise
        self._db = db
        for suffix in ("-wal", "-shm"):
            with contextlib.suppress(OSError):
                os.chmod(str(self.path) + suffix, 0o600, follow_symlinks=False)
        self._checkpointer = _WalCheckpointer(self.path, self)

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreError("state store not open")
        return self._db

    def load(self) -> Loaded | None:
        """What the store holds, or ``None`` if it holds no agent state. Rows are parsed as
        JSON here; their content is validated by the restore (:mod:`dysco_proto.checkpoint`)."""
        db = self.db
        try:
            meta = dict(db.execute("SELECT k, v FROM meta").fetchall())
            if "agent" not in meta:
                return None
            out = Loaded(device=meta.get("device"), meta=json.loads(meta["agent"]))
            out.hops = [json.loads(d) for (d,) in db.execute("SELECT data FROM hops ORDER BY id")]
            out.entries = [json.loads(d) for (d,) in db.execute("SELECT data FROM entries")]
            for local, peer, cursor in db.execute("SELECT local, peer, cursor FROM cursors"):
                out.cursors.append((str(local), str(peer), int(cursor)))
            for sender, top, bits in db.execute("SELECT sender, top, bits FROM replay"):
                out.replay.append((str(sender), int(top, 16), int(bits, 16)))
        except (sqlite3.Error, ValueError, TypeError, RecursionError) as e:
            raise StoreError(f"{self.path}: unreadable state: {type(e).__name__}: {e}") from None
        return out

    def commit(self, c: Change) -> None:
        """Apply one change set in one transaction (``sqlite3.Error`` propagates)."""
        if not c:
            return
        db = self.db
        db.execute("BEGIN")
        try:
            if c.meta is not None:
                db.execute("INSERT OR REPLACE INTO meta (k, v) VALUES ('agent', ?)", (c.meta,))
            if c.hops_put:
                db.executemany("INSERT OR REPLACE INTO hops (id, data) VALUES (?, ?)", c.hops_put)
            if c.hops_del:
                db.executemany("DELETE FROM hops WHERE id = ?", [(i,) for i in c.hops_del])
            if c.entries_put:
                db.executemany(
                    "INSERT OR REPLACE INTO entries (k, data) VALUES (?, ?)", c.entries_put
                )
            if c.entries_del:
                db.executemany("DELETE FROM entries WHERE k = ?", [(k,) for k in c.entries_del])
            if c.cursors:
                db.executemany(
                    "INSERT OR REPLACE INTO cursors (local, peer, cursor) VALUES (?, ?, ?)",
                    c.cursors,
                )
            if c.replay:
                db.executemany(
                    "INSERT OR REPLACE INTO replay (sender, top, bits) VALUES (?, ?, ?)",
                    [(s, f"{t:x}", f"{b:x}") for s, t, b in c.replay],
                )
            db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise
        self.commits += 1

    def reset(self, device: str) -> None:
        """Forget every session (a clean start); keeps the replay windows."""
        db = self.db
        db.execute("BEGIN")
        for table in ("hops", "entries", "cursors"):
            db.execute(f"DELETE FROM {table}")
        db.execute("DELETE FROM meta WHERE k = 'agent'")
        db.execute("INSERT OR REPLACE INTO meta (k, v) VALUES ('device', ?)", (device,))
        db.execute("COMMIT")

    def close(self) -> None:
        """Checkpoint the WAL into the database file and close."""
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.close()
            self._db = None

    def move_aside(self) -> Path:
        """Rename an unusable store (and its WAL files) to ``<name>.bad``; returns the new
        path. Renaming never opens the file (a FIFO does not block)."""
        self.close()
        bad = self.path.with_name(self.path.name + ".bad")
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                os.replace(str(self.path) + suffix, str(bad) + suffix)
        return bad
