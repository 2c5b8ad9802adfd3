"""Interop: p4runtime-shell (the community's P4Runtime debugging shell, in its own virtualenv
because it pins protobuf < 3.21) connects to our P4Runtime server in front of the DPDK agent,
reads the Dysco tables by name, and inserts an entry the agent then holds."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from dysco_bench.dataplane_bench import P4RTSession, _base_updates, _session_updates
from dysco_targets.backends import DpdkBackend
from dysco_targets.contract import CONTRACT_P4INFO
from dysco_targets.dpdk_ctl import CtlTable
from dysco_targets.server import P4RuntimeServer
from tests.dpdk_support import start_agent

REPO = Path(__file__).resolve().parents[2]
SHELL_PY = REPO / "build" / "p4rt-shell-venv" / "bin" / "python"

pytestmark = [
    pytest.mark.skipif(not CONTRACT_P4INFO.exists(), reason="no compiled P4Info"),
    pytest.mark.skipif(
        not SHELL_PY.exists(), reason="p4runtime-shell venv missing (make p4rt-shell-venv)"
    ),
]

SCRIPT = r"""
import sys
import p4runtime_sh.shell as sh
sh.setup(device_id=1, grpc_addr=sys.argv[1], election_id=(0, 7), config=None)
n = 0
first = None
for te in sh.TableEntry("DyscoIngress.session.out_session").read():
    n += 1
    first = first or te
print("out_session", n)
print("match", first.match["src_addr"].exact.value.hex(), first.action.action_name)
t = sh.TableEntry("DyscoIngress.ports.local_addr")(action="DyscoIngress.ports.set_local")
t.match["dst_addr"] = "198.18.0.77"
t.insert()
print("inserted")
print("local_addr", len(list(sh.TableEntry("DyscoIngress.ports.local_addr").read())))
sh.teardown()
"""


def test_p4runtime_shell_reads_and_writes() -> None:
    agent = start_agent(sessions=4096)
    srv = P4RuntimeServer(DpdkBackend(agent=agent), "127.0.0.1:0").start()
    try:
        s = P4RTSession(srv.address)  # pushes the pipeline (election id 1)
        s.write(_base_updates())
        for batch in _session_updates(500):
            s.write(batch)
        s.close()
        r = subprocess.run(
            [str(SHELL_PY), "-c", SCRIPT, srv.address], capture_output=True, text=True, timeout=120
        )
        assert r.returncode == 0, r.stdout + r.stderr
        assert "out_session 500" in r.stdout, r.stdout
        assert "match c612000a DyscoIngress.session.out_rewrite" in r.stdout, r.stdout
        assert "local_addr 1" in r.stdout
        rows = list(agent.client.read(CtlTable.LOCAL_ADDR))
        assert [row["dip"] for row in rows] == [0xC612004D]  # 198.18.0.77
    finally:
        srv.stop()
