"""The daemon over real gRPC (project P4Runtime server, table-store backend): SYN punt ->
entries -> packet-out in order, management API and CLI, reconciliation after a restart."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from controller.cli import main as cli_main
from controller.config import load_config
from controller.daemon import Daemon
from dysco_pipeline import pipeline as pl
from dysco_pipeline.frames import parse_frame
from tests.controller_support import (
    daemon_yaml,
    one_box_device,
    syn_frame,
    until,
    write_p4info,
)


def test_syn_punt_entries_then_packet_out_and_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backend, srv, cfg_path = one_box_device(tmp_path)
    cfg = load_config(cfg_path)

    async def main() -> None:
        d = Daemon(cfg)
        await d.start(connect_timeout=5)
        try:
            static = len(d.translator.static_entries())
            await until(lambda: len(backend.entries) >= static)  # written after connecting
            assert len(backend.entries) == static
            n = 50
            for i in range(n):
                backend.inject(
                    syn_frame(40000 + i),
                    {"reason": int(pl.Reason.SYN), "direction": 1, "ingress_port": 1},
                )
            await until(lambda: len(backend.packet_outs) >= n)
            # every session got its two entries before its SYN left (ordering contract)
            assert len(backend.entries) == static + 2 * n
            first_out = next(i for i, (k, _) in enumerate(backend.log) if k == "packet_out")
            writes_before = sum(int(v) for k, v in backend.log[:first_out] if k == "write")  # type: ignore[call-overload]
            assert writes_before >= static + 2
            payload, md = backend.packet_outs[0]
            assert md["op"] == int(pl.PacketOutOp.ROUTE)
            seg = parse_frame(payload).segment  # type: ignore[union-attr]
            assert seg is not None and seg.tuple.dst_ip == "10.0.0.5" and seg.payload  # chain
            assert d.writer.stats.max_batch_seen > 2  # micro-batched across set-ups
            # the management API through the CLI
            sock = cfg.management.socket

            def cli(*args: str) -> tuple[int, str, str]:
                rc = cli_main([*args, "--socket", str(sock)])
                out, err = capsys.readouterr()
                return rc, out, err

            loop = asyncio.get_running_loop()
            rc, out, _ = await loop.run_in_executor(None, cli, "sessions", "--json")
            assert rc == 0 and len(json.loads(out)) == n
            rc, out, _ = await loop.run_in_executor(None, cli, "session", "show", "1", "--json")
            s = json.loads(out)
            assert rc == 0 and s["right"]["peer"] == "10.0.0.5" and len(s["entries"]) == 2
            rc, out, _ = await loop.run_in_executor(None, cli, "status", "--json")
            assert rc == 0 and json.loads(out)["sessions"] == n
            rc, out, _ = await loop.run_in_executor(None, cli, "sessions")
            assert rc == 0 and "10.0.0.5" in out
            rc, out, _ = await loop.run_in_executor(None, cli, "policy", "list", "--json")
            assert rc == 0 and json.loads(out)[0]["name"] == "web"
            pol = tmp_path / "p2.yaml"
            pol.write_text("policies:\n  - {name: ssh, match: {dport: 22}, chain: []}\n")
            rc, out, _ = await loop.run_in_executor(None, cli, "policy", "add", str(pol))
            assert rc == 0 and "ssh" in out
            rc, _, err = await loop.run_in_executor(None, cli, "policy", "add", str(pol))
            assert rc == 1 and err.count("\n") == 1 and "already exists" in err
            rc, _, err = await loop.run_in_executor(None, cli, "policy", "remove", "nope")
            assert rc == 1 and "not_found" in err
            bad = tmp_path / "bad.yaml"
            bad.write_text("policies:\n  - {name: x, chain: [nowhere]}\n")
            rc, _, err = await loop.run_in_executor(None, cli, "policy", "add", str(bad))
            assert rc == 2 and "bad.yaml:2" in err
            rc, out, err = await loop.run_in_executor(
                None, cli, "reconfig", "insert", "10.0.0.1:40000->10.0.0.9:80", "--box", "10.0.0.7",
                "--wait", "0.5", "--json",
            )  # fmt: skip
            assert rc == 1  # the peers never answer: the request does not complete
            rc, _, err = await loop.run_in_executor(None, cli, "session", "show", "999")
            assert rc == 1 and "not_found" in err
            rc, _, err = await loop.run_in_executor(
                None, cli, "reconfig", "insert", "--box", "1.2.3.4"
            )
            assert rc == 2
        finally:
            await d.stop()
        # restart: a new daemon finds the device's entries and keeps them (reconciliation)
        d2 = Daemon(cfg)
        await d2.start(connect_timeout=5)
        try:
            total = len(backend.entries)
            assert total == static + 2 * n
            assert len(d2.foreign) + d2.counters.reconciled_adopted == 2 * n
            # a new session at the restarted controller does not reuse a live session's slot
            backend.inject(
                syn_frame(50000), {"reason": int(pl.Reason.SYN), "direction": 1, "ingress_port": 1}
            )
            await until(lambda: len(backend.entries) == total + 2)
            slots = {e.slot for e in d2.shadow.values()}
            assert not slots & {e.slot for e in d2.foreign.values()}
        finally:
            await d2.stop()
            srv.stop()

    asyncio.run(main())


def test_cli_unreachable_daemon_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli_main(["status", "--socket", str(tmp_path / "none.sock")])
    err = capsys.readouterr().err
    assert rc == 3 and err.count("\n") == 1 and "Traceback" not in err


def test_agent_bad_config_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("device: {address: nowhere}\n")
    rc = cli_main(["agent", "--config", str(bad)])
    err = capsys.readouterr().err
    assert rc == 2 and "bad.yaml:1: ports: missing" in err and err.count("\n") == 1


def test_agent_unreachable_device_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p4info = write_p4info(tmp_path / "dysco.p4info.txtpb")
    cfg = daemon_yaml(tmp_path, "sw9", "127.0.0.1:1", p4info, ("10.0.0.1", 1), 0, [])
    rc = cli_main(["agent", "--config", str(cfg)])
    err = capsys.readouterr().err
    assert rc == 3 and "127.0.0.1:1" in err and err.count("\n") == 1
    assert not (tmp_path / "sw9.sock").exists()  # nothing half-started


def test_idle_scan_keeps_idle_sessions_and_collects_retired_entries_sooner(
    tmp_path: Path,
) -> None:
    """An idle session keeps its entries for ``idle_timeout`` (a quiet TCP session is still
    a session); an old path's retired entries go after ``retired_timeout``."""
    backend, srv, cfg_path = one_box_device(
        tmp_path, timers="{rto: 0.05, idle_scan: 0.1, idle_timeout: 600, retired_timeout: 0.3}"
    )
    cfg = load_config(cfg_path)

    async def main() -> None:
        d = Daemon(cfg)
        await d.start(connect_timeout=5)
        try:
            static = len(d.translator.static_entries())
            await until(lambda: len(backend.entries) >= static)
            for i in range(2):
                backend.inject(
                    syn_frame(41000 + i),
                    {"reason": int(pl.Reason.SYN), "direction": 1, "ingress_port": 1},
                )
            await until(lambda: len(d.shadow) == 4)
            # pretend the first session's IN entry is an old path kept after a fold
            retired = next(k for k in d.shadow if k.direction.value == "in")
            side = d.agent.by_key[retired]
            side.retired[retired] = None
            await until(lambda: retired not in d.shadow, timeout=10)  # retired_timeout
            assert len(d.shadow) == 3  # the sessions' own entries stay while idle
            # the scan reads idle_timeout each round: shorten it rather than wait 600 s, so
            # no assertion above depends on how late a loaded machine runs the scan
            d.config.timers["idle_timeout"] = 0.5
            await until(lambda: not d.shadow, timeout=10)  # then idle_timeout removes them
            await d.writer.drain()  # the deletes reach the device
            assert len(backend.entries) == static
        finally:
            await d.stop()
            srv.stop(0)

    asyncio.run(main())
