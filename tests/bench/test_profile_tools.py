"""The two analysis tools behind docs/controller.md (Performance): the py-spy profile split
(dysco_bench.profile_split) and the handshake steps from controller traces
(dysco_bench.handshake_steps), on small hand-made inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from dysco_bench import handshake_steps, handshake_wire, profile_split


def test_profile_split_counts_each_sample_under_its_deepest_category(tmp_path: Path) -> None:
    prof = tmp_path / "p.txt"
    head = 'process 11:"python -m controller.cli bench"'
    child = 'process 12:"python -m dysco_targets.serve"'
    prof.write_text(
        f"{head};main (cli.py:1);Daemon.flush_store (controller/daemon.py:9) 5\n"
        # the deepest match wins: an agent call inside a packet-in's dispatch is the agent's
        f"{head};P4RuntimeClient._run (c.py:2);Agent.handle (dysco_proto/agent/core.py:4) 3\n"
        f"{head};BaseEventLoop._run_once (base_events.py:1) 2\n"
        f"{head};{child};P4RuntimeServicer.Read (dysco_targets/server.py:5) 7\n"
        "garbage line\n"
    )
    got = profile_split.split(str(prof))
    cmd, daemon = got["11"]
    assert cmd == "python -m controller.cli bench"
    assert daemon["state-store commit (export, JSON, SQLite)"] == 5
    assert daemon["agent decision (dysco_proto)"] == 3
    assert daemon[profile_split.OTHER] == 2
    assert got["12"][1] == {"server: Read": 7}  # a child's stack is its own process's
    assert profile_split.main([]) == 2
    one = tmp_path / "one.txt"  # py-spy record --pid: no process frames
    one.write_text("main (cli.py:1);Daemon._on_packet_in (controller/daemon.py:3) 4\n")
    assert profile_split.split(str(one)) == {
        "-": ("the recorded process", {"packet-in: gRPC stream read, dispatch glue": 4})
    }


def _trace(t: str, reason: str, direction: str, sport: int, dport: int, seq: int, ack: int) -> str:
    # as the daemon logs it: "<agent id>: <event> -> <actions>" (controller/daemon.py)
    return (
        f"2026-12-05 {t} DEBUG controller.trace: 1: PacketIn(reason=<PuntReason.{reason}: "
        f"'{reason.lower()}'>, direction=<Direction.{direction}: '{direction.lower()}'>, "
        f"segment=Segment(tuple=FiveTuple(src_ip='198.18.1.1', src_port={sport}, "
        f"dst_ip='198.18.1.2', dst_port={dport}, proto=6), seq={seq}, ack={ack}, flags=..."
    )


def test_handshake_steps_line_up_one_connect_across_devices(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for dev, host in (("d1", "client"), ("d3", "fw"), ("d2", "server")):
        (tmp_path / f"{dev}.yaml").write_text(f"ports:\n  hosts:\n    - {{name: {host}}}\n")
    syn, synack = ("SYN", 5000, 9100, 100, 0), ("SYNACK_MIRROR", 9100, 5000, 900, 101)
    (tmp_path / "d1.controller.log").write_text(
        _trace("10:00:00,000", syn[0], "OUT", *syn[1:])
        + "\n"
        + _trace("10:00:00,030", synack[0], "IN", *synack[1:])
        + "\n"
    )
    (tmp_path / "d3.controller.log").write_text(
        _trace("10:00:00,007", syn[0], "IN", *syn[1:])
        + "\n"
        + _trace("10:00:00,015", syn[0], "OUT", *syn[1:])
        + "\n"
        + _trace("10:00:00,028", synack[0], "IN", *synack[1:])  # a mirror off the path
        + "\n"
    )
    (tmp_path / "d2.controller.log").write_text(_trace("10:00:00,021", syn[0], "IN", *syn[1:]))
    order, got = handshake_steps.steps(handshake_steps.events(tmp_path, 9100))
    assert order == ["client.out", "fw.in", "fw.out", "server.in", "client.synack.in"]
    assert got["client.out -> fw.in"] == pytest.approx([7.0])
    assert got["server.in -> client.synack.in"] == pytest.approx([9.0])
    assert got["total"] == pytest.approx([30.0])
    assert handshake_steps.main([str(tmp_path)]) == 0
    assert "connects: 1" in capsys.readouterr().out
    assert handshake_steps.main([str(tmp_path), "--port", "1"]) == 1  # nothing to that port


def test_handshake_wire_lines_up_a_connect_by_its_sequence_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def syn(t: str, src: str, dst: str, seq: int, n: int = 0) -> str:
        span = f"{seq}:{seq + n}" if n else f"{seq}"
        return f"{t} IP {src} > {dst}: Flags [S], seq {span}, win 64240, length {n}"

    def synack(t: str, src: str, dst: str, seq: int, ack: int) -> str:
        return f"{t} IP {src} > {dst}: Flags [S.], seq {seq}, ack {ack}, win 65160, length 0"

    points = {
        # the client's SYN to 9100, the chain SYN at fw's device, fw's SYN back in, the server
        "client:host": [
            syn("100.000100", "198.18.1.1.5000", "198.18.1.2.9100", 7),
            syn("100.500000", "198.18.1.1.5001", "198.18.1.2.9003", 70),  # another arm
        ],
        "fw:net": [syn("100.005100", "198.18.1.1.20885", "198.18.1.3.9100", 7, 100)],
        "fw:host": [syn("100.009100", "198.18.1.1.5000", "198.18.1.2.9100", 7)],
        "server:net": [syn("100.013600", "198.18.1.3.24531", "198.18.1.2.9100", 7, 96)],
        "server:host": [synack("100.016600", "198.18.1.2.9100", "198.18.1.1.5000", 900, 8)],
        "client:net": [synack("100.017600", "198.18.1.2.9100", "198.18.1.1.20885", 900, 8)],
    }
    conns = handshake_wire.arrivals(points, 9100)
    assert list(conns) == [7]  # the 9003 connect is not to the port asked for
    order, got = handshake_wire.steps(conns)
    assert order == ["client:host.syn", "fw:net.syn", "fw:host.syn", "server:net.syn",
                     "server:host.synack", "client:net.synack"]  # fmt: skip
    assert got["client:host.syn -> fw:net.syn"] == pytest.approx([5.0])
    assert got["fw:host.syn -> server:net.syn"] == pytest.approx([4.5])
    assert got["total"] == pytest.approx([17.5])
    for name, lines in points.items():
        (tmp_path / f"{name}.txt").write_text("\n".join(lines) + "\n")
    assert handshake_wire.main(["--from-dir", str(tmp_path)]) == 0
    assert "connects: 1" in capsys.readouterr().out
    assert handshake_wire.main(["--from-dir", str(tmp_path), "--port", "1"]) == 1
