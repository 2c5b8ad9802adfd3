"""Client of the DPDK agent's control socket (layouts: ``dpdk_agent/src/ctl_proto.h``).

A SOCK_SEQPACKET Unix socket carries fixed little-endian records: batched table writes with
per-entry status, chunked reads, register reads/writes, packet-out, unsolicited packet-ins.
This module is transport only; :mod:`controller.p4rt.dpdk_backend` maps P4Runtime onto it.
"""

from __future__ import annotations

import contextlib
import enum
import ipaddress
import logging
import os
import shutil
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("dysco.dpdk")

REPO = Path(__file__).resolve().parents[1]
AGENT_DIR = REPO / "dpdk_agent"
AGENT_BIN = AGENT_DIR / "build" / "dysco-dpdk-agent"

MAX_MSG = 1 << 20  # largest message the agent accepts
CHUNK = 192 * 1024  # largest message we send (fits a SOCK_SEQPACKET send buffer)
SO_SNDBUFFORCE, SO_RCVBUFFORCE = 32, 33  # Linux; need CAP_NET_ADMIN


class T(enum.IntEnum):
    HELLO = 1
    WRITE = 2
    READ = 3
    PKT_OUT = 4
    PKT_IN = 5
    INJECT = 6
    REG_READ = 7
    REG_WRITE = 8
    STATS = 9
    CLEAR = 10
    CAPTURE = 12
    PKT_OUT_SYNC = 13
    START = 14
    QUIT = 15
    SCHEMA = 16
    WRITE_PB = 17
    PKTIN_SUB = 18
    INJECT_BURST = 19
    TAP_SUB = 20
    TAP = 21


FLAG_MORE = 1  # READ, REG_READ: more replies follow
FLAG_ERROR = 2  # the agent refused the request: body = i32 status (Status)


class Op(enum.IntEnum):
    INSERT = 1
    MODIFY = 2
    DELETE = 3


class Status(enum.IntEnum):
    """Per-entry write results: google.rpc.Code values."""

    OK = 0
    INVALID_ARGUMENT = 3
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    RESOURCE_EXHAUSTED = 8
    INTERNAL = 13


class CtlTable(enum.IntEnum):
    PORT_ROLE = 0
    LOCAL_ADDR = 1
    OUT_SESSION = 2
    IN_SESSION = 3
    IPV4_FWD = 4
    ALL = 0xFF


class CtlAction(enum.IntEnum):
    HOST_PORT = 1
    NETWORK_PORT = 2
    SET_LOCAL = 3
    OUT_REWRITE = 4
    OUT_TWO_PATH = 5
    IN_REWRITE = 6
    ROUTE = 7
    DROP = 8
    ROUTE_HOST = 9


HDR = struct.Struct("<IHHI")
# struct ctl_entry (ctl_proto.h): op table action role agent_id proto plen peer_cut_valid,
# port slot, match(sip dip sport dport), rw, d(seq ack tsval tsecr win_shift), new_rw, new_d,
# epoch peer_cut, smac dmac, idle_ms
ENTRY = struct.Struct("<8B HI IIHH IIHH IIIIb3x IIHH IIIIb3x II 6s6s I")
REGS = struct.Struct("<9I")
OUT = struct.Struct("<BxHI")
INFO = struct.Struct("<IIIIIIQII")
STATS = struct.Struct("<17Q")
PKT_IN_HDR_LEN = 42
PKT_OUT_HDR_LEN = 15
assert (HDR.size, ENTRY.size, REGS.size, OUT.size, INFO.size, STATS.size) == (
    12,
    114,
    36,
    8,
    40,
    136,
)

