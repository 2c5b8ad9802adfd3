"""A small deterministic multi-agent driver for the model link check.

It runs real :class:`~dysco_proto.agent.Agent` instances over the reference data path
(:class:`~dysco_proto.datapath.DataPath`) with simulated TCP endpoints
(:class:`~dysco_proto.sim.tcp.TcpEndpoint`) and transparent boxes, on the deterministic
:class:`~dysco_proto.sim.engine.Engine`. Data links are reliable; the control channel may lose,
duplicate and delay datagrams (seeded). Every call of ``Agent.handle`` goes through
:meth:`Driver.handle`, which tells an optional :class:`Observer` before and after, so a
checker can see each agent's state around each event (:mod:`dysco_proto.model.link`).

It is deliberately independent of the full simulator (``dysco_proto.sim.network``): only the
protocol core, the reference data path and the committed simulator building blocks are used.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol

from dysco_proto.actions import (
    Action,
    CancelTimer,
    InstallEntry,
    ModifyEntry,
    Observe,
    Probe,
    ReconfigFinished,
    RemoveEntry,
    SendControl,
    SendPacket,
    StartTimer,
    Toward,
)
from dysco_proto.agent import Agent, AgentConfig
from dysco_proto.datapath import DataPath, DataPathResult
from dysco_proto.events import ControlIn, Event, Reconfigure, TimerFired
from dysco_proto.packet import FiveTuple, Segment, TcpFlags
from dysco_proto.policy import Policy, PolicyTable
from dysco_proto.sim.engine import Engine
from dysco_proto.sim.tcp import TcpEndpoint
from dysco_proto.timers import TimerKey

KEY = b"dysco-model-link-key-0123456789a"
CLIENT = "198.18.0.1"
SERVER = "198.18.2.1"


def box_ip(i: int) -> str:
    """Address of the i-th box (1-based)."""
    return f"198.18.1.{i}"


class Observer(Protocol):
    """Sees every agent event; ``before`` runs before ``Agent.handle``, ``after`` after it."""

    def before(self, host: Host, event: Event) -> None: ...

    def after(self, host: Host, event: Event, actions: list[Action]) -> None: ...


App = Callable[[Segment], None]


@dataclass(eq=False)
class Host:
    """One address: agent, data path and the application behind it."""

    ip: str
    agent: Agent
    dp: DataPath
    app: App | None = None
    timers: dict[TimerKey, int] = field(default_factory=dict)
    observations: list[Observe] = field(default_factory=list)


@dataclass(frozen=True)
class Channel:
    """Control-channel impairments (probabilities per datagram) and its latency."""

    loss: float = 0.0
    dup: float = 0.0
    jitter: float = 0.0  # extra uniform delay (reorders datagrams)
    latency: float = 0.001


class Driver:
    """Hosts, a reliable data network and an impaired control channel, all deterministic."""

    def __init__(
        self, seed: int = 0, channel: Channel | None = None, observer: Observer | None = None
    ) -> None:
        self.engine = Engine()
        self.rng = random.Random(seed)
        self.channel = channel or Channel()
        self.observer = observer
        self.hosts: dict[str, Host] = {}
        self.seed = seed
        self.violations: list[str] = []

    # --- topology ------------------------------------------------------------------------

    def add_host(self, ip: str, policies: Sequence[Policy] = ()) -> Host:
        """Create a host with an agent (seeded from the driver seed) and a data path."""
        cfg = AgentConfig(
            (ip,),
            KEY,
            PolicyTable(policies),
            seed=self.rng.getrandbits(16),
            msg_id_base=1,
        )
        host = Host(ip, Agent(cfg), DataPath([ip]))
        self.hosts[ip] = host
        return host

    # --- agents --------------------------------------------------------------------------

    @property
    def now(self) -> float:
        return self.engine.now

    def handle(self, host: Host, event: Event) -> None:
        """Give ``event`` to the host's agent, telling the observer, and execute the actions."""
        if self.observer is not None:
            self.observer.before(host, event)
        actions = host.agent.handle(event, self.engine.now)
        if self.observer is not None:
            self.observer.after(host, event, actions)
        self._execute(host, actions)

    def _execute(self, host: Host, actions: list[Action]) -> None:
        eng = self.engine
        for a in actions:
            if isinstance(a, SendPacket):
                if a.toward is Toward.NETWORK:
                    self._send_data(a.segment)
                else:
                    eng.after(0.0, partial(self._to_app, host), a.segment)
            elif isinstance(a, SendControl):
                self._send_control(a)
            elif isinstance(a, StartTimer):
                gen = host.timers.get(a.timer_id, 0) + 1
                host.timers[a.timer_id] = gen
                eng.after(a.delay, partial(self._timer, host), (a.timer_id, gen))
            elif isinstance(a, CancelTimer):
                host.timers.pop(a.timer_id, None)
            elif isinstance(a, InstallEntry):
                host.dp.install(a.entry, eng.now)
            elif isinstance(a, ModifyEntry):
                host.dp.modify(a.entry, eng.now)
            elif isinstance(a, RemoveEntry):
                host.dp.remove(a.key)
            elif isinstance(a, Probe):
                snap = host.dp.probe(a.slot, a.token, a.freeze, a.epoch)
                eng.after(0.0, partial(self.handle, host), snap)
            elif isinstance(a, Observe):
                host.observations.append(a)
            elif isinstance(a, ReconfigFinished):
                host.observations.append(a.as_observe())

    def _timer(self, host: Host, arg: tuple[TimerKey, int]) -> None:
        timer_id, gen = arg
        if host.timers.get(timer_id) != gen:
            return
        del host.timers[timer_id]
        self.handle(host, TimerFired(timer_id))

    # --- networks ------------------------------------------------------------------------

    def _send_control(self, a: SendControl) -> None:
        ch = self.channel
        if ch.loss and self.rng.random() < ch.loss:
            return
        copies = 2 if ch.dup and self.rng.random() < ch.dup else 1
        dst = self.hosts.get(a.dst_ip)
        if dst is None:
            return
        for _ in range(copies):
            delay = ch.latency + (self.rng.uniform(0.0, ch.jitter) if ch.jitter else 0.0)
            msg = ControlIn(a.src_ip, a.dst_ip, a.data)
            self.engine.after(delay, partial(self.handle, dst), msg)

    def _send_data(self, seg: Segment) -> None:
        dst = self.hosts.get(seg.tuple.dst_ip)
        if dst is not None:
            self.engine.after(self.channel.latency, partial(self._arrive, dst), seg)

    def _arrive(self, host: Host, seg: Segment) -> None:
        self._process(host, host.dp.from_network(seg, self.engine.now))

    def emit(self, host: Host, seg: Segment) -> None:
        """The host's application sends ``seg`` (OUT lookup in its data path)."""
        self._process(host, host.dp.from_host(seg, self.engine.now))

    def _process(self, host: Host, res: DataPathResult) -> None:
        for seg in res.to_network:
            self._send_data(seg)
        for punt in res.punts:
            self.handle(host, punt)
        for report in res.reports:
            self.handle(host, report)
        for seg in res.to_host:
            self._to_app(host, seg)

    def _to_app(self, host: Host, seg: Segment) -> None:
        if host.app is not None:
            host.app(seg)

    def run(self, until: float) -> None:
        """Advance the engine to ``until``."""
        self.engine.run(until)


