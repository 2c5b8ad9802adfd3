"""The controller's translation layer against the pipeline contract.

- the fast session-entry encoder produces exactly the updates of the contract path
  (``pipeline.entry_to_table`` -> P4Runtime) for random entries of every kind;
- every packet-in of the vector corpus (produced by the reference model) is translated as
  ``docs/pipeline.md`` says: keys are ``(direction, frame tuple)``, IN mirrors show the host
  view, ``SPLIT`` / ``UNSUPPORTED_OPTIONS`` punts are completed into packet-outs equal to what
  the abstract data path emits, latch flags and probe replies become ``SlotSnapshot`` events.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from controller.config import load_config
from controller.p4rt.client import DevicePacketIn
from controller.p4rt.gen.p4.v1 import p4runtime_pb2 as p4r
from controller.p4rt.p4info import P4InfoIndex, decode_uint, load_p4info
from controller.translate import Translator
from dysco_pipeline import pipeline as pl
from dysco_pipeline.frames import build_frame, build_probe_frame, parse_frame
from dysco_pipeline.refmodel import PipelineState, TableState, mirror_host_view, process
from dysco_proto.datapath import DataPath, SlotRegisters
from dysco_proto.entries import Deltas, Direction, EntryKey, MappingEntry, Role
from dysco_proto.events import PacketIn, SlotSnapshot
from dysco_proto.packet import FiveTuple, Segment, TcpFlags
from tests.controller_support import daemon_yaml, write_p4info
from tests.vectors import corpus

CASES = corpus.load()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> tuple[P4InfoIndex, Path]:
    tmp = tmp_path_factory.mktemp("translate")
    p4 = write_p4info(tmp / "dysco.p4info.txtpb")
    cfg = daemon_yaml(tmp, "sw", "127.0.0.1:1", p4, ("10.0.0.1", 1), 0, [])
    return load_p4info(p4), cfg


def _translator(env: tuple[P4InfoIndex, Path], lookup=None) -> Translator:  # type: ignore[no-untyped-def]
    p4info, cfg = env
    return Translator(p4info, load_config(cfg), lookup)


def _tuple(rng: random.Random) -> FiveTuple:
    def ip() -> str:
        return ".".join(str(rng.randrange(256)) for _ in range(4))

    return FiveTuple(ip(), rng.randrange(65536), ip(), rng.randrange(65536))


def _deltas(rng: random.Random) -> Deltas:
    def d() -> int:
        return rng.choice([0, 1, -1, rng.randrange(1 << 32), -rng.randrange(1 << 31)])

    return Deltas(d(), d(), d(), d(), rng.randint(-14, 14))


def test_fast_encoder_equals_contract_path(env: tuple[P4InfoIndex, Path]) -> None:
    tr = _translator(env)
    tr.slots = pl.SLOT_SPACE  # a device with a register for every slot value
    rng = random.Random(7)
    for i in range(3000):
        out = rng.random() < 0.6
        two = out and rng.random() < 0.4
        e = MappingEntry(
            EntryKey(Direction.OUT if out else Direction.IN, _tuple(rng)),
            _tuple(rng),
            _deltas(rng),
            rng.choice([0, 1, rng.randrange(pl.SLOT_SPACE), pl.NUM_SLOTS, pl.SLOT_SPACE - 1]),
            rng.choice(list(Role)),
            new_rewrite=_tuple(rng) if two else None,
            new_deltas=_deltas(rng) if two else None,
            peer_cut=rng.choice([None, 0, rng.randrange(1 << 32)]) if out else None,
            epoch=rng.choice([0, 1, rng.randrange(1 << 32)]),
        )
        kind = p4r.Update.INSERT if i % 2 else p4r.Update.MODIFY
        assert tr.entry_update(kind, e) == tr.entry_update_contract(kind, e), e
        assert tr.delete_update(e.key) == tr.delete_update_contract(e.key), e.key


def test_fast_encoder_falls_back_on_what_the_pipeline_cannot_hold(
    env: tuple[P4InfoIndex, Path],
) -> None:
    tr = _translator(env)
    t = FiveTuple("10.0.0.1", 1, "10.0.0.2", 2)
    for bad in (
        MappingEntry(EntryKey(Direction.IN, t), t, Deltas(win_shift=15), 1),
        MappingEntry(EntryKey(Direction.IN, t), t, Deltas(), pl.SLOT_SPACE),
        # beyond the registers of this device (the bmv2 build's P4Info: 65,536)
        MappingEntry(EntryKey(Direction.IN, t), t, Deltas(), pl.NUM_SLOTS),
        MappingEntry(EntryKey(Direction.IN, t), t, Deltas(), 1, peer_cut=5),
    ):
        with pytest.raises(ValueError):
            tr.entry_update(p4r.Update.INSERT, bad)
        with pytest.raises(ValueError):
            tr.entry_update_raw(p4r.Update.INSERT, bad)
    assert tr.slots == pl.NUM_SLOTS
    last = MappingEntry(EntryKey(Direction.IN, t), t, Deltas(), pl.NUM_SLOTS - 1)
    assert tr.entry_update_raw(p4r.Update.INSERT, last)


def _packet_ins() -> list[tuple[str, PipelineState, PipelineState, bytes, dict[str, int], bytes]]:
    """(case, state before, state after, input frame, packet-in metadata, payload) of every
    packet-in the reference model produces on the corpus."""
    out = []
    for case in CASES:
        state = PipelineState(TableState(corpus.table_entries(case)))
        for step in case.steps:
            before = PipelineState(state.tables, dict(state.registers))
            res = process(state, step.packet, step.ingress_port)
            state.registers = res.registers
            for pin in res.packet_ins:
                out.append((case.name, before, state, step.packet, dict(pin.metadata), pin.payload))
    return out


def test_corpus_packet_ins_translate_per_contract(env: tuple[P4InfoIndex, Path]) -> None:
    seen: dict[str, int] = {}
    for name, before, _after, _frame, md, payload in _packet_ins():
        agent = md.get("agent_id", 0)

        def lookup(key: EntryKey, before: PipelineState = before, agent: int = agent):  # type: ignore[no-untyped-def]
            return before.tables.session(key.direction, agent, key.match)

        tr = _translator(env, lookup)
        res = tr.packet_in(DevicePacketIn(payload, md))
        reason = pl.Reason(md["reason"])
        flags = pl.PacketInFlag(md["flags"])
        where = f"{name}: {reason.name}"
        latch = bool(flags & (pl.PacketInFlag.LATCH_OWN | pl.PacketInFlag.LATCH_PEER))
        events = list(res.events)
        if latch and reason is not pl.Reason.LATCH:
            snap = events.pop()
            assert isinstance(snap, SlotSnapshot) and snap.token == 0, where
            assert snap.slot == md["slot"], where
            seen["latch_flag"] = seen.get("latch_flag", 0) + 1
        seen[reason.name] = seen.get(reason.name, 0) + 1
        if reason in (pl.Reason.PROBE_REPLY, pl.Reason.LATCH):
            assert len(events) == 1 and isinstance(events[0], SlotSnapshot), where
            token = md["token"] if reason is pl.Reason.PROBE_REPLY else 0
            assert events[0].token == token and events[0].slot == md["slot"], where
            continue
        if reason is pl.Reason.CONTROL:
            assert len(events) == 1, where
            continue
        parsed = parse_frame(payload)
        assert parsed is not None and parsed.segment is not None, where
        seg = parsed.segment
        direction = pl.Direction8(md["direction"]).to_direction()
        assert direction is not None, where
        key = EntryKey(direction, seg.tuple) if flags & pl.PacketInFlag.ENTRY_HIT else None
        assert res.entry == key, where
        entry = lookup(key) if key is not None else None
        if key is not None:
            assert entry is not None, f"{where}: the frame tuple is the entry key"
        if reason in (pl.Reason.SYN, pl.Reason.SYNACK):
            assert events == [PacketIn(reason.punt_reason, direction, seg, key)], where  # type: ignore[arg-type]
        elif reason in (pl.Reason.SYNACK_MIRROR, pl.Reason.FIN_MIRROR, pl.Reason.RST_MIRROR):
            assert entry is not None
            (ev,) = events
            assert isinstance(ev, PacketIn) and ev.entry == key, where
            assert ev.segment == mirror_host_view(seg, direction, entry), where
            if direction is Direction.IN:
                seen["in_mirror"] = seen.get("in_mirror", 0) + 1
        elif reason is pl.Reason.HOLD:  # kept for the daemon: no event, nothing sent yet
            assert res.held is not None and res.held[0] == seg, where
            assert not events and not res.sends, where
        elif reason in (pl.Reason.SPLIT, pl.Reason.UNSUPPORTED_OPTIONS):
            assert entry is not None
            # what the abstract data path emits for this packet on the registers before it
            dp = DataPath(())
            dp.install(entry)
            if entry.slot in before.registers:
                dp.slots[entry.slot] = before.registers[entry.slot]
            dres = dp._process(seg, direction, 0.0)
            want = dres.to_network if direction is Direction.OUT else dres.to_host
            pieces: list[Segment] = []
            for m in res.sends:
                pkt = m.packet
                ops = {md_.metadata_id: decode_uint(md_.value) for md_ in pkt.metadata}
                op_id = tr.p4info.packet_out["op"][0]
                expect_op = (
                    pl.PacketOutOp.ROUTE if direction is Direction.OUT else pl.PacketOutOp.FORWARD
                )
                assert ops[op_id] == int(expect_op), where
                p = parse_frame(pkt.payload)
                assert p is not None and p.segment is not None
                pieces.append(p.segment)
            assert pieces == want, where
            mirrors = [p for p in dres.punts if p.reason.name.endswith("MIRROR")]
            assert [e for e in events if isinstance(e, PacketIn)] == [
                PacketIn(p.reason, direction, p.segment, key) for p in mirrors
            ], where
    for kind in ("SPLIT", "UNSUPPORTED_OPTIONS", "HOLD", "PROBE_REPLY", "LATCH", "FIN_MIRROR"):
        assert seen.get(kind), f"the corpus has no {kind} packet-in"
    assert seen.get("in_mirror"), seen


def test_latch_flag_on_a_mirror_is_a_snapshot_after_the_mirror(
    env: tuple[P4InfoIndex, Path],
) -> None:
    """An IN FIN that makes rcvd_ack_hi reach the cut: one FIN_MIRROR packet-in with the
    LATCH_OWN flag -> the mirror event (host view, frame-tuple key), then the snapshot."""
    sub = FiveTuple("10.9.0.7", 5000, "10.0.0.1", 80)
    host = FiveTuple("10.9.9.9", 6000, "10.0.0.1", 80)
    entry = MappingEntry(EntryKey(Direction.IN, sub), host, Deltas(seq=100, ack=-50), 9, epoch=1)
    tables = TableState(
        [
            pl.TableEntry.build(
                pl.Tbl.PORT_ROLE.value, {"ingress_port": 1}, pl.Act.HOST_PORT.value, {"agent_id": 1}
            ),
            pl.TableEntry.build(
                pl.Tbl.IPV4_FWD.value,
                {"dst_addr": "10.0.0.1/32"},
                pl.Act.ROUTE.value,
                {"port": 1, "src_mac": 1, "dst_mac": 2},
            ),
            pl.entry_to_table(entry),
        ]
    )
    regs = SlotRegisters(epoch=1, cut=2000, rcvd_ack_hi=1500)
    state = PipelineState(tables, {9: regs})
    fin = Segment(sub, 7000, 2100, TcpFlags.FIN | TcpFlags.ACK, 100)
    res = process(state, build_frame(fin, "02:00:00:00:00:09", "02:00:00:00:00:01"), 3)
    (pin,) = res.packet_ins
    assert pin.metadata["reason"] == pl.Reason.FIN_MIRROR
    assert pin.metadata["flags"] & pl.PacketInFlag.LATCH_OWN

    tr = _translator(env, lambda k: entry if k == entry.key else None)
    out = tr.packet_in(DevicePacketIn(pin.payload, dict(pin.metadata)))
    mirror, snap = out.events
    assert isinstance(mirror, PacketIn) and mirror.entry == entry.key
    assert mirror.segment == mirror_host_view(fin, Direction.IN, entry)
    assert mirror.segment.tuple == host and mirror.segment.seq == 7100
    assert isinstance(snap, SlotSnapshot) and snap.token == 0 and snap.slot == 9
    assert snap.cut == 2000 and snap.rcvd_ack_hi == 2050


def test_probe_reply_carries_the_token(env: tuple[P4InfoIndex, Path]) -> None:
    state = PipelineState(TableState(), {4: SlotRegisters(sent_hi=77)})
    hdr = pl.encode_packet_out(
        {"op": int(pl.PacketOutOp.PROBE), "flags": 1, "slot": 4, "token": 1234, "epoch": 0}
    )
    res = process(state, hdr + build_probe_frame(), pl.CPU_PORT)
    (pin,) = res.packet_ins
    out = _translator(env).packet_in(DevicePacketIn(pin.payload, dict(pin.metadata)))
    assert out.events == [SlotSnapshot(4, 77, None, None, None, 77, token=1234)]


def test_held_data_is_dropped_not_routed_to_the_network(env: tuple[P4InfoIndex, Path]) -> None:
    """An anchor holds new data during a new path's handshake by rewriting it to the HOLD
    tuple (0.0.0.0); the daemon's static entries drop that address even though the default
    route leads to the network port."""
    from dysco_proto.agent import HOLD

    tr = _translator(env)
    static = tr.static_entries()
    assert any(e.table is pl.Tbl.IPV4_FWD and e.action is pl.Act.DROP for e in static), (
        "no drop route for the HOLD address"
    )
    session = FiveTuple("10.0.0.1", 40000, "10.0.0.9", 80)
    sub = FiveTuple("10.0.0.1", 20000, "10.0.0.5", 30000)
    held = MappingEntry(
        EntryKey(Direction.OUT, session), sub, Deltas(), slot=7, new_rewrite=HOLD,
        new_deltas=Deltas(),
    )  # fmt: skip
    state = PipelineState(TableState([*static, pl.entry_to_table(held, tr.agent_id)]), {})

    punts: list[int] = []

    def send(seq: int) -> list[int]:
        seg = Segment(session, seq, 1, TcpFlags.ACK, payload=b"x" * 100)
        res = process(state, build_frame(seg, "02:00:00:00:00:01", "02:d5:c0:00:00:01"), 1)
        state.registers = res.registers
        punts.extend(p.metadata["reason"] for p in res.packet_ins)
        return [port for port, _ in res.outputs]

    assert send(1000) == [2]  # below any cutoff: the old path, out of the network port
    probe = pl.encode_packet_out(
        {"op": int(pl.PacketOutOp.PROBE), "flags": 1, "slot": 7, "token": 1, "epoch": 0}
    )
    state.registers = process(state, probe + build_probe_frame(), pl.CPU_PORT).registers
    assert send(1100) == [] and punts == [pl.Reason.HOLD]  # the held prefix: punted
    beyond = 1100 + pl.HOLD_PUNT_BYTES
    assert send(beyond) == [] and punts == [pl.Reason.HOLD]  # beyond it: dropped on the device
    # without the drop route the default route would have sent it to the network
    state.tables = TableState([e for e in static if e.action is not pl.Act.DROP])
    state.tables.insert(pl.entry_to_table(held, tr.agent_id))
    assert send(beyond + 100) == [2]
