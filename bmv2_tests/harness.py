"""Run the pipeline on bmv2: simple_switch_grpc, a nanomsg dataplane and a P4Runtime session.

PTF-style, without the PTF runner: the switch is started with the nanomsg platform
(``--packet-in ipc://...``: no root, no veths), frames are injected and captured through
libnanomsg (ctypes, the library bmv2 itself links against), the pipeline is pushed and entries
are written over P4Runtime with the generated stubs in ``controller.p4rt.gen``. Every wait has
an explicit timeout; :meth:`Bmv2.flush` drains the dataplane and the packet-in stream; the
caller deletes every entry it inserted.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import queue
import shutil
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import grpc
from google.protobuf import text_format

from controller.p4rt.gen.p4.config.v1 import p4info_pb2
from controller.p4rt.gen.p4.v1 import p4runtime_pb2 as p4r
from controller.p4rt.gen.p4.v1 import p4runtime_pb2_grpc as p4r_grpc
from dysco_pipeline import pipeline as pl
from dysco_testbed.loopback_ports import free_ports

ROOT = Path(__file__).resolve().parent.parent
P4INFO = ROOT / "p4src" / "build" / "dysco.p4info.txtpb"
BMV2_JSON = ROOT / "p4src" / "build" / "dysco.json"
P4TOOLS_LIB = Path(os.environ.get("P4TOOLS_PREFIX", "/opt/p4tools")) / "lib"

START_TIMEOUT = 20.0  # simple_switch_grpc up and the gRPC server answering
RPC_TIMEOUT = 10.0  # every unary P4Runtime call
PACKET_TIMEOUT = 2.0  # an expected frame or packet-in must arrive within this
QUIET_PERIOD = 0.3  # then nothing else may arrive within this


def missing_tools() -> str | None:
    """``None`` if bmv2 tests can run, else one line saying what is missing."""
    missing = []
    if switch_binary() is None:
        missing.append("simple_switch_grpc")
    if shutil.which("p4c-bm2-ss") is None:
        missing.append("p4c-bm2-ss")
    if _nanomsg_path() is None:
        missing.append("libnanomsg")
    if not missing:
        return None
    return f"bmv2 tests need {', '.join(missing)} (not found on PATH; see /opt/p4tools/env.sh)"


def switch_binary() -> str | None:
    return os.environ.get("SIMPLE_SWITCH_GRPC") or shutil.which("simple_switch_grpc")


def _nanomsg_path() -> str | None:
    return ctypes.util.find_library("nanomsg")


# --- nanomsg dataplane ------------------------------------------------------------------------

_AF_SP = 1
_NN_PAIR = 16
_NN_SOL_SOCKET = 0
_NN_RCVTIMEO = 5
_NN_MSG = ctypes.c_size_t(-1).value
_MSG_PACKET_IN = 3  # to the switch
_MSG_PACKET_OUT = 4  # from the switch
_HDR = struct.Struct("=iii")  # type, port, length (bmv2 dev_mgr_packet_in.cpp)


class NanomsgPorts:
    """The switch's ports as one nanomsg PAIR socket (bmv2's ``--packet-in`` platform)."""

    def __init__(self, addr: str) -> None:
        path = _nanomsg_path()
        if path is None:
            raise RuntimeError("libnanomsg not found")
        lib = ctypes.CDLL(path, use_errno=True)
        lib.nn_socket.argtypes = [ctypes.c_int, ctypes.c_int]
        lib.nn_connect.argtypes = [ctypes.c_int, ctypes.c_char_p]
        lib.nn_send.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        lib.nn_recv.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        lib.nn_setsockopt.argtypes = [
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_void_p,
            ctypes.c_size_t,
        ]
        lib.nn_freemsg.argtypes = [ctypes.c_void_p]
        lib.nn_close.argtypes = [ctypes.c_int]
        self._lib = lib
        self._sock = lib.nn_socket(_AF_SP, _NN_PAIR)
        if self._sock < 0:
            raise OSError(ctypes.get_errno(), "nn_socket")
        timeout = ctypes.c_int(100)
        lib.nn_setsockopt(
            self._sock, _NN_SOL_SOCKET, _NN_RCVTIMEO, ctypes.byref(timeout), ctypes.sizeof(timeout)
        )
        if lib.nn_connect(self._sock, addr.encode()) < 0:
            raise OSError(ctypes.get_errno(), f"nn_connect {addr}")
        self.received: queue.Queue[tuple[int, bytes]] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._rx, name="nanomsg-rx", daemon=True)
        self._thread.start()

    def send(self, port: int, frame: bytes) -> None:
        msg = _HDR.pack(_MSG_PACKET_IN, port, len(frame)) + frame
        if self._lib.nn_send(self._sock, msg, len(msg), 0) < 0:
            raise OSError(ctypes.get_errno(), "nn_send")

    def _rx(self) -> None:
        buf = ctypes.c_void_p()
        while not self._stop.is_set():
            n = self._lib.nn_recv(self._sock, ctypes.byref(buf), _NN_MSG, 0)
            if n < 0:
                continue  # timeout: check the stop flag
            data = ctypes.string_at(buf, n)
            self._lib.nn_freemsg(buf)
            if n < _HDR.size:
                continue
            kind, port, length = _HDR.unpack_from(data)
            if kind == _MSG_PACKET_OUT:
                self.received.put((port, data[_HDR.size : _HDR.size + length]))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._lib.nn_close(self._sock)


# --- P4Runtime ------------------------------------------------------------------------------


def canonical(value: int) -> bytes:
    """P4Runtime canonical bytestring: big-endian, no leading zero bytes."""
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


@dataclass(frozen=True)
class Bmv2PacketIn:
    """A packet-in received from bmv2 on the P4Runtime stream."""

    metadata: dict[str, int]
    payload: bytes


class P4RuntimeSession:
    """A primary P4Runtime client: pipeline push, writes, packet I/O (synchronous)."""

    def __init__(self, address: str, device_id: int = 0, election_id: int = 1) -> None:
        self.device_id = device_id
        self.election_id = p4r.Uint128(high=0, low=election_id)
        self.channel = grpc.insecure_channel(address)
        grpc.channel_ready_future(self.channel).result(timeout=START_TIMEOUT)
        self.stub = p4r_grpc.P4RuntimeStub(self.channel)
        self._requests: queue.Queue[p4r.StreamMessageRequest | None] = queue.Queue()
        self.packet_ins: queue.Queue[Bmv2PacketIn] = queue.Queue()
        self._arbitration: queue.Queue[p4r.StreamMessageResponse] = queue.Queue()
        self.p4info = p4info_pb2.P4Info()
        text_format.Parse(P4INFO.read_text(), self.p4info)
        self._pin_names = {}
        self._pout_ids = {}
        for h in self.p4info.controller_packet_metadata:
            for m in h.metadata:
                if h.preamble.name == "packet_in":
                    self._pin_names[m.id] = m.name
                else:
                    self._pout_ids[m.name] = m.id
        self._stream = self.stub.StreamChannel(self._request_iter())
        self._rx = threading.Thread(target=self._read_stream, name="p4rt-stream", daemon=True)
        self._rx.start()
        self._requests.put(
            p4r.StreamMessageRequest(
                arbitration=p4r.MasterArbitrationUpdate(
                    device_id=device_id, election_id=self.election_id
                )
            )
        )
        resp = self._arbitration.get(timeout=RPC_TIMEOUT)
        if resp.arbitration.status.code != 0:
            raise RuntimeError(f"not primary: {resp.arbitration.status}")

    def _request_iter(self) -> Iterator[p4r.StreamMessageRequest]:
        while True:
            req = self._requests.get()
            if req is None:
                return
            yield req

    def _read_stream(self) -> None:
        with contextlib.suppress(grpc.RpcError):
            for resp in self._stream:
                which = resp.WhichOneof("update")
                if which == "arbitration":
                    self._arbitration.put(resp)
                elif which == "packet":
                    meta = {
                        self._pin_names[m.metadata_id]: int.from_bytes(m.value, "big")
                        for m in resp.packet.metadata
                    }
                    self.packet_ins.put(Bmv2PacketIn(meta, bytes(resp.packet.payload)))

    def push_pipeline(self) -> None:
        cfg = p4r.ForwardingPipelineConfig(
            p4info=self.p4info, p4_device_config=BMV2_JSON.read_bytes()
        )
        self.stub.SetForwardingPipelineConfig(
            p4r.SetForwardingPipelineConfigRequest(
                device_id=self.device_id,
                election_id=self.election_id,
                action=p4r.SetForwardingPipelineConfigRequest.VERIFY_AND_COMMIT,
                config=cfg,
            ),
            timeout=RPC_TIMEOUT,
        )

    def _ids(self) -> tuple[dict[str, p4info_pb2.Table], dict[str, p4info_pb2.Action]]:
        tables = {t.preamble.name: t for t in self.p4info.tables}
        actions = {a.preamble.name: a for a in self.p4info.actions}
        return tables, actions

    def table_entry(self, te: pl.TableEntry) -> p4r.TableEntry:
        """The P4Runtime form of a contract table entry."""
        tables, actions = self._ids()
        t = tables[str(te.table)]
        a = actions[str(te.action)]
        entry = p4r.TableEntry(table_id=t.preamble.id)
        for mf in t.match_fields:
            value = te.match[mf.name]
            fm = p4r.FieldMatch(field_id=mf.id)
            if isinstance(value, tuple):
                addr, plen = value
                if plen == 0:
                    continue  # a /0 LPM is a wildcard: omitted
                mask = ((1 << plen) - 1) << (mf.bitwidth - plen)
                fm.lpm.value = canonical(addr & mask)
                fm.lpm.prefix_len = plen
            else:
                fm.exact.value = canonical(value)
            entry.match.append(fm)
        entry.action.action.action_id = a.preamble.id
        for p in a.params:
            entry.action.action.params.append(
                p4r.Action.Param(param_id=p.id, value=canonical(te.params[p.name]))
            )
        return entry

    def write(self, updates: list[p4r.Update]) -> None:
        if updates:
            self.stub.Write(
                p4r.WriteRequest(
                    device_id=self.device_id, election_id=self.election_id, updates=updates
                ),
                timeout=RPC_TIMEOUT,
            )

    def insert_entries(self, entries: list[pl.TableEntry]) -> list[p4r.Update]:
        """Insert in one batch; returns the matching delete updates (for cleanup)."""
        ups = [
            p4r.Update(type=p4r.Update.INSERT, entity=p4r.Entity(table_entry=self.table_entry(e)))
            for e in entries
        ]
        self.write(ups)
        return [p4r.Update(type=p4r.Update.DELETE, entity=u.entity) for u in reversed(ups)]

    def clone_session(self, session_id: int, port: int) -> None:
        entry = p4r.CloneSessionEntry(
            session_id=session_id, replicas=[p4r.Replica(egress_port=port, instance=1)]
        )
        pre = p4r.PacketReplicationEngineEntry(clone_session_entry=entry)
        self.write(
            [
                p4r.Update(
                    type=p4r.Update.INSERT, entity=p4r.Entity(packet_replication_engine_entry=pre)
                )
            ]
        )

    def packet_out(self, metadata: Mapping[str, int], payload: bytes) -> None:
        po = p4r.PacketOut(payload=payload)
        for name, value in metadata.items():
            po.metadata.append(
                p4r.PacketMetadata(metadata_id=self._pout_ids[name], value=canonical(value))
            )
        self._requests.put(p4r.StreamMessageRequest(packet=po))

    def close(self) -> None:
        self._requests.put(None)
        self.channel.close()


# --- the switch ------------------------------------------------------------------------------


class Bmv2Process:
    """simple_switch_grpc with the nanomsg platform and no pipeline: a P4Runtime client (the
    controller, or :class:`Bmv2`'s session) pushes one. ``address`` is its gRPC endpoint."""

    def __init__(self) -> None:
        binary = switch_binary()
        assert binary is not None
        self.tmp = Path(tempfile.mkdtemp(prefix="dysco-bmv2-"))
        self.ipc = f"ipc://{self.tmp}/dp.ipc"
        grpc_port, thrift_port = free_ports(2)
        self.address = f"127.0.0.1:{grpc_port}"
        env = dict(os.environ)
        if P4TOOLS_LIB.is_dir():
            env["LD_LIBRARY_PATH"] = f"{P4TOOLS_LIB}:{env.get('LD_LIBRARY_PATH', '')}"
        self.log = open(self.tmp / "switch.log", "wb")  # noqa: SIM115 (closed in close())
        self.proc = subprocess.Popen(
            [
                binary,
                "--no-p4",
                "--packet-in",
                self.ipc,
                "--thrift-port",
                str(thrift_port),
                "--log-level",
                "warn",
                "--",
                "--grpc-server-addr",
                self.address,
                "--cpu-port",
                str(pl.CPU_PORT),
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            channel = grpc.insecure_channel(self.address)
            grpc.channel_ready_future(channel).result(timeout=START_TIMEOUT)
            channel.close()
            self.ports = NanomsgPorts(self.ipc)
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ports.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


class Bmv2(Bmv2Process):
    """A :class:`Bmv2Process` with the Dysco pipeline pushed and the clone session to the CPU
    port configured through this harness's own P4Runtime session."""

    def __init__(self) -> None:
        super().__init__()
        try:
            self.p4rt = P4RuntimeSession(self.address)
            self.p4rt.push_pipeline()
            self.p4rt.clone_session(pl.CPU_CLONE_SESSION, pl.CPU_PORT)
        except Exception:
            self.close()
            raise

    def flush(self) -> None:
        """Drain whatever the dataplane and the packet-in stream still hold."""
        time.sleep(0.05)
        for q in (self.ports.received, self.p4rt.packet_ins):
            while True:
                try:
                    q.get_nowait()
                except queue.Empty:
                    break

    def collect(
        self, n_frames: int, n_packet_ins: int
    ) -> tuple[list[tuple[int, bytes]], list[Bmv2PacketIn]]:
        """Wait (each at most PACKET_TIMEOUT) for the expected numbers of frames and packet-ins,
        then QUIET_PERIOD more for anything unexpected."""
        frames: list[tuple[int, bytes]] = []
        pins: list[Bmv2PacketIn] = []
        deadline = time.monotonic() + PACKET_TIMEOUT
        while (len(frames) < n_frames or len(pins) < n_packet_ins) and time.monotonic() < deadline:
            self._drain(frames, pins, 0.02)
        quiet_end = time.monotonic() + QUIET_PERIOD
        while time.monotonic() < quiet_end:
            self._drain(frames, pins, 0.02)
        return frames, pins

    def _drain(
        self, frames: list[tuple[int, bytes]], pins: list[Bmv2PacketIn], wait: float
    ) -> None:
        with contextlib.suppress(queue.Empty):
            frames.append(self.ports.received.get(timeout=wait))
        with contextlib.suppress(queue.Empty):
            while True:
                pins.append(self.p4rt.packet_ins.get_nowait())

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.p4rt.close()
        super().close()
