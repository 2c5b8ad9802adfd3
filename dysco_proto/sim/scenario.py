"""Random topology, workload and reconfiguration schedule for the simulator.

Everything here is a pure function of :class:`SimParams` (in particular of its seed): the
same parameters give the same hosts, policies, sessions, byte streams and request slots.
Which concrete reconfiguration a slot becomes is decided when it fires (it depends on the
session's chain at that moment, see :mod:`dysco_proto.sim.runner`).

Topology: client hosts, server hosts, and pools of middlebox hosts of each kind. Transparent
and NAT hosts beyond the first ``transparent``/``nat`` are *spares*: they start in no chain and
are used for insertion and replacement. ``dead`` hosts are failed from the start (they drop
everything); they are only ever proposed as new boxes, to exercise new-path box failure.

Sessions: each has a client, a server, a distinct server port (so the server knows which
stream to send whatever NAT or proxy sits in between), an initial chain (0-3 boxes among
transparent, NAT and offset boxes, and for some sessions a TCP-terminating proxy at the end),
a start time, and two deterministic pseudo-random byte streams written in paced chunks so the
session lives long enough for several reconfigurations.
"""

from __future__ import annotations

import ipaddress
import math
import random
import re
from dataclasses import dataclass, field

from dysco_proto.policy import Policy, PortRange

CLIENT = "client"
SERVER = "server"
TRANSPARENT = "transparent"
NAT = "nat"
OFFSET = "offset"
PROXY = "proxy"
DEAD = "dead"

CLIENT_PORT_BASE = 10000
SERVER_PORT_BASE = 2000
MAX_SESSIONS = 4000  # NAT and server port plans assume at most this many


@dataclass(frozen=True, slots=True)
class SimParams:
    """Parameters of one simulation run (the CLI exposes the first six)."""

    sessions: int = 20
    reconfigs: int = 100
    loss: float = 0.0
    dup: float = 0.0
    reorder: float = 0.0
    seed: int = 1
    # topology
    clients: int = 4
    servers: int = 4
    transparent: int = 6
    nat: int = 3
    offset: int = 2
    proxy: int = 2
    spare_transparent: int = 6
    spare_nat: int = 4
    dead: int = 2
    # workload
    start_spread: float = 1.0
    min_bytes: int = 3000
    max_bytes: int = 30000
    chunk: int = 1000
    proxy_fraction: float = 0.15
    pair_fraction: float = 0.08
    failure_fraction: float = 0.04
    # network and timing
    latency: float = 0.001
    reorder_delay: float = 0.005
    idle_timeout: float = 2.0
    idle_scan: float = 0.25
    quiesce: float = 5.0
    max_time: float = 120.0
    # diagnostics: keep the last ``trace`` lines of the event trace (0: off), only the lines
    # matching the regular expression ``trace_filter`` if one is given
    trace: int = 0
    trace_filter: str = ""

    def validate(self) -> None:
        """Raise ``ValueError`` with a one-line message if a parameter is out of range."""
        for name in ("loss", "dup", "reorder"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"--{name} must be a probability in [0, 1], got {p}")
        if not 1 <= self.sessions <= MAX_SESSIONS:
            raise ValueError(f"--sessions must be in 1..{MAX_SESSIONS}, got {self.sessions}")
        if self.reconfigs < 0:
            raise ValueError(f"--reconfigs must be >= 0, got {self.reconfigs}")
        if self.clients < 1 or self.servers < 1:
            raise ValueError("need at least one client and one server host")
        if self.trace_filter:
            try:
                re.compile(self.trace_filter)
            except re.error as err:
                raise ValueError(f"--trace-filter is not a regular expression: {err}") from None
        if self.min_bytes < 1 or self.max_bytes < self.min_bytes:
            raise ValueError("byte stream sizes must satisfy 1 <= min_bytes <= max_bytes")


@dataclass(frozen=True, slots=True)
class HostSpec:
    """One host of the topology."""

    ip: str
    kind: str
    spare: bool = False


@dataclass(frozen=True, slots=True)
class SessionSpec:
    """One TCP session of the workload."""

    index: int
    client: str
    client_port: int
    server: str
    server_port: int
    chain: tuple[str, ...]  # initial middleboxes (a proxy, if any, is last)
    start: float
    duration: float  # planned length of the data phase
    c2s: bytes
    s2c: bytes
    chunk: int
    c2s_interval: float
    s2c_interval: float


@dataclass(frozen=True, slots=True)
class Slot:
    """A reconfiguration request slot: at ``time``, on session ``session`` (or another
    eligible one), issue one request, or two concurrent overlapping ones if ``pair``."""

    time: float
    session: int
    pair: bool


@dataclass(slots=True)
class Scenario:
    """The generated topology and workload."""

    params: SimParams
    hosts: list[HostSpec]
    sessions: list[SessionSpec]
    slots: list[Slot]
    prefixes: dict[str, bytes]  # offset box ip -> the prefix it inserts
    policies: dict[str, list[Policy]] = field(default_factory=dict)

    def kind_of(self, ip: str) -> str:
        for h in self.hosts:
            if h.ip == ip:
                return h.kind
        raise KeyError(ip)


def _net(ip: str) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(f"{ip}/32")


def _ips(prefix: str, n: int) -> list[str]:
    return [f"{prefix}.{i + 1}" for i in range(n)]


