"""Security of the P4Runtime server and client (docs/controller.md), real gRPC: TLS, mutual TLS,
the loopback-only default without TLS, idle streams that must not starve Write and Read,
client arbitration as the specification describes it, bounded error details of a large
failed batch, the server run as ``python -m``, and validation of written entries."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import os
import queue
import secrets
import subprocess
import sys
import threading
from pathlib import Path

import grpc
import pytest

from controller.config import parse_config
from controller.p4rt.client import DeviceUnavailable, P4RuntimeClient, P4RuntimeError, WriteError
from controller.p4rt.gen.google.rpc import status_pb2
from controller.p4rt.gen.p4.v1 import p4runtime_pb2 as p4r
from controller.p4rt.gen.p4.v1 import p4runtime_pb2_grpc as p4r_grpc
from controller.p4rt.p4info import P4InfoIndex
from controller.p4rt.tls import ClientTls, ServerTls, TlsConfigError, check_listen_address
from dysco_pipeline import pipeline as pl
from dysco_targets.server import DETAILS_BUDGET, P4RuntimeServer
from dysco_testbed.loopback_ports import free_ports
from tests.controller.test_controller_p4rt import _entries
from tests.controller_support import TableBackend, contract_p4info, run_daemon

x509 = pytest.importorskip("cryptography.x509", reason="cryptography (test dependency) missing")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
IDX = P4InfoIndex(contract_p4info())


# --- a throwaway PKI -------------------------------------------------------------------------


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[str, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
    server: bool = False,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    iname, ikey = issuer if issuer is not None else (subject, key)
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(iname))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        b = b.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    elif not ca:
        b = b.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    return b.sign(ikey, hashes.SHA256())


class Pki:
    """A CA, a server certificate for 127.0.0.1, a client certificate of that CA and one of
    another (untrusted) CA, as PEM files in ``tmp``."""

    def __init__(self, tmp: Path) -> None:
        def pem(c: x509.Certificate, name: str) -> Path:
            p = tmp / name
            p.write_bytes(c.public_bytes(serialization.Encoding.PEM))
            return p

        ca_key = ec.generate_private_key(ec.SECP256R1())
        self.ca = pem(_cert("dysco test CA", ca_key, None, ca=True), "ca.pem")
        srv_key = ec.generate_private_key(ec.SECP256R1())
        self.server_key = _write_key(srv_key, tmp / "server.key")
        self.server_cert = pem(
            _cert("sw1", srv_key, ("dysco test CA", ca_key), server=True), "server.pem"
        )
        cl_key = ec.generate_private_key(ec.SECP256R1())
        self.client_key = _write_key(cl_key, tmp / "client.key")
        self.client_cert = pem(_cert("controller", cl_key, ("dysco test CA", ca_key)), "client.pem")
        rogue_ca = ec.generate_private_key(ec.SECP256R1())
        rk = ec.generate_private_key(ec.SECP256R1())
        self.rogue_key = _write_key(rk, tmp / "rogue.key")
        self.rogue_cert = pem(_cert("intruder", rk, ("rogue CA", rogue_ca)), "rogue.pem")


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path)


# --- TLS ---------------------------------------------------------------------------------


def test_mutual_tls_connects_and_refuses_clients_without_a_valid_certificate(pki: Pki) -> None:
    backend = TableBackend()
    tls = ServerTls(pki.server_cert, pki.server_key, client_ca=pki.ca)
    srv = P4RuntimeServer(backend, "127.0.0.1:0", contract=contract_p4info(), tls=tls).start()

    async def main() -> None:
        good = ClientTls(pki.ca, pki.client_cert, pki.client_key)
        c = P4RuntimeClient(srv.address, 1, 10, IDX, tls=good)
        await c.start(timeout=10)
        try:
            await c.write(_entries(IDX, 5))
            assert len(backend.entries) == 5
            n = 0
            async for _te in c.read_table_entries(0):
                n += 1
            assert n == 5
        finally:
            await c.close()
        refused = [
            ClientTls(pki.ca),  # no client certificate
            ClientTls(pki.ca, pki.rogue_cert, pki.rogue_key),  # signed by an unknown CA
        ]
        for t in refused:
            bad = P4RuntimeClient(srv.address, 1, 11, IDX, tls=t)
            with pytest.raises(DeviceUnavailable):
                await bad.start(timeout=3)
        plain = P4RuntimeClient(srv.address, 1, 12, IDX)  # no TLS at all
        with pytest.raises(DeviceUnavailable):
            await plain.start(timeout=3)
        assert len(backend.entries) == 5

    try:
        asyncio.run(main())
    finally:
        srv.stop()


def test_server_tls_without_client_certificates_and_server_name(pki: Pki) -> None:
    """TLS without mutual authentication; the client checks the server's certificate (a
    client trusting another CA is refused) and can expect a name other than the host."""
    srv = P4RuntimeServer(
        TableBackend(),
        "127.0.0.1:0",
        contract=contract_p4info(),
        tls=ServerTls(pki.server_cert, pki.server_key),
    ).start()

    async def main() -> None:
        c = P4RuntimeClient(srv.address, 1, 10, IDX, tls=ClientTls(pki.ca, server_name="localhost"))
        await c.start(timeout=10)
        await c.close()
        wrong_ca = ClientTls(pki.rogue_cert)  # trusts a certificate that did not sign it
        with pytest.raises(DeviceUnavailable):
            await P4RuntimeClient(srv.address, 1, 11, IDX, tls=wrong_ca).start(timeout=3)

    try:
        asyncio.run(main())
    finally:
        srv.stop()


def test_insecure_listener_is_loopback_only_unless_explicitly_allowed(pki: Pki) -> None:
    for addr in ("127.0.0.1:9559", "[::1]:9559", "localhost:9559", "unix:///run/x.sock"):
        check_listen_address(addr, None, allow_insecure=False)
    for addr in ("0.0.0.0:9559", "198.18.0.1:9559", "[::]:9559", "sw1.example:9559"):
        with pytest.raises(TlsConfigError, match="without TLS"):
            check_listen_address(addr, None, allow_insecure=False)
        check_listen_address(addr, None, allow_insecure=True)
        check_listen_address(addr, ServerTls(pki.server_cert, pki.server_key), allow_insecure=False)
    with pytest.raises(TlsConfigError):
        P4RuntimeServer(TableBackend(), "0.0.0.0:0", contract=contract_p4info())
    # the command line: one line, exit 2, nothing started
    r = subprocess.run(
        [sys.executable, "-m", "dysco_targets.serve", "--backend", "refmodel",
         "--address", "0.0.0.0:0"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 2 and "without TLS" in r.stderr and "Traceback" not in r.stderr


def test_device_tls_in_the_daemon_config(pki: Pki, tmp_path: Path) -> None:
    p4info = tmp_path / "p.txtpb"
    p4info.write_text("")
    base = f"""