ENTRY_FIELDS = (
    "op",
    "table",
    "action",
    "role",
    "agent_id",
    "proto",
    "plen",
    "peer_cut_valid",
    "port",
    "slot",
    "sip",
    "dip",
    "sport",
    "dport",
    "rw_sip",
    "rw_dip",
    "rw_sport",
    "rw_dport",
    "seq",
    "ack",
    "tsval",
    "tsecr",
    "win_shift",
    "new_sip",
    "new_dip",
    "new_sport",
    "new_dport",
    "new_seq",
    "new_ack",
    "new_tsval",
    "new_tsecr",
    "new_win_shift",
    "epoch",
    "peer_cut",
    "smac",
    "dmac",
    "idle_ms",
)
ZERO_ENTRY = dict.fromkeys(ENTRY_FIELDS, 0) | {"smac": b"\0" * 6, "dmac": b"\0" * 6}


def pack_entry(**fields: object) -> bytes:
    """One ``ctl_entry`` record; missing fields are zero."""
    v = ZERO_ENTRY | fields
    return ENTRY.pack(*(v[n] for n in ENTRY_FIELDS))


def unpack_entry(b: bytes, off: int = 0) -> dict[str, object]:
    return dict(zip(ENTRY_FIELDS, ENTRY.unpack_from(b, off), strict=True))


def ip2int(a: str | int) -> int:
    return a if isinstance(a, int) else int(ipaddress.IPv4Address(a))


def int2ip(v: int) -> str:
    return str(ipaddress.IPv4Address(v))


@dataclass(slots=True)
class CtlRegs:
    slot: int
    sent_hi: int = 0
    ack_hi: int = 0
    rcvd_ack_hi: int = 0
    new_rcvd_lo: int = 0
    cut: int = 0
    old_ack_hi: int = 0
    epoch: int = 0
    flags: int = 0

    def pack(self) -> bytes:
        return REGS.pack(
            self.slot,
            self.sent_hi,
            self.ack_hi,
            self.rcvd_ack_hi,
            self.new_rcvd_lo,
            self.cut,
            self.old_ack_hi,
            self.epoch,
            self.flags,
        )


@dataclass(slots=True)
class Output:
    """A captured output: a frame on a port, or a packet-in (``pktin``: the 42-byte
    ``packet_in`` header followed by the frame, exactly what the P4 program's CPU port sends)."""

    port: int
    data: bytes
    pktin: bytes | None = None


@dataclass(slots=True)
class Info:
    version: int
    max_entries: int
    max_slots: int
    n_ports: int
    host_port: int
    net_port: int
    table_bytes: int
    max_sessions: int
    control_port: int


class AgentError(RuntimeError):
    pass


def _refusal(typ: int, body: bytes) -> str:
    """The message of an error reply (``FLAG_ERROR``: an i32 status) to request ``typ``."""
    code = struct.unpack_from("<i", body)[0] if len(body) >= 4 else int(Status.INTERNAL)
    name = T(typ).name if typ in set(T) else str(typ)
    status = Status(code).name if code in set(Status) else str(code)
    return f"agent refused request {name}: {status}"