# ------------------------------------------------------------------------------------------
# scenarios


@dataclass
class ChainSession:
    """A client, a chain of transparent boxes and a server, with one TCP session."""

    driver: Driver
    client: Host
    boxes: list[Host]
    server: Host
    session: FiveTuple
    c_ep: TcpEndpoint
    s_ep: TcpEndpoint | None = None
    received: bytearray = field(default_factory=bytearray)
    sent: bytearray = field(default_factory=bytearray)

    def outcomes(self) -> list[tuple[str, str, int]]:
        """(host, outcome kind, tag) for every terminal reconfiguration observation."""
        out = []
        for h in (self.client, *self.boxes, self.server):
            for o in h.observations:
                if o.kind in ("reconfig.completed", "reconfig.refused", "reconfig.cancelled"):
                    out.append((h.ip, o.kind, int(o.fields.get("tag", 0))))
        return out


def chain_session(
    n_boxes: int, seed: int = 0, channel: Channel | None = None, observer: Observer | None = None
) -> ChainSession:
    """Build C - box1 - ... - boxN - S, open the session and let the handshake finish."""
    drv = Driver(seed, channel, observer)
    boxes_ips = [box_ip(i) for i in range(1, n_boxes + 1)]
    client = drv.add_host(CLIENT, [Policy("chain", tuple(boxes_ips))])
    boxes = [drv.add_host(ip) for ip in boxes_ips]
    server = drv.add_host(SERVER)
    session = FiveTuple(CLIENT, 40000 + seed % 1000, SERVER, 80)

    def violation(what: str) -> None:
        drv.violations.append(what)

    c_ep = TcpEndpoint(
        drv.engine,
        local=(CLIENT, session.src_port),
        remote=(SERVER, 80),
        isn=1000 + seed,
        emit=lambda seg: drv.emit(client, seg),
        violation=violation,
        name="client",
        rto=0.05,
    )
    cs = ChainSession(drv, client, boxes, server, session, c_ep)
    c_ep.on_data = lambda data: None

    def server_app(seg: Segment) -> None:
        if cs.s_ep is None:
            if not (seg.flags & TcpFlags.SYN) or seg.flags & TcpFlags.ACK:
                return
            ep = TcpEndpoint(
                drv.engine,
                local=(SERVER, 80),
                remote=(seg.tuple.src_ip, seg.tuple.src_port),
                isn=5000 + seed,
                emit=lambda s: drv.emit(server, s),
                violation=violation,
                name="server",
                rto=0.05,
            )
            ep.on_data = cs.received.extend
            cs.s_ep = ep
            ep.accept(seg)
            return
        cs.s_ep.receive(seg)

    server.app = server_app
    client.app = c_ep.receive
    for bh in boxes:
        bh.app = lambda seg, h=bh: drv.engine.after(0.0001, lambda s: drv.emit(h, s), seg)
    c_ep.connect()
    drv.run(0.05)
    return cs