ports:
  hosts: [{{port: 1, address: 10.0.0.1}}]
  network: {{port: 2}}
control: {{listen: 127.0.0.1:0, key: {secrets.token_hex(16)}}}
device:
  address: 198.18.0.1:9559
  p4info: {p4info}
"""
    cfg = parse_config(
        base + f"  tls: {{ca: {pki.ca}, cert: {pki.client_cert}, key: {pki.client_key},"
        " server_name: sw1}\n",
        filename=str(tmp_path / "c.yaml"),
    )
    assert cfg.device.tls == ClientTls(pki.ca, pki.client_cert, pki.client_key, "sw1")
    assert parse_config(base, filename=str(tmp_path / "c.yaml")).device.tls is None
    from dysco_proto.policy import ConfigError

    with pytest.raises(ConfigError, match="both"):
        parse_config(base + f"  tls: {{ca: {pki.ca}, cert: {pki.client_cert}}}\n")
    with pytest.raises(ConfigError, match=r"device\.tls\.ca"):
        parse_config(base + f"  tls: {{cert: {pki.client_cert}, key: {pki.client_key}}}\n")


# --- idle streams ----------------------------------------------------------------------------


def _idle_streams(address: str, n: int) -> tuple[list[grpc.Channel], list[object]]:
    """``n`` StreamChannels that send nothing (each on its own connection)."""
    chans, calls = [], []
    for _ in range(n):
        ch = grpc.insecure_channel(address, options=[LOCAL_POOL])
        q: queue.SimpleQueue[p4r.StreamMessageRequest | None] = queue.SimpleQueue()
        call = p4r_grpc.P4RuntimeStub(ch).StreamChannel(iter(q.get, None))  # type: ignore[no-untyped-call]
        chans.append(ch)
        calls.append((call, q))
    return chans, calls


def test_idle_streams_do_not_starve_writes_and_reads(
    server: tuple[P4RuntimeServer, TableBackend],
) -> None:
    srv, backend = server
    chans, calls = _idle_streams(srv.address, 12)  # more than the 8 unary workers
    try:
        for ch in chans:
            grpc.channel_ready_future(ch).result(timeout=10)

        async def main() -> None:
            c = P4RuntimeClient(srv.address, 1, 10, IDX)
            await c.start(timeout=20)
            try:
                await c.write(_entries(IDX, 100), timeout=20)
                n = 0
                async for _te in c.read_table_entries(0):
                    n += 1
                assert n == 100 == len(backend.entries)
            finally:
                await c.close()

        asyncio.run(main())
    finally:
        for call, q in calls:
            q.put(None)
            call.cancel()  # type: ignore[attr-defined]
        for ch in chans:
            ch.close()


def test_streams_beyond_the_limit_are_refused() -> None:
    srv = P4RuntimeServer(
        TableBackend(), "127.0.0.1:0", contract=contract_p4info(), max_streams=3
    ).start()
    chans, calls = _idle_streams(srv.address, 3)
    extra: tuple[list[grpc.Channel], list[object]] = ([], [])
    try:
        for _ in range(1000):  # the three streams are open on the server
            if len(srv.servicer.streams) == 3:
                break
            threading.Event().wait(0.01)
        assert len(srv.servicer.streams) == 3
        extra = _idle_streams(srv.address, 1)
        with pytest.raises(grpc.RpcError) as ei:
            next(extra[1][0][0])  # type: ignore[index]
        assert ei.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # type: ignore[attr-defined]
    finally:
        for call, q in calls + extra[1]:  # type: ignore[misc]
            q.put(None)
            call.cancel()
        for ch in chans + extra[0]:
            ch.close()
        srv.stop()


def test_streams_that_never_arbitrate_are_closed() -> None:
    srv = P4RuntimeServer(TableBackend(), "127.0.0.1:0", contract=contract_p4info()).start()
    srv.servicer.arbitration_timeout = 0.5
    idle, busy = RawClient(srv.address), RawClient(srv.address)
    try:
        busy.arbitrate(3)
        assert busy.arbitration() == (OK, 3)
        err = idle.next()
        assert isinstance(err, grpc.RpcError)
        assert err.code() == grpc.StatusCode.DEADLINE_EXCEEDED  # type: ignore[attr-defined]
        late = RawClient(srv.address)  # the arbitrated stream is still the primary
        late.arbitrate(1)
        assert late.arbitration() == (ALREADY_EXISTS, 3)
        late.close()
    finally:
        idle.close()
        busy.close()
        srv.stop()


# --- arbitration -----------------------------------------------------------------------------


LOCAL_POOL = ("grpc.use_local_subchannel_pool", 1)


class RawClient:
    """One connection with a StreamChannel driven by hand (responses in ``got``)."""

    def __init__(self, address: str) -> None:
        # its own connection (channels of one process otherwise share one per target)
        self.channel = grpc.insecure_channel(address, options=[LOCAL_POOL])
        self.stub = p4r_grpc.P4RuntimeStub(self.channel)  # type: ignore[no-untyped-call]
        self.q: queue.SimpleQueue[p4r.StreamMessageRequest | None] = queue.SimpleQueue()
        self.got: queue.SimpleQueue[p4r.StreamMessageResponse | grpc.RpcError] = queue.SimpleQueue()
        self.call = self.stub.StreamChannel(iter(self.q.get, None))
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for m in self.call:
                self.got.put(m)
        except grpc.RpcError as e:
            self.got.put(e)

    def arbitrate(self, eid: int, device_id: int = 1) -> None:
        self.q.put(
            p4r.StreamMessageRequest(
                arbitration=p4r.MasterArbitrationUpdate(
                    device_id=device_id, election_id=p4r.Uint128(high=0, low=eid)
                )
            )
        )

    def next(self) -> p4r.StreamMessageResponse | grpc.RpcError:
        return self.got.get(timeout=10)

    def arbitration(self) -> tuple[int, int]:
        """(status code, primary's election id) of the next arbitration message."""
        m = self.next()
        assert isinstance(m, p4r.StreamMessageResponse) and m.HasField("arbitration"), m
        return m.arbitration.status.code, m.arbitration.election_id.low

    def write(self, eid: int, updates: list[p4r.Update]) -> None:
        self.stub.Write(
            p4r.WriteRequest(device_id=1, election_id=p4r.Uint128(low=eid), updates=updates),
            timeout=10,
        )

    def close(self) -> None:
        self.q.put(None)
        self.call.cancel()
        self.channel.close()


OK, NOT_FOUND, ALREADY_EXISTS = 0, 5, 6


def test_arbitration_follows_the_specification(
    server: tuple[P4RuntimeServer, TableBackend],
) -> None:
    srv, backend = server
    a, b, dup, c, lone = (RawClient(srv.address) for _ in range(5))
    try:
        a.arbitrate(10)
        assert a.arbitration() == (OK, 10)
        a.stub.SetForwardingPipelineConfig(
            p4r.SetForwardingPipelineConfigRequest(
                device_id=1,
                election_id=p4r.Uint128(low=10),
                action=p4r.SetForwardingPipelineConfigRequest.VERIFY_AND_COMMIT,
                config=p4r.ForwardingPipelineConfig(p4info=contract_p4info()),
            ),
            timeout=10,
        )
        # a backup is told who the primary is, with ALREADY_EXISTS; the primary is not told
        b.arbitrate(5)
        assert b.arbitration() == (ALREADY_EXISTS, 10)
        # the primary's election id from another client: the stream ends, INVALID_ARGUMENT
        dup.arbitrate(10)
        err = dup.next()
        assert isinstance(err, grpc.RpcError) and err.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
        # the primary's election id without its stream (another connection): refused
        with pytest.raises(grpc.RpcError) as ei:
            lone.write(10, _entries(IDX, 1))
        assert ei.value.code() == grpc.StatusCode.PERMISSION_DENIED  # type: ignore[attr-defined]
        with pytest.raises(grpc.RpcError) as ei:
            b.write(5, _entries(IDX, 1))  # a backup
        assert ei.value.code() == grpc.StatusCode.PERMISSION_DENIED  # type: ignore[attr-defined]
        a.write(10, _entries(IDX, 1))
        assert len(backend.entries) == 1
        # a higher election id: every client learns of the new primary
        c.arbitrate(20)
        assert c.arbitration() == (OK, 20)
        assert a.arbitration() == (ALREADY_EXISTS, 20)
        assert b.arbitration() == (ALREADY_EXISTS, 20)
        with pytest.raises(grpc.RpcError) as ei:
            a.write(10, _entries(IDX, 1, start=1))
        assert ei.value.code() == grpc.StatusCode.PERMISSION_DENIED  # type: ignore[attr-defined]
        # the primary leaves: the highest remaining one is primary, everyone is told
        c.close()
        assert a.arbitration() == (OK, 10)
        assert b.arbitration() == (ALREADY_EXISTS, 10)
        a.write(10, _entries(IDX, 1, start=1))
        assert len(backend.entries) == 2
        # an unknown device ends the stream with NOT_FOUND
        other = RawClient(srv.address)
        other.arbitrate(30, device_id=99)
        err = other.next()
        assert isinstance(err, grpc.RpcError) and err.code() == grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]
        other.close()
    finally:
        for x in (a, b, dup, lone):
            x.close()


