"""The controller's YAML configuration: schema and validation (the resulting objects are in
:mod:`controller.config_schema`, re-exported here).

One file configures one daemon, i.e. the control plane of one data-plane device::

    device:
      name: sw1                    # optional; used in logs, metrics, default socket name
      address: 127.0.0.1:9559      # required: the device's P4Runtime server (host:port, or
                                   # unix:///path for a server on a Unix socket)
      device_id: 1                 # optional, default 1
      election_id: 1               # optional, default 1 (>= 1)
      p4info: ../p4src/build/dysco.p4info.txtpb  # optional; default: the project's build
      device_config: ../p4src/build/dysco.json   # optional (bmv2 JSON; absent: P4Info only)
      cpu_port: 255                # optional: default dysco_pipeline.pipeline.CPU_PORT
      mac: "02:d5:c0:00:00:01"     # optional: source MAC of frames the device routes
      push_pipeline: auto          # auto (only when the P4Info cookie changed) | always | never
      slots: 1048576               # optional: register slots the device holds (the DPDK agent's
                                   # --slots); default: the slot registers' size in the P4Info
      tls:                         # optional: TLS to the device (docs/controller.md, security)
        ca: ca.pem                 #   CA of the device's certificate (required with tls)
        cert: client.pem           #   client certificate and key: mutual TLS (both or neither)
        key: client.key
        server_name: sw1.example   #   optional: name in the device's certificate
      # a Tofino switch (docs/deploy-tofino.md): target tofino, then
      target: bmv2                 # optional: bmv2 (default) | tofino
      chip: tofino2                # tofino only, required: tofino | tofino2
      server: stratum              # tofino only, required: stratum | sde (bf_switchd with PI)
      pipe: pipe                   # tofino only: a one-pipeline build's Pipeline (P4Info prefix)
      build: ../p4src/build/tofino2  # tofino only: compiled outputs (default p4src/build/<chip>)
      pipe_scope: [0, 1]           # tofino only, Stratum: hw pipes (default all); folded build:
                                   # {pipe_a: [1], pipe_b: [0]} (default: its dysco.conf's)
      clone_session: 100           # optional: mirror-to-CPU session (program's CPU_CLONE_SESSION)
      clone_max_len: 16383         # optional: its packet_length_bytes (default per target)
    ports:
      hosts:                       # ports facing the hosts behind the device (>= 1)
        - {name: h1, port: 1, address: 10.0.0.1, mac: "02:00:00:00:00:01"}
      # per-host agents (docs/controller.md): agent_id (0-255) on EVERY host port or none
      #   - {name: h2, port: 2, address: 10.0.0.2, mac: "02:00:00:00:00:02", agent_id: 2}
      network: {port: 3, mac: "02:00:00:00:00:fe"}  # uplink; mac: next-hop MAC (optional)
    routes:                        # optional; default: 0.0.0.0/0 via the network port
      - {prefix: 10.1.0.0/16, port: 3, mac: "02:00:00:00:00:fe"}
    agent:                         # optional
      agent_id: 0                  # single-agent form: the agent id of every host port
      addresses: [10.0.0.1]        # single-agent form: default every host address
      port_range: 20000-60999
      seed: 0
    control:
      listen: 127.0.0.1:35001      # UDP endpoint of this controller's peer channel
      key_file: dysco.key          # hex (>= 16 bytes) in a file, or `key: <hex>` inline
    peers:                         # other controllers (there is no central one)
      - {name: c2, endpoint: 127.0.0.1:35002, addresses: [10.0.0.2]}
    names: {fw1: 10.0.0.5}         # optional: names usable in policy chains
    policies: [...]                # optional: same schema as docs/policies.md
    policy_file: policies.yaml     # optional: alternative to `policies`
    timers: {rto: 0.02, idle_timeout: 3600}   # optional; see TIMER_FIELDS
    management: {socket: /run/dysco/sw1.sock, token_file: /run/dysco/sw1.token}
    metrics: {listen: 127.0.0.1:9108}      # optional; absent: no metrics endpoint
    writes: {max_batch: 1000}              # optional

Relative paths are resolved against the directory of the configuration file. Every problem
raises :class:`dysco_proto.policy.ConfigError` with the file, the 1-based line and the field
path, and nothing is started before the whole file has been validated.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
from dataclasses import replace
from pathlib import Path
from typing import NoReturn

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from controller.config_schema import (
    COUNT_FIELDS,
    TIMER_FIELDS,
    AgentSpec,
    Config,
    ControlConfig,
    DeviceConfig,
    HostPort,
    ManagementConfig,
    NetworkPort,
    PeerConfig,
)
from controller.keys import config_file_problem, key_file_problem, weak_key_reason
from controller.p4rt.tls import ClientTls
from controller.p4rt.tofino import (
    CHIPS,
    SDE_MAX_CLONE_SESSION,
    SERVERS,
    STRATUM_MAX_CLONE_SESSION,
    PipeScope,
    TofinoConfig,
    TofinoConfigError,
    tofino_config,
)
from dysco_pipeline.pipeline import CPU_CLONE_SESSION, CPU_PORT, SLOT_SPACE
from dysco_proto.policy import (
    ConfigError,
    Policy,
    check_document,
    load_policies,
    read_document,
)
from dysco_proto.policy import _Parser as _PolicyParser
from dysco_proto.wire import MIN_KEY_LEN

__all__ = [
    "TIMER_FIELDS",
    "AgentSpec",
    "Config",
    "ConfigError",
    "ControlConfig",
    "DeviceConfig",
    "HostPort",
    "ManagementConfig",
    "NetworkPort",
    "PeerConfig",
    "load_config",
    "parse_config",
]

_NULL_TAG = "tag:yaml.org,2002:null"
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_STR_TAG = "tag:yaml.org,2002:str"
_BOOL_TAG = "tag:yaml.org,2002:bool"
_MAC_RE = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")
_HEX_RE = re.compile(r"^[0-9a-fA-F]+$")
log = logging.getLogger(__name__)
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_RANGE_RE = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*$")

_EVERY_OR_NONE = "give every host port an agent_id (one agent each) or none (one agent for all)"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_P4INFO = PROJECT_ROOT / "p4src" / "build" / "dysco.p4info.txtpb"

_TOFINO_FIELDS: tuple[str, ...] = ("target", "chip", "server", "pipe", "build", "pipe_scope")
_TOFINO_FIELDS += ("clone_session", "clone_max_len")


class _Parser(_PolicyParser):
    """Validates a whole controller configuration (reusing the policy parser's helpers)."""

    def __init__(self, filename: str) -> None:
        super().__init__(filename, None)
        self.base = Path(filename).resolve().parent if filename != "<string>" else Path.cwd()

    # -- scalar helpers -------------------------------------------------------------------

    def fail(self, node: Node | None, field: str, message: str) -> NoReturn:
        super().fail(node, field, message)

    def integer(self, node: Node, path: str, low: int, high: int) -> int:
        if not (isinstance(node, ScalarNode) and node.tag == _INT_TAG):
            self.fail(node, path, f"expected an integer, got {_describe(node)}")
        value = self.scalar(node, path)
        assert isinstance(value, int)
        if not low <= value <= high:
            self.fail(node, path, f"{value} out of range {low}..{high}")
        return value

    def number(self, node: Node, path: str) -> float:
        if not (isinstance(node, ScalarNode) and node.tag in (_INT_TAG, _FLOAT_TAG)):
            self.fail(node, path, f"expected a number of seconds, got {_describe(node)}")
        value = self.scalar(node, path)
        assert isinstance(value, int | float)
        if not (value > 0 and value < 86400 * 365):
            self.fail(node, path, f"must be a positive number of seconds, got {value}")
        return float(value)

    def ipv4(self, node: Node, path: str) -> str:
        text = self.string(node, path, "an IPv4 address")
        try:
            return str(ipaddress.IPv4Address(text))
        except ValueError:
            self.fail(node, path, f"not an IPv4 address: {text!r}")

    def mac(self, node: Node, path: str) -> str:
        text = self.string(node, path, "a MAC address (aa:bb:cc:dd:ee:ff)")
        if not _MAC_RE.match(text):
            self.fail(node, path, f"not a MAC address (aa:bb:cc:dd:ee:ff): {text!r}")
        return text.lower()

    def endpoint(
        self, node: Node, path: str, *, loopback_only: bool = False, allow_zero: bool = False
    ) -> tuple[str, int]:
        text = self.string(node, path, "host:port")
        host, sep, port_text = text.rpartition(":")
        if not sep or not host or not port_text.isdigit():
            self.fail(node, path, f"expected host:port, got {text!r}")
        port = int(port_text)
        if not (0 if allow_zero else 1) <= port <= 65535:
            self.fail(node, path, f"port {port} out of range 1..65535")
        host = host.strip("[]")
        if loopback_only:
            try:
                ok = ipaddress.ip_address(host).is_loopback
            except ValueError:
                ok = host == "localhost"
            if not ok:
                self.fail(node, path, f"must be a loopback address, got {host!r}")
        return host, port

    def device_address(self, node: Node, path: str) -> str:
        """A gRPC target: ``host:port``, or ``unix:///absolute/path`` (a Unix socket)."""
        text = self.string(node, path, "host:port or unix:///path")
        if text.startswith("unix:"):
            sock = text.removeprefix("unix://") if text.startswith("unix://") else text[5:]
            if not sock.startswith("/"):
                self.fail(node, path, f"expected unix:///absolute/path, got {text!r}")
            return f"unix://{sock}"
        host, port = self.endpoint(node, path)
        return f"{host}:{port}"

    def path(self, node: Node, path: str, *, must_exist: bool) -> Path:
        text = self.string(node, path, "a file path")
        p = Path(os.path.expanduser(text))
        if not p.is_absolute():
            p = self.base / p
        if must_exist and not p.is_file():
            self.fail(node, path, f"no such file: {p}")
        return p

    def name(self, node: Node, path: str) -> str:
        text = self.string(node, path, "a name")
        if not _NAME_RE.match(text):
            self.fail(node, path, f"invalid name {text!r} (letters, digits, '_', '.', '-')")
        return text

    def seq(self, node: Node, path: str, what: str) -> list[Node]:
        if not isinstance(node, SequenceNode):
            self.fail(node, path, f"expected a list of {what}, got {_describe(node)}")
        return list(node.value)

    def optional_mapping(
        self, node: Node, path: str, allowed: tuple[str, ...], required: tuple[str, ...] = ()
    ) -> dict[str, tuple[Node, Node]]:
        if isinstance(node, ScalarNode) and node.tag == _NULL_TAG and not required:
            return {}
        return self.mapping(node, path, allowed, required)

    # -- the document -------------------------------------------------------------------

    def config(self, root: Node | None) -> Config:
        if root is None or (isinstance(root, ScalarNode) and root.tag == _NULL_TAG):
            self.fail(root, "document", "empty configuration")
        top = self.mapping(
            root,
            "",
            (
                "device",
                "ports",
                "routes",
                "agent",
                "control",
                "peers",
                "names",
                "policies",
                "policy_file",
                "timers",
                "management",
                "metrics",
                "writes",
            ),
            required=("device", "ports", "control"),
        )
        device = self.device(top["device"][1])
        hosts, network = self.ports(top["ports"][1])
        host_addrs = tuple(h.address for h in hosts)
        per_host = hosts[0].agent_id >= 0
        addresses, port_low, port_high, seed, agent_id = self.agent(
            top.get("agent"), host_addrs, per_host
        )
        agents: tuple[AgentSpec, ...] = ()
        if per_host:
            by_id: dict[int, list[str]] = {}
            for h in hosts:
                by_id.setdefault(h.agent_id, []).append(h.address)
            agents = tuple(AgentSpec(a, tuple(addrs)) for a, addrs in by_id.items())
            agent_id = agents[0].agent_id
        else:
            hosts = tuple(replace(h, agent_id=agent_id) for h in hosts)
        routes = self.routes(top.get("routes"), network)
        control = self.control(top["control"][1])
        peers = self.peers(top.get("peers"), set(addresses))
        if "names" in top:
            self.parse_names(top["names"][1])
        policies = self.policies(top)
        timers, counts = self.timers(top.get("timers"))
        management = self.management(top.get("management"), top.get("metrics"), device.name)
        max_batch = 1000
        if "writes" in top:
            w = self.optional_mapping(top["writes"][1], "writes", ("max_batch",))
            if "max_batch" in w:
                max_batch = self.integer(w["max_batch"][1], "writes.max_batch", 1, 100_000)
        return Config(
            file=self.filename,
            device=device,
            hosts=hosts,
            network=network,
            routes=routes,
            addresses=addresses,
            agent_id=agent_id,
            port_low=port_low,
            port_high=port_high,
            seed=seed,
            control=control,
            peers=peers,
            names=dict(self.names),
            policies=tuple(policies),
            timers=timers,
            counts=counts,
            management=management,
            max_batch=max_batch,
            agents=agents,
        )

    def device(self, node: Node) -> DeviceConfig:
        f = self.mapping(
            node,
            "device",
            (
                "name",
                "address",
                "device_id",
                "election_id",
                "p4info",
                "device_config",
                "cpu_port",
                "push_pipeline",
                "mac",
                "tls",
                "slots",
                *_TOFINO_FIELDS,
            ),
            required=("address",),
        )
        name = self.name(f["name"][1], "device.name") if "name" in f else "dysco"
        address = self.device_address(f["address"][1], "device.address")
        device_id = (
            self.integer(f["device_id"][1], "device.device_id", 0, 2**64 - 1)
            if "device_id" in f
            else 1
        )
        election_id = (
            self.integer(f["election_id"][1], "device.election_id", 1, 2**128 - 1)
            if "election_id" in f
            else 1
        )
        tofino = self.device_tofino(node, f)
        if "p4info" in f:
            p4info = self.path(f["p4info"][1], "device.p4info", must_exist=True)
        else:
            p4info = DEFAULT_P4INFO if tofino is None else tofino.build_dir / "dysco.p4info.txtpb"
            if not p4info.is_file():
                self.fail(node, "device.p4info", f"not given and the default {p4info} is missing")
        if tofino is not None and "device_config" in f:
            self.fail(
                f["device_config"][0],
                "device.device_config",
                "not with target tofino: the device config is built from `build`",
            )
        device_config = (
            self.path(f["device_config"][1], "device.device_config", must_exist=True)
            if "device_config" in f
            else None
        )
        cpu_port = (
            self.integer(f["cpu_port"][1], "device.cpu_port", 0, 2**32 - 1)
            if "cpu_port" in f
            else (CPU_PORT if tofino is None else CHIPS[tofino.chip].cpu_port)
        )
        clone_session, clone_max_len = self.device_clone(f, tofino, cpu_port)
        mac = self.mac(f["mac"][1], "device.mac") if "mac" in f else "02:d5:c0:00:00:01"
        push = "auto"
        if "push_pipeline" in f:
            vnode = f["push_pipeline"][1]
            push = self.string(vnode, "device.push_pipeline", "auto, always or never")
            if push not in ("auto", "always", "never"):
                self.fail(vnode, "device.push_pipeline", f"expected auto, always, never: {push!r}")
        return DeviceConfig(
            name=name,
            address=address,
            device_id=device_id,
            election_id=election_id,
            p4info=p4info,
            device_config=device_config,
            cpu_port=cpu_port,
            push_pipeline=push,
            mac=mac,
            tls=self.device_tls(f["tls"][1]) if "tls" in f else None,
            target="bmv2" if tofino is None else "tofino",
            clone_session=clone_session,
            clone_max_len=clone_max_len,
            tofino=tofino,
            slots=self.device_slots(f),
        )

    def device_slots(self, f: dict[str, tuple[Node, Node]]) -> int | None:
        """``device.slots``: the register slots the device holds (``None``: the P4Info's)."""
        return self.integer(f["slots"][1], "device.slots", 2, SLOT_SPACE) if "slots" in f else None

    def device_tofino(self, node: Node, f: dict[str, tuple[Node, Node]]) -> TofinoConfig | None:
        """``device.target`` and, for ``tofino``, its fields (others: an error if given)."""
        target = "bmv2"
        if "target" in f:
            target = self.string(f["target"][1], "device.target", "bmv2 or tofino")
            if target not in ("bmv2", "tofino"):
                self.fail(f["target"][1], "device.target", f"expected bmv2 or tofino: {target!r}")
        if target != "tofino":
            for key in ("chip", "server", "pipe", "build", "pipe_scope"):
                if key in f:
                    self.fail(f[key][0], f"device.{key}", "only with target: tofino")
            return None
        for key, choices in (("chip", tuple(CHIPS)), ("server", SERVERS)):
            if key not in f:
                self.fail(
                    node, f"device.{key}", f"required with target tofino: {', '.join(choices)}"
                )
            value = self.string(f[key][1], f"device.{key}", " or ".join(choices))
            if value not in choices:
                self.fail(f[key][1], f"device.{key}", f"expected {' or '.join(choices)}: {value!r}")
        chip = self.scalar(f["chip"][1], "device.chip")
        server = self.scalar(f["server"][1], "device.server")
        pipe = self.name(f["pipe"][1], "device.pipe") if "pipe" in f else None
        build = self.path(f["build"][1], "device.build", must_exist=False) if "build" in f else None
        scope = self.pipe_scope(f["pipe_scope"], server) if "pipe_scope" in f else ()
        try:
            return tofino_config(str(chip), str(server), pipe, build, scope)
        except TofinoConfigError as e:
            self.fail(f[e.field][1] if e.field in f else node, f"device.{e.field}", str(e))

    def pipe_scope(self, item: tuple[Node, Node], server: object) -> PipeScope:
        """``device.pipe_scope`` (Stratum only): the hardware pipes of a one-pipeline build, or
        per pipeline of a build of several (``{pipe_a: [1], pipe_b: [0]}``)."""
        if server != "stratum":
            self.fail(item[0], "device.pipe_scope", "only with server: stratum")
        if not isinstance(item[1], MappingNode):
            return self.hw_pipes(item[1], "device.pipe_scope")
        f = self.mapping(
            item[1], "device.pipe_scope", tuple(str(k.value) for k, _ in item[1].value)
        )
        return {k: self.hw_pipes(v, f"device.pipe_scope.{k}") for k, (_n, v) in f.items()}

    def hw_pipes(self, node: Node, path: str) -> tuple[int, ...]:
        nodes = self.seq(node, path, "pipes")
        return tuple(self.integer(n, f"{path}[{i}]", 0, 7) for i, n in enumerate(nodes))

    def device_clone(
        self, f: dict[str, tuple[Node, Node]], tofino: TofinoConfig | None, cpu_port: int
    ) -> tuple[int, int]:
        """``clone_session`` and ``clone_max_len``, checked against what the server accepts."""
        top = SDE_MAX_CLONE_SESSION
        if tofino is not None and tofino.server == "stratum":
            top = STRATUM_MAX_CLONE_SESSION
        session = (
            self.integer(f["clone_session"][1], "device.clone_session", 1, top)
            if "clone_session" in f
            else CPU_CLONE_SESSION
        )
        default_len = 0 if tofino is None else CHIPS[tofino.chip].clone_max_len
        max_len = (
            self.integer(f["clone_max_len"][1], "device.clone_max_len", 0, 65535)
            if "clone_max_len" in f
            else default_len
        )
        if tofino is not None and tofino.server == "stratum" and cpu_port == 0:
            where = f["cpu_port"][1] if "cpu_port" in f else f["server"][1]
            self.fail(
                where,
                "device.cpu_port",
                "Stratum refuses a clone session to port 0 (bfrt_pre_manager.cc), and 0 is "
                f"{tofino.chip}'s PCIe CPU port: use server sde, or a program whose CPU port "
                "is not 0",
            )
        return session, max_len

    def device_tls(self, node: Node) -> ClientTls | None:
        """``device.tls``: ``ca`` (required), ``cert`` and ``key`` (mutual TLS, both or
        neither), ``server_name`` (the name in the device's certificate, if not its host)."""
        f = self.optional_mapping(node, "device.tls", ("ca", "cert", "key", "server_name"))
        if not f:
            return None
        if "ca" not in f:
            self.fail(
                node, "device.tls.ca", "the CA that signed the device's certificate is required"
            )
        if ("cert" in f) != ("key" in f):
            self.fail(node, "device.tls", "give both 'cert' and 'key' (mutual TLS), or neither")
        ca = self.path(f["ca"][1], "device.tls.ca", must_exist=True)
        cert = self.path(f["cert"][1], "device.tls.cert", must_exist=True) if "cert" in f else None
        key = self.path(f["key"][1], "device.tls.key", must_exist=True) if "key" in f else None
        name = (
            self.string(f["server_name"][1], "device.tls.server_name", "a host name")
            if "server_name" in f
            else None
        )
        return ClientTls(ca, cert, key, name)

    def ports(self, node: Node) -> tuple[tuple[HostPort, ...], NetworkPort]:
        f = self.mapping(node, "ports", ("hosts", "network"), required=("hosts", "network"))
        items = self.seq(f["hosts"][1], "ports.hosts", "host ports")
        if not items:
            self.fail(f["hosts"][1], "ports.hosts", "at least one host port is required")
        hosts: list[HostPort] = []
        seen_port: dict[int, int] = {}
        seen_addr: dict[str, int] = {}
        for i, item in enumerate(items):
            path = f"ports.hosts[{i}]"
            h = self.mapping(
                item, path, ("name", "port", "address", "mac", "agent_id"), ("port", "address")
            )
            port = self.integer(h["port"][1], f"{path}.port", 0, 2**32 - 1)
            addr = self.ipv4(h["address"][1], f"{path}.address")
            mac = self.mac(h["mac"][1], f"{path}.mac") if "mac" in h else "00:00:00:00:00:00"
            name = self.name(h["name"][1], f"{path}.name") if "name" in h else f"host{i}"
            line = item.start_mark.line + 1
            if addr in seen_addr:
                self.fail(
                    h["address"][1],
                    f"{path}.address",
                    f"address {addr} already given at line {seen_addr[addr]}",
                )
            aid = self._host_agent_id(h, path, first_node=items[0])
            seen_port.setdefault(port, line)
            seen_addr[addr] = line
            hosts.append(HostPort(name, port, addr, mac, -1 if aid is None else aid))
        n = self.mapping(f["network"][1], "ports.network", ("port", "mac"), ("port",))
        nport = self.integer(n["port"][1], "ports.network.port", 0, 2**32 - 1)
        if nport in seen_port:
            self.fail(
                n["port"][1],
                "ports.network.port",
                f"port {nport} is also a host port (line {seen_port[nport]})",
            )
        nmac = self.mac(n["mac"][1], "ports.network.mac") if "mac" in n else "ff:ff:ff:ff:ff:ff"
        return tuple(hosts), NetworkPort(nport, nmac)

    def _host_agent_id(
        self, h: dict[str, tuple[Node, Node]], path: str, first_node: Node
    ) -> int | None:
        """A host port's ``agent_id`` (per-host agents): all host ports have one, or none."""
        first = isinstance(first_node, MappingNode) and any(
            isinstance(k, ScalarNode) and k.value == "agent_id" for k, _v in first_node.value
        )
        if ("agent_id" in h) != first:
            why = "missing" if first else "ports.hosts[0] has none"
            node = h["agent_id"][1] if "agent_id" in h else h["port"][0]
            self.fail(node, f"{path}.agent_id", f"{why}: {_EVERY_OR_NONE}")
        return self.integer(h["agent_id"][1], f"{path}.agent_id", 0, 255) if first else None

    def agent(
        self, item: tuple[Node, Node] | None, host_addrs: tuple[str, ...], per_host: bool = False
    ) -> tuple[tuple[str, ...], int, int, int, int]:
        addresses = host_addrs
        low, high, seed, agent_id = 20000, 60999, 0, 0
        if item is None:
            return addresses, low, high, seed, agent_id
        f = self.optional_mapping(item[1], "agent", ("addresses", "port_range", "seed", "agent_id"))
        for name in [n for n in ("agent_id", "addresses") if n in f and per_host]:
            why = "not with per-host agents (ports.hosts[*].agent_id): each serves its host"
            self.fail(f[name][1], f"agent.{name}", why)
        if "agent_id" in f:
            agent_id = self.integer(f["agent_id"][1], "agent.agent_id", 0, 255)
        if "addresses" in f:
            vnode = f["addresses"][1]
            nodes = self.seq(vnode, "agent.addresses", "IPv4 addresses")
            if not nodes:
                self.fail(vnode, "agent.addresses", "at least one address is required")
            out: list[str] = []
            for i, a in enumerate(nodes):
                addr = self.ipv4(a, f"agent.addresses[{i}]")
                if addr not in host_addrs:
                    self.fail(
                        a, f"agent.addresses[{i}]", f"{addr} is not the address of a host port"
                    )
                out.append(addr)
            addresses = tuple(out)
        if "port_range" in f:
            vnode = f["port_range"][1]
            text = self.string(vnode, "agent.port_range", "a range 'low-high'")
            m = _RANGE_RE.match(text)
            if not m:
                self.fail(vnode, "agent.port_range", f"expected 'low-high', got {text!r}")
            low, high = int(m.group(1)), int(m.group(2))
            if not (1024 <= low <= high <= 65535):
                self.fail(vnode, "agent.port_range", f"need 1024 <= low <= high <= 65535: {text}")
        if "seed" in f:
            seed = self.integer(f["seed"][1], "agent.seed", 0, 2**63 - 1)
        return addresses, low, high, seed, agent_id

    def routes(
        self, item: tuple[Node, Node] | None, network: NetworkPort
    ) -> tuple[tuple[str, int, str], ...]:
        if item is None:
            return (("0.0.0.0/0", network.port, network.mac),)
        node = item[1]
        if isinstance(node, ScalarNode) and node.tag == _NULL_TAG:
            return ()
        out: list[tuple[str, int, str]] = []
        for i, rnode in enumerate(self.seq(node, "routes", "routes")):
            path = f"routes[{i}]"
            f = self.mapping(rnode, path, ("prefix", "port", "mac"), ("prefix", "port"))
            text = self.string(f["prefix"][1], f"{path}.prefix", "an IPv4 prefix")
            try:
                prefix = str(ipaddress.IPv4Network(text, strict=True))
            except ValueError as e:
                self.fail(f["prefix"][1], f"{path}.prefix", f"invalid IPv4 prefix {text!r}: {e}")
            port = self.integer(f["port"][1], f"{path}.port", 0, 2**32 - 1)
            mac = self.mac(f["mac"][1], f"{path}.mac") if "mac" in f else network.mac
            out.append((prefix, port, mac))
        return tuple(out)

    def control(self, node: Node) -> ControlConfig:
        f = self.mapping(node, "control", ("listen", "key", "key_file"), required=("listen",))
        host, port = self.endpoint(f["listen"][1], "control.listen", allow_zero=True)
        if ("key" in f) == ("key_file" in f):
            self.fail(node, "control.key", "give exactly one of 'key' (hex) or 'key_file'")
        if "key" in f:
            vnode = f["key"][1]
            key = self.hex_key(vnode, "control.key", self.string(vnode, "control.key", "hex"))
            if self.filename != "<string>":
                self.key_storage(vnode, "control.key", config_file_problem(Path(self.filename)))
        else:
            vnode = f["key_file"][1]
            p = self.path(vnode, "control.key_file", must_exist=True)
            self.key_storage(vnode, "control.key_file", key_file_problem(p))
            try:
                text = p.read_text(encoding="ascii").strip()
            except (OSError, UnicodeDecodeError) as e:
                self.fail(vnode, "control.key_file", f"cannot read {p}: {e}")
            key = self.hex_key(vnode, "control.key_file", text)
        return ControlConfig(host, port, key)

    def hex_key(self, node: Node, path: str, text: str) -> bytes:
        if not _HEX_RE.match(text) or len(text) % 2:
            self.fail(node, path, "the key must be an even number of hex digits")
        key = bytes.fromhex(text)
        if len(key) < MIN_KEY_LEN:
            self.fail(node, path, f"the key must be at least {MIN_KEY_LEN} bytes, got {len(key)}")
        self.key_storage(node, path, weak_key_reason(key))
        return key

    def key_storage(self, node: Node, path: str, problem: tuple[str | None, str | None]) -> None:
        """Refuse (``ConfigError``) or warn (one log line) about the key (``controller.keys``)."""
        refuse, warn = problem
        if refuse is not None:
            self.fail(node, path, f"refused: {refuse}")
        if warn is not None:
            line = node.start_mark.line + 1 if node.start_mark is not None else "?"
            log.warning("%s:%s: %s: %s", self.filename, line, path, warn)

    def peers(self, item: tuple[Node, Node] | None, own: set[str]) -> tuple[PeerConfig, ...]:
        if item is None:
            return ()
        node = item[1]
        if isinstance(node, ScalarNode) and node.tag == _NULL_TAG:
            return ()
        out: list[PeerConfig] = []
        owner: dict[str, str] = {}
        names: set[str] = set()
        for i, pnode in enumerate(self.seq(node, "peers", "peer controllers")):
            path = f"peers[{i}]"
            f = self.mapping(
                pnode, path, ("name", "endpoint", "addresses"), ("endpoint", "addresses")
            )
            name = self.name(f["name"][1], f"{path}.name") if "name" in f else f"peer{i}"
            if name in names:
                self.fail(f["name"][1], f"{path}.name", f"duplicate peer name {name!r}")
            names.add(name)
            host, port = self.endpoint(f["endpoint"][1], f"{path}.endpoint")
            anodes = self.seq(f["addresses"][1], f"{path}.addresses", "IPv4 addresses")
            if not anodes:
                self.fail(f["addresses"][1], f"{path}.addresses", "at least one address")
            addrs: list[str] = []
            for j, a in enumerate(anodes):
                apath = f"{path}.addresses[{j}]"
                addr = self.ipv4(a, apath)
                if addr in own:
                    self.fail(a, apath, f"{addr} is one of this agent's own addresses")
                if addr in owner:
                    self.fail(a, apath, f"{addr} is already served by peer {owner[addr]!r}")
                owner[addr] = name
                addrs.append(addr)
            out.append(PeerConfig(name, host, port, tuple(addrs)))
        return tuple(out)

    def policies(self, top: dict[str, tuple[Node, Node]]) -> list[Policy]:
        if "policies" in top and "policy_file" in top:
            self.fail(top["policy_file"][0], "policy_file", "give 'policies' or 'policy_file'")
        if "policy_file" in top:
            p = self.path(top["policy_file"][1], "policy_file", must_exist=True)
            return load_policies(p, names=self.names)
        if "policies" not in top:
            return []
        pnode = top["policies"][1]
        if isinstance(pnode, ScalarNode) and pnode.tag == _NULL_TAG:
            return []
        out: list[Policy] = []
        seen: dict[str, int] = {}
        for i, item in enumerate(self.seq(pnode, "policies", "policies")):
            policy, name_node = self.parse_policy(item, f"policies[{i}]")
            if policy.name in seen:
                self.fail(
                    name_node,
                    f"policies[{i}].name",
                    f"duplicate policy name {policy.name!r} (first defined at line "
                    f"{seen[policy.name]})",
                )
            seen[policy.name] = name_node.start_mark.line + 1
            out.append(policy)
        return out

    def timers(self, item: tuple[Node, Node] | None) -> tuple[dict[str, float], dict[str, int]]:
        timers = dict(TIMER_FIELDS)
        counts = dict(COUNT_FIELDS)
        if item is None:
            return timers, counts
        f = self.optional_mapping(item[1], "timers", (*TIMER_FIELDS, *COUNT_FIELDS))
        for key, (_k, vnode) in f.items():
            if key in COUNT_FIELDS:
                counts[key] = self.integer(vnode, f"timers.{key}", 0, 1000)
            else:
                timers[key] = self.number(vnode, f"timers.{key}")
        return timers, counts

    def management(
        self, mitem: tuple[Node, Node] | None, xitem: tuple[Node, Node] | None, name: str
    ) -> ManagementConfig:
        sock = Path(f"/run/dysco/{name}.sock")
        token: Path | None = None
        if mitem is not None:
            f = self.optional_mapping(mitem[1], "management", ("socket", "token_file"))
            if "socket" in f:
                sock = self.path(f["socket"][1], "management.socket", must_exist=False)
                if len(os.fsencode(sock)) > 100:
                    self.fail(f["socket"][1], "management.socket", "path too long for a socket")
            if "token_file" in f:
                token = self.path(f["token_file"][1], "management.token_file", must_exist=False)
                if token.parent != sock.parent:  # the directory the daemon owns (Security)
                    self.fail(
                        f["token_file"][1],
                        "management.token_file",
                        f"must be in the socket's directory {sock.parent}",
                    )
        mhost = None
        mport = None
        if xitem is not None:
            x = self.optional_mapping(xitem[1], "metrics", ("listen",))
            if "listen" in x:
                mhost, mport = self.endpoint(x["listen"][1], "metrics.listen", loopback_only=True)
        return ManagementConfig(
            socket=sock,
            token_file=token if token is not None else sock.with_suffix(".token"),
            metrics_host=mhost,
            metrics_port=mport,
        )


def _describe(node: Node) -> str:
    if isinstance(node, ScalarNode):
        if node.tag == _NULL_TAG:
            return "nothing (null)"
        kind = node.tag.rsplit(":", 1)[-1] if node.tag.startswith("tag:yaml.org") else node.tag
        return f"{kind} {node.value!r}"
    return "a mapping" if isinstance(node, MappingNode) else "a list"


def parse_config(text: str, *, filename: str = "<string>") -> Config:
    """Validate a configuration document; raise :class:`ConfigError` (only) on a problem."""
    check_document(text, filename)  # size and nesting depth, with the line
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else None
        parts = [p for p in (e.context, e.problem) if p]
        raise ConfigError(filename, line, "yaml", "; ".join(parts) or "syntax error") from None
    except yaml.YAMLError as e:
        raise ConfigError(filename, None, "yaml", str(e)) from None
    except (ValueError, TypeError) as e:
        raise ConfigError(filename, None, "yaml", str(e)) from None
    try:
        return _Parser(filename).config(root)
    except ConfigError:
        raise
    except RecursionError:
        raise ConfigError(filename, None, "document", "structure nested too deeply") from None


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and validate the configuration file at ``path``."""
    filename = os.fspath(path)
    return parse_config(read_document(filename), filename=filename)