def offset_prefix(ip: str, k: int) -> bytes:
    """The distinctive ``k``-byte prefix the offset box at ``ip`` inserts."""
    text = f"<offset-box {ip}>".encode()
    return (text * (k // len(text) + 1))[:k]


_WEIGHTS = {TRANSPARENT: 5.0, NAT: 3.0, OFFSET: 2.0}  # how often each box kind is picked


@dataclass(frozen=True)
class _Topology:
    clients: list[str]
    servers: list[str]
    transparent: list[str]
    nats: list[str]
    offsets: list[str]
    proxies: list[str]
    deads: list[str]

    @classmethod
    def of(cls, params: SimParams) -> _Topology:
        return cls(
            _ips("198.18.1", params.clients),
            _ips("198.18.2", params.servers),
            _ips("198.18.3", params.transparent + params.spare_transparent),
            _ips("198.18.4", params.nat + params.spare_nat),
            _ips("198.18.5", params.offset),
            _ips("198.18.6", params.proxy),
            _ips("198.18.7", params.dead),
        )

    def hosts(self, params: SimParams) -> list[HostSpec]:
        return (
            [HostSpec(ip, CLIENT) for ip in self.clients]
            + [HostSpec(ip, SERVER) for ip in self.servers]
            + [
                HostSpec(ip, TRANSPARENT, i >= params.transparent)
                for i, ip in enumerate(self.transparent)
            ]
            + [HostSpec(ip, NAT, i >= params.nat) for i, ip in enumerate(self.nats)]
            + [HostSpec(ip, OFFSET) for ip in self.offsets]
            + [HostSpec(ip, PROXY) for ip in self.proxies]
            + [HostSpec(ip, DEAD) for ip in self.deads]
        )

    def initial_pool(self, params: SimParams) -> list[tuple[str, str]]:
        """The boxes sessions start with (the spares only get inserted later)."""
        return (
            [(ip, TRANSPARENT) for ip in self.transparent[: params.transparent]]
            + [(ip, NAT) for ip in self.nats[: params.nat]]
            + [(ip, OFFSET) for ip in self.offsets]
        )


def _session(
    rng: random.Random,
    i: int,
    params: SimParams,
    topo: _Topology,
    next_client_port: dict[str, int],
) -> SessionSpec:
    """Session ``i``: endpoints, initial chain, timing and byte streams (draws from ``rng``)."""
    client = rng.choice(topo.clients)
    server = rng.choice(topo.servers)
    cport = next_client_port[client]
    next_client_port[client] = cport + 1
    n_boxes = rng.choices((0, 1, 2, 3), weights=(1, 4, 4, 2))[0]
    chain: list[str] = []
    pool = topo.initial_pool(params)
    for _ in range(min(n_boxes, len(pool))):
        pick = rng.choices(pool, weights=[_WEIGHTS[k] for _, k in pool])[0]
        pool.remove(pick)
        chain.append(pick[0])
    if topo.proxies and rng.random() < params.proxy_fraction:
        chain.append(rng.choice(topo.proxies))
    per_session = params.reconfigs / params.sessions
    duration = rng.uniform(1.5, 3.0) + 0.04 * min(per_session, 50.0)
    start = rng.uniform(0.0, params.start_spread)
    c2s = rng.randbytes(rng.randint(params.min_bytes, params.max_bytes))
    s2c = rng.randbytes(rng.randint(params.min_bytes, params.max_bytes))
    chunk = params.chunk
    return SessionSpec(
        index=i,
        client=client,
        client_port=cport,
        server=server,
        server_port=SERVER_PORT_BASE + i,
        chain=tuple(chain),
        start=start,
        duration=duration,
        c2s=c2s,
        s2c=s2c,
        chunk=chunk,
        c2s_interval=duration / math.ceil(len(c2s) / chunk),
        s2c_interval=duration / math.ceil(len(s2c) / chunk),
    )


def _policy(spec: SessionSpec) -> Policy:
    """The client's policy that gives session ``spec`` its initial chain."""
    return Policy(
        name=f"session-{spec.index}",
        chain=spec.chain,
        src=_net(spec.client),
        sport=PortRange(spec.client_port, spec.client_port),
        dst=_net(spec.server),
        dport=PortRange(spec.server_port, spec.server_port),
    )


def _slots(rng: random.Random, params: SimParams, sessions: list[SessionSpec]) -> list[Slot]:
    """Reconfiguration slots, by session duration, some of them pairs (concurrent requests)."""
    slots: list[Slot] = []
    remaining = params.reconfigs
    cum: list[float] = []
    total = 0.0
    for s in sessions:
        total += s.duration
        cum.append(total)
    while remaining > 0:
        pair = remaining >= 2 and rng.random() < params.pair_fraction
        s = sessions[rng.choices(range(len(sessions)), cum_weights=cum)[0]]
        t = s.start + 0.1 + rng.random() * (0.85 * s.duration - 0.1)
        slots.append(Slot(t, s.index, pair))
        remaining -= 2 if pair else 1
    slots.sort(key=lambda sl: (sl.time, sl.session))
    return slots


def build_scenario(params: SimParams) -> Scenario:
    """Generate the scenario for ``params`` (deterministic in ``params.seed``)."""
    params.validate()
    rng = random.Random(f"dysco-sim-scenario-{params.seed}")
    topo = _Topology.of(params)
    prefixes = {ip: offset_prefix(ip, 11 + 17 * i) for i, ip in enumerate(topo.offsets)}
    next_client_port = dict.fromkeys(topo.clients, CLIENT_PORT_BASE)
    policies: dict[str, list[Policy]] = {ip: [] for ip in topo.clients}
    sessions: list[SessionSpec] = []
    for i in range(params.sessions):
        spec = _session(rng, i, params, topo, next_client_port)
        sessions.append(spec)
        policies[spec.client].append(_policy(spec))
    for ip in topo.proxies:
        policies[ip] = [Policy(name="proxy-outbound", chain=(), src=_net(ip))]
    slots = _slots(rng, params, sessions)
    return Scenario(params, topo.hosts(params), sessions, slots, prefixes, policies)