def test_client_loses_and_regains_primary(server: tuple[P4RuntimeServer, TableBackend]) -> None:
    srv, _backend = server
    lost: list[bool] = []
    connects: list[bool] = []

    async def on_connected(first: bool) -> None:
        connects.append(first)

    async def main() -> None:
        c = P4RuntimeClient(
            srv.address,
            1,
            10,
            IDX,
            on_lost_primary=lambda: lost.append(True),
            on_connected=on_connected,
            reconnect_max=0.2,
        )
        await c.start(timeout=10)
        rogue = P4RuntimeClient(srv.address, 1, 50, IDX, push_pipeline="never")
        await rogue.start(timeout=10)
        for _ in range(500):
            if lost:
                break
            await asyncio.sleep(0.01)
        assert lost and not c.connected and c.primary_lost == 1
        await rogue.close()
        await c.wait_connected(timeout=10)
        for _ in range(500):
            if len(connects) >= 2:
                break
            await asyncio.sleep(0.01)
        assert connects == [True, False]
        await c.write(_entries(IDX, 3))
        await c.close()

    asyncio.run(main())


# --- a large failed batch -----------------------------------------------------------------


def _modify(updates: list[p4r.Update]) -> list[p4r.Update]:
    return [p4r.Update(type=p4r.Update.MODIFY, entity=u.entity) for u in updates]


