"""A loopback Dysco network for end-to-end controller tests.

Each *device* is the project's P4Runtime server (real gRPC on a loopback port) with the
reference-model backend (:mod:`dysco_pipeline.refmodel`, every frame through the byte-level
pipeline) and one controller :class:`~controller.daemon.Daemon`, all on one asyncio loop.
The test owns the wires: a frame a device sends out of its network port is delivered to the
network port of the device that owns the destination address; a frame sent out of a host port
goes to that host's application. Hosts are the simulator's models (``dysco_proto.sim``): TCP
endpoints (driven by the asyncio clock through :class:`AsyncClock`), transparent and NAT
boxes. Peer channels are real UDP sockets, optionally lossy (:class:`Impairments`).
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from controller.config import load_config
from controller.daemon import Daemon
from controller.peers import Impairments
from dysco_pipeline.frames import build_frame, parse_frame
from dysco_pipeline.refmodel import segment_of
from dysco_proto.entries import Direction
from dysco_proto.packet import Segment
from dysco_proto.sim.tcp import EndpointStack, TcpEndpoint
from dysco_targets.backends import RefModelBackend
from dysco_targets.server import P4RuntimeServer
from dysco_testbed.loopback_ports import free_ports
from tests.controller_support import KEY_HEX, contract_p4info

NETWORK_PORT = 2


class HostApp(Protocol):
    """What a host runs: it receives segments addressed (by tuple) to it."""

    def deliver(self, seg: Segment) -> None: ...


class AsyncClock:
    """The simulator engine's interface (``now``, ``at``, ``after``) on an asyncio loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.t0 = loop.time()

    @property
    def now(self) -> float:
        return self.loop.time() - self.t0

    def at(self, time: float, callback: Callable[[Any], None], arg: Any = None) -> None:
        self.loop.call_at(self.t0 + time, callback, arg)

    def after(self, delay: float, callback: Callable[[Any], None], arg: Any = None) -> None:
        self.loop.call_later(max(0.0, delay), callback, arg)


class WiredBackend(RefModelBackend):
    """The reference-model backend with its output frames handed to a callback.

    IN hits are delivered by the destination they arrived with (the local host's address,
    /32 route to its host port), not by the rewritten one (the session's far end): otherwise a
    middlebox behind the device never receives its traffic (``docs/controller.md``). This
    backend applies that rule to the model's output; it is a no-op when the model already
    routes that way (the contract fix in progress).
    """

    def __init__(self, on_output: Callable[[int, bytes], None]) -> None:
        super().__init__()
        self.on_output = on_output
        self.redirected = 0

    def _run(self, frame: bytes, port: int) -> list[tuple[int, bytes]]:
        outs = super()._run(frame, port)
        with self._lock:
            self.outputs.clear()
            if port == NETWORK_PORT and outs:
                outs = self._route_in_hits(frame, outs)
        for p, f in outs:
            self.on_output(p, f)
        return outs

    def _route_in_hits(
        self, frame: bytes, outs: list[tuple[int, bytes]]
    ) -> list[tuple[int, bytes]]:
        seg = segment_of(frame)
        tables = self.state.tables
        if seg is None or tables.session(Direction.IN, 0, seg.tuple) is None:
            return outs
        route = tables.route(int.from_bytes(frame[30:34], "big"))
        if route is None or route.params["port"] == NETWORK_PORT:
            return outs
        fixed = []
        for p, f in outs:
            if p == NETWORK_PORT:
                self.redirected += 1
                b = bytearray(f)
                b[0:6] = route.params["dst_mac"].to_bytes(6, "big")
                p, f = route.params["port"], bytes(b)
            fixed.append((p, f))
        return fixed


@dataclass
class HostSpec:
    name: str
    address: str
    port: int
    mac: str


@dataclass
class Device:
    """One switch (server + backend) and its controller."""

    name: str
    hosts: list[HostSpec]
    listen: int
    dir: Path
    backend: WiredBackend | None = None
    server: P4RuntimeServer | None = None
    daemon: Daemon | None = None
    apps: dict[int, HostApp] = field(default_factory=dict)
    config_path: Path | None = None
    per_host: bool = False  # one agent per host port (agent ids 1, 2, ...)

    @property
    def mac(self) -> str:
        return f"02:d5:c0:00:00:{self.listen % 256:02x}"


