"""Per-host agents in the configuration (``ports.hosts[*].agent_id``): every host port has
an agent id or none; the single-agent form keeps its meaning; mixed or contradictory forms are
one-line errors naming file, line and field. The translator's port roles follow."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from controller.config import AgentSpec, ConfigError, load_config
from controller.p4rt.p4info import load_p4info
from controller.translate import Translator
from dysco_pipeline import pipeline as pl
from tests.controller_support import write_p4info

KEY = secrets.token_hex(16)

HEAD = f"""\
device: {{name: sw1, address: 127.0.0.1:9559, p4info: p4info.txtpb}}
control: {{listen: 127.0.0.1:35001, key: {KEY}}}
management: {{socket: mgmt.sock}}
"""
HOSTS = """\
ports:
  hosts:
    - {{name: client, port: 0, address: 10.0.0.1{a}}}
    - {{name: server, port: 1, address: 10.0.0.2{b}}}
    - {{name: fw, port: 2, address: 10.0.0.3{c}}}
  network: {{port: 3}}
"""


def _hosts(a: str = "", b: str = "", c: str = "") -> str:
    return HOSTS.format(a=a, b=b, c=c)


def _load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    write_p4info(tmp_path / "p4info.txtpb")
    f = tmp_path / "dysco.yaml"
    f.write_text(HEAD + text)
    f.chmod(0o600)
    return load_config(f)


def _err(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as ei:
        _load(tmp_path, text)
    msg = str(ei.value)
    assert "\n" not in msg and "Traceback" not in msg
    return msg


def test_one_agent_per_host_port(tmp_path: Path) -> None:
    c = _load(tmp_path, _hosts(", agent_id: 1", ", agent_id: 2", ", agent_id: 7"))
    assert c.per_host
    assert c.agent_specs() == (
        AgentSpec(1, ("10.0.0.1",)),
        AgentSpec(2, ("10.0.0.2",)),
        AgentSpec(7, ("10.0.0.3",)),
    )
    assert [h.agent_id for h in c.hosts] == [1, 2, 7]
    assert c.addresses == ("10.0.0.1", "10.0.0.2", "10.0.0.3")
    # the device's port roles carry each host port's agent id
    tr = Translator(load_p4info(tmp_path / "p4info.txtpb"), c)
    roles = {
        te.match["ingress_port"]: te.params.get("agent_id")
        for te in tr.static_entries()
        if te.table is pl.Tbl.PORT_ROLE
    }
    assert roles == {0: 1, 1: 2, 2: 7, 3: None}
    assert tr.agent_of_addr == {"10.0.0.1": 1, "10.0.0.2": 2, "10.0.0.3": 7}


def test_host_ports_sharing_an_agent_id_are_one_agent(tmp_path: Path) -> None:
    c = _load(tmp_path, _hosts(", agent_id: 1", ", agent_id: 2", ", agent_id: 1"))
    assert c.agent_specs() == (AgentSpec(1, ("10.0.0.1", "10.0.0.3")), AgentSpec(2, ("10.0.0.2",)))


def test_single_agent_form_keeps_its_meaning(tmp_path: Path) -> None:
    c = _load(tmp_path, _hosts() + "agent: {agent_id: 5, addresses: [10.0.0.1, 10.0.0.2]}\n")
    assert not c.per_host
    assert c.agent_specs() == (AgentSpec(5, ("10.0.0.1", "10.0.0.2")),)
    assert [h.agent_id for h in c.hosts] == [5, 5, 5]  # every port of the one agent
    c = _load(tmp_path, _hosts())
    assert c.agent_specs() == (AgentSpec(0, ("10.0.0.1", "10.0.0.2", "10.0.0.3")),)


def test_every_host_port_or_none(tmp_path: Path) -> None:
    msg = _err(tmp_path, _hosts(", agent_id: 1", "", ", agent_id: 3"))
    assert "dysco.yaml:7: ports.hosts[1].agent_id: missing" in msg
    assert "every host port" in msg
    msg = _err(tmp_path, _hosts("", ", agent_id: 2", ""))
    assert "ports.hosts[1].agent_id" in msg and "ports.hosts[0] has none" in msg


@pytest.mark.parametrize(
    ("agent", "field"),
    [("{agent_id: 1}", "agent.agent_id"), ("{addresses: [10.0.0.1]}", "agent.addresses")],
)
def test_per_host_refuses_the_single_agent_fields(tmp_path: Path, agent: str, field: str) -> None:
    text = _hosts(", agent_id: 1", ", agent_id: 2", ", agent_id: 3") + f"agent: {agent}\n"
    msg = _err(tmp_path, text)
    assert field in msg and "per-host" in msg


def test_agent_id_range(tmp_path: Path) -> None:
    msg = _err(tmp_path, _hosts(", agent_id: 1", ", agent_id: 256", ", agent_id: 3"))
    assert "ports.hosts[1].agent_id" in msg and "0..255" in msg
