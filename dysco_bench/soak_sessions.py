"""``dysco bench soak --sessions N [--reconfigure FRACTION]``: many concurrent sessions on the
DPDK target through one controller, some reconfigured, all torn down, leaks counted.

The device is the DPDK agent and the project's P4Runtime server, each in its own process
(:func:`dysco_bench.controller_bench._server`); the controller is the daemon
(:class:`controller.daemon.Daemon`, the real event, write and packet-out paths) in this
process. This process also plays the wire and the far side:

- **setup**: SYNs of the local host ``10.0.0.1`` enter host port 1 as received bursts
  (``CTL_INJECT_BURST``); a session is *set up* when its chain SYN leaves the network port
  (``CTL_TAP_SUB``). Policies chain ``[box1_k, box2_k]`` by destination port (``GROUP``
  sessions per port: the subsession source ports towards one first box are 16 bits).
- **held**: every session holds its OUT and IN entries and one register slot.
- **reconfigure** ``FRACTION`` of them: the daemon is the left anchor of a real reconfiguration
  (``remove`` of the first box: ``Daemon.start_reconfig``), the whole left-anchor protocol
  on the device: the lock (requestLock / ackLock), the new path's IN entry and the staged OUT
  entry written, the freeze probe, the new-path SYN out of the network port, the SYN-ACK
  punted, the commit probe, the third ACK, ack / ackAck, the check probe and the fold
  (entries modified, the old IN entry retired). The far side (the boxes' and the right
  anchor's agents) is this process answering over the peer channel (UDP, the deployment's
  key) and on the wire (frames injected on the network port); it runs no agent of its own,
  so the right anchor's data-plane half is not exercised here. Before its reconfiguration a
  session's handshake is completed on the wire (a SYN-ACK from the network, the host's ACK),
  so its registers hold a cutoff. ``reconfigs_completed`` counts the outcomes the daemon
  reported ``completed``.
- **teardown**: a RST from the host for every session (the agent removes the session after
  ``close_timeout``, retired entries included); then the session tables are read from the
  agent (``CTL_READ``): ``leaked_entries`` is what is left.

Memory: ``controller_rss_mb`` is this process's resident set while the sessions are held
(the daemon plus this driver, which keeps O(1) state per session);
``controller_rss_per_session_bytes`` the growth from before the setup to then, divided by the
sessions held. ``device_bytes_per_session``: the agent's session tables and register file as
allocated (``ctl_info.table_bytes``) divided by the sessions held.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.config import Config, load_config
from dysco_bench.controller_bench import DEVICE_MAC, HOST_MAC, BenchError, _pick_target, _server
from dysco_targets.contract import CONTRACT_P4INFO

HOST = "10.0.0.1"
SERVER = "198.18.9.9"
GROUP = 60_000
"""Sessions per destination port (and per first box): the agent allocates a subsession's
source port per (local address, next hop), at most 64,512 of them (port_range 1024-65535)."""
PEER_ISN = 0x50000000
"""The server side's sequence number in every SYN-ACK this driver sends (the host acks
``PEER_ISN + 1``, so the right anchor's cutoff is ``PEER_ISN + 1``)."""
BURST = 256
WINDOW = 4096  # frames injected and not yet accounted for
RECONF_WINDOW = 64  # reconfigurations in flight
STALL_S = 60.0  # no progress this long: stop waiting
_M32 = 0xFFFFFFFF


def box1(k: int) -> str:
    """The first box of group ``k``'s chain."""
    return f"198.18.{2 + k // 250}.{1 + k % 250}"


def box2(k: int) -> str:
    """The second box (the right anchor of the reconfiguration) of group ``k``."""
    return f"198.18.{100 + k // 250}.{1 + k % 250}"


