"""A restored left anchor's new path is the same handshake the original agent would make
(issue 12: a stateful box on the new path must see this session's handshake). On the
simulator a session client -> box1 -> server gets box2 inserted (the client folds onto the
new path), then the client's agent is replaced by one restored from its JSON checkpoint
(timers lost) and box2 is removed. A twin run without the restart is the reference: the
client's agent must emit exactly the same actions in both, in particular the new-path SYN
(sequence and acknowledgment numbers, window, MSS, window scale, SACK-permitted, timestamps,
the ``syn`` message with the handshake record) and the entry writes around it."""

from __future__ import annotations

import json

import pytest

from dysco_proto.actions import Action, ModifyEntry, SendPacket
from dysco_proto.agent import Agent
from dysco_proto.checkpoint import FORMAT, CheckpointError, export_state, restore_state
from dysco_proto.entries import Role
from dysco_proto.events import ReconfigKind, Reconfigure
from dysco_proto.packet import TcpFlags
from dysco_proto.wire import MsgType
from tests.proto.test_checkpoint import (
    BOX1,
    CLIENT,
    SESSION,
    Run,
    _agent,
    _build,
    _phase1,
    record_actions,
)


def _restart_client(run: Run) -> None:
    host = run.hosts[CLIENT]
    assert isinstance(host.agent, Agent)
    data = json.loads(json.dumps(export_state(host.agent)))
    fresh = _agent(CLIENT, 1)
    actions = restore_state(fresh, data)
    assert export_state(fresh) == data
    host.agent = fresh
    host.timers.clear()
    run.net.execute(host, actions)


def _record(run: Run) -> list[Action]:
    """Every action the client's agent returns from now on."""
    agent = run.hosts[CLIENT].agent
    assert isinstance(agent, Agent)
    return record_actions(agent)


def _remove_box2(run: Run) -> None:
    run.hosts[CLIENT].command(Reconfigure(SESSION, BOX1, (), ReconfigKind.REMOVE, 2))
    run.client.write(b"after" * 3000)
    run.server[0].write(b"t" * 10_000)
    run.engine.run(run.engine.now + 3.0)


def _new_path_syns(actions: list[Action]) -> list[SendPacket]:
    return [
        a
        for a in actions
        if isinstance(a, SendPacket) and a.segment.flags == TcpFlags.SYN and a.segment.payload
    ]


def test_restored_left_anchor_makes_the_same_new_path_handshake() -> None:
    twin, restarted = _build(), _build()
    _phase1(twin)
    _phase1(restarted)
    client = restarted.hosts[CLIENT].agent
    assert isinstance(client, Agent)
    side = client.right_by_stuple[SESSION]
    assert side.in_role is Role.NEW  # the client folded onto box2's path
    hs = side.hs
    assert None not in (hs.isn_in, hs.ts_in, hs.wscale_peer, hs.wscale_host) and hs.mss
    _restart_client(restarted)
    want, got = _record(twin), _record(restarted)
    _remove_box2(twin)
    _remove_box2(restarted)
    syns = _new_path_syns(got)
    assert syns and syns == _new_path_syns(want)
    seg = syns[0].segment
    o = seg.options
    assert (o.mss, o.wscale, o.sack_permitted) == (hs.mss, hs.wscale_host, hs.sack_ok)
    assert o.timestamp is not None and o.timestamp[0] == hs.ts_out
    msg = client.codec.decode(seg.payload)
    assert msg.type is MsgType.SYN and msg.handshake is not None
    assert (msg.handshake.wscale_peer, msg.handshake.tsecr) == (hs.wscale_peer, hs.ts_in)
    # the IN entry of the path folded onto last time is made plain again (checkpoint /1 lost
    # its role: the restored agent left it NEW, which feeds the slot's new_rcvd_lo)
    plain = [a for a in got if isinstance(a, ModifyEntry) and a.entry.key == side.in_key]
    assert plain and plain[0].entry.role is Role.ONE
    assert got == want
    ends = [o for o in restarted.observed if o[1] == CLIENT and o[2] == "reconfig.completed"]
    assert len(ends) == 2  # the insertion before the restart, the removal after it
    assert len(restarted.server[0].received) == len(twin.server[0].received)
    assert bytes(restarted.client.received) == bytes(twin.client.received)


def test_format_1_checkpoints_are_read_and_unknown_formats_refused_in_one_line() -> None:
    run = _build()
    _phase1(run)
    agent = run.hosts[CLIENT].agent
    assert isinstance(agent, Agent)
    data = json.loads(json.dumps(export_state(agent)))
    assert data["format"] == FORMAT == "dysco-agent-checkpoint/2"
    sides = [h[w] for h in data["hops"] for w in ("left", "right") if h[w] is not None]
    assert [s["in_role"] for s in sides] == ["new"]  # the client folded onto box2's path
    # format /1 (before in_role was kept): restored, every IN entry's role read as ONE
    old = json.loads(json.dumps(data))
    old["format"] = "dysco-agent-checkpoint/1"
    for s in (h[w] for h in old["hops"] for w in ("left", "right") if h[w] is not None):
        del s["in_role"]
    fresh = _agent(CLIENT, 1)
    restore_state(fresh, old)
    assert {s.in_role for h in fresh.records.values() for s in h.sides()} == {Role.ONE}
    # format /2 needs it; an unknown format or role is one clear line
    for damage, what in (("role", "in_role"), ("format", "checkpoint format")):
        bad = json.loads(json.dumps(data))
        if damage == "role":
            bad["hops"][0]["right"]["in_role"] = "old"
        else:
            bad["format"] = "dysco-agent-checkpoint/9"
        with pytest.raises(CheckpointError) as err:
            restore_state(_agent(CLIENT, 1), bad)
        assert what in str(err.value) and "\n" not in str(err.value)
    missing = json.loads(json.dumps(data))
    del missing["hops"][0]["right"]["in_role"]
    with pytest.raises(CheckpointError, match="in_role"):
        restore_state(_agent(CLIENT, 1), missing)