def test_thousand_failed_updates_fit_the_metadata_limit_and_client_finds_them(
    server: tuple[P4RuntimeServer, TableBackend],
) -> None:
    srv, backend = server
    existing = _entries(IDX, 10, start=5000)
    missing = _modify(_entries(IDX, 1000))  # MODIFY of entries that do not exist: NOT_FOUND

    async def main() -> None:
        c = P4RuntimeClient(srv.address, 1, 10, IDX)
        await c.start(timeout=10)
        try:
            await c.write(existing)
            # a plain gRPC client (default 8 KiB metadata limit) on the primary's connection
            assert c.channel is not None
            with pytest.raises(grpc.aio.AioRpcError) as ei:
                await c.channel.unary_unary(
                    "/p4.v1.P4Runtime/Write",
                    request_serializer=p4r.WriteRequest.SerializeToString,
                    response_deserializer=p4r.WriteResponse.FromString,
                )(
                    p4r.WriteRequest(device_id=1, election_id=p4r.Uint128(low=10), updates=missing),
                    timeout=20,
                )
            e = ei.value
            assert e.code() == grpc.StatusCode.UNKNOWN
            assert "1000 of 1000 updates failed" in (e.details() or "")
            raw = dict(e.trailing_metadata() or ())["grpc-status-details-bin"]
            assert len(raw) <= DETAILS_BUDGET
            status_pb2.Status.FromString(raw)
            # the client: which of 1,010 updates failed (MODIFY of the existing ones is
            # idempotent, so the retries give the same outcome)
            batch = list(missing)
            for k, u in enumerate(_modify(existing)):
                batch.insert(k * 97, u)
            ok_at = {k * 97 for k in range(10)}
            with pytest.raises(WriteError) as wi:
                await c.write(batch)
            errs = wi.value.errors
            assert len(errs) == 1010
            assert [i for i, x in enumerate(errs) if x is None] == sorted(ok_at)
            assert all(x.code == "NOT_FOUND" for x in errs if x is not None)
            assert [x.index for x in errs if x is not None] == [
                i for i in range(1010) if i not in ok_at
            ]
            assert c.write_retries > 0 and len(backend.entries) == 10
            # a small failed batch still carries every update's status at once
            retries = c.write_retries
            with pytest.raises(WriteError) as wi:
                await c.write(_modify(_entries(IDX, 3)) + _modify(existing[:1]))
            assert [x.code if x else None for x in wi.value.errors] == ["NOT_FOUND"] * 3 + [None]
            assert c.write_retries == retries
        finally:
            await c.close()

    asyncio.run(main())