def write(cs: ChainSession, at: float, data: bytes) -> None:
    """Schedule the client application writing ``data`` at time ``at``."""

    def go(_: object) -> None:
        cs.sent.extend(data)
        cs.c_ep.write(data)

    cs.driver.engine.at(at, go)


def command(cs: ChainSession, host: Host, at: float, event: Event) -> None:
    """Schedule a management command for ``host`` at time ``at``."""
    cs.driver.engine.at(at, lambda ev: cs.driver.handle(host, ev), event)


def contention(
    seed: int, channel: Channel | None = None, observer: Observer | None = None
) -> ChainSession:
    """C-M1-M2-S; C removes M1 while M1 removes M2 (overlapping on M1-M2), with data flowing.

    The two requests start within a few milliseconds of each other (seeded), so depending on
    the seed either one is held behind the other, refused, or both run one after the other.
    """
    cs = chain_session(2, seed, channel, observer)
    rng = random.Random(seed * 7919 + 1)
    m1, m2 = cs.boxes
    for i in range(30):
        write(cs, 0.05 + 0.004 * i, bytes([65 + i % 26]) * 100)
    t1 = 0.06 + rng.uniform(0.0, 0.004)
    t2 = 0.06 + rng.uniform(0.0, 0.004)
    command(cs, cs.client, t1, Reconfigure(cs.session, m2.ip, (), request_tag=1))
    command(cs, m1, t2, Reconfigure(cs.session, cs.server.ip, (), request_tag=2))
    # a third, later request from C: exercises sequential locking on whatever path is left
    command(cs, cs.client, 0.6, Reconfigure(cs.session, cs.server.ip, (), request_tag=3))
    cs.driver.engine.at(0.9, lambda _: cs.c_ep.close())
    cs.driver.engine.at(0.9, lambda _: cs.s_ep.close() if cs.s_ep else None)
    cs.driver.run(3.0)
    return cs