class AgentClient:
    """Synchronous client; a reader thread demultiplexes replies and packet-ins.

    Thread-safe: requests are serialised by a lock (the agent answers in order).
    """

    def __init__(
        self,
        path: str,
        *,
        on_packet_in: Callable[[bytes], None] | None = None,
        on_tap: Callable[[int, bytes], None] | None = None,
        connect_timeout: float = 10.0,
    ) -> None:
        self.path = path
        self.on_packet_in = on_packet_in
        self.on_tap = on_tap
        deadline = time.monotonic() + connect_timeout
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            try:
                s.connect(path)
                break
            except OSError:
                s.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        for force, plain in (
            (SO_SNDBUFFORCE, socket.SO_SNDBUF),
            (SO_RCVBUFFORCE, socket.SO_RCVBUF),
        ):
            try:
                s.setsockopt(socket.SOL_SOCKET, force, 8 << 20)
            except OSError:
                s.setsockopt(socket.SOL_SOCKET, plain, 8 << 20)
        # largest message we may send: what the send buffer holds, at most what the agent reads
        self.max_msg = max(
            CHUNK, min(MAX_MSG - 64, s.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) - 4096)
        )
        self.sock = s
        self._lock = threading.Lock()
        self._seq = 0
        self._cv = threading.Condition()
        self._replies: dict[int, list[tuple[int, bytes]]] = {}
        self._closed = False
        self._reader = threading.Thread(target=self._read_loop, name="dpdk-ctl", daemon=True)
        self._reader.start()
        self.info = self.hello()

    # -- plumbing ---------------------------------------------------------------------------
    def _read_loop(self) -> None:
        while True:
            try:
                msg = self.sock.recv(MAX_MSG + 64)
            except OSError:
                msg = b""
            if not msg:
                with self._cv:
                    self._closed = True
                    self._cv.notify_all()
                return
            _ln, typ, flags, seq = HDR.unpack_from(msg)
            if typ == T.PKT_IN and not flags & FLAG_ERROR:  # else a refused request
                cb = self.on_packet_in
                if cb is not None:
                    try:
                        cb(msg[HDR.size :])
                    except Exception:  # a callback must not kill the reader
                        log.exception("packet-in callback")
                continue
            if typ == T.TAP and not flags & FLAG_ERROR:  # else a refused request
                tap = self.on_tap
                if tap is not None and len(msg) >= HDR.size + 4:
                    try:
                        tap(struct.unpack_from("<H", msg, HDR.size)[0], msg[HDR.size + 4 :])
                    except Exception:
                        log.exception("tap callback")
                continue
            with self._cv:
                self._replies.setdefault(seq, []).append((flags, msg[HDR.size :]))
                self._cv.notify_all()

    def _request(
        self, typ: int, body: bytes = b"", *, multi: bool = False, timeout: float = 60.0
    ) -> list[bytes]:
        with self._lock:
            self._seq = (self._seq % 0xFFFFFFFE) + 1
            seq = self._seq
            self.sock.sendall(HDR.pack(HDR.size + len(body), typ, 0, seq) + body)
            out: list[bytes] = []
            deadline = time.monotonic() + timeout
            with self._cv:
                while True:
                    parts = self._replies.pop(seq, [])
                    done = False
                    for flags, b in parts:
                        if flags & FLAG_ERROR:
                            raise AgentError(_refusal(typ, b))
                        out.append(b)
                        if not (multi and flags & FLAG_MORE):
                            done = True
                    if done:
                        return out
                    if self._closed:
                        raise AgentError("agent closed the control socket")
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise AgentError(f"agent did not answer request type {typ}")
                    self._cv.wait(left)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()

    # -- requests ---------------------------------------------------------------------------
    def hello(self) -> Info:
        return Info(*INFO.unpack(self._request(T.HELLO)[0][: INFO.size]))

    def write_packed(self, recs: list[bytes]) -> list[int]:
        res: list[int] = []
        step = (self.max_msg - 64) // ENTRY.size
        for i in range(0, len(recs), step):
            chunk = recs[i : i + step]
            r = self._request(T.WRITE, struct.pack("<I", len(chunk)) + b"".join(chunk))[0]
            (n,) = struct.unpack_from("<I", r)
            res.extend(struct.unpack_from(f"<{n}i", r, 4))
        return res

    def subscribe_packet_ins(self) -> None:
        """Make this client the agent's packet-in receiver (several clients may connect)."""
        self._request(T.PKTIN_SUB)

    def schema(self, data: bytes) -> int:
        """Load the P4Info id map of the C WriteRequest decoder."""
        return int(struct.unpack("<i", self._request(T.SCHEMA, data)[0][:4])[0])

    def write_pb(self, request: bytes) -> list[int] | None:
        """Apply a serialized p4.v1.WriteRequest; one google.rpc code per update, or ``None``
        if the request could not be parsed."""
        r = self._request(T.WRITE_PB, request)[0]
        (n,) = struct.unpack_from("<I", r)
        if n == 0xFFFFFFFF:
            return None
        return list(struct.unpack_from(f"<{n}i", r, 4))

    def read(self, table: int = CtlTable.ALL) -> Iterator[dict[str, object]]:
        """Every entry of ``table`` (a :class:`CtlTable`), as ``ctl_entry`` field dicts."""
        for part in self._request(T.READ, bytes([table]), multi=True):
            (n,) = struct.unpack_from("<I", part)
            for i in range(n):
                yield unpack_entry(part, 4 + i * ENTRY.size)

    def read_packed(self, table: int = CtlTable.ALL) -> Iterator[tuple[bytes, int, int]]:
        """Raw replies: (buffer, offset of the first record, count)."""
        for part in self._request(T.READ, bytes([table]), multi=True):
            (n,) = struct.unpack_from("<I", part)
            yield part, 4, n

    def reg_read(self, slot: int) -> CtlRegs:
        r = self._request(T.REG_READ, struct.pack("<I", slot), multi=True)[0]
        return CtlRegs(*REGS.unpack_from(r, 4))

    def reg_write(self, regs: CtlRegs) -> int:
        return int(struct.unpack("<i", self._request(T.REG_WRITE, regs.pack())[0][:4])[0])

    def clear(self) -> None:
        self._request(T.CLEAR)

    def capture(self, on: bool) -> None:
        self._request(T.CAPTURE, bytes([1 if on else 0]))

    def start(self) -> None:
        self._request(T.START)

    def quit(self) -> None:
        with contextlib.suppress(AgentError, OSError):
            self._request(T.QUIT, timeout=5)

    def stats(self) -> dict[str, int]:
        v = STATS.unpack(self._request(T.STATS)[0][: STATS.size])
        names = (
            "rx",
            "tx",
            "drop",
            "punt",
            "miss",
            "hit",
            "split",
            "pktin_drop",
            "entries",
            "idle_loops",
            "sleeps",
            "cyc_rx",
            "cyc_pipe",
            "cyc_tx",
            "cyc_ctl",
            "busy_loops",
            "hz",
        )
        return dict(zip(names, v, strict=True))

    @staticmethod
    def _outputs(r: bytes) -> list[Output]:
        (n,) = struct.unpack_from("<I", r)
        off = 4
        outs = []
        for _ in range(n):
            kind, port, ln = OUT.unpack_from(r, off)
            off += OUT.size
            data = r[off : off + ln]
            if kind == 1:
                outs.append(Output(port, data[PKT_IN_HDR_LEN:], data))
            else:
                outs.append(Output(port, data))
            off += ln
        return outs

    def inject(self, port: int, frame: bytes, *, live: bool = False) -> list[Output]:
        """Run ``frame`` through the pipeline as if received on ``port``; return the outputs.

        ``live``: like a frame received on the port (outputs transmitted, packet-ins sent to
        the packet-in callback); returns ``[]``."""
        body = struct.pack("<HH", port, 1 if live else 0) + frame
        return self._outputs(self._request(T.INJECT, body)[0])

    def inject_burst(self, port: int, frames: list[bytes]) -> int:
        """Frames processed by the agent as one burst received on ``port`` (outputs to the
        ports or the tap, packet-ins to the packet-in subscriber); returns how many it took.
        Sent in messages of at most ``max_msg`` bytes and 65,535 frames."""
        taken = 0
        i = 0
        while i < len(frames):
            parts: list[bytes] = []
            size = 4
            while i < len(frames) and len(parts) < 0xFFFF:
                f = frames[i]
                if not 0 < len(f) <= 0xFFFF:
                    raise ValueError(f"frame {i}: length {len(f)} out of range")
                if parts and size + 2 + len(f) > self.max_msg - 64:
                    break
                parts.append(struct.pack("<H", len(f)) + f)
                size += 2 + len(f)
                i += 1
            body = struct.pack("<HH", port, len(parts)) + b"".join(parts)
            r = self._request(T.INJECT_BURST, body)[0]
            taken += struct.unpack_from("<I", r)[0]
        return taken

    def tap(self, on: bool) -> None:
        """Frames the agent sends to ports it does not have go to this client's ``on_tap``
        callback (port, frame) instead of being dropped."""
        self._request(T.TAP_SUB, bytes([1 if on else 0]))

    def packet_out(
        self, header: bytes, frame: bytes = b"", *, sync: bool = False
    ) -> list[Output] | None:
        """Packet-out: the 15-byte ``packet_out`` header (``pipeline.encode_packet_out``) and
        the frame. With ``sync``, wait and return what it produced (in capture mode)."""
        body = header + frame
        if not sync:
            with self._lock:
                self.sock.sendall(HDR.pack(HDR.size + len(body), T.PKT_OUT, 0, 0) + body)
            return None
        return self._outputs(self._request(T.PKT_OUT_SYNC, body)[0])


