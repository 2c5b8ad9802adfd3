"""Hosts, data links and the lossy control channel: the simulator's target adapter.

A :class:`Host` is one address with an agent, a data path and an application (an endpoint
stack or a middlebox). The :class:`Network` moves packets between hosts and executes the
actions agents return, in list order:

- ``InstallEntry``/``ModifyEntry``/``RemoveEntry``: the host's data path, at once;
- ``SendPacket(NETWORK)``: onto the data network (routed by destination address; a fixed
  per-hop latency; data links never lose, duplicate or reorder packets); ``SendPacket(HOST)``:
  delivered to the host's application (queued, same instant);
- ``Probe``: answered by the data path at once, the snapshot fed back to the agent through the
  event queue (same instant);
- ``SendControl``: the control channel, which loses, duplicates and delays (reorders)
  datagrams with the configured probabilities;
- ``StartTimer``/``CancelTimer``: per-agent one-shot timers (a restart replaces);
- ``Observe``: handed to the observer callback.

A data path result is processed as: packets to the network first, then punts and reports to
the agent (synchronously), then packets to the host's application. Agents are never
re-entered: every path into ``Agent.handle`` starts either from an engine event or from a
data-path result, never from inside the execution of another action list.

A failed host drops everything it receives and never runs its agent or application.
"""

from __future__ import annotations

import random
import re
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
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
from dysco_proto.entries import EntryKey, MappingEntry
from dysco_proto.events import ControlIn, EntryIdle, Event, PacketIn, SlotSnapshot, TimerFired
from dysco_proto.packet import Segment
from dysco_proto.sim.engine import Engine
from dysco_proto.timers import TimerKey


class AgentLike(Protocol):
    """What the simulator needs from an agent (``dysco_proto.agent.Agent``)."""

    def handle(self, event: Event, now: float) -> list[Action]: ...


class DataPathResultLike(Protocol):
    """What one packet produced in a data path (``dysco_proto.datapath.DataPathResult``)."""

    @property
    def to_network(self) -> list[Segment]: ...
    @property
    def to_host(self) -> list[Segment]: ...
    @property
    def punts(self) -> list[PacketIn]: ...
    @property
    def reports(self) -> list[SlotSnapshot]: ...


class DataPathLike(Protocol):
    """What the simulator needs from a data path (``dysco_proto.datapath.DataPath``)."""

    @property
    def entries(self) -> dict[EntryKey, MappingEntry]: ...
    def install(self, entry: MappingEntry, now: float = 0.0) -> None: ...
    def modify(self, entry: MappingEntry, now: float = 0.0) -> None: ...
    def remove(self, key: EntryKey) -> None: ...
    def from_host(self, seg: Segment, now: float) -> DataPathResultLike: ...
    def from_network(self, seg: Segment, now: float) -> DataPathResultLike: ...
    def probe(self, slot: int, token: int, freeze: bool, epoch: int = 0) -> SlotSnapshot: ...
    def idle_entries(self, now: float) -> list[EntryKey]: ...


class HostApp(Protocol):
    """The application of a host: an endpoint stack or a middlebox."""

    def deliver(self, seg: Segment) -> None: ...


@dataclass(slots=True)
class ChannelParams:
    """Control-channel impairments; ``reorder`` adds a uniform extra delay up to
    ``reorder_delay``."""

    loss: float = 0.0
    dup: float = 0.0
    reorder: float = 0.0
    reorder_delay: float = 0.005


@dataclass(slots=True)
class NetStats:
    """Counters of the network."""

    data_packets: int = 0
    unroutable: int = 0
    dropped_failed: int = 0
    control_sent: int = 0
    control_lost: int = 0
    control_duplicated: int = 0
    control_delivered: int = 0
    control_reordered: int = 0
    agent_events: int = 0
    probes: int = 0
    timers_started: int = 0
    timers_fired: int = 0
    entry_writes: int = 0
    idle_reports: int = 0


class _NullApp:
    def deliver(self, seg: Segment) -> None:
        pass


