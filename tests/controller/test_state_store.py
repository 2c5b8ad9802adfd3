"""The daemon's incremental state store (controller/store.py) and the per-session export it
keeps (dysco_proto.checkpoint.Tracker): what an event changed is committed before its
actions leave the process, a killed daemon (no clean stop) loses nothing, damaged stores
start clean with one log line, and the replay window survives a restart."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from controller.checkpointer import key_text
from controller.config import load_config
from controller.daemon import Daemon
from controller.p4rt.gen.p4.v1 import p4runtime_pb2 as p4r
from controller.store import Change, StateStore
from dysco_pipeline import pipeline as pl
from dysco_proto.agent import Agent
from dysco_proto.checkpoint import (
    CheckpointError,
    Tracker,
    dropped_requests,
    export_hop,
    export_meta,
    export_state,
    restore_parts,
    restore_state,
)
from dysco_proto.entries import Direction
from dysco_proto.events import ControlIn, PacketIn, PuntReason
from dysco_proto.packet import FiveTuple, Segment, TcpFlags, TcpOptions
from dysco_proto.wire import ControlCodec, ControlMessage, MsgType, RequestId
from tests.controller_support import (
    offline_daemon_yaml,
    one_box_device,
    syn_frame,
    until,
)
from tests.proto.test_checkpoint import BOX1, CLIENT, SESSION, _build, _phase1, _phase2

# --- the tracker: incremental export == full export, at every event -----------------------


def test_incremental_export_matches_full_export_after_every_event() -> None:
    run = _build()
    mirrors: dict[str, dict[int, Any]] = {}
    checked = [0]
    for ip, host in run.hosts.items():
        agent = host.agent
        assert isinstance(agent, Agent)
        tracker = Tracker(agent)
        tracker.active = True
        mirror = mirrors.setdefault(ip, {})
        inner = agent.handle

        def handle(ev: Any, now: float, a: Agent = agent, t: Tracker = tracker,
                   m: dict[int, Any] = mirror, h: Any = inner) -> Any:  # fmt: skip
            out = h(ev, now)
            hops, _pairs = t.take()
            dropped = dropped_requests(a)
            for hid in hops:
                hop = a.records.get(hid)
                if hop is None:
                    m.pop(hid, None)
                else:
                    m[hid] = export_hop(a, hop, dropped)
            t.take()
            full = {hop.id: export_hop(a, hop, dropped) for hop in a.records.values()}
            t.take()
            assert m == full, f"incremental export diverged after {ev!r}"
            checked[0] += 1
            return out

        agent.handle = handle  # type: ignore[method-assign]
    _phase1(run)
    from dysco_proto.events import ReconfigKind, Reconfigure

    run.hosts[CLIENT].command(Reconfigure(SESSION, BOX1, (), ReconfigKind.REMOVE, 2))
    run.engine.run(run.engine.now + 0.002)  # mid-reconfiguration
    # restore every agent from its parts (sessions, meta, no port list): same as the full form
    for ip, host in run.hosts.items():
        agent = host.agent
        assert isinstance(agent, Agent)
        full = export_state(agent)
        fresh = _fresh(ip, agent)
        restore_parts(
            fresh,
            json.loads(json.dumps(export_meta(agent))),
            json.loads(json.dumps(list(mirrors[ip].values()))),
            [(lp[0], lp[1], st.cursor) for lp, st in agent.ports._pairs.items()],
        )
        # the ports rebuilt from the sessions are those the agent holds once the dropped
        # reconfigurations' new ports are released
        held = {(lp, p) for lp, st in agent.ports._pairs.items() for p in st.used}
        rebuilt = {(lp, p) for lp, st in fresh.ports._pairs.items() for p in st.used}
        assert rebuilt <= held and (dropped_requests(agent) or rebuilt == held), ip
        if not full["dropped_reconfigs"]:
            assert export_state(fresh)["hops"] == full["hops"]
    _phase2(run)
    assert checked[0] > 40


def _fresh(ip: str, like: Agent) -> Agent:
    from dataclasses import replace

    return Agent(replace(like.config))


# --- damaged checkpoints (the sans-IO validation) --------------------------------------------


def _good_state() -> tuple[Agent, dict[str, Any]]:
    run = _build()
    _phase1(run)
    agent = run.hosts[CLIENT].agent
    assert isinstance(agent, Agent)
    return agent, json.loads(json.dumps(export_state(agent)))


@pytest.mark.parametrize(
    "damage",
    [
        "list",
        "null",
        "short_hop",
        "null_request",
        "absurd_next_slot",
        "bool_slot",
        "bad_ip",
        "hops_not_list",
    ],
)
def test_restore_rejects_malformed_state_with_checkpoint_error(damage: str) -> None:
    agent, data = _good_state()
    bad: Any = data
    if damage == "list":
        bad = []
    elif damage == "null":
        bad = None
    elif damage == "short_hop":
        data["hops"][0] = {"id": 5}
    elif damage == "null_request":
        side = data["hops"][0]["right"] or data["hops"][0]["left"]
        side["lock"]["held"] = [None]
    elif damage == "absurd_next_slot":
        data["counters"]["next_slot"] = 10**12
    elif damage == "bool_slot":
        side = data["hops"][0]["right"] or data["hops"][0]["left"]
        side["slot"] = True
    elif damage == "bad_ip":
        side = data["hops"][0]["right"] or data["hops"][0]["left"]
        side["sub"][0] = "10.0.0.999"
    elif damage == "hops_not_list":
        data["hops"] = {"1": 2}
    with pytest.raises(CheckpointError):
        restore_state(_fresh(CLIENT, agent), bad)
    with pytest.raises(CheckpointError):
        restore_parts(_fresh(CLIENT, agent), bad if damage in ("list", "null") else data, [])
        if damage not in ("list", "null", "absurd_next_slot"):
            raise CheckpointError("(only the meta part is checked here)")


# --- the daemon and its store -------------------------------------------------------------------


def _config(tmp: Path) -> Path:
    return offline_daemon_yaml(tmp)


def _syn(sport: int) -> PacketIn:
    seg = Segment(
        FiveTuple("10.0.0.1", sport, "10.0.0.9", 80), 1000, 0, TcpFlags.SYN,
        options=TcpOptions(mss=1460, wscale=7, sack_permitted=True),
    )  # fmt: skip
    return PacketIn(PuntReason.SYN, Direction.OUT, seg)


def _daemon(cfg_path: Path) -> Daemon:
    d = Daemon(load_config(cfg_path), management=False)
    d._load_checkpoint()
    return d


def test_commits_follow_the_change_not_the_session_count_and_a_kill_loses_nothing(
    tmp_path: Path,
) -> None:
    """15,000 sessions, one event at a time, each flushed as if its writes left at once:
    every commit writes the few rows that event changed (its session, its two entries),
    however many sessions exist, and a daemon killed then (no stop) restores them all."""
    cfg_path = _config(tmp_path)
    n = 15_000

    async def main() -> None:
        d = _daemon(cfg_path)
        rows_per_commit: list[int] = []
        inner_commit = d.store.commit

        def commit(c: Change) -> None:
            rows_per_commit.append(len(c.hops_put) + len(c.hops_del) + len(c.entries_put))
            inner_commit(c)

        d.store.commit = commit  # type: ignore[method-assign]
        for i in range(n):
            d.dispatch(_syn(10000 + i))
            d.flush_store()
        assert len(d.agent.records) == n and len(rows_per_commit) == n
        assert max(rows_per_commit) <= 4
        shadow = {(k.direction.value, str(k.match)) for k in d.shadow}
        # kill -9: no stop, no close; a new instance opens the same store
        d2 = _daemon(cfg_path)
        assert d2.counters.restored_sessions == n
        assert {(k.direction.value, str(k.match)) for k in d2._restored_entries} == shadow

    asyncio.run(main())


def test_reads_outside_events_do_not_cost_a_re_export(tmp_path: Path) -> None:
    """Status, session listings and the idle scan read every session; none of that is a
    change, so the next event still commits only its own rows."""
    cfg_path = _config(tmp_path)

    async def main() -> None:
        d = _daemon(cfg_path)
        for i in range(200):
            d.dispatch(_syn(10000 + i))
        d.flush_store()
        d.status()
        d.agent.sessions()
        for key in list(d.shadow):
            d.agent.is_retired(key)
        rows: list[int] = []
        inner = d.store.commit
        d.store.commit = lambda c: (rows.append(len(c.hops_put) + len(c.entries_put)), inner(c))  # type: ignore[method-assign,func-returns-value]
        d.dispatch(_syn(20000))
        d.flush_store()
        assert rows == [3]  # the new session and its two entries

    asyncio.run(main())


def test_entries_reach_the_device_only_after_their_state_is_stored(tmp_path: Path) -> None:
    """A burst of 3,000 SYNs through a real P4Runtime server: at every Write the device
    receives, each session entry in it is already in the store (so a kill at any moment
    loses no session whose entries are on the device); a killed daemon's successor knows
    every one of them."""
    backend, srv, cfg_path = one_box_device(tmp_path)
    cfg = load_config(cfg_path)
    pin = {"reason": int(pl.Reason.SYN), "direction": 1, "ingress_port": 1}
    n = 3000
    checked = [0]
    missing: list[str] = []

    async def main() -> None:
        d = Daemon(cfg, management=False)
        await d.start(connect_timeout=5)
        reader = sqlite3.connect(str(d.checkpoint_path), check_same_thread=False)
        inner_write = backend.write

        def write(updates: Any) -> Any:  # the device side, in the server's thread
            for u in updates:
                got = d.translator.entry_from_p4(u.entity.table_entry)
                if got is None or u.type != p4r.Update.INSERT:
                    continue
                k = key_text(got[0].key)
                row = reader.execute("SELECT 1 FROM entries WHERE k = ?", (k,)).fetchone()
                checked[0] += 1
                if row is None:
                    missing.append(k)
            return inner_write(updates)

        backend.write = write  # type: ignore[method-assign]
        for i in range(n):
            backend.inject(syn_frame(10000 + i), pin)
        await until(lambda: len(backend.packet_outs) >= n, timeout=120)
        await d.writer.drain()
        assert checked[0] >= 2 * n and not missing, missing[:5]
        on_device = {k for k in d.shadow}
        # kill -9 (the process dies: no stop, no close); the successor restores everything
        d2 = Daemon(cfg, management=False)
        d2._load_checkpoint()
        assert d2.counters.restored_sessions == n
        assert on_device <= set(d2._restored_entries)
        reader.close()
        d.writer._task.cancel()  # type: ignore[union-attr]
        await d.client.close()

    try:
        asyncio.run(main())
    finally:
        srv.stop()


def _store_with(tmp_path: Path, meta: Any = None, hop: Any = None) -> Path:
    """A store of a real daemon's state, then one part replaced by ``meta`` / ``hop``."""
    cfg_path = _config(tmp_path)

    async def main() -> None:
        d = _daemon(cfg_path)
        for i in range(3):
            d.dispatch(_syn(20000 + i))
        d.flush_store()
        d.store.close()

    asyncio.run(main())
    path = tmp_path / "sw1.state.sqlite"
    db = sqlite3.connect(str(path), isolation_level=None)
    if meta is not None:
        db.execute("UPDATE meta SET v = ? WHERE k = 'agent'", (meta,))
    if hop is not None:
        db.execute("UPDATE hops SET data = ? WHERE id = 1", (hop,))
    db.close()
    return cfg_path


