"""The translator's routes to host ports are ``route_host`` (docs/pipeline.md 4.3), so a chain
whose adjacent hops sit behind one device hairpins through the IN pass: checked on the
translator's own static entries run through the reference model."""

from __future__ import annotations

from pathlib import Path

from controller.config import load_config
from controller.p4rt.p4info import load_p4info
from controller.translate import Translator
from dysco_pipeline import pipeline as pl
from dysco_pipeline.frames import build_frame, parse_frame
from dysco_pipeline.refmodel import PipelineState, TableState, process
from dysco_proto.entries import Deltas, Direction, EntryKey, MappingEntry
from dysco_proto.packet import FiveTuple, Segment, TcpFlags
from tests.controller_support import KEY_HEX, write_p4info

CLIENT, FIREWALL = "198.18.0.1", "198.18.0.2"


def _translator(tmp_path: Path) -> Translator:
    p4 = write_p4info(tmp_path / "dysco.p4info.txtpb")
    cfg = tmp_path / "sw.yaml"
    cfg.write_text(
        f"""\
device: {{name: sw, address: "127.0.0.1:1", p4info: {p4}}}
ports:
  hosts:
    - {{name: client, port: 1, address: {CLIENT}, mac: "02:00:00:00:00:01"}}
    - {{name: fw, port: 3, address: {FIREWALL}, mac: "02:00:00:00:00:03"}}
  network: {{port: 2, mac: "02:00:00:00:00:fe"}}
control: {{listen: "127.0.0.1:0", key: "{KEY_HEX}"}}
peers: []
management: {{socket: {tmp_path / "sw.sock"}}}
"""
    )
    cfg.chmod(0o600)
    return Translator(load_p4info(p4), load_config(cfg), None)


def test_host_routes_are_route_host(tmp_path: Path) -> None:
    routes = {
        e.match["dst_addr"]: e.action
        for e in _translator(tmp_path).static_entries()
        if e.table is pl.Tbl.IPV4_FWD
    }
    assert routes[(int.from_bytes(bytes([198, 18, 0, 1]), "big"), 32)] is pl.Act.ROUTE_HOST
    assert routes[(int.from_bytes(bytes([198, 18, 0, 2]), "big"), 32)] is pl.Act.ROUTE_HOST
    assert routes[(0, 0)] is pl.Act.ROUTE  # the default route leads to the network port


def test_adjacent_hop_behind_the_device_gets_its_in_rewrite(tmp_path: Path) -> None:
    """Client and firewall behind one device: the client's packet, OUT-rewritten to the
    subsession towards the firewall, is rewritten again by the firewall's IN entry and
    delivered to the firewall's port with the session tuple."""
    tr = _translator(tmp_path)
    session = FiveTuple(CLIENT, 5000, "198.18.2.9", 80)
    sub = FiveTuple(CLIENT, 40001, FIREWALL, 9000)
    out = MappingEntry(EntryKey(Direction.OUT, session), sub, Deltas(seq=0x100), 21)
    into = MappingEntry(EntryKey(Direction.IN, sub), session, Deltas(ack=0x20), 22)
    static = tr.static_entries()
    (agent,) = (
        e.params["agent_id"]
        for e in static
        if e.table is pl.Tbl.PORT_ROLE and e.match["ingress_port"] == 1
    )
    tables = TableState([*static, pl.entry_to_table(out, agent), pl.entry_to_table(into, agent)])
    seg = Segment(session, 1001, 5001, TcpFlags.ACK | TcpFlags.PSH, 8192, payload=b"data")
    res = process(
        PipelineState(tables), build_frame(seg, "02:00:00:00:00:01", "02:00:00:00:00:aa"), 1
    )
    ((port, frame),) = res.outputs
    assert port == 3 and res.packet_ins == [] and res.hairpin is not None
    parsed = parse_frame(frame)
    assert parsed is not None and parsed.segment is not None
    got = parsed.segment
    assert (got.tuple, got.seq, got.ack) == (session, 1001 + 0x100, 5001 + 0x20)