class Host:
    """One address: agent, data path, application, timers."""

    __slots__ = ("agent", "app", "datapath", "failed", "ip", "kind", "net", "timers")

    def __init__(
        self, net: Network, ip: str, agent: AgentLike, datapath: DataPathLike, kind: str
    ) -> None:
        self.net = net
        self.ip = ip
        self.agent = agent
        self.datapath = datapath
        self.kind = kind
        self.app: HostApp = _NullApp()
        self.failed = False
        self.timers: dict[TimerKey, int] = {}

    def emit(self, seg: Segment) -> None:
        """The local application sends ``seg`` (OUT lookup)."""
        if self.failed:
            return
        net = self.net
        if net.trace is not None:
            net.log(self, "app>", _seg_str(seg))
        net.process(self, self.datapath.from_host(seg, net.engine.now))

    def command(self, event: Event) -> None:
        """Hand a command (or any event) to the agent now."""
        if not self.failed:
            self.net.handle(self, event)


EventObserver = Callable[[Host, Event, list[Action]], None]
ObserveSink = Callable[[Host, Observe], None]


def _seg_str(seg: Segment) -> str:
    f = seg.flags
    flags = "".join(c for c, bit in zip("FSRPA", (1, 2, 4, 8, 16), strict=True) if f & bit)
    return f"{seg.tuple} [{flags}] seq={seg.seq} ack={seg.ack} len={len(seg.payload)}"