# --- python -m dysco_targets.serve ------------------------------------------------------


def test_server_module_survives_a_bad_packet_out() -> None:
    (port,) = free_ports(1)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [sys.executable, "-m", "dysco_targets.serve", "--backend", "refmodel",
         "--address", f"127.0.0.1:{port}"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "p4runtime server on" in line, proc.stderr.read() if proc.stderr else ""

        async def main() -> None:
            c = P4RuntimeClient(f"127.0.0.1:{port}", 1, 10, IDX)
            await c.start(timeout=20)
            try:
                bad = p4r.StreamMessageRequest(
                    packet=p4r.PacketOut(
                        payload=b"\x00" * 20,
                        metadata=[p4r.PacketMetadata(metadata_id=99, value=b"\x01")],
                    )
                )
                await c.send_stream(bad)
                await c.send_packet(b"\x00" * 20, {"op": 0, "egress_port": 1})
                await asyncio.sleep(0.5)
                assert c.connected and c.reconnects == 0  # the stream is still the first one
                await c.write(_entries(IDX, 2))
            finally:
                await c.close()

        asyncio.run(main())
        assert proc.poll() is None
    finally:
        proc.terminate()
        try:
            _out, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            _out, err = proc.communicate()
    assert "Traceback" not in err, err


# --- validation of written entries ---------------------------------------------------------


def _one(field: str = "src_port", value: bytes | None = None) -> p4r.Update:
    u = _entries(IDX, 1)[0]
    if value is not None:
        fid = IDX.table(pl.Tbl.IN_SESSION.value).match[field][0]
        for m in u.entity.table_entry.match:
            if m.field_id == fid:
                m.exact.value = value
    return u


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("empty value", "INVALID_ARGUMENT"),
        ("1000-byte zero-padded value", "OUT_OF_RANGE"),
        ("value wider than the field", "OUT_OF_RANGE"),
        ("duplicate match field", "INVALID_ARGUMENT"),
        ("priority on an exact table", "INVALID_ARGUMENT"),
        ("unknown table", "NOT_FOUND"),
    ],
)
def test_malformed_entries_are_refused_with_the_specified_code(
    server: tuple[P4RuntimeServer, TableBackend], case: str, code: str
) -> None:
    srv, backend = server
    if case == "empty value":
        u = _one(value=b"")
    elif case == "1000-byte zero-padded value":
        u = _one(value=b"\x00" * 998 + b"\x00\x50")
    elif case == "value wider than the field":
        u = _one(value=b"\x01\x00\x50")  # 17 bits for a 16-bit port
    elif case == "duplicate match field":
        u = _one()
        te = u.entity.table_entry
        te.match.append(te.match[0])
    elif case == "priority on an exact table":
        u = _one()
        u.entity.table_entry.priority = 10
    else:
        u = _one()
        u.entity.table_entry.table_id = 0x02FFFFFF

    async def main() -> None:
        c = P4RuntimeClient(srv.address, 1, 10, IDX)
        await c.start(timeout=10)
        try:
            good = _entries(IDX, 1, start=7)[0]
            with pytest.raises(WriteError) as ei:
                await c.write([good, u])
            errs = ei.value.errors
            assert errs[0] is None and errs[1] is not None and errs[1].code == code, errs
            assert len(backend.entries) == 1  # the good one only
        finally:
            await c.close()

    asyncio.run(main())


