"""Deterministic two-way TCP streams with SHA-256 verification (run inside a test namespace).

``python -m dysco_testbed.traffic server --bind ADDR --port P``
``python -m dysco_testbed.traffic client --connect ADDR --port P --sessions N --seconds T
--rate BYTES_PER_S``

Each connection carries a deterministic byte stream in each direction (SHAKE-256 of a seed
that names the session), sent at a steady rate for the given time, then half-closed. Each side
prints one JSON line per connection when it ends: bytes and SHA-256 of what it sent and of what
it received, plus receive samples ``[t, cumulative bytes]`` taken by a timer every
``--sample-ms`` (default 100; the client passes it to the server in its hello line; the
times are when each sample was actually taken, so late timers show). The orchestrator
compares the two ends (length and digest). The server strips a PROXY protocol v2 header
(what the byte-changing box adds) before hashing, so the digest is of the client's stream.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import socket
import sys
import time

CHUNK = 16384
PP2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def stream_block(seed: bytes, index: int) -> bytes:
    """Block ``index`` of the deterministic stream named ``seed`` (CHUNK bytes)."""
    return hashlib.shake_256(seed + index.to_bytes(8, "big")).digest(CHUNK)


class Side:
    def __init__(self, seed: bytes, sample_s: float = 0.1) -> None:
        self.seed = seed
        self.sample_s = sample_s
        self.sent = 0
        self.h_sent = hashlib.sha256()
        self.rcvd = 0
        self.h_rcvd = hashlib.sha256()
        self.t0 = time.monotonic()
        self.samples: list[list[float]] = []
        self.error = ""

    def report(self, **extra: object) -> str:
        return json.dumps(
            {
                "seed": self.seed.decode(),
                "sent": self.sent,
                "sent_sha256": self.h_sent.hexdigest(),
                "rcvd": self.rcvd,
                "rcvd_sha256": self.h_rcvd.hexdigest(),
                "samples": self.samples,
                "error": self.error,
                **extra,
            }
        )


async def _sender(w: asyncio.StreamWriter, side: Side, seconds: float, rate: float) -> None:
    start = time.monotonic()
    i = 0
    while True:
        now = time.monotonic()
        if now - start >= seconds:
            break
        due = (now - start) * rate
        if side.sent >= due:
            await asyncio.sleep(min(0.01, (side.sent - due) / rate + 0.001))
            continue
        blk = stream_block(side.seed, i)
        i += 1
        w.write(blk)
        side.h_sent.update(blk)
        side.sent += len(blk)
        await w.drain()
    # Every byte counted as sent must reach the kernel before the sender returns: drain()
    # alone returns with up to the high-water mark (64 KiB) still in the transport's user-space
    # buffer, and a client that then closes and exits (its peer's EOF came) loses that tail
    # (issue 12: a bmv2 soak reported 1,504 bytes missing that its TCP never sent). A zero
    # high-water mark makes drain() wait until the buffer is empty (half-close included).
    w.transport.set_write_buffer_limits(high=0)
    if w.can_write_eof():
        w.write_eof()
    await w.drain()


async def _sampler(side: Side) -> None:
    """Append ``[t, cumulative bytes received]`` every ``side.sample_s`` until cancelled."""
    while True:
        await asyncio.sleep(side.sample_s)
        side.samples.append([round(time.monotonic() - side.t0, 4), side.rcvd])


async def _receiver(r: asyncio.StreamReader, side: Side, strip_pp2: bool) -> None:
    sampler = asyncio.ensure_future(_sampler(side))
    try:
        await _receive(r, side, strip_pp2)
    finally:
        sampler.cancel()
    side.samples.append([round(time.monotonic() - side.t0, 4), side.rcvd])


async def _receive(r: asyncio.StreamReader, side: Side, strip_pp2: bool) -> None:
    head = b""
    need_head = strip_pp2
    while True:
        data = await r.read(65536)
        if not data:
            break
        if need_head:
            head += data
            if len(head) < 16:
                continue
            if head.startswith(PP2_SIG):
                total = 16 + int.from_bytes(head[14:16], "big")
                if len(head) < total:
                    continue
                data = head[total:]
            else:
                data = head
            need_head = False
        side.rcvd += len(data)
        side.h_rcvd.update(data)


async def _serve(args: argparse.Namespace) -> None:
    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        peer = w.get_extra_info("peername")
        # the client's first line names the session and its parameters
        pp2 = 0
        try:
            first = await r.readexactly(12)
            if first == PP2_SIG:  # PROXY v2 header of the byte-changing box: strip it
                rest = await r.readexactly(4)
                pp2 = 16 + int.from_bytes(rest[2:4], "big")
                await r.readexactly(pp2 - 16)
                first = b""
            line = first + await r.readline()
        except (OSError, asyncio.IncompleteReadError):
            w.close()
            return
        try:
            hello = json.loads(line)
        except ValueError:
            w.close()
            return
        side = Side(("s-" + hello["seed"]).encode(), hello.get("sample_ms", 100) / 1000)
        sock = w.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            await asyncio.gather(
                _sender(w, side, hello["seconds"], hello["rate"]),
                _receiver(r, side, strip_pp2=False),
            )
        except OSError as e:
            side.error = f"{type(e).__name__}: {e}"
        print(side.report(peer=f"{peer[0]}:{peer[1]}", pp2=pp2), flush=True)
        w.close()

    srv = await asyncio.start_server(handle, args.bind, args.port, backlog=1024, reuse_address=True)
    print(json.dumps({"listening": f"{args.bind}:{args.port}"}), flush=True)
    async with srv:
        await srv.serve_forever()


async def _one_client(args: argparse.Namespace, n: int) -> str:
    seed = f"{args.tag}-{n}"
    side = Side(("c-" + seed).encode(), args.sample_ms / 1000)
    local = ""
    try:
        r, w = await asyncio.wait_for(
            asyncio.open_connection(args.connect, args.port, limit=1 << 20), timeout=20
        )
        sock = w.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        lh, lp = sock.getsockname()[:2]
        local = f"{lh}:{lp}"
        print(json.dumps({"connected": local, "n": n}), flush=True)
        hello = {"seed": seed, "seconds": args.seconds, "rate": args.rate,
                 "sample_ms": args.sample_ms}  # fmt: skip
        # the hello line is part of what the server receives; not hashed (it strips it)
        w.write((json.dumps(hello) + "\n").encode())
        await asyncio.gather(
            _sender(w, side, args.seconds, args.rate),
            _receiver(r, side, strip_pp2=False),
        )
        w.close()
        await w.wait_closed()
    except (TimeoutError, OSError) as e:
        side.error = f"{type(e).__name__}: {e}"
    return side.report(local=local, n=n)


async def _clients(args: argparse.Namespace) -> None:
    async def run(n: int) -> None:
        await asyncio.sleep(n * args.stagger)
        print(await _one_client(args, n), flush=True)

    await asyncio.gather(*(run(n) for n in range(args.sessions)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="dysco-traffic")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("server")
    s.add_argument("--bind", default="0.0.0.0")
    s.add_argument("--port", type=int, required=True)
    c = sub.add_parser("client")
    c.add_argument("--connect", required=True)
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--sessions", type=int, default=1)
    c.add_argument("--seconds", type=float, default=10.0)
    c.add_argument("--rate", type=float, default=4e6, help="bytes/s per direction per session")
    c.add_argument("--stagger", type=float, default=0.0)
    c.add_argument("--tag", default="s")
    c.add_argument("--sample-ms", type=float, default=100.0,
                   help="receive sample interval of both ends (ms)")  # fmt: skip
    args = ap.parse_args(argv)
    if args.cmd == "server":
        asyncio.run(_serve(args))
    else:
        asyncio.run(_clients(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