class Network:
    """The set of hosts, the data links and the control channel."""

    def __init__(
        self,
        engine: Engine,
        rng: random.Random,
        *,
        channel: ChannelParams | None = None,
        latency: float = 0.001,
        on_observe: ObserveSink | None = None,
        after_event: EventObserver | None = None,
        trace: int = 0,
        trace_filter: str = "",
    ) -> None:
        self.engine = engine
        self.rng = rng
        self.channel = channel or ChannelParams()
        self.latency = latency
        self.hosts: dict[str, Host] = {}
        self.stats = NetStats()
        self.on_observe = on_observe
        self.after_event = after_event
        self.trace: deque[str] | None = deque(maxlen=trace) if trace > 0 else None
        self._trace_re = re.compile(trace_filter) if trace_filter else None

    # --- topology --------------------------------------------------------------------------

    def add_host(self, ip: str, agent: AgentLike, datapath: DataPathLike, kind: str = "") -> Host:
        """Create a host owning address ``ip``."""
        if ip in self.hosts:
            raise ValueError(f"duplicate host address {ip}")
        host = Host(self, ip, agent, datapath, kind)
        self.hosts[ip] = host
        return host

    def log(self, host: Host, what: str, detail: str) -> None:
        """Append a line to the trace ring (only when tracing)."""
        if self.trace is not None:
            line = f"{self.engine.now:.6f} {host.ip} {what} {detail}"
            if self._trace_re is None or self._trace_re.search(line):
                self.trace.append(line)

    # --- data plane ------------------------------------------------------------------------

    def send_data(self, seg: Segment) -> None:
        """Put ``seg`` on the data network towards the owner of its destination address."""
        dst = self.hosts.get(seg.tuple.dst_ip)
        if dst is None:
            self.stats.unroutable += 1
            return
        self.stats.data_packets += 1
        self.engine.after(self.latency, self._arrive, (dst, seg))

    def _arrive(self, arg: tuple[Host, Segment]) -> None:
        host, seg = arg
        if host.failed:
            self.stats.dropped_failed += 1
            return
        if self.trace is not None:
            self.log(host, "net>", _seg_str(seg))
        self.process(host, host.datapath.from_network(seg, self.engine.now))

    def process(self, host: Host, res: DataPathResultLike) -> None:
        """Carry out a data path result (see the module docstring for the order)."""
        for seg in res.to_network:
            self.send_data(seg)
        for punt in res.punts:
            self.handle(host, punt)
        for report in res.reports:
            self.handle(host, report)
        if res.to_host:
            app = host.app
            for seg in res.to_host:
                if self.trace is not None:
                    self.log(host, ">app", _seg_str(seg))
                app.deliver(seg)

    def _deliver_to_app(self, arg: tuple[Host, Segment]) -> None:
        host, seg = arg
        if not host.failed:
            if self.trace is not None:
                self.log(host, ">app", _seg_str(seg))
            host.app.deliver(seg)

    # --- agents ----------------------------------------------------------------------------

    def handle(self, host: Host, event: Event) -> None:
        """Give ``event`` to ``host``'s agent and execute the actions it returns."""
        self.stats.agent_events += 1
        if self.trace is not None:
            self.log(host, "evt", repr(event)[:400])
        actions = host.agent.handle(event, self.engine.now)
        if actions:
            self.execute(host, actions)
        if self.after_event is not None:
            self.after_event(host, event, actions)

    def _event(self, arg: tuple[Host, Event]) -> None:
        host, event = arg
        if not host.failed:
            self.handle(host, event)

    def execute(self, host: Host, actions: Iterable[Action]) -> None:
        """Execute an agent's actions in order."""
        engine = self.engine
        dp = host.datapath
        stats = self.stats
        for a in actions:
            if self.trace is not None and not isinstance(a, Observe | ReconfigFinished):
                self.log(host, "act", repr(a)[:400])
            if isinstance(a, SendPacket):
                if a.toward is Toward.NETWORK:
                    self.send_data(a.segment)
                else:
                    engine.after(0.0, self._deliver_to_app, (host, a.segment))
            elif isinstance(a, SendControl):
                self._send_control(a)
            elif isinstance(a, StartTimer):
                stats.timers_started += 1
                gen = host.timers.get(a.timer_id, 0) + 1
                host.timers[a.timer_id] = gen
                engine.after(a.delay, self._timer, (host, a.timer_id, gen))
            elif isinstance(a, CancelTimer):
                host.timers.pop(a.timer_id, None)
            elif isinstance(a, InstallEntry):
                stats.entry_writes += 1
                dp.install(a.entry, engine.now)
            elif isinstance(a, ModifyEntry):
                stats.entry_writes += 1
                dp.modify(a.entry, engine.now)
            elif isinstance(a, RemoveEntry):
                stats.entry_writes += 1
                dp.remove(a.key)
            elif isinstance(a, Probe):
                stats.probes += 1
                snap = dp.probe(a.slot, a.token, a.freeze, a.epoch)
                engine.after(0.0, self._event, (host, snap))
            elif isinstance(a, Observe | ReconfigFinished):
                obs = a if isinstance(a, Observe) else a.as_observe()
                if self.trace is not None:
                    self.log(host, "obs", f"{obs.kind} {obs.fields}"[:400])
                if self.on_observe is not None:
                    self.on_observe(host, obs)
            else:  # pragma: no cover - exhaustive over Action
                raise TypeError(f"unknown action {a!r}")

    def _timer(self, arg: tuple[Host, TimerKey, int]) -> None:
        host, timer_id, gen = arg
        if host.timers.get(timer_id) != gen:
            return
        del host.timers[timer_id]
        if host.failed:
            return
        self.stats.timers_fired += 1
        self.handle(host, TimerFired(timer_id))

    # --- control channel -------------------------------------------------------------------

    def _send_control(self, a: SendControl) -> None:
        stats = self.stats
        stats.control_sent += 1
        ch = self.channel
        rng = self.rng
        if ch.loss > 0.0 and rng.random() < ch.loss:
            stats.control_lost += 1
            return
        copies = 1
        if ch.dup > 0.0 and rng.random() < ch.dup:
            stats.control_duplicated += 1
            copies = 2
        dst = self.hosts.get(a.dst_ip)
        if dst is None:
            stats.unroutable += 1
            return
        msg = ControlIn(a.src_ip, a.dst_ip, a.data)
        for _ in range(copies):
            delay = self.latency
            if ch.reorder > 0.0 and rng.random() < ch.reorder:
                stats.control_reordered += 1
                delay += rng.uniform(0.0, ch.reorder_delay)
            self.engine.after(delay, self._control_arrive, (dst, msg))

    def _control_arrive(self, arg: tuple[Host, ControlIn]) -> None:
        host, msg = arg
        if host.failed:
            self.stats.dropped_failed += 1
            return
        self.stats.control_delivered += 1
        self.handle(host, msg)

    # --- housekeeping ----------------------------------------------------------------------

    def idle_scan(self) -> None:
        """Ask every data path for idle entries and tell the agents (``EntryIdle``)."""
        now = self.engine.now
        for host in self.hosts.values():
            if host.failed:
                continue
            for key in host.datapath.idle_entries(now):
                self.stats.idle_reports += 1
                self.handle(host, EntryIdle(key))