def groups(n: int) -> int:
    """Destination ports (policies) ``n`` sessions need."""
    return max(1, (n + GROUP - 1) // GROUP)


def session_tuple(i: int) -> Any:
    """The session tuple of session ``i`` as the local host emits it."""
    from dysco_proto.packet import FiveTuple

    return FiveTuple(HOST, 1024 + i % GROUP, SERVER, 80 + i // GROUP)


def isn(i: int) -> int:
    """The host's initial sequence number of session ``i``."""
    return (1000 + 7919 * i) & _M32


def _config(tmp: Path, address: str, n: int, peer_port: int, slots: int) -> Config:
    g = groups(n)
    pol = "".join(
        f"  - {{name: g{k}, match: {{dport: {80 + k}}}, chain: [{box1(k)}, {box2(k)}]}}\n"
        for k in range(g)
    )
    addrs = ", ".join(a for k in range(g) for a in (box1(k), box2(k)))
    text = f"""\
device:
  name: soak
  address: {address}
  p4info: {CONTRACT_P4INFO}
  mac: "{DEVICE_MAC}"
  slots: {slots}
ports:
  hosts:
    - {{name: h1, port: 1, address: {HOST}, mac: "{HOST_MAC}"}}
  network: {{port: 2, mac: "02:00:00:00:00:fe"}}
control:
  listen: 127.0.0.1:0
  key: "{secrets.token_hex(16)}"
agent:
  addresses: [{HOST}]
  port_range: 1024-65535
peers:
  - {{name: far, endpoint: 127.0.0.1:{peer_port}, addresses: [{addrs}]}}
policies:
{pol}writes: {{max_batch: 1000}}
management: {{socket: {tmp / "soak.sock"}}}
"""
    path = tmp / "soak.yaml"
    path.write_text(text)
    path.chmod(0o600)  # it holds the key inline
    return load_config(path)


def _rss_bytes(pid: int | str = "self") -> int:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _tcp_flags(frame: bytes) -> tuple[int, bytes] | None:
    """(TCP flags, destination IPv4 bytes) of an Ethernet/IPv4/TCP frame, else ``None``."""
    if len(frame) < 54 or frame[12:14] != b"\x08\x00" or frame[23] != 6:
        return None
    ihl = (frame[14] & 0x0F) * 4
    if len(frame) < 14 + ihl + 14:
        return None
    return frame[14 + ihl + 13], frame[30:34]


@dataclass
class _Far:
    """The far side: the boxes and the right anchor, as seen by the left anchor."""

    key: bytes
    client: Any  # AgentClient
    loop: asyncio.AbstractEventLoop
    daemon_addr: tuple[str, int] = ("127.0.0.1", 0)
    transport: Any = None
    msg_id: int = field(default_factory=lambda: int(time.time() * 1000) << 16)
    answered: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        from controller.peers import envelope_key
        from dysco_proto.wire import ControlCodec

        self.codec = ControlCodec(self.key)
        self.env_key = envelope_key(self.key)

    def _count(self, what: str) -> None:
        self.answered[what] = self.answered.get(what, 0) + 1

    def send(self, msg: Any, dst: str) -> None:
        """Send ``msg`` (its sender's address as the envelope source) to the daemon."""
        from controller.peers import encode_envelope

        self.msg_id += 1
        data = self.codec.encode(_with_id(msg, self.msg_id))
        self.transport.sendto(
            encode_envelope(msg.sender, dst, data, self.env_key), self.daemon_addr
        )

    def on_datagram(self, data: bytes) -> None:
        from controller.peers import check_envelope
        from dysco_proto.wire import ControlMessage, MsgType

        try:
            src, dst, body = check_envelope(data, self.env_key)
            msg = self.codec.decode(body, check_replay=False)
        except Exception as e:  # counted, reported in the JSON
            self._note(f"undecodable control message: {e}")
            return
        t = msg.type
        if t is MsgType.REQUEST_LOCK:
            reply = ControlMessage(
                MsgType.ACK_LOCK, msg.request, dst, left_anchor=msg.left_anchor,
                right_anchor=msg.right_anchor, subsession=msg.subsession, tag=msg.tag,
            )  # fmt: skip
        elif t is MsgType.ACK:
            reply = ControlMessage(
                MsgType.ACK_ACK, msg.request, dst, left_anchor=msg.left_anchor,
                cutoff=(PEER_ISN + 1) & _M32,
            )  # fmt: skip
        elif t is MsgType.CANCEL_LOCK:
            reply = ControlMessage(
                MsgType.ACK_CANCEL, msg.request, dst, left_anchor=msg.left_anchor,
                right_anchor=msg.right_anchor, subsession=msg.subsession, tag=msg.tag,
            )  # fmt: skip
        else:
            self._count(f"ignored_{t.name.lower()}")
            return
        self._count(t.name.lower())
        self.send(reply, src)

    def on_new_path_syn(self, frame: bytes) -> None:
        """The left anchor's new-path SYN left the device: the right anchor's answers, the
        SYN-ACK on the new path (on the wire) and the synAck message."""
        from dysco_pipeline.frames import build_frame, parse_frame
        from dysco_proto.packet import Segment, TcpFlags, TcpOptions
        from dysco_proto.wire import ControlMessage, Handshake, MsgType

        p = parse_frame(frame)
        seg = p.segment if p is not None else None
        if seg is None or not seg.payload:
            self._note("a new-path SYN without its control message")
            return
        try:
            msg = self.codec.decode(seg.payload, check_replay=False)
        except Exception as e:
            self._note(f"undecodable new-path SYN: {e}")
            return
        synack = Segment(
            seg.tuple.reversed(), PEER_ISN, (seg.seq + 1) & _M32, TcpFlags.SYN | TcpFlags.ACK,
            65535, TcpOptions(mss=1460, wscale=7, sack_permitted=True),
        )  # fmt: skip
        me = seg.tuple.dst_ip
        hs = Handshake(seq=PEER_ISN, ack=seg.seq, wscale_host=7, wscale_peer=7, sack_ok=True,
                       mss=1460)  # fmt: skip
        reply = ControlMessage(
            MsgType.SYN_ACK, msg.request, me, left_anchor=msg.left_anchor, right_anchor=me,
            handshake=hs, cutoff=(PEER_ISN + 1) & _M32,
        )  # fmt: skip
        self.client.inject_burst(2, [build_frame(synack, "02:00:00:00:00:fe", DEVICE_MAC)])
        self._count("new_path_syn")
        self.loop.call_soon_threadsafe(self.send, reply, msg.left_anchor)

    def _note(self, what: str) -> None:
        if len(self.errors) < 10:
            self.errors.append(what)


def _with_id(msg: Any, msg_id: int) -> Any:
    from dataclasses import replace

    return replace(msg, msg_id=msg_id)


class _FarProtocol(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.far: _Far | None = None

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if self.far is not None:
            self.far.on_datagram(data)


@dataclass
class _Tap:
    """What left the network port, counted on the agent client's reader thread."""

    chain_syns: int = 0
    new_path_syns: int = 0
    far: _Far | None = None

    def on_tap(self, port: int, frame: bytes) -> None:
        if port != 2:
            return
        f = _tcp_flags(frame)
        if f is None or f[0] != 0x02:  # SYN without ACK only
            return
        dst = f[1]
        if dst[2] < 100:  # a first box: a session's chain SYN
            self.chain_syns += 1
        else:  # a second box: a left anchor's new-path SYN
            self.new_path_syns += 1
            far = self.far
            if far is not None:
                far.loop.call_soon_threadsafe(_answer_syn, far, frame)


def _answer_syn(far: _Far, frame: bytes) -> None:
    # off the tap's reader thread (injecting from it would wait for its own reply)
    far.loop.run_in_executor(None, far.on_new_path_syn, frame)


def _frames(lo: int, hi: int, kind: str) -> list[bytes]:
    from dysco_pipeline.frames import build_frame
    from dysco_proto.packet import Segment, TcpFlags, TcpOptions

    out = []
    for i in range(lo, hi):
        t = session_tuple(i)
        if kind == "syn":
            opts = TcpOptions(mss=1460, wscale=7, sack_permitted=True)
            seg = Segment(t, isn(i), 0, TcpFlags.SYN, 65535, opts)
        else:  # "rst"
            seg = Segment(t, (isn(i) + 1) & _M32, 0, TcpFlags.RST, 0)
        out.append(build_frame(seg, HOST_MAC, DEVICE_MAC))
    return out


async def _pump(
    client: Any, n: int, kind: str, progress: Any, window: int = WINDOW
) -> tuple[int, float]:
    """Inject ``n`` frames of ``kind`` on host port 1 in bursts, at most ``window`` ahead of
    ``progress()``; wait until ``progress()`` reaches ``n`` or stalls. Returns (progress,
    seconds)."""
    t0 = time.perf_counter()
    sent = 0
    last, last_t = -1, time.monotonic()
    while True:
        done = progress()
        if done != last:
            last, last_t = done, time.monotonic()
        if done >= n or time.monotonic() - last_t > STALL_S:
            return min(done, n), time.perf_counter() - t0
        if sent < n and sent - done < window:
            hi = min(n, sent + BURST)
            frames = _frames(sent, hi, kind)
            await asyncio.to_thread(client.inject_burst, 1, frames)
            sent = hi
        else:
            await asyncio.sleep(0.005)


async def _settle(daemon: Any, timeout: float = 600.0) -> None:
    end = time.monotonic() + timeout
    while daemon.writer.pending and time.monotonic() < end:
        await asyncio.sleep(0.02)


def _session_entries(client: Any) -> int:
    from dysco_targets.dpdk_ctl import CtlTable

    total = 0
    for table in (CtlTable.OUT_SESSION, CtlTable.IN_SESSION):
        for _buf, _off, cnt in client.read_packed(table):
            total += cnt
    return total


async def _reconfigure(
    daemon: Any, client: Any, picks: list[int], timeout: float
) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """Complete the handshake of each picked session on the wire, then remove its first box
    (the daemon as left anchor); at most ``RECONF_WINDOW`` in flight. Returns the outcomes
    and up to 10 of those not completed."""
    from dysco_pipeline.frames import build_frame
    from dysco_proto.events import ReconfigKind
    from dysco_proto.packet import Segment, TcpFlags, TcpOptions

    outcomes: dict[str, int] = {}
    failed: list[dict[str, Any]] = []
    agent = daemon.agent
    for lo in range(0, len(picks), RECONF_WINDOW):
        chunk = picks[lo : lo + RECONF_WINDOW]
        net, host, sides = [], [], []
        for i in chunk:
            t = session_tuple(i)
            side = agent.right_by_stuple.get(t)
            if side is None:
                outcomes["no-session"] = outcomes.get("no-session", 0) + 1
                continue
            d_out, d_in = side.out_deltas, side.in_deltas
            synack = Segment(
                side.sub.reversed(), (PEER_ISN - d_in.seq) & _M32,
                (isn(i) + 1 + d_out.seq) & _M32, TcpFlags.SYN | TcpFlags.ACK, 65535,
                TcpOptions(mss=1460, wscale=7, sack_permitted=True),
            )  # fmt: skip
            ack = Segment(t, (isn(i) + 1) & _M32, (PEER_ISN + 1) & _M32, TcpFlags.ACK, 512)
            net.append(build_frame(synack, "02:00:00:00:00:fe", DEVICE_MAC))
            host.append(build_frame(ack, HOST_MAC, DEVICE_MAC))
            sides.append((i, side))
        await asyncio.to_thread(client.inject_burst, 2, net)
        await asyncio.to_thread(client.inject_burst, 1, host)
        end = time.monotonic() + timeout
        while time.monotonic() < end and any(s.hs.isn_in is None for _i, s in sides):
            await asyncio.sleep(0.01)  # the daemon recorded the handshake (SYN-ACK mirror)
        futs = []
        for i, _side in sides:
            k = i // GROUP
            tag, fut = daemon.start_reconfig(session_tuple(i), box2(k), (), ReconfigKind.REMOVE)
            futs.append((i, tag, fut))
        for i, tag, fut in futs:
            try:
                res = await asyncio.wait_for(fut, timeout)
                outcome = str(res["outcome"])
            except TimeoutError:
                daemon.abandon_reconfig(tag)
                res, outcome = {"reason": f"no outcome within {timeout:.0f} s"}, "timeout"
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            if outcome != "completed" and len(failed) < 10:
                failed.append({"session": i, "outcome": outcome, "reason": res.get("reason")})
    return outcomes, failed


async def _setup(
    daemon: Any, client: Any, tap: _Tap, n: int, pids: dict[str, int]
) -> dict[str, Any]:
    """Set up ``n`` sessions (one is set up when its chain SYN left the network port); what
    the device and the controller hold then."""
    rss0 = _rss_bytes()
    held, dt = await _pump(client, n, "syn", lambda: tap.chain_syns)
    await _settle(daemon)
    rss = _rss_bytes()
    info = client.info
    return {
        "sessions": n,
        "setup_failed": n - held,
        "setup_s": round(dt, 2),
        "setup_per_s": round(held / dt) if dt > 0 else 0,
        "sessions_held": held,
        "agent_sessions": len(daemon.agent.right_by_stuple),
        "device_session_entries_held": _session_entries(client),
        "slots_capacity": (daemon.agent.config.slot_limit or 0) - 1,  # slot 0 is never used
        "device_slots": int(info.max_slots),
        "controller_rss_mb": round(rss / 2**20, 1),
        "controller_rss_per_session_bytes": round((rss - rss0) / held) if held else None,
        "device_table_bytes": int(info.table_bytes),
        "device_process_rss_mb": {k: round(_rss_bytes(v) / 2**20, 1) for k, v in pids.items()},
        "device_capacity_entries": int(info.max_entries),
        "device_bytes_per_session": round(info.table_bytes / held, 1) if held else None,
    }


async def _reconfig_phase(
    daemon: Any, client: Any, tap: _Tap, far: _Far, n: int, fraction: float
) -> dict[str, Any]:
    """Reconfigure ``fraction`` of the sessions, spread over them."""
    want = round(n * fraction)
    step = max(1, n // want) if want else 1
    picks = list(range(0, n, step))[:want] if want else []
    t0 = time.perf_counter()
    outcomes, failed = await _reconfigure(daemon, client, picks, timeout=60.0)
    await _settle(daemon)
    return {
        "reconfigs_requested": len(picks),
        "reconfigs_completed": outcomes.get("completed", 0),
        "reconfig_outcomes": outcomes,
        "reconfigs_not_completed": failed,
        "reconfig_s": round(time.perf_counter() - t0, 2),
        "reconfig_kind": "remove the first box (daemon: left anchor; far side: this driver)",
        "far_side_answers": dict(far.answered),
        "far_side_errors": list(far.errors),
        "new_path_syns_seen": tap.new_path_syns,
    }


async def _teardown(daemon: Any, client: Any, n: int, static_entries: int) -> dict[str, Any]:
    """A RST from the host for every session (the agent removes them); what is left."""
    records0 = len(daemon.agent.records)
    _gone, dt = await _pump(client, n, "rst", lambda: records0 - len(daemon.agent.records))
    await _settle(daemon)
    return {
        "teardown_s": round(dt, 2),
        "agent_sessions_after": len(daemon.agent.records),
        "controller_entries_after": len(daemon.shadow),
        "leaked_entries": _session_entries(client) - static_entries,
        "writer_errors": daemon.writer.stats.errors,
    }


async def _soak(
    n: int, fraction: float, address: str, ctl: str, tmp: Path, pids: dict[str, int]
) -> dict[str, Any]:
    from controller.daemon import Daemon
    from dysco_targets.dpdk_ctl import AgentClient

    loop = asyncio.get_running_loop()
    tap = _Tap()
    client = AgentClient(ctl, on_tap=tap.on_tap)
    transport = None
    daemon = None
    try:
        proto = _FarProtocol()
        transport, _p = await loop.create_datagram_endpoint(
            lambda: proto, local_addr=("127.0.0.1", 0)
        )
        peer_port = transport.get_extra_info("sockname")[1]
        cfg = _config(tmp, address, n, peer_port, int(client.info.max_slots))
        far = _Far(cfg.control.key, client, loop, transport=transport)
        tap.far = proto.far = far
        client.tap(True)
        daemon = Daemon(cfg, management=False)
        await daemon.start(connect_timeout=30)
        far.daemon_addr = daemon.control_addr or ("127.0.0.1", 0)
        await _settle(daemon)
        static_entries = _session_entries(client)
        t_all = time.perf_counter()
        out = await _setup(daemon, client, tap, n, pids)
        out.update(await _reconfig_phase(daemon, client, tap, far, n, fraction))
        out.update(await _teardown(daemon, client, n, static_entries))
        out["wall_s"] = round(time.perf_counter() - t_all, 2)
        return out
    finally:
        if daemon is not None:
            await daemon.stop()
        with contextlib.suppress(Exception):
            client.tap(False)
        client.close()
        if transport is not None:
            transport.close()


def run(sessions: int, reconfigure: float = 0.0, command: str | None = None) -> dict[str, Any]:
    """The soak on the DPDK target; returns the JSON-able result."""
    if sessions < 1:
        raise BenchError("--sessions must be at least 1")
    if not 0.0 <= reconfigure <= 1.0:
        raise BenchError("--reconfigure is a fraction in [0, 1]")
    _pick_target("dpdk")  # a clear error if the agent cannot run here
    want = round(sessions * reconfigure)
    # the agent's --sessions: two entries and one slot each; a reconfigured session holds a
    # third entry (the new path's IN entry) until the old one is retired and removed
    cap = max(sessions + want + 1024, 4096)
    with tempfile.TemporaryDirectory(prefix="dysco-soak-") as d, _server("dpdk", cap) as srv:
        address, ctl, pids = srv
        res = asyncio.run(_soak(sessions, reconfigure, address, ctl, Path(d), pids))
    res["command"] = (
        command or f"dysco bench soak --sessions {sessions} --reconfigure {reconfigure}"
    )
    res["target"] = "dpdk (agent + P4Runtime server, own processes; daemon in this process)"
    res["cpu_count"] = os.cpu_count()
    with contextlib.suppress(OSError):
        res["load_average"] = [round(x, 2) for x in os.getloadavg()]
    res["passed"] = (
        res.get("setup_failed") == 0
        and res.get("leaked_entries") == 0
        and res.get("reconfigs_completed") == res.get("reconfigs_requested")
    )
    return res
