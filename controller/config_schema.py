"""The controller's validated configuration: the objects :func:`controller.config.load_config`
returns, and the timer and counter defaults. Parsing and validation are in
:mod:`controller.config`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from controller.p4rt.tls import ClientTls
from controller.p4rt.tofino import TofinoConfig
from dysco_pipeline.pipeline import CPU_CLONE_SESSION
from dysco_proto.policy import Policy, PolicyTable

__all__ = [
    "COUNT_FIELDS",
    "TIMER_FIELDS",
    "AgentSpec",
    "Config",
    "ControlConfig",
    "DeviceConfig",
    "HostPort",
    "ManagementConfig",
    "NetworkPort",
    "PeerConfig",
]

TIMER_FIELDS: dict[str, float] = {
    "rto": 0.02,  # control-message retransmission timeout (agent)
    "max_backoff": 0.5,
    "close_timeout": 0.5,
    # a closed session's entries stay this long after everything was acknowledged (a lost
    # last ACK makes the peer send its FIN again): as long as TCP's TIME_WAIT (Linux 60 s)
    "close_linger": 60.0,
    "pending_timeout": 2.0,
    "anchor_timeout": 2.0,
    # a left anchor holds its host's new data at most this long waiting for the new path's
    # handshake, then cancels (protocol-design.md 4.2); keep it below anchor_timeout
    "hold_timeout": 1.5,
    "done_linger": 2.0,
    # a session's entries unused this long are removed (an idle TCP session is still a
    # session: long, like a NAT's established timeout)
    "idle_timeout": 3600.0,
    # an old path's entries kept after a reconfiguration for late packets: removed when
    # unused this long
    "retired_timeout": 5.0,
    "idle_scan": 1.0,  # how often the controller checks idleness
    "reconnect_max": 5.0,  # longest back-off between P4Runtime reconnection attempts
    # how often the device's tables are read back and repaired (entries someone removed)
    "reconcile": 10.0,
}
"""Timer names accepted under ``timers`` (seconds) and their defaults."""

COUNT_FIELDS: dict[str, int] = {"max_retries": 10, "syn_retries": 6}
"""Counters accepted under ``timers`` (retries) and their defaults."""


@dataclass(frozen=True)
class DeviceConfig:
    """The data-plane device and how to talk P4Runtime to it."""

    name: str
    address: str
    device_id: int
    election_id: int
    p4info: Path
    device_config: Path | None
    cpu_port: int
    push_pipeline: str  # auto | always | never
    mac: str = "02:d5:c0:00:00:01"
    tls: ClientTls | None = None  # TLS towards the device (None: insecure, loopback only)
    target: str = "bmv2"  # bmv2 | tofino
    clone_session: int = CPU_CLONE_SESSION  # mirror-to-CPU clone session the program uses
    clone_max_len: int = 0  # its packet_length_bytes (0: whole packet, P4Runtime spec)
    tofino: TofinoConfig | None = None  # target tofino: chip, server, pipe, build
    # register slots the device holds (None: the slot registers' size in the P4Info);
    # the DPDK agent's --slots
    slots: int | None = None


@dataclass(frozen=True)
class HostPort:
    """A device port facing one local host."""

    name: str
    port: int
    address: str
    mac: str
    agent_id: int = 0  # the pipeline's agent id of this port (port_role)


@dataclass(frozen=True)
class AgentSpec:
    """One Dysco agent of the daemon: its pipeline agent id and the host addresses it serves.

    A per-host configuration (``ports.hosts[*].agent_id``) has one per agent id; the
    single-agent form (``agent.agent_id``, ``agent.addresses``) exactly one."""

    agent_id: int
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class NetworkPort:
    """The device's uplink port and the next hop's MAC."""

    port: int
    mac: str


@dataclass(frozen=True)
class PeerConfig:
    """Another controller: its peer-channel endpoint and the agent addresses it serves."""

    name: str
    host: str
    port: int
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class ControlConfig:
    """The peer channel: where this controller listens and the control-channel key."""

    host: str
    port: int
    key: bytes


@dataclass(frozen=True)
class ManagementConfig:
    """The local management API (Unix socket + token file) and the optional metrics port."""

    socket: Path
    token_file: Path
    metrics_host: str | None = None
    metrics_port: int | None = None


@dataclass(frozen=True)
class Config:
    """A validated daemon configuration."""

    file: str
    device: DeviceConfig
    hosts: tuple[HostPort, ...]
    network: NetworkPort
    routes: tuple[tuple[str, int, str], ...]  # (prefix, port, next-hop MAC)
    addresses: tuple[str, ...]
    agent_id: int
    port_low: int
    port_high: int
    seed: int
    control: ControlConfig
    peers: tuple[PeerConfig, ...]
    names: Mapping[str, str]
    policies: tuple[Policy, ...]
    timers: Mapping[str, float]
    counts: Mapping[str, int]
    management: ManagementConfig
    max_batch: int = 1000
    extra: Mapping[str, object] = field(default_factory=dict)
    # the agents, in configuration order (empty: one agent, ``agent_id`` and ``addresses``)
    agents: tuple[AgentSpec, ...] = ()

    @property
    def per_host(self) -> bool:
        """Whether the host ports carry their own agent ids (one agent per id)."""
        return bool(self.agents)

    def agent_specs(self) -> tuple[AgentSpec, ...]:
        """Every agent of this daemon (the single-agent form: one)."""
        return self.agents or (AgentSpec(self.agent_id, self.addresses),)

    def policy_table(self) -> PolicyTable:
        """A fresh policy table for an agent."""
        return PolicyTable(self.policies)

    def host_by_address(self) -> dict[str, HostPort]:
        """Local host address -> its port."""
        return {h.address: h for h in self.hosts}

    def peer_for(self, address: str) -> PeerConfig | None:
        """The peer controller that serves agent ``address``, if any."""
        for p in self.peers:
            if address in p.addresses:
                return p
        return None
