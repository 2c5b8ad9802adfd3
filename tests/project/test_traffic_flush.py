"""The testbed's traffic generator hands every byte it counts as sent to the kernel.

A bmv2 soak (issue 12) reported a lost session, ``c->s 720896/719392 MISMATCH``, with every
byte the client's TCP sent delivered: the client's FIN had the same sequence number at the
client's and the server's agent, 77 (hello line) + 719,392 bytes after the ISN. The missing
1,504 bytes never left the client process: the sender counted a block as sent once it was
written to the asyncio transport, whose ``drain()`` returns while up to the high-water mark is
still buffered in user space; the client closed and exited when the server's EOF came, and
the buffered tail went with the process. Real loopback sockets with small kernel buffers and a
peer that does not read yet show it deterministically.
"""

from __future__ import annotations

import asyncio
import socket
import threading

from dysco_testbed.traffic import Side, _sender


def _slow_peer(ls: socket.socket, sender_done: threading.Event, got: list[int]) -> None:
    """Accept one connection, read nothing until the sender returned (or 1 s), then all."""
    conn, _ = ls.accept()
    with conn:
        sender_done.wait(1.0)
        n = 0
        while True:
            data = conn.recv(65536)
            if not data:
                break
            n += len(data)
        got.append(n)


def test_sender_returns_only_when_every_counted_byte_is_in_the_kernel() -> None:
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # inherited: small window
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    sender_done = threading.Event()
    got: list[int] = []
    peer = threading.Thread(target=_slow_peer, args=(ls, sender_done, got), daemon=True)
    peer.start()

    async def client() -> tuple[int, int]:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)  # no autotuning
        sock.connect(ls.getsockname())
        sock.setblocking(False)
        _, w = await asyncio.open_connection(sock=sock)
        side = Side(b"c-flush")
        # three 16 KiB blocks: more than the kernel buffers hold, less than the
        # transport's high-water mark (64 KiB), so a plain drain() never waits
        await _sender(w, side, seconds=0.35, rate=1e5)
        left = w.transport.get_write_buffer_size()
        sender_done.set()
        w.close()
        await w.wait_closed()
        return side.sent, left

    try:
        sent, left = asyncio.run(client())
    finally:
        sender_done.set()
        peer.join(10)
        ls.close()
    assert sent >= 2 * 16384
    assert left == 0, f"{left} of {sent} bytes counted as sent were still in user space"
    assert got == [sent]