# --- running the agent -------------------------------------------------------------------------


def agent_available() -> tuple[bool, str]:
    """Whether the agent binary exists or can be built (libdpdk-dev, meson, ninja)."""
    if AGENT_BIN.exists():
        return True, ""
    for tool in ("meson", "ninja", "pkg-config"):
        if shutil.which(tool) is None:
            return False, f"{tool} not installed"
    r = subprocess.run(["pkg-config", "--exists", "libdpdk"], check=False)
    if r.returncode != 0:
        return False, "libdpdk-dev not installed"
    return True, ""


def build_agent() -> Path:
    if not AGENT_BIN.exists() or any(
        p.stat().st_mtime > AGENT_BIN.stat().st_mtime for p in (AGENT_DIR / "src").iterdir()
    ):
        subprocess.run(["make", "-s", "-C", str(AGENT_DIR)], check=True)
    return AGENT_BIN


class AgentProcess:
    """Start ``dysco-dpdk-agent`` (EAL without hugepages) and connect a client to it."""

    def __init__(
        self,
        *,
        vdevs: Iterable[str] = (),
        sessions: int = 1024,
        ctl_path: str | None = None,
        lcore: int | None = None,
        mem_mb: int = 256,
        extra: Iterable[str] = (),
        file_prefix: str | None = None,
        log: str | None = None,
        on_packet_in: Callable[[bytes], None] | None = None,
    ) -> None:
        build_agent()
        pid = os.getpid()
        uniq = f"{pid}-{id(self) & 0xFFFFFF:x}"
        self.ctl_path = ctl_path or f"/tmp/dysco-agent-{uniq}.sock"
        self.prefix = file_prefix or f"dysco-{uniq}"
        args = [
            str(AGENT_BIN),
            "--no-huge",
            "-m",
            str(mem_mb),
            "--no-pci",
            "--no-shconf",
            "--no-telemetry",
            f"--file-prefix={self.prefix}",
            "--log-level=lib.eal:error",
        ]
        if lcore is not None:
            args += ["-l", str(lcore)]
        else:
            args += ["-l", str(os.sched_getaffinity(0).__iter__().__next__())]
        for v in vdevs:
            args += ["--vdev", v]
        args += ["--", "--ctl", self.ctl_path, "--sessions", str(sessions), *extra]
        self.log_path = log or f"/tmp/dysco-agent-{uniq}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while not os.path.exists(self.ctl_path):
                if self.proc.poll() is not None:
                    raise AgentError(f"agent exited: {self.log_text()}")
                if time.monotonic() > deadline:
                    raise AgentError("agent did not start")
                time.sleep(0.02)
            self.client = AgentClient(self.ctl_path, on_packet_in=on_packet_in)
        except BaseException:
            self.stop()
            raise

    def log_text(self) -> str:
        try:
            return Path(self.log_path).read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        client = getattr(self, "client", None)
        if client is not None and self.proc.poll() is None:
            client.quit()
            client.close()
        if self.proc.poll() is None:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        self._log.close()
        with contextlib.suppress(OSError):
            os.unlink(self.ctl_path)

    def __enter__(self) -> AgentProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