class Net:
    """Devices, wires and hosts on the running loop."""

    def __init__(self, tmp: Path, loop: asyncio.AbstractEventLoop) -> None:
        self.tmp = tmp
        self.loop = loop
        self.devices: dict[str, Device] = {}
        self.owner: dict[str, Device] = {}  # host address -> device
        self.frames = 0
        self.undeliverable = 0
        self.p4info = tmp / "dysco.p4info.txtpb"
        from google.protobuf import text_format

        self.p4info.write_text(text_format.MessageToString(contract_p4info()))

    def add_device(self, name: str, hosts: list[tuple[str, str]]) -> Device:
        """A device with host ports 1, 3, 4, ... for ``(host name, address)`` pairs."""
        specs = []
        for i, (hname, addr) in enumerate(hosts):
            port = 1 if i == 0 else i + 2
            last = int(addr.rsplit(".", 1)[1])
            specs.append(
                HostSpec(hname, addr, port, f"02:00:00:00:{len(self.devices):02x}:{last:02x}")
            )
        d = Device(name, specs, free_ports(1, "udp")[0], self.tmp / name)
        d.dir.mkdir(exist_ok=True)
        self.devices[name] = d
        for s in specs:
            self.owner[s.address] = d
        return d

    def config_text(self, d: Device, policies: str, extra: str = "") -> str:
        hosts = "".join(
            f'    - {{name: {h.name}, port: {h.port}, address: {h.address}, mac: "{h.mac}"'
            + (f", agent_id: {i}}}\n" if d.per_host else "}\n")
            for i, h in enumerate(d.hosts, 1)
        )
        peers = "".join(
            f"  - {{name: {o.name}, endpoint: 127.0.0.1:{o.listen}, "
            f"addresses: [{', '.join(h.address for h in o.hosts)}]}}\n"
            for o in self.devices.values()
            if o is not d
        )
        assert d.server is not None
        return f"""\
device:
  name: {d.name}
  address: {d.server.address}
  p4info: {self.p4info}
  mac: "{d.mac}"
ports:
  hosts:
{hosts}  network: {{port: {NETWORK_PORT}, mac: "02:00:00:00:00:fe"}}
control:
  listen: 127.0.0.1:{d.listen}
  key: "{KEY_HEX}"
peers:
{peers or "  []"}
{policies}
timers: {{rto: 0.03, idle_scan: 0.5, idle_timeout: 60, max_backoff: 0.2, close_linger: 2}}
management: {{socket: {d.dir / "mgmt.sock"}, token_file: {d.dir / "mgmt.token"}}}
{extra}
"""

    def start_server(self, d: Device) -> None:
        def out(port: int, frame: bytes, d: Device = d) -> None:
            self.loop.call_soon_threadsafe(self._output, d, port, frame)

        d.backend = WiredBackend(out)
        d.server = P4RuntimeServer(d.backend, "127.0.0.1:0", contract=contract_p4info()).start()

    async def start_daemon(
        self, d: Device, policies: str = "", impairments: Impairments | None = None
    ) -> Daemon:
        d.config_path = d.dir / "dysco.yaml"
        d.config_path.write_text(self.config_text(d, policies))
        d.config_path.chmod(0o600)  # it holds the key inline
        d.daemon = Daemon(load_config(d.config_path), impairments=impairments)
        await d.daemon.start(connect_timeout=10)
        return d.daemon

    # -- wires --------------------------------------------------------------------------------

    def _output(self, d: Device, port: int, frame: bytes) -> None:
        self.frames += 1
        if port == NETWORK_PORT:
            dst = socket.inet_ntoa(frame[30:34]) if len(frame) >= 34 else ""
            target = self.owner.get(dst)
            if target is None or target.backend is None:
                self.undeliverable += 1
                return
            target.backend.inject(frame, NETWORK_PORT)
            return
        app = d.apps.get(port)
        parsed = parse_frame(frame)
        if app is None or parsed is None or parsed.segment is None:
            self.undeliverable += 1
            return
        app.deliver(parsed.segment)

    def emitter(self, d: Device, host: HostSpec) -> Callable[[Segment], None]:
        """What a host application calls to send a segment (into its device's host port)."""

        def emit(seg: Segment) -> None:
            frame = build_frame(seg, host.mac, d.mac)
            self.loop.call_soon(self._inject, d, frame, host.port)

        return emit

    @staticmethod
    def _inject(d: Device, frame: bytes, port: int) -> None:
        assert d.backend is not None
        d.backend.inject(frame, port)

    async def stop(self) -> None:
        for d in self.devices.values():
            if d.daemon is not None:
                await d.daemon.stop()
                d.daemon = None
        for d in self.devices.values():
            if d.server is not None:
                d.server.stop(grace=0.1)
                d.server = None


# --- the hosts of a scenario: a TCP client and server on the simulator's stack -------------


def stream(tag: bytes, n: int) -> bytes:
    """``n`` deterministic bytes for one direction of a transfer (SHA-256 blocks of ``tag``)."""
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(tag + i.to_bytes(4, "big")).digest()
        i += 1
    return bytes(out[:n])


async def until(cond: Callable[[], bool], timeout: float, what: str) -> None:
    """Wait for ``cond`` (polled every 10 ms), failing with ``what`` after ``timeout`` s."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def client_and_server(
    net: Net,
    clock: AsyncClock,
    violations: list[str],
    client_at: tuple[Device, int, str],
    server_at: tuple[Device, int, str],
    client_isn: int = 0x1000_0000,
) -> tuple[TcpEndpoint, list[TcpEndpoint]]:
    """A client (port 40000) and a server listening on port 80, each the app of a host
    (``(device, index in device.hosts, address)``); returns the client and the list the
    server's accepted endpoints go to."""
    cdev, ci, caddr = client_at
    sdev, si, saddr = server_at
    server_eps: list[TcpEndpoint] = []
    sstack = EndpointStack()

    def accept(syn: Segment) -> TcpEndpoint:
        ep = TcpEndpoint(
            clock,  # type: ignore[arg-type]
            local=(saddr, 80),
            remote=(syn.tuple.src_ip, syn.tuple.src_port),
            isn=0x7000_0000,
            emit=net.emitter(sdev, sdev.hosts[si]),
            violation=violations.append,
            name="server",
            rto=0.2,
        )
        server_eps.append(ep)
        return ep

    sstack.listen(80, accept)
    sdev.apps[sdev.hosts[si].port] = sstack
    client = TcpEndpoint(
        clock,  # type: ignore[arg-type]
        local=(caddr, 40000),
        remote=(saddr, 80),
        isn=client_isn,
        emit=net.emitter(cdev, cdev.hosts[ci]),
        violation=violations.append,
        name="client",
        rto=0.2,
    )
    cstack = EndpointStack()
    cstack.add(client)
    cdev.apps[cdev.hosts[ci].port] = cstack
    return client, server_eps