def test_read_of_an_unknown_table_is_not_found(
    server: tuple[P4RuntimeServer, TableBackend], caplog: pytest.LogCaptureFixture
) -> None:
    srv, _backend = server

    async def main() -> None:
        c = P4RuntimeClient(srv.address, 1, 10, IDX)
        await c.start(timeout=10)
        try:
            with pytest.raises(P4RuntimeError) as ei:
                async for _te in c.read_table_entries(0x02FFFFFF):
                    pass
            assert ei.value.code == "NOT_FOUND"
        finally:
            await c.close()

    asyncio.run(main())
    # The server's and the client's own logs: grpc's aio poller may log "Event loop is closed"
    # under the asyncio logger for an earlier test's loop (asyncio.run per test), not ours.
    ours = [r for r in caplog.records if r.name.startswith(("dysco", "controller"))]
    assert not [r for r in ours if r.exc_info or "Traceback" in r.getMessage()], ours


def test_fast_entry_checks_agree_with_the_full_check() -> None:
    """The regex and the protobuf fast pass accept exactly what the field-by-field check
    accepts, on valid entries and on random damage to them (bytes flipped, cut, appended)."""
    import random

    from controller.p4rt.validate import EntryValidator

    v = EntryValidator(contract_p4info())
    rng = random.Random(13)
    base = [u.entity.table_entry for u in _entries(IDX, 50, start=rng.randrange(60000))]
    accepted = rejected = 0
    for i in range(6000):
        te = p4r.TableEntry()
        te.CopyFrom(base[i % len(base)])
        for _ in range(rng.randrange(0, 2)):  # damage to one value or field
            params = te.action.action.params
            k = rng.randrange(len(te.match) + len(params))
            op = rng.randrange(5)
            n = len(te.match)
            holder = te.match[k].exact if k < n else params[k - n]
            if op == 0:
                holder.value = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 8)))
            elif op == 1:
                holder.value = b"\x00" * rng.randrange(1, 4) + holder.value
            elif op == 2:
                if k < n:
                    te.match.append(te.match[k])
                else:
                    params.append(params[k - n])
            elif op == 3:
                if k < n:
                    del te.match[k]
                else:
                    del params[k - n]
            elif op == 4:
                holder.value = holder.value[1:]
        raw = bytearray(te.SerializeToString())
        for _ in range(rng.randrange(0, 2)):
            op = rng.randrange(4)
            if op == 0 and raw:
                raw[rng.randrange(len(raw))] = rng.randrange(256)
            elif op == 1 and raw:
                del raw[rng.randrange(len(raw))]
            elif op == 2:
                raw += bytes([0x20, rng.randrange(1, 100)])  # a priority
            else:
                raw += bytes([0x12, 2, 0x08, 1])  # a match field with no value
        try:
            te = p4r.TableEntry.FromString(bytes(raw))
        except Exception:
            continue
        full = v.diagnose(te)
        assert (v.check(te) is None) == (full is None), (bytes(raw).hex(), full)
        if full is None:
            accepted += 1
        else:
            rejected += 1
    assert accepted > 100 and rejected > 1000