def _meta_with_slot(tmp_path: Path) -> str:
    path = tmp_path / "sw1.state.sqlite"
    db = sqlite3.connect(str(path))
    meta = json.loads(db.execute("SELECT v FROM meta WHERE k = 'agent'").fetchone()[0])
    db.close()
    meta["counters"]["next_slot"] = 1 << 40
    return json.dumps(meta)


@pytest.mark.parametrize(
    "damage",
    [
        "meta_list",
        "meta_null",
        "hop_list",
        "hop_short",
        "null_request",
        "next_slot",
        "not_json",
        "entry_short",
        "entry_null",
    ],
)
def test_damaged_store_starts_clean_with_one_line(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    kw: dict[str, Any] = {}
    if damage == "meta_list":
        kw["meta"] = "[]"
    elif damage == "meta_null":
        kw["meta"] = "null"
    elif damage == "hop_list":
        kw["hop"] = "[]"
    elif damage == "hop_short":
        kw["hop"] = '{"id": 1, "left": null}'
    elif damage == "not_json":
        kw["hop"] = "{not json"
    cfg_path = _store_with(tmp_path, **kw)
    if damage == "null_request":
        db = sqlite3.connect(str(tmp_path / "sw1.state.sqlite"), isolation_level=None)
        hop = json.loads(db.execute("SELECT data FROM hops WHERE id = 1").fetchone()[0])
        side = hop["right"] or hop["left"]
        side["lock"]["held"] = [None]
        db.execute("UPDATE hops SET data = ? WHERE id = 1", (json.dumps(hop),))
        db.close()
    if damage in ("entry_short", "entry_null"):
        db = sqlite3.connect(str(tmp_path / "sw1.state.sqlite"), isolation_level=None)
        bad = "[1]" if damage == "entry_short" else "null"
        db.execute("UPDATE entries SET data = ? WHERE rowid = 1", (bad,))
        db.close()
    if damage == "next_slot":
        db = sqlite3.connect(str(tmp_path / "sw1.state.sqlite"), isolation_level=None)
        db.execute("UPDATE meta SET v = ? WHERE k = 'agent'", (_meta_with_slot(tmp_path),))
        db.close()
    _expect_clean_start(cfg_path, tmp_path, caplog)


def _expect_clean_start(cfg_path: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="controller.daemon")

    async def main() -> None:
        d = _daemon(cfg_path)
        assert not d.agent.records and d.counters.restored_sessions == 0
        lines = [r for r in caplog.records if r.name == "controller.daemon"]
        assert len(lines) == 1 and "starting clean" in lines[0].getMessage(), lines
        assert "\n" not in lines[0].getMessage() and lines[0].exc_info is None
        assert (tmp_path / "sw1.state.sqlite.bad").exists()
        # the fresh store works: a new session is persisted and restored
        d.dispatch(_syn(30000))
        assert d.agent.records
        d.flush_store()
        d.store.close()
        assert _daemon(cfg_path).counters.restored_sessions == 1

    asyncio.run(main())


def test_fifo_or_garbage_or_symlink_in_place_of_the_store(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg_path = _config(tmp_path)
    path = tmp_path / "sw1.state.sqlite"
    os.mkfifo(path)  # opening it for reading would block forever
    _expect_clean_start(cfg_path, tmp_path, caplog)
    for f in tmp_path.glob("sw1.state.sqlite*"):
        f.unlink()
    caplog.clear()
    path.write_bytes(b"this is not a database" * 100)
    _expect_clean_start(cfg_path, tmp_path, caplog)
    for f in tmp_path.glob("sw1.state.sqlite*"):
        f.unlink()
    caplog.clear()
    target = tmp_path / "elsewhere"
    target.write_text("precious")
    path.symlink_to(target)
    _expect_clean_start(cfg_path, tmp_path, caplog)
    assert target.read_text() == "precious"


def test_store_file_is_private(tmp_path: Path) -> None:
    s = StateStore(tmp_path / "x.sqlite")
    s.open()
    s.commit(Change(meta="{}"))
    assert (tmp_path / "x.sqlite").stat().st_mode & 0o777 == 0o600
    for suffix in ("-wal", "-shm"):
        p = tmp_path / ("x.sqlite" + suffix)
        assert not p.exists() or p.stat().st_mode & 0o077 == 0
    s.close()


# --- the replay window survives a restart -----------------------------------------------------


@pytest.mark.parametrize("how", ["sigterm", "kill"])
def test_replayed_peer_messages_are_rejected_after_a_restart(tmp_path: Path, how: str) -> None:
    cfg_path = _config(tmp_path)
    cfg = load_config(cfg_path)
    peer = ControlCodec(cfg.control.key)
    captured = [
        peer.encode(
            ControlMessage(
                MsgType.REQUEST_LOCK,
                RequestId("10.0.0.5", 7),
                "10.0.0.5",
                msg_id=(1 << 40) + i,
                subsession=FiveTuple("10.0.0.5", 30000 + i, "10.0.0.1", 80),
            )
        )
        for i in range(1500)
    ]

    def rejected(d: Daemon) -> int:
        return sum(v for k, v in d.agent.counters.items() if k.startswith("control.rejected"))

    async def first() -> None:
        d = _daemon(cfg_path)
        for data in captured:
            d.dispatch(ControlIn("10.0.0.5", "10.0.0.1", data))
        assert rejected(d) == 0  # all new: accepted (then handled or refused by the agent)
        if how == "sigterm":
            d.store.close()

    async def second() -> None:
        d = _daemon(cfg_path)
        for data in captured:
            d.dispatch(ControlIn("10.0.0.5", "10.0.0.1", data))
        assert rejected(d) == len(captured)

    asyncio.run(first())
    asyncio.run(second())
