"""Every error path of the controller configuration: file, line and field are named."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from controller.config import ConfigError, load_config, parse_config

#: the key written in the documents below is a placeholder: _load substitutes a fresh random
#: key (the config refuses such a patterned, published key; see test_keys.py)
PLACEHOLDER = "00112233445566778899aabbccddeeff"
KEY = secrets.token_hex(16)

BASE = """\
device:
  name: sw1
  address: 127.0.0.1:9559
  device_id: 1
  p4info: p4info.txtpb
  cpu_port: 255
ports:
  hosts:
    - {name: h1, port: 1, address: 10.0.0.1, mac: "02:00:00:00:00:01"}
  network: {port: 2, mac: "02:00:00:00:00:fe"}
control:
  listen: 127.0.0.1:35001
  key: 00112233445566778899aabbccddeeff
peers:
  - {name: c2, endpoint: 127.0.0.1:35002, addresses: [10.0.0.2]}
policies:
  - name: web
    match: {dport: 80}
    chain: [10.0.0.2]
timers: {rto: 0.05, max_retries: 4}
management: {socket: mgmt.sock}
"""


@pytest.fixture
def cfgdir(tmp_path: Path) -> Path:
    (tmp_path / "p4info.txtpb").write_text("")
    (tmp_path / "key.hex").write_text(KEY + "\n")
    (tmp_path / "key.hex").chmod(0o600)
    (tmp_path / "short.hex").write_text("0011\n")
    (tmp_path / "short.hex").chmod(0o600)
    (tmp_path / "pol.yaml").write_text("policies:\n  - name: a\n    chain: [bogus]\n")
    return tmp_path


def _load(cfgdir: Path, text: str):  # type: ignore[no-untyped-def]
    f = cfgdir / "dysco.yaml"
    f.write_text(text.replace(PLACEHOLDER, KEY))
    f.chmod(0o600)  # it holds the key inline
    return load_config(f)


def _err(cfgdir: Path, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as ei:
        _load(cfgdir, text)
    e = ei.value
    assert e.file.endswith(("dysco.yaml", "pol.yaml"))
    assert "Traceback" not in str(e)
    return e


def test_unix_socket_device_address(cfgdir: Path) -> None:
    c = _load(cfgdir, BASE.replace("127.0.0.1:9559", "unix:///run/sw1/p4rt.sock"))
    assert c.device.address == "unix:///run/sw1/p4rt.sock"


def test_valid_config(cfgdir: Path) -> None:
    c = _load(cfgdir, BASE)
    assert c.device.name == "sw1" and c.device.address == "127.0.0.1:9559"
    assert c.device.p4info == cfgdir / "p4info.txtpb"
    assert c.addresses == ("10.0.0.1",)
    assert c.peer_for("10.0.0.2") is not None and c.peer_for("10.0.0.1") is None
    assert [p.name for p in c.policies] == ["web"]
    assert c.timers["rto"] == 0.05 and c.counts["max_retries"] == 4
    assert c.management.socket == cfgdir / "mgmt.sock"
    assert c.management.token_file == cfgdir / "mgmt.token"
    assert c.routes == (("0.0.0.0/0", 2, "02:00:00:00:00:fe"),)
    assert c.control.key == bytes.fromhex(KEY)


def test_key_file_and_policy_file(cfgdir: Path) -> None:
    text = BASE.replace("  key: 00112233445566778899aabbccddeeff", "  key_file: key.hex")
    assert _load(cfgdir, text).control.key == bytes.fromhex(KEY)


# (description, replace-from, replace-to, expected line, expected field, message part)
CASES = [
    ("yaml syntax", "  name: sw1\n", "  name: [sw1\n", None, "yaml", ""),
    ("empty", BASE, "", None, "document", "empty"),
    ("not a mapping", BASE, "- 1\n", 1, "document", "mapping"),
    ("unknown top key", "timers:", "timerz:", 20, "timerz", "unknown key"),
    (
        "missing device",
        "device:\n  name: sw1\n  address: 127.0.0.1:9559\n  device_id: 1\n"
        "  p4info: p4info.txtpb\n  cpu_port: 255\n",
        "",
        1,
        "device",
        "missing",
    ),
    ("missing address", "  address: 127.0.0.1:9559\n", "", 2, "device.address", "missing"),
    ("bad address", "127.0.0.1:9559", "127.0.0.1", 3, "device.address", "host:port"),
    ("address port range", "127.0.0.1:9559", "127.0.0.1:70000", 3, "device.address", "range"),
    ("relative unix address", "127.0.0.1:9559", "unix:sw.sock", 3, "device.address", "absolute"),
    ("device_id type", "device_id: 1", "device_id: one", 4, "device.device_id", "integer"),
    ("p4info missing", "p4info.txtpb", "nope.txtpb", 5, "device.p4info", "no such file"),
    ("cpu_port range", "cpu_port: 255", "cpu_port: -1", 6, "device.cpu_port", "range"),
    ("bad name", "name: sw1", "name: 'a b'", 2, "device.name", "invalid name"),
    (
        "push_pipeline",
        "  cpu_port: 255\n",
        "  cpu_port: 255\n  push_pipeline: sometimes\n",
        7,
        "device.push_pipeline",
        "auto",
    ),
    ("device mac", "  cpu_port: 255\n", "  cpu_port: 255\n  mac: zz\n", 7, "device.mac", "MAC"),
    (
        "hosts empty",
        '  hosts:\n    - {name: h1, port: 1, address: 10.0.0.1, mac: "02:00:00:00:00:01"}\n',
        "  hosts: []\n",
        8,
        "ports.hosts",
        "at least one",
    ),
    (
        "hosts not a list",
        '  hosts:\n    - {name: h1, port: 1, address: 10.0.0.1, mac: "02:00:00:00:00:01"}\n',
        "  hosts: 3\n",
        8,
        "ports.hosts",
        "list",
    ),
    (
        "host address",
        "address: 10.0.0.1,",
        "address: 10.0.0.300,",
        9,
        "ports.hosts[0].address",
        "IPv4",
    ),
    ("host mac", 'mac: "02:00:00:00:00:01"', 'mac: "02:00"', 9, "ports.hosts[0].mac", "MAC"),
    ("host unknown key", "{name: h1,", "{nmae: h1,", 9, "ports.hosts[0].nmae", "unknown key"),
    (
        "duplicate host address",
        '    - {name: h1, port: 1, address: 10.0.0.1, mac: "02:00:00:00:00:01"}\n',
        '    - {name: h1, port: 1, address: 10.0.0.1, mac: "02:00:00:00:00:01"}\n'
        '    - {name: h3, port: 3, address: 10.0.0.1, mac: "02:00:00:00:00:03"}\n',
        10,
        "ports.hosts[1].address",
        "already given",
    ),
    (
        "network port is a host port",
        "network: {port: 2,",
        "network: {port: 1,",
        10,
        "ports.network.port",
        "host port",
    ),
    (
        "missing network",
        '  network: {port: 2, mac: "02:00:00:00:00:fe"}\n',
        "",
        8,
        "ports.network",
        "missing",
    ),
    (
        "missing control",
        "control:\n  listen: 127.0.0.1:35001\n  key: 00112233445566778899aabbccddeeff\n",
        "",
        1,
        "control",
        "missing",
    ),
    ("no key", "  key: 00112233445566778899aabbccddeeff\n", "", 12, "control.key", "exactly one"),
    (
        "both keys",
        "  key: 00112233445566778899aabbccddeeff\n",
        "  key: 00112233445566778899aabbccddeeff\n  key_file: key.hex\n",
        12,
        "control.key",
        "exactly one",
    ),
    (
        "short key",
        "key: 00112233445566778899aabbccddeeff",
        "key: '0011'",
        13,
        "control.key",
        "at least 16",
    ),
    ("not hex", "key: 00112233445566778899aabbccddeeff", "key: xyz", 13, "control.key", "hex"),
    (
        "short key file",
        "key: 00112233445566778899aabbccddeeff",
        "key_file: short.hex",
        13,
        "control.key_file",
        "at least 16",
    ),
    (
        "missing key file",
        "key: 00112233445566778899aabbccddeeff",
        "key_file: none.hex",
        13,
        "control.key_file",
        "no such file",
    ),
    ("listen", "listen: 127.0.0.1:35001", "listen: 35001", 12, "control.listen", "host:port"),
    (
        "peer own address",
        "addresses: [10.0.0.2]}",
        "addresses: [10.0.0.1]}",
        15,
        "peers[0].addresses[0]",
        "own addresses",
    ),
    (
        "peer endpoint",
        "endpoint: 127.0.0.1:35002",
        "endpoint: nowhere",
        15,
        "peers[0].endpoint",
        "host:port",
    ),
    (
        "peer no addresses",
        "addresses: [10.0.0.2]}",
        "addresses: []}",
        15,
        "peers[0].addresses",
        "at least one",
    ),
    (
        "peer duplicate address",
        "  - {name: c2, endpoint: 127.0.0.1:35002, addresses: [10.0.0.2]}\n",
        "  - {name: c2, endpoint: 127.0.0.1:35002, addresses: [10.0.0.2]}\n"
        "  - {name: c3, endpoint: 127.0.0.1:35003, addresses: [10.0.0.2]}\n",
        16,
        "peers[1].addresses[0]",
        "already served",
    ),
    (
        "peer duplicate name",
        "  - {name: c2, endpoint: 127.0.0.1:35002, addresses: [10.0.0.2]}\n",
        "  - {name: c2, endpoint: 127.0.0.1:35002, addresses: [10.0.0.2]}\n"
        "  - {name: c2, endpoint: 127.0.0.1:35003, addresses: [10.0.0.3]}\n",
        16,
        "peers[1].name",
        "duplicate",
    ),
    ("policy dport", "dport: 80", "dport: 99999", 18, "policies[0].match.dport", "out of range"),
    (
        "policy chain name",
        "chain: [10.0.0.2]",
        "chain: [fw9]",
        19,
        "policies[0].chain[0]",
        "unknown name",
    ),
    (
        "policies and policy_file",
        "timers:",
        "policy_file: pol.yaml\ntimers:",
        20,
        "policy_file",
        "give",
    ),
    ("timer negative", "rto: 0.05", "rto: -1", 20, "timers.rto", "positive"),
    ("timer unknown", "rto: 0.05", "rtoo: 0.05", 20, "timers.rtoo", "unknown key"),
    ("timer type", "rto: 0.05", "rto: fast", 20, "timers.rto", "number"),
    ("count range", "max_retries: 4", "max_retries: 5000", 20, "timers.max_retries", "range"),
    (
        "metrics not loopback",
        "management: {socket: mgmt.sock}",
        "management: {socket: mgmt.sock}\nmetrics: {listen: 0.0.0.0:9100}",
        22,
        "metrics.listen",
        "loopback",
    ),
    (
        "agent address not a host",
        "timers:",
        "agent: {addresses: [10.0.0.9]}\ntimers:",
        20,
        "agent.addresses[0]",
        "host port",
    ),
    (
        "agent port range",
        "timers:",
        "agent: {port_range: 10-20}\ntimers:",
        20,
        "agent.port_range",
        "1024",
    ),
    ("agent id", "timers:", "agent: {agent_id: 300}\ntimers:", 20, "agent.agent_id", "range"),
    (
        "route prefix",
        "timers:",
        "routes:\n  - {prefix: 10.0.0.1/8, port: 2}\ntimers:",
        21,
        "routes[0].prefix",
        "invalid IPv4 prefix",
    ),
    (
        "duplicate key",
        "  device_id: 1\n",
        "  device_id: 1\n  device_id: 2\n",
        5,
        "device.device_id",
        "duplicate key",
    ),
    ("writes batch", "timers:", "writes: {max_batch: 0}\ntimers:", 20, "writes.max_batch", "range"),
]


@pytest.mark.parametrize(
    ("old", "new", "line", "field", "msg"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_config_errors(
    cfgdir: Path, old: str, new: str, line: int | None, field: str, msg: str
) -> None:
    assert old in BASE
    e = _err(cfgdir, BASE.replace(old, new, 1))
    assert e.field == field, str(e)
    if line is not None:
        assert e.line == line, str(e)
    assert msg in e.message, str(e)


def test_policy_file_errors_name_that_file(cfgdir: Path) -> None:
    text = BASE.split("policies:")[0] + "policy_file: pol.yaml\n"
    e = _err(cfgdir, text)
    assert e.file.endswith("pol.yaml") and e.line == 3 and e.field == "policies[0].chain[0]"


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as ei:
        load_config(tmp_path / "missing.yaml")
    assert ei.value.field == "file" and ei.value.line is None


def test_parse_string_relative_paths(cfgdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(cfgdir)
    assert parse_config(BASE.replace(PLACEHOLDER, KEY)).device.p4info == cfgdir / "p4info.txtpb"