def test_daemon_connects_over_mutual_tls_from_its_config(pki: Pki, tmp_path: Path) -> None:
    from controller.config import load_config
    from controller.daemon import Daemon
    from tests.controller_support import WEB_POLICY, daemon_yaml, until, write_p4info

    backend = TableBackend()
    tls = ServerTls(pki.server_cert, pki.server_key, client_ca=pki.ca)
    srv = P4RuntimeServer(backend, "127.0.0.1:0", contract=contract_p4info(), tls=tls).start()
    p4info = write_p4info(tmp_path / "dysco.p4info.txtpb")
    path = daemon_yaml(
        tmp_path, "sw1", srv.address, p4info, ("10.0.0.1", 1), 0,
        [("c5", 39999, ["10.0.0.5"])], WEB_POLICY,
    )  # fmt: skip
    text = path.read_text().replace(
        f"  p4info: {p4info}\n",
        f"  p4info: {p4info}\n  tls: {{ca: {pki.ca}, cert: {pki.client_cert}, "
        f"key: {pki.client_key}}}\n",
    )
    path.write_text(text)
    cfg = load_config(path)
    assert cfg.device.tls is not None

    async def main(d: Daemon) -> None:
        await until(lambda: d.status()["ready"], timeout=20)
        assert len(backend.entries) == len(d.translator.static_entries())

    run_daemon(cfg, srv, main)
